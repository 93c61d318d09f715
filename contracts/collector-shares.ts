/**
 * @module
 * Which collector consumes which model, when several share the work (a
 * mesh of several nodes): a lease per model token in the `mesh-collectors`
 * key-value bucket, held by one collector and renewed every second (each
 * renewal a new revision). A lease no renewal has changed for LEASE_TTL_MS
 * is lapsed: its collector died or was cut off, and another takes it over
 * (compare-and-set on the revision it saw). The value says who holds it
 * and where its API answers, so any collector can send a question about a
 * model to the one that holds it.
 */
import { z } from 'zod'

export const COLLECTOR_BUCKET = 'mesh-collectors'
/** A lease not renewed for this long has lapsed (a collector that dies has its share taken over in about this, plus a renewal period). */
export const LEASE_TTL_MS = 4000
export const LEASE_RENEW_MS = 1000

/** The bucket key of a model token's lease (`model._other` for models mesh.yaml does not name). */
export const leaseKey = (token: string) => `model.${token}`

export const leaseSchema = z.strictObject({
  /** The holder's API base URL: its identity (stable across its restarts) and where to ask it. */
  collector: z.string().url().max(256),
  /** When it took the lease (ms since the epoch). */
  since: z.number().int().nonnegative(),
})

export type Lease = z.infer<typeof leaseSchema>

/** The lease in a bucket value, or undefined when it is not one (the bucket is outside input too). */
export function parseLease(bytes: Uint8Array): Lease | undefined {
  if (bytes.length > 1024) return undefined
  try {
    const parsed = leaseSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

export const encodeLease = (lease: Lease) => new TextEncoder().encode(JSON.stringify(lease))
