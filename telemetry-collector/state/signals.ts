/**
 * @module
 * Golden signals as mergeable values: what one series (route, model,
 * version, variant) did in one time bucket, and how buckets merge into
 * windows and rollups. Pure: the store persists these, the API reads them.
 */
import { DDSketch } from '@datadog/sketches-js'
import {
  CODE_CLASSES,
  codeClass,
  mergeLatencySketch,
  newLatencySketch,
  responseFlagNames,
  type CodeClass,
  type GoldenSignalEvent,
  type RequestStatsEvent,
} from '@model-mesh/contracts'

/** The label values of a series. The model is `other` for models mesh.yaml does not name. */
export interface SeriesLabels {
  route: string
  model: string
  version: string
  variant: string
}

/** Request counts, errors and latency of one series over some span of time. */
export class SignalBucket {
  requests = 0
  codes: Record<CodeClass, number> = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, none: 0 }
  /** Requests by Envoy response flag (UH, UF, RL...). */
  flags: Record<string, number> = {}
  fallbacks = 0
  durationSumMs = 0
  /** Latency in milliseconds (the mesh's one mapping: quantiles within 1%, contracts' latency-sketch.ts). */
  sketch: DDSketch = newLatencySketch()

  add(e: GoldenSignalEvent): void {
    this.requests++
    this.codes[codeClass(e.status)]++
    if (e.flags !== 0) for (const f of responseFlagNames(e.flags)) this.flags[f] = (this.flags[f] ?? 0) + 1
    if (e.fallback) this.fallbacks++
    const ms = e.duration_us / 1000
    this.durationSumMs += ms
    this.sketch.accept(ms)
  }

  /** A request_stats record: its requests, all of one status class and one set of flags. */
  addStats(e: RequestStatsEvent): void {
    const n = e.requests
    this.requests += n
    this.codes[e.code_class] += n
    if (e.flags !== 0) for (const f of responseFlagNames(e.flags)) this.flags[f] = (this.flags[f] ?? 0) + n
    this.fallbacks += e.fallbacks
    this.durationSumMs += e.duration_us_sum / 1000
    mergeLatencySketch(this.sketch, e.latency)
  }

  merge(o: SignalBucket): this {
    this.requests += o.requests
    for (const c of CODE_CLASSES) this.codes[c] += o.codes[c]
    for (const [f, n] of Object.entries(o.flags)) this.flags[f] = (this.flags[f] ?? 0) + n
    this.fallbacks += o.fallbacks
    this.durationSumMs += o.durationSumMs
    if (o.requests > 0) mergeLatencySketch(this.sketch, o.sketch)
    return this
  }

  /** Failed requests: 5xx and no response at all (contracts' FAILED_CODE_CLASSES, which the alert rules and the store's sums use). */
  get errors(): number {
    return this.codes['5xx'] + this.codes.none
  }
}

/** A bucket summarised for people and the API: rates per second over `seconds`. */
export interface SignalSummary {
  requests: number
  rate_per_s: number
  codes: Record<CodeClass, number>
  errors: number
  error_ratio: number | null
  flags: Record<string, number>
  fallbacks: number
  fallback_ratio: number | null
  latency_ms: { p50: number | null; p95: number | null; p99: number | null; mean: number | null }
}

export function summarise(b: SignalBucket, seconds: number): SignalSummary {
  const q = (p: number) => (b.requests > 0 ? round(b.sketch.getValueAtQuantile(p)) : null)
  return {
    requests: b.requests,
    rate_per_s: round(b.requests / seconds),
    codes: { ...b.codes },
    errors: b.errors,
    error_ratio: b.requests > 0 ? b.errors / b.requests : null,
    flags: { ...b.flags },
    fallbacks: b.fallbacks,
    fallback_ratio: b.requests > 0 ? b.fallbacks / b.requests : null,
    latency_ms: {
      p50: q(0.5),
      p95: q(0.95),
      p99: q(0.99),
      mean: b.requests > 0 ? round(b.durationSumMs / b.requests) : null,
    },
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000

/** The persisted form of a bucket: counts as JSON, the sketch as DDSketch's protobuf. */
export interface SignalBucketRow {
  requests: number
  codes: string
  flags: string
  fallbacks: number
  duration_sum_ms: number
  sketch: Uint8Array
}

export function bucketToRow(b: SignalBucket): SignalBucketRow {
  return {
    requests: b.requests,
    codes: JSON.stringify(b.codes),
    flags: JSON.stringify(b.flags),
    fallbacks: b.fallbacks,
    duration_sum_ms: b.durationSumMs,
    sketch: b.sketch.toProto(),
  }
}

export function bucketFromRow(r: SignalBucketRow): SignalBucket {
  const b = new SignalBucket()
  b.requests = r.requests
  b.codes = { ...b.codes, ...JSON.parse(r.codes) }
  b.flags = JSON.parse(r.flags)
  b.fallbacks = r.fallbacks
  b.durationSumMs = r.duration_sum_ms
  if (r.sketch.length > 0) b.sketch = DDSketch.fromProto(r.sketch)
  return b
}

/** Upper bounds (seconds) of mesh_request_duration_seconds' buckets: the model host's range, 1 ms to 10 s. */
export const DURATION_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** All-time counts of one series and code class: what the Prometheus counters and histogram report. */
export interface SeriesTotal {
  requests: number
  fallbacks: number
  durationSumS: number
  /** Per DURATION_BUCKETS_S bound, not cumulative; the last slot is +Inf. */
  buckets: number[]
}

export const newTotal = (): SeriesTotal => ({
  requests: 0,
  fallbacks: 0,
  durationSumS: 0,
  buckets: new Array(DURATION_BUCKETS_S.length + 1).fill(0),
})

export function addToTotal(t: SeriesTotal, e: GoldenSignalEvent): void {
  const s = e.duration_us / 1e6
  t.requests++
  if (e.fallback) t.fallbacks++
  t.durationSumS += s
  t.buckets[durationBucket(s)]!++
}

/**
 * A request_stats record: counts exactly; the histogram's buckets from the
 * sketch's bins, so a duration within 1% of a bucket's bound may count in
 * the neighbouring bucket (the sketch's accuracy).
 */
export function addStatsToTotal(t: SeriesTotal, e: RequestStatsEvent): void {
  t.requests += e.requests
  t.fallbacks += e.fallbacks
  t.durationSumS += e.duration_us_sum / 1e6
  const { latency } = e
  t.buckets[0]! += latency.zeroCount
  const { bins, offset } = latency.store
  for (let i = 0; i < bins.length; i++)
    if (bins[i]! > 0) t.buckets[durationBucket(latency.mapping.value(i + offset) / 1000)]! += bins[i]!
}

/** The index of the histogram bucket a duration (seconds) counts in. */
function durationBucket(s: number): number {
  let i = 0
  while (i < DURATION_BUCKETS_S.length && s > DURATION_BUCKETS_S[i]!) i++
  return i
}
