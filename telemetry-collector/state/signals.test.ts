/**
 * Golden-signal buckets fed by request_stats records: counts add exactly,
 * and the latency sketches merge into the quantiles of all the values,
 * whatever keys each record's sketch covers (records carry exactly their
 * counted keys; one whose slowest request is about 1 ms ends at key 0,
 * which sketches-js's own store merge reads as no key).
 */
import { describe, expect, it } from 'vitest'
import {
  decodeLine,
  encodeLatencySketch,
  LATENCY_SKETCH_ACCURACY,
  newLatencySketch,
  type RequestStatsEvent,
} from '@model-mesh/contracts'
import { requestStats } from '@model-mesh/testkit/events'
import { SignalBucket } from './signals.ts'

/** A record as the proxy writes it: its sketch's bins from the lowest to the highest counted key, nothing around. */
const record = (durations: number[]): RequestStatsEvent => {
  const sketch = newLatencySketch()
  for (const v of durations) sketch.accept(v)
  const store = sketch.store as unknown as { bins: number[]; offset: number }
  const first = store.bins.findIndex((n) => n > 0)
  let last = store.bins.length - 1
  while (store.bins[last] === 0) last--
  store.bins = store.bins.slice(first, last + 1)
  store.offset += first
  const d = decodeLine(JSON.stringify({ ...requestStats(durations), latency_ms: encodeLatencySketch(sketch) }))
  if (!d.ok || d.event.kind !== 'request_stats') throw new Error(d.ok ? d.event.kind : d.detail)
  return d.event
}

describe('SignalBucket fed by records', () => {
  it('merges sketches of any keys into the quantiles of all the values', () => {
    // Local replies of a few µs (keys far below 0), then a record whose slowest is 0.99 ms (key 0).
    const fast = Array.from({ length: 50 }, (_, i) => 0.001 + i * 0.0001)
    const around1ms = [0.5, 0.99]
    const slow = [3, 40, 250]
    const bucket = new SignalBucket()
    for (const durations of [fast, around1ms, slow]) bucket.addStats(record(durations))
    const all = [...fast, ...around1ms, ...slow]
    expect(bucket.requests).toBe(all.length)
    const exact = newLatencySketch()
    for (const v of all) exact.accept(v)
    for (const q of [0, 0.25, 0.5, 0.9, 0.95, 0.99, 1]) {
      const got = bucket.sketch.getValueAtQuantile(q)
      expect(Number.isFinite(got), `q=${q}`).toBe(true)
      expect(Math.abs(got - exact.getValueAtQuantile(q)) / exact.getValueAtQuantile(q)).toBeLessThanOrEqual(
        LATENCY_SKETCH_ACCURACY,
      )
    }
    // And buckets merged into windows likewise.
    const window = new SignalBucket().merge(bucket).merge(new SignalBucket())
    expect(window.sketch.getValueAtQuantile(0.99)).toBe(bucket.sketch.getValueAtQuantile(0.99))
  })
})
