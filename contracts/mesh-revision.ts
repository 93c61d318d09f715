/**
 * @module
 * The mesh's configuration as it travels to every node: one JetStream
 * key-value bucket (CONFIG_BUCKET), one key (CONFIG_KEY), one value per
 * applied config. The key's history is the config history (`mesh history`,
 * `mesh revert`); each value holds, besides who applied what, the rendered
 * files of every node, so a node takes its own part of one revision or
 * none of it, never a mix of two. mesh-config publishes (after validating);
 * each node's telemetry agent reads, checks it again here (the bucket is
 * outside input like any message), and materialises its part.
 */
import { z } from 'zod'

export const CONFIG_BUCKET = 'mesh-config'
export const CONFIG_KEY = 'mesh'
/** Revisions the bucket keeps: JetStream's key-value store keeps at most 64 per key. */
export const CONFIG_HISTORY = 64
/** Largest revision published or read: NATS' default max_payload (a three-node revision is about 35 KB). */
export const MAX_REVISION_BYTES = 1 << 20

const nodeName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,15}$/, 'must be a node name (mesh.yaml nodes)')
const json = z.record(z.string(), z.unknown())

const xdsFileSchema = z.strictObject({
  // Only a plain file name: the agent writes it into its own Envoy's folder and nowhere else.
  file: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\.json$/, 'must be a file name ending .json'),
  kind: z.enum(['listeners', 'clusters', 'routes', 'extension']),
  statPrefix: z.string().min(1).max(256),
  response: z.strictObject({ version_info: z.string().min(1).max(64), resources: z.array(json).max(10_000) }),
})

export const meshRevisionSchema = z.strictObject({
  /** The history's id: the previous revision's plus one. */
  id: z.number().int().positive(),
  time: z.string().max(64),
  /** Who applied it and what they did (`canary set credit-risk 2500`). */
  by: z.string().max(256),
  action: z.string().max(1024),
  /** sha256 of the mesh.yaml text (16 hex digits). */
  digest: z.string().regex(/^[0-9a-f]{16}$/),
  /** Digest of every node's version. */
  version: z.string().max(64),
  /** The mesh.yaml text applied (revert puts it back). */
  mesh_text: z.string().max(MAX_REVISION_BYTES),
  /** Each node's part: its Envoy bootstrap and xDS files. */
  nodes: z.record(
    nodeName,
    z.strictObject({
      version: z.string().min(1).max(64),
      bootstrap: json,
      files: z.array(xdsFileSchema).min(1).max(16),
    }),
  ),
})

export type MeshRevision = z.infer<typeof meshRevisionSchema>
export type NodeRevision = MeshRevision['nodes'][string]

/** The revision in `bytes` (a bucket value), or why it is not one. */
export function parseMeshRevision(
  bytes: Uint8Array,
): { ok: true; revision: MeshRevision } | { ok: false; reason: string } {
  if (bytes.length > MAX_REVISION_BYTES) return { ok: false, reason: `larger than ${MAX_REVISION_BYTES} bytes` }
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder().decode(bytes))
  } catch (e) {
    return { ok: false, reason: `not JSON: ${(e as Error).message}` }
  }
  const parsed = meshRevisionSchema.safeParse(value)
  if (parsed.success) return { ok: true, revision: parsed.data }
  return {
    ok: false,
    reason: parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`)
      .join('; '),
  }
}

export function encodeMeshRevision(revision: MeshRevision): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(revision))
}
