/**
 * @module
 * Test support for the sampling plugin's unit tests: the mesh filter with a
 * `sampling` section (and, when a test gives one, a `telemetry` section) in
 * the TypeScript proxy-wasm host, exchanges whose bodies arrive in the chunks
 * a test chooses, and samples decoded strictly (invalid UTF-8 or JSON fails).
 */
import { decodeLine, TELEMETRY_VM_ID, type PayloadSampleEvent } from '@model-mesh/contracts'
import { ProxyWasmHost, SharedState } from '../../../test-host/proxy-wasm-host.ts'
import { type MeshFilterConfig, meshFilterWasm } from '../../config.ts'

export type SamplingSection = NonNullable<MeshFilterConfig['sampling']>
export type TelemetrySection = NonNullable<MeshFilterConfig['telemetry']>

/** Sections of the other plugins, for tests of the sampler in a chain. */
export type OtherSections = Omit<MeshFilterConfig, 'sampling' | 'telemetry'>

/** The mesh filter's configuration that runs the sampling plugin (alone, unless `others` names more). */
export const samplingConfig = (
  sampling: SamplingSection,
  telemetry?: TelemetrySection,
  others: OtherSections = {},
): MeshFilterConfig => (telemetry === undefined ? { ...others, sampling } : { ...others, telemetry, sampling })

/** The mesh filter loaded with a configuration given whole (as JSON text, or a value to encode). */
export const loadMeshFilter = (config: unknown, shared?: SharedState) =>
  ProxyWasmHost.load(
    meshFilterWasm(),
    { pluginConfiguration: typeof config === 'string' ? config : JSON.stringify(config), vmId: TELEMETRY_VM_ID },
    shared,
  )

/** A body chunk: text (sent as UTF-8) or raw bytes. */
export type Chunk = string | Uint8Array

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const encoder = new TextEncoder()

export const utf8 = (s: string) => encoder.encode(s)

/** Queue items as the agent reads them: fatal UTF-8, one JSON event a line, each a valid sample event. */
export function decodeSamples(items: Uint8Array[]): PayloadSampleEvent[] {
  return items.flatMap((m) =>
    strictUtf8
      .decode(m)
      .trim()
      .split('\n')
      .map((line) => {
        const decoded = decodeLine(line)
        if (!decoded.ok) throw new Error(`not a sample event (${decoded.detail}): ${line}`)
        return decoded.event as PayloadSampleEvent
      }),
  )
}

/** The mesh filter running the sampling plugin with this `sampling` section (and `telemetry` section, and other plugins' sections, if given). */
export async function sampler(sampling: SamplingSection, telemetry?: TelemetrySection, others?: OtherSections) {
  const shared = new SharedState()
  const id = shared.nextQueueId++
  shared.queues.set(id, { vmId: TELEMETRY_VM_ID, name: telemetry?.queue_name ?? 'mesh.telemetry', items: [] })
  const host = await loadMeshFilter(samplingConfig(sampling, telemetry, others), shared)
  if (!host.configured) throw new Error(`the mesh filter refused its configuration:\n${host.logText()}`)
  const items = () => shared.queues.get(id)!.items
  const samples = () => decodeSamples(items())
  /** Removes and returns the samples exported so far. */
  const take = () => {
    const taken = samples()
    items().length = 0
    return taken
  }
  return { host, items, samples, take }
}

export interface Exchange {
  requestId: string
  request?: Chunk | Chunk[]
  response?: Chunk | Chunk[]
  confidence?: string
  path?: string
  requestHeaders?: Record<string, string>
  responseHeaders?: Record<string, string>
}

/** One request and response through the filter; returns the actions it answered. */
export function exchange(host: ProxyWasmHost, o: Exchange): number[] {
  const s = host.newStream()
  const actions: number[] = []
  actions.push(
    s.sendRequestHeaders({
      ':path': o.path ?? '/v2/models/credit-risk/infer',
      'x-request-id': o.requestId,
      ...o.requestHeaders,
    }),
  )
  sendChunks(o.request ?? '{"inputs":[]}', (c, end) => actions.push(s.sendRequestBody(c, end)))
  const headers: Record<string, string> = { ':status': '200', 'x-model-version': '1', ...o.responseHeaders }
  if (o.confidence !== undefined) headers['x-model-confidence'] = o.confidence
  actions.push(s.sendResponseHeaders(headers))
  // The sample's status is the response's :status (no response.code property is set).
  sendChunks(o.response ?? '{"outputs":[]}', (c, end) => actions.push(s.sendResponseBody(c, end)))
  s.complete()
  return actions
}

function sendChunks(body: Chunk | Chunk[], send: (chunk: Chunk, endOfStream: boolean) => void): void {
  const chunks = Array.isArray(body) ? body : [body]
  chunks.forEach((c, i) => send(c, i === chunks.length - 1))
}

/** `bytes` cut at each offset in `offsets` (sorted, inside the body). */
export function splitAt(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = []
  let from = 0
  for (const at of offsets) {
    chunks.push(bytes.subarray(from, at))
    from = at
  }
  chunks.push(bytes.subarray(from))
  return chunks
}

/** Every single byte its own chunk. */
export const byteChunks = (bytes: Uint8Array) => Array.from(bytes, (b) => Uint8Array.of(b))

/**
 * A sampler that samples every request by low confidence, for masking tests:
 * `mask(body)` sends one body (as the request) and returns its sample.
 */
export async function masker(config: Partial<SamplingSection> = {}) {
  // No exporter drains the queue here: a bound (the telemetry section's) no test reaches.
  const s = await sampler(
    { routes: [{ model: 'credit-risk', confidence_threshold: 0.9 }], max_capture_bytes: 65536, ...config },
    { max_pending_events: 10_000_000 },
  )
  let n = 0
  const mask = (request: Chunk | Chunk[], requestHeaders?: Record<string, string>): PayloadSampleEvent => {
    exchange(s.host, { requestId: `m-${n++}`, confidence: '0.1', request, requestHeaders, response: '' })
    const taken = s.take()
    if (taken.length !== 1) throw new Error(`expected one sample, got ${taken.length}:\n${s.host.logText()}`)
    return taken[0]!
  }
  /** The exchange alone, its sample dropped unread: for timing the filter's work. */
  const send = (request: Chunk | Chunk[], requestHeaders?: Record<string, string>): void => {
    exchange(s.host, { requestId: `m-${n++}`, confidence: '0.1', request, requestHeaders, response: '' })
    s.items().length = 0
  }
  return { ...s, mask, send }
}
