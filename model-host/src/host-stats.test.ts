/**
 * The host's batches and fallbacks counted per model version and interval:
 * one host_stats record a version and flush, whose counts and sketches are
 * exactly what happened, and that the contract's decoder reads back; the
 * stories (a failed batch with its request ids, every fallback and refusal)
 * still go out one by one; nothing goes out for an idle interval.
 */
import { describe, expect, it } from 'vitest'
import { decodeLine, encodeEvent, newLatencySketch, type HostEvent } from '@model-mesh/contracts'
import { HostStats, MAX_STORIES_PER_INTERVAL, type BatchReport, type FallbackReport } from './host-stats.ts'

const batch = (o: Partial<BatchReport> = {}): BatchReport => ({
  kind: 'host_batch',
  ts: 1_700_000_000_000,
  host: 'h1',
  model: 'credit-risk',
  version: '1',
  batch_id: 'credit-risk/1/1',
  request_ids: ['a', 'b'],
  traceparents: ['', ''],
  rows: 2,
  max_batch_rows: 8,
  queue_wait_ms: 1.5,
  execution_ms: 4,
  queue_depth: 3,
  device: 'cpu',
  ok: true,
  ...o,
})

const fallback = (o: Partial<FallbackReport> = {}): FallbackReport => ({
  kind: 'host_fallback',
  ts: 1_700_000_000_000,
  host: 'h1',
  model: 'credit-risk',
  version: '1',
  request_id: 'r1',
  traceparent: '',
  fallback_model: 'credit-risk-fallback',
  reason: 'queue_full',
  ...o,
})

/** What went out, as the collector reads it: every line through the wire encoding and the decoder. */
function wire(out: HostEvent[]): HostEvent[] {
  return out.map((e) => {
    const d = decodeLine(encodeEvent(e))
    if (!d.ok) throw new Error(`${d.reason}: ${d.detail}`)
    return d.event as HostEvent
  })
}

describe('host stats', () => {
  it('counts every batch and fallback in one record a version; the stories go out whole', () => {
    const out: HostEvent[] = []
    const stats = new HostStats({ emit: (e) => void out.push(e) })
    const waits = [1.5, 0.25, 12, 3]
    for (const [i, w] of waits.entries())
      stats.batch(batch({ queue_wait_ms: w, rows: i + 1, queue_depth: i, ok: i !== 2, request_ids: [`q${i}`] }))
    stats.batch(batch({ version: '2', max_batch_rows: 0 }))
    stats.fallback(fallback())
    stats.fallback(fallback({ request_id: 'r2', fallback_model: null, reason: 'deadline' }))
    // Only the stories so far: the failed batch (its request ids) and both fallbacks.
    expect(wire(out).map((e) => [e.kind, 'kept' in e ? e.kept : null])).toEqual([
      ['host_batch', ['failed']],
      ['host_fallback', ['fallback']],
      ['host_fallback', ['refused']],
    ])
    expect(wire(out)[0]).toMatchObject({ request_ids: ['q2'], ok: false, v: 3 })

    out.length = 0
    stats.flush('h1', 1_700_000_001_000)
    const records = wire(out).filter((e) => e.kind === 'host_stats')
    expect(records).toHaveLength(2)
    const v1 = records.find((r) => r.version === '1')!
    expect(v1).toMatchObject({
      host: 'h1',
      model: 'credit-risk',
      batches: 4,
      failed_batches: 1,
      rows: 10,
      fill_sum: 10 / 8,
      fill_count: 4,
      queue_wait_ms_sum: 16.75,
      execution_ms_sum: 16,
      max_queue_depth: 3,
      fallbacks: { queue_full: 1 },
      refusals: { deadline: 1 },
    })
    const expected = newLatencySketch()
    for (const w of waits) expected.accept(w)
    for (const q of [0, 0.5, 0.99, 1])
      expect(v1.queue_wait_ms.getValueAtQuantile(q)).toBeCloseTo(expected.getValueAtQuantile(q), 9)
    expect(records.find((r) => r.version === '2')).toMatchObject({ batches: 1, fill_count: 0, fill_sum: 0 })

    // An idle interval sends nothing.
    out.length = 0
    stats.flush('h1', 1_700_000_002_000)
    expect(out).toEqual([])
  })

  it('sends at most MAX_STORIES_PER_INTERVAL stories an interval, counts the rest as suppressed, and every one in its record', () => {
    const out: HostEvent[] = []
    const stats = new HostStats({ emit: (e) => void out.push(e) })
    const n = MAX_STORIES_PER_INTERVAL + 250
    for (let i = 0; i < n; i++) stats.fallback(fallback({ request_id: `r${i}`, fallback_model: null }))
    expect(out).toHaveLength(MAX_STORIES_PER_INTERVAL)
    expect(stats.storiesSuppressed).toBe(250)
    stats.flush('h1', 1_700_000_001_000)
    expect(
      wire(out)
        .filter((e) => e.kind === 'host_stats')
        .map((e) => e.refusals),
    ).toEqual([{ queue_full: n }])
    // The next interval may send stories again; a day-long wait counts as a day.
    out.length = 0
    stats.batch(batch({ ok: false, queue_wait_ms: 1e12 }))
    stats.flush('h1', 1_700_000_002_000)
    expect(wire(out).map((e) => e.kind)).toEqual(['host_batch', 'host_stats'])
  })
})
