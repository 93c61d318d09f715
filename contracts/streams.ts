/**
 * @module
 * The JetStream streams of the telemetry pipeline, from the contract
 * (subjects.ts) and mesh.yaml's limits. The collector creates or
 * updates them at start-up; the agent only checks that they exist. A
 * change JetStream cannot make in place is refused with what to do; an
 * creation or update that fails for a moment (no answer, connection down, a
 * cluster still placing replicas) is tried again.
 */
import {
  RetentionPolicy,
  StorageType,
  DiscardPolicy,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { STREAMS, type StreamKey, type StreamSpec } from './subjects.ts'
import { isStreamNotFound, isTransient, StreamConfigError } from './nats-errors.ts'

export interface StreamLimits {
  duplicateWindowS: number
  /** Size limit per stream, bytes. */
  maxBytes: Record<StreamKey, number>
  /** Copies JetStream keeps of each stream: 1 on one server; 3 in a three-node cluster, so losing a node loses nothing and leaves every stream writable. */
  replicas?: number
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  duplicateWindowS: 120,
  // Not `<<`: it works in 32 bits, and 4096 << 20 is 0 (unlimited to JetStream), 2048 << 20 negative.
  maxBytes: { requests: 4096 * 2 ** 20, payloads: 2048 * 2 ** 20, host: 2048 * 2 ** 20, review: 512 * 2 ** 20 },
}

const DAY_NS = nanos(86_400_000)

/** The settings the mesh wants for one stream. */
export function streamConfig(
  spec: StreamSpec,
  limits: StreamLimits,
): Partial<StreamConfig> & { name: string; subjects: string[] } {
  return {
    name: spec.name,
    subjects: [`${spec.prefix}.*`],
    retention: spec.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: spec.maxAgeDays * DAY_NS,
    max_bytes: limits.maxBytes[spec.key],
    duplicate_window: nanos(limits.duplicateWindowS * 1000),
    num_replicas: limits.replicas ?? 1,
  }
}

type Compared =
  | 'subjects'
  | 'retention'
  | 'storage'
  | 'discard'
  | 'max_age'
  | 'max_bytes'
  | 'duplicate_window'
  | 'num_replicas'
const COMPARED: Compared[] = [
  'subjects',
  'retention',
  'storage',
  'discard',
  'max_age',
  'max_bytes',
  'duplicate_window',
  'num_replicas',
]
/** JetStream refuses to change these on an existing stream. */
const IMMUTABLE = new Set<Compared>(['retention', 'storage'])

/** Fields whose value differs between the stream as it is and as wanted. */
export function differences(actual: Partial<StreamConfig>, wanted: Partial<StreamConfig>): Compared[] {
  return COMPARED.filter((k) => JSON.stringify(actual[k]) !== JSON.stringify(wanted[k]))
}

export type EnsureOutcome = { name: string; action: 'created' | 'unchanged' | 'updated'; changed: string[] }

/** How often, and how far apart, a creation or update that failed transiently is tried again. */
export interface UpdateRetry {
  attempts: number
  /** Wait before the second try, ms; doubled for each one after. */
  firstDelayMs: number
}

export const DEFAULT_UPDATE_RETRY: UpdateRetry = { attempts: 5, firstDelayMs: 250 }

/**
 * Creates each stream, or updates it to the wanted settings. A change
 * JetStream cannot make throws StreamConfigError with what to do; a creation
 * or update that failed transiently (isTransient) is tried again
 * `retry.attempts` times, then its last error is thrown as it came.
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  limits: StreamLimits,
  retry: UpdateRetry = DEFAULT_UPDATE_RETRY,
): Promise<EnsureOutcome[]> {
  const out: EnsureOutcome[] = []
  for (const spec of Object.values(STREAMS)) {
    const wanted = streamConfig(spec, limits)
    const info = await streamInfo(jsm, spec.name)
    if (!info) {
      await withRetry(retry, () => jsm.streams.add(wanted))
      out.push({ name: spec.name, action: 'created', changed: [] })
      continue
    }
    const changed = differences(info.config, wanted)
    if (changed.length === 0) {
      out.push({ name: spec.name, action: 'unchanged', changed })
      continue
    }
    const immutable = changed.filter((k) => IMMUTABLE.has(k))
    if (immutable.length > 0) {
      throw new StreamConfigError(
        spec.name,
        `stream ${spec.name} exists with ${immutable.map((k) => `${k}=${String(info.config[k])}`).join(', ')}, but the mesh wants ${immutable.map((k) => `${k}=${String(wanted[k])}`).join(', ')}; ` +
          `JetStream cannot change that on an existing stream: move its data elsewhere and delete it (nats stream rm ${spec.name}), then start again`,
      )
    }
    try {
      await withRetry(retry, () => jsm.streams.update(spec.name, { ...info.config, ...wanted }))
    } catch (e) {
      if (isTransient(e)) throw e
      throw new StreamConfigError(
        spec.name,
        `stream ${spec.name}: JetStream refused to update ${changed.join(', ')}: ${(e as Error).message}`,
        { cause: e },
      )
    }
    out.push({ name: spec.name, action: 'updated', changed })
  }
  return out
}

/** Names of the streams that do not exist (the agent checks; the collector creates them). */
export async function missingStreams(jsm: JetStreamManager): Promise<string[]> {
  const missing: string[] = []
  for (const spec of Object.values(STREAMS)) if (!(await streamInfo(jsm, spec.name))) missing.push(spec.name)
  return missing
}

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name)
  } catch (e) {
    if (isStreamNotFound(e)) return undefined
    throw e
  }
}

/** `work`, tried again with doubling waits while it fails transiently. */
async function withRetry<T>(retry: UpdateRetry, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work()
    } catch (e) {
      if (!isTransient(e) || attempt >= retry.attempts) throw e
      await new Promise((r) => setTimeout(r, retry.firstDelayMs * 2 ** (attempt - 1)))
    }
  }
}
