/**
 * @module
 * The JetStream streams of the telemetry pipeline, from the contract
 * (contracts/subjects.ts) and mesh.yaml's limits. The collector creates or
 * updates them at start-up; the agent only checks that they exist. A
 * change JetStream cannot make in place is refused with what to do.
 */
import { RetentionPolicy, StorageType, DiscardPolicy, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { STREAMS, type StreamKey, type StreamSpec } from '../../contracts/subjects.ts'

export interface StreamLimits {
  duplicateWindowS: number
  /** Size limit per stream, bytes. */
  maxBytes: Record<StreamKey, number>
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  duplicateWindowS: 120,
  // Not `<<`: it works in 32 bits, and 4096 << 20 is 0 (unlimited to JetStream), 2048 << 20 negative.
  maxBytes: { requests: 4096 * 2 ** 20, payloads: 2048 * 2 ** 20, host: 2048 * 2 ** 20, review: 512 * 2 ** 20 },
}

const DAY_NS = nanos(86_400_000)

/** The settings the mesh wants for one stream. */
export function streamConfig(spec: StreamSpec, limits: StreamLimits): Partial<StreamConfig> & { name: string; subjects: string[] } {
  return {
    name: spec.name,
    subjects: [`${spec.prefix}.*`],
    retention: spec.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: spec.maxAgeDays * DAY_NS,
    max_bytes: limits.maxBytes[spec.key],
    duplicate_window: nanos(limits.duplicateWindowS * 1000),
    num_replicas: 1,
  }
}

type Compared = 'subjects' | 'retention' | 'storage' | 'discard' | 'max_age' | 'max_bytes' | 'duplicate_window'
const COMPARED: Compared[] = ['subjects', 'retention', 'storage', 'discard', 'max_age', 'max_bytes', 'duplicate_window']
/** JetStream refuses to change these on an existing stream. */
const IMMUTABLE = new Set<Compared>(['retention', 'storage'])

/** Fields whose value differs between the stream as it is and as wanted. */
export function differences(actual: Partial<StreamConfig>, wanted: Partial<StreamConfig>): Compared[] {
  return COMPARED.filter((k) => JSON.stringify(actual[k]) !== JSON.stringify(wanted[k]))
}

export type EnsureOutcome = { name: string; action: 'created' | 'unchanged' | 'updated'; changed: string[] }

/** Creates each stream, or updates it to the wanted settings; throws with a clear message when it cannot. */
export async function ensureStreams(jsm: JetStreamManager, limits: StreamLimits): Promise<EnsureOutcome[]> {
  const out: EnsureOutcome[] = []
  for (const spec of Object.values(STREAMS)) {
    const wanted = streamConfig(spec, limits)
    const info = await streamInfo(jsm, spec.name)
    if (!info) {
      await jsm.streams.add(wanted)
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
      throw new Error(
        `stream ${spec.name} exists with ${immutable.map((k) => `${k}=${String(info.config[k])}`).join(', ')}, but the mesh wants ${immutable.map((k) => `${k}=${String(wanted[k])}`).join(', ')}; ` +
          `JetStream cannot change that on an existing stream: move its data elsewhere and delete it (nats stream rm ${spec.name}), then start again`,
      )
    }
    try {
      await jsm.streams.update(spec.name, { ...info.config, ...wanted })
    } catch (e) {
      throw new Error(`stream ${spec.name}: JetStream refused to update ${changed.join(', ')}: ${(e as Error).message}`)
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
    if (/stream not found/i.test(String((e as Error).message)) || (e as { code?: unknown }).code === 404) return undefined
    throw e
  }
}
