/**
 * @module
 * Test events as the producers write them (golden-signals, the payload
 * sampler, the model host), and helpers to post them and to read
 * Prometheus text.
 */
import { randomUUID } from 'node:crypto'
import {
  encodeLatencySketch,
  newLatencySketch,
  type CodeClass,
  type GoldenSignalEvent,
  type HostBatchEvent,
  type HostFallbackEvent,
  type PayloadSampleEvent,
} from '@model-mesh/contracts'
import { FEATURE_COUNT, FEATURE_NAMES, generateApplicants } from '@model-mesh/model-host'

/** A request's own event that counts it too (`every_request`, as a version 1 producer's is read); give `kept` for a story only. */
export function requestEvent(o: Partial<GoldenSignalEvent> = {}): GoldenSignalEvent {
  return {
    v: 2,
    kind: 'request',
    ts: Date.now(),
    service: 'gateway',
    request_id: randomUUID(),
    traceparent: '',
    route: 'credit-risk',
    model: 'credit-risk',
    version: '1',
    variant: 'stable',
    cluster: 'credit-risk-stable',
    upstream: '127.0.0.1:8001',
    status: 200,
    flags: 0,
    fallback: false,
    duration_us: 1500,
    kept: ['every_request'],
    ...o,
  }
}

/** A request_stats record as the golden-signals filter writes it (JSON), for requests of these durations. */
export function requestStats(
  durationsMs: number[],
  o: Partial<{
    ts: number
    route: string
    model: string
    version: string
    variant: string
    code_class: CodeClass
    flags: number
    fallbacks: number
  }> = {},
) {
  const sketch = newLatencySketch()
  for (const ms of durationsMs) sketch.accept(ms)
  return {
    v: 1,
    kind: 'request_stats',
    ts: Date.now(),
    interval_ms: 1000,
    service: 'gateway',
    route: 'credit-risk',
    model: 'credit-risk',
    version: '1',
    variant: 'stable',
    code_class: '2xx',
    flags: 0,
    requests: durationsMs.length,
    fallbacks: 0,
    duration_us_sum: durationsMs.reduce((a, ms) => a + Math.round(ms * 1000), 0),
    latency_ms: encodeLatencySketch(sketch),
    ...o,
  }
}

/** A host_stats record as a host writes it (JSON), for batches of these queue waits (ms) and `rows` rows each. */
export function hostStats(
  queueWaitsMs: number[],
  o: Partial<{ ts: number; host: string; model: string; version: string; rows: number; failed_batches: number }> & {
    fallbacks?: Record<string, number>
    refusals?: Record<string, number>
  } = {},
) {
  const sketch = newLatencySketch()
  for (const ms of queueWaitsMs) sketch.accept(ms)
  const { rows = 1, ...rest } = o
  return {
    v: 1,
    kind: 'host_stats',
    ts: Date.now(),
    interval_ms: 1000,
    host: 'stable',
    model: 'credit-risk',
    version: '1',
    device: 'cpu',
    batches: queueWaitsMs.length,
    failed_batches: 0,
    rows: rows * queueWaitsMs.length,
    fill_sum: (queueWaitsMs.length * rows) / 64,
    fill_count: queueWaitsMs.length,
    queue_wait_ms_sum: queueWaitsMs.reduce((a, b) => a + b, 0),
    execution_ms_sum: 0,
    max_queue_depth: 0,
    // Execution took no time: a sketch of zeros, one per batch.
    queue_wait_ms: encodeLatencySketch(sketch),
    execution_ms: encodeLatencySketch(zeros(queueWaitsMs.length)),
    fallbacks: {},
    refusals: {},
    ...rest,
  }
}

const zeros = (n: number) => {
  const s = newLatencySketch()
  for (let i = 0; i < n; i++) s.accept(0)
  return s
}

/** A batch's own event that counts it too (`every_event`, as a version 2 host's is read). */
export function batchEvent(o: Partial<HostBatchEvent> = {}): HostBatchEvent {
  const ids = o.request_ids ?? [randomUUID()]
  return {
    v: 3,
    kind: 'host_batch',
    ts: Date.now(),
    host: 'stable',
    model: 'credit-risk',
    version: '1',
    batch_id: `credit-risk/1/${randomUUID()}`,
    request_ids: ids,
    traceparents: ids.map(() => ''),
    rows: ids.length,
    max_batch_rows: 64,
    queue_wait_ms: 0.5,
    execution_ms: 0.2,
    queue_depth: 0,
    device: 'cpu',
    ok: true,
    kept: ['every_event'],
    ...o,
  }
}

/** A fallback's own event that counts it too (`every_event`). */
export function fallbackEvent(o: Partial<HostFallbackEvent> = {}): HostFallbackEvent {
  return {
    v: 3,
    kind: 'host_fallback',
    ts: Date.now(),
    host: 'stable',
    model: 'credit-risk',
    version: '1',
    request_id: randomUUID(),
    traceparent: '',
    fallback_model: 'credit-risk-fallback',
    reason: 'queue_full',
    kept: ['every_event'],
    ...o,
  }
}

/** Feature rows of credit applicants drawn as the training rows were (another seed: not the same rows), optionally with features shifted. */
export function applicantRows(
  n: number,
  seed: number,
  shift: Partial<Record<(typeof FEATURE_NAMES)[number], number>> = {},
): number[][] {
  const d = generateApplicants(n, seed)
  return Array.from({ length: n }, (_, i) => {
    const row = Array.from(d.features.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT))
    for (const [name, by] of Object.entries(shift))
      row[FEATURE_NAMES.indexOf(name as (typeof FEATURE_NAMES)[number])]! += by!
    return row
  })
}

/** A sample event as the payload sampler writes it, for one OIP JSON request of these rows to credit-risk (each scored `score`). */
export function sampleEvent(rows: number[][], o: Partial<PayloadSampleEvent> = {}, score = 0.1): PayloadSampleEvent {
  const request = JSON.stringify({
    inputs: [{ name: 'features', datatype: 'FP32', shape: [rows.length, FEATURE_COUNT], data: rows.flat() }],
  })
  const response = JSON.stringify({
    model_name: o.model ?? 'credit-risk',
    model_version: o.version ?? '1',
    outputs: [
      {
        name: 'probabilities',
        datatype: 'FP32',
        shape: [rows.length, 2],
        data: rows.flatMap(() => [1 - score, score]),
      },
    ],
  })
  return {
    v: 1,
    kind: 'sample',
    ts: Date.now(),
    request_id: randomUUID(),
    traceparent: '',
    model: 'credit-risk',
    version: '1',
    variant: 'stable',
    reason: 'rate',
    confidence: 0.8,
    status: 200,
    request,
    request_truncated: false,
    response,
    response_truncated: false,
    ...o,
  }
}

export const ndjson = (events: unknown[]) =>
  events.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n') + '\n'

/** The telemetry credential of the agents tests start (startAgent's `token`). */
export const AGENT_TEST_TOKEN = 'test-telemetry-token-0123456789'

/** POSTs an NDJSON body to an agent with the credential (`token: null`: without one). */
export async function post(
  agentUrl: string,
  body: string,
  source = 'envoy:gateway',
  token: string | null = AGENT_TEST_TOKEN,
): Promise<Response> {
  const auth: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` }
  return fetch(`${agentUrl}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', 'x-mesh-source': source, ...auth },
    body,
  })
}

/** Sum of a metric's samples whose labels include `match` (contracts' reader, for the tests). */
export { metricSum } from '@model-mesh/contracts'

export async function metrics(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text()
}

/**
 * Polls until `check` is true; a read that throws (a process restarting)
 * counts as not yet. Throws with the last reading after `timeoutMs`.
 */
export async function eventually<T>(read: () => Promise<T>, check: (t: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await read()
      if (check(value)) return value
      last = value
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline)
      throw new Error(
        `not reached within ${timeoutMs} ms; last: ${typeof last === 'string' ? last.slice(0, 2000) : last instanceof Error ? last.message : JSON.stringify(last)}`,
      )
    await new Promise((r) => setTimeout(r, 100))
  }
}
