/**
 * @module
 * Telemetry event schemas shared by the mesh's producers (Wasm filters, the
 * model host) and consumers (agent, collector). Consumers accept unknown
 * fields; `v` is bumped on incompatible changes. The AssemblyScript filters
 * cannot import this file: wasm-filters/golden-signals/assembly/signals.ts
 * writes exactly these fields and its tests parse them against this type.
 */

export const GOLDEN_SIGNAL_EVENT_VERSION = 1

/** One request as Envoy saw it, emitted by the golden-signals filter at log time. */
export interface GoldenSignalEvent {
  v: typeof GOLDEN_SIGNAL_EVENT_VERSION
  kind: 'request'
  /** Milliseconds since the epoch, when the request was logged. */
  ts: number
  /** The reporting Envoy's role, from the filter configuration. */
  service: string
  request_id: string
  traceparent: string
  route: string
  model: string
  /** The version that answered (the host's x-model-version), else the one the router chose. */
  version: string
  /** stable, canary, or "" when the canary router did not route it. */
  variant: string
  cluster: string
  upstream: string
  /** HTTP status; 0 when no response was sent. */
  status: number
  /** Envoy's response flags bitmask. */
  flags: number
  /** A fallback model answered (x-model-fallback: true). */
  fallback: boolean
  duration_us: number
}

/** A sampled request and response, PII masked, emitted by the payload-sampler filter at log time. */
export interface PayloadSampleEvent {
  v: 1
  kind: 'sample'
  ts: number
  request_id: string
  traceparent: string
  model: string
  /** The version that answered (x-model-version on the response). */
  version: string
  variant: string
  /** Why it was sampled: the request id's hash fell under the rate, the confidence under the threshold, or both. */
  reason: 'rate' | 'low_confidence' | 'rate+low_confidence'
  /** x-model-confidence of the response, null when absent. */
  confidence: number | null
  status: number
  /** Captured bodies (UTF-8 text, up to max_capture_bytes each), PII masked. */
  request: string
  request_truncated: boolean
  response: string
  response_truncated: boolean
}
