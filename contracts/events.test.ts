/**
 * @module
 * The one event decoder: every kind's current version, unknown fields, the
 * previous host-event version upgraded, and each refusal with its reason —
 * never a throw.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DDSketch } from '@datadog/sketches-js'
import { encodeLatencySketch, newLatencySketch } from './latency-sketch.ts'
import {
  decodeEvent,
  decodeLine,
  encodeEvent,
  ENVOY_RESPONSE_FLAGS,
  GOLDEN_SIGNAL_EVENT_VERSION,
  HOST_EVENT_VERSION,
  PAYLOAD_SAMPLE_EVENT_VERSION,
  responseFlagNames,
  type Decoded,
  type TelemetryEvent,
} from './events.ts'

const requestV1 = {
  v: 1,
  kind: 'request',
  ts: 1_700_000_000_000,
  service: 'gateway',
  request_id: 'r-1',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
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
} as const
const request = { ...requestV1, v: 2, kept: ['failed', 'traced'] } as const
const sample = {
  v: 1,
  kind: 'sample',
  ts: 1_700_000_000_001,
  request_id: 'r-2',
  traceparent: '',
  model: 'credit-risk',
  version: '2',
  variant: 'canary',
  reason: 'rate+low_confidence',
  confidence: 0.31,
  status: 200,
  request: '{"inputs":[]}',
  request_truncated: false,
  response: '{"outputs":[]}',
  response_truncated: true,
} as const
const hostBatch = {
  v: 3,
  kind: 'host_batch',
  ts: 1_700_000_000_002,
  host: 'stable',
  model: 'credit-risk',
  version: '1',
  batch_id: 'credit-risk/1/7',
  request_ids: ['a', 'b'],
  traceparents: ['', '00-x-y-01'],
  rows: 5,
  max_batch_rows: 64,
  queue_wait_ms: 0.5,
  execution_ms: 1.25,
  queue_depth: 3,
  device: 'cpu',
  ok: false,
  kept: ['failed'],
} as const
const hostFallback = {
  v: 3,
  kind: 'host_fallback',
  ts: 1_700_000_000_003,
  host: 'stable',
  model: 'credit-risk',
  version: '1',
  request_id: 'r-3',
  traceparent: '',
  fallback_model: 'credit-risk-fallback',
  reason: 'queue_full',
  kept: ['fallback'],
} as const
const hostSaturation = {
  v: 3,
  kind: 'host_saturation',
  ts: 1_700_000_000_004,
  host: '127.0.0.1:8001',
  model: 'credit-risk',
  version: '1',
  queue_depth: 12,
  busy_instances: 2,
  instances: 2,
} as const

const CURRENT = { request, sample, host_batch: hostBatch, host_fallback: hostFallback, host_saturation: hostSaturation }

function ok(d: Decoded): TelemetryEvent {
  if (!d.ok) throw new Error(`refused: ${d.reason} ${d.detail}`)
  return d.event
}

function refused(d: Decoded): { reason: string; detail: string } {
  if (d.ok) throw new Error(`accepted: ${JSON.stringify(d.event)}`)
  return { reason: d.reason, detail: d.detail }
}

describe('decodeEvent: current versions', () => {
  it('the version constants are what the fixtures carry', () => {
    expect([GOLDEN_SIGNAL_EVENT_VERSION, PAYLOAD_SAMPLE_EVENT_VERSION, HOST_EVENT_VERSION]).toEqual([2, 1, 3])
  })

  for (const [kind, event] of Object.entries(CURRENT)) {
    it(`decodes ${kind} to the same event, from a value and from a line`, () => {
      expect(ok(decodeEvent(structuredClone(event)))).toEqual(event)
      expect(ok(decodeLine(JSON.stringify(event)))).toEqual(event)
    })

    it(`accepts ${kind} with unknown extra fields, and the event is still usable`, () => {
      const newer = { ...event, added_in_v9: { nested: [1, 2] }, zz: 'x' }
      const e = ok(decodeLine(JSON.stringify(newer)))
      expect(e.kind).toBe(kind)
      expect(e.model).toBe('credit-risk')
      // Every known field is there with its value; the unknown ones are dropped, not passed on.
      expect(e).toEqual(event)
      expect(e).not.toHaveProperty('added_in_v9')
    })
  }

  it('accepts a null confidence and a null fallback model', () => {
    expect(ok(decodeEvent({ ...sample, confidence: null }))).toMatchObject({ kind: 'sample', confidence: null })
    expect(ok(decodeEvent({ ...hostFallback, fallback_model: null }))).toMatchObject({
      kind: 'host_fallback',
      fallback_model: null,
    })
  })
})

describe('decodeEvent: request events v1 (one per request)', () => {
  it("upgrades a v1 request to v2, kept as every_request: it is the request's count", () => {
    expect(ok(decodeEvent(structuredClone(requestV1)))).toEqual({ ...requestV1, v: 2, kept: ['every_request'] })
  })

  it('refuses a v1 request with a bad field, naming it, and one stamped ahead of the clock', () => {
    expect(refused(decodeEvent({ ...requestV1, status: 'x' })).detail).toMatch(/^status: /)
    expect(refused(decodeEvent({ ...requestV1, ts: Date.now() + 60_000 })).detail).toMatch(/^ts: .* ahead/)
  })

  it('refuses a v2 request that says no reason it was kept', () => {
    expect(refused(decodeEvent({ ...request, kept: [] })).detail).toMatch(/^kept: /)
    expect(refused(decodeEvent({ ...request, kept: ['bored'] })).detail).toMatch(/^kept\.0: /)
    const { kept: _, ...noReason } = request
    expect(refused(decodeEvent(noReason)).detail).toMatch(/^kept: /)
  })
})

describe('decodeEvent: request_stats', () => {
  const durations = [0, 0.4, 1.5, 1.5, 2.25, 17, 250, 1200]
  const sketchOf = (values: number[], relativeAccuracy = 0.01) => {
    const s = relativeAccuracy === 0.01 ? newLatencySketch() : new DDSketch({ relativeAccuracy })
    for (const v of values) s.accept(v)
    return Buffer.from(s.toProto()).toString('base64')
  }
  // Written out (contracts import nothing, not even the testkit's builder): the wire form itself.
  const stats = {
    v: 1,
    kind: 'request_stats',
    ts: 1_700_000_001_000,
    interval_ms: 1000,
    service: 'gateway',
    route: 'credit-risk',
    model: 'credit-risk',
    version: '1',
    variant: 'stable',
    code_class: '2xx',
    flags: 0,
    requests: durations.length,
    fallbacks: 1,
    duration_us_sum: 1_472_650,
    latency_ms: sketchOf(durations),
  }

  it("decodes the latency sketch: the same values, mergeable with the collector's", () => {
    const e = ok(decodeLine(JSON.stringify(stats)))
    if (e.kind !== 'request_stats') throw new Error(e.kind)
    const { latency_ms: _, ...fields } = stats
    expect(e).toMatchObject(fields)
    expect(e).not.toHaveProperty('latency_ms')
    expect(e.latency.count).toBe(durations.length)
    expect(e.latency.getValueAtQuantile(0.5)).toBeCloseTo(1.5, 1)
    const merged = newLatencySketch()
    merged.merge(e.latency)
    expect(merged.count).toBe(durations.length)
  })

  it('refuses a record whose parts disagree, naming the field', () => {
    const detail = (o: Record<string, unknown>) => refused(decodeEvent({ ...stats, ...o })).detail
    expect(detail({ requests: 7 })).toBe('latency_ms: holds 8 values, not 7')
    expect(detail({ requests: 0 })).toMatch(/^requests: /)
    expect(detail({ fallbacks: 9 })).toBe('fallbacks: more than the 8 requests')
    expect(detail({ code_class: '6xx' })).toMatch(/^code_class: /)
    expect(detail({ latency_ms: 'not base64!' })).toBe('latency_ms: not base64')
    expect(detail({ latency_ms: Buffer.from('junk junk junk').toString('base64') })).toMatch(/^latency_ms: /)
    expect(detail({ latency_ms: sketchOf(durations, 0.02) })).toMatch(/^latency_ms: gamma /)
    expect(detail({ latency_ms: sketchOf([...durations.slice(1), -3]) })).toBe('latency_ms: negative latencies')
    expect(detail({ latency_ms: sketchOf([...durations.slice(1), 1e12]) })).toMatch(/^latency_ms: values above /)
    expect(detail({ latency_ms: 'A'.repeat(40_000) })).toMatch(/^latency_ms: /)
    expect(detail({ duration_us_sum: -1 })).toMatch(/^duration_us_sum: /)
  })

  it('refuses a crafted sketch that decodes to sane values but would make the stores it merges into grow without bound', () => {
    const crafted = (tamper: (s: DDSketch) => void) => {
      const s = newLatencySketch()
      for (const v of durations) s.accept(v)
      tamper(s)
      return encodeLatencySketch(s)
    }
    const detail = (latency_ms: string) => refused(decodeEvent({ ...stats, latency_ms })).detail
    const internals = (s: DDSketch) => s as unknown as { mapping: Record<string, unknown>; store: { offset: number } }
    // An index offset shifts every key (a million keys up: a million bins to merge into).
    expect(detail(crafted((s) => void (internals(s).mapping._offset = 1e6)))).toMatch(
      /^latency_ms: not the mesh's mapping/,
    )
    expect(detail(crafted((s) => void (internals(s).mapping._offset = Number.NaN)))).toMatch(/^latency_ms: /)
    // An interpolated mapping has the same gamma and other keys.
    expect(detail(crafted((s) => void (internals(s).mapping._protoInterpolation = () => 1)))).toMatch(
      /^latency_ms: not the mesh's mapping/,
    )
    // Keys a million below 1 ms: values of about 0, but a million bins apart from the rest.
    expect(detail(crafted((s) => void (internals(s).store.offset -= 1_000_000)))).toBe('latency_ms: values under 1 ns')
  })

  it('a sketch with fractional or negative bins is refused', () => {
    const s = newLatencySketch()
    s.accept(3, 0.5)
    s.accept(5, 0.5)
    const half = Buffer.from(s.toProto()).toString('base64')
    expect(refused(decodeEvent({ ...stats, requests: 1, latency_ms: half })).detail).toBe(
      'latency_ms: a bin whose count is not a whole number ≥ 0',
    )
  })
})

describe('decodeEvent: host events v2 (an event for every batch and fallback)', () => {
  it('upgrades each v2 host event to v3: a batch or fallback counts itself, saturation is unchanged', () => {
    const { kept: _b, ...batchV2 } = hostBatch
    const { kept: _f, ...fallbackV2 } = hostFallback
    expect(ok(decodeEvent({ ...batchV2, v: 2 }))).toEqual({ ...hostBatch, kept: ['every_event'] })
    expect(ok(decodeEvent({ ...fallbackV2, v: 2 }))).toEqual({ ...hostFallback, kept: ['every_event'] })
    expect(ok(decodeEvent({ ...hostSaturation, v: 2 }))).toEqual(hostSaturation)
  })

  it('refuses a v2 host event with a bad field, naming it', () => {
    const { kept: _, ...batchV2 } = hostBatch
    expect(refused(decodeEvent({ ...batchV2, v: 2, rows: -1 })).detail).toMatch(/^rows: /)
  })

  it('refuses a v3 batch or fallback that says no reason it was kept', () => {
    expect(refused(decodeEvent({ ...hostBatch, kept: [] })).detail).toMatch(/^kept: /)
    expect(refused(decodeEvent({ ...hostFallback, kept: ['why-not'] })).detail).toMatch(/^kept\.0: /)
  })
})

describe('decodeEvent: host_stats', () => {
  const sketchOf = (values: number[]) => {
    const s = newLatencySketch()
    for (const v of values) s.accept(v)
    return encodeLatencySketch(s)
  }
  const stats = {
    v: 1,
    kind: 'host_stats',
    ts: 1_700_000_001_000,
    interval_ms: 1000,
    host: 'stable',
    model: 'credit-risk',
    version: '1',
    device: 'cpu',
    batches: 3,
    failed_batches: 1,
    rows: 12,
    fill_sum: 0.75,
    fill_count: 3,
    queue_wait_ms_sum: 6,
    execution_ms_sum: 9,
    max_queue_depth: 4,
    queue_wait_ms: sketchOf([1, 2, 3]),
    execution_ms: sketchOf([2, 3, 4]),
    fallbacks: { queue_full: 2 },
    refusals: {},
  }

  it('decodes both sketches, and encodeEvent writes back what decodes the same', () => {
    const e = ok(decodeLine(JSON.stringify(stats)))
    if (e.kind !== 'host_stats') throw new Error(e.kind)
    expect(e.queue_wait_ms.count).toBe(3)
    expect(e.execution_ms.getValueAtQuantile(1)).toBeCloseTo(4, 1)
    expect(e).toMatchObject({ batches: 3, fallbacks: { queue_full: 2 } })
    const again = ok(decodeLine(encodeEvent(e)))
    if (again.kind !== 'host_stats') throw new Error(again.kind)
    expect(again.queue_wait_ms.getValueAtQuantile(0.5)).toBe(e.queue_wait_ms.getValueAtQuantile(0.5))
  })

  it('refuses a record whose parts disagree, naming the field', () => {
    const detail = (o: Record<string, unknown>) => refused(decodeEvent({ ...stats, ...o })).detail
    expect(detail({ failed_batches: 4 })).toBe('failed_batches: more than the 3 batches')
    expect(detail({ fill_count: 4 })).toBe('fill_count: more than the 3 batches')
    expect(detail({ fill_sum: 3.5 })).toBe('fill_sum: a batch fuller than full')
    expect(detail({ batches: 2, failed_batches: 0, fill_count: 2, fill_sum: 0.5 })).toBe(
      'queue_wait_ms: holds 3 values, not 2',
    )
    expect(detail({ execution_ms: 'x' })).toBe('execution_ms: not base64')
    expect(detail({ fallbacks: { queue_full: -1 } })).toMatch(/^fallbacks\.queue_full: /)
    expect(detail({ fallbacks: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`r${i}`, 1])) })).toBe(
      'fallbacks: more than 64 reasons',
    )
  })
})

describe('decodeEvent: host events v1 (camelCase, no v)', () => {
  it('upgrades a v1 batch to host_batch v3, mapping each field; it counts itself', () => {
    const v1 = {
      kind: 'batch',
      model: 'credit-risk',
      version: '3',
      batchId: 'credit-risk/3/9',
      requestIds: ['a', 'b', 'c'],
      rows: 7,
      queueWaitMs: 0.75,
      executionMs: 2.5,
      queueDepth: 4,
      device: 'cuda:0',
      ok: false,
    }
    expect(ok(decodeLine(JSON.stringify(v1), 1234))).toEqual({
      v: 3,
      kind: 'host_batch',
      ts: 1234,
      host: '',
      model: 'credit-risk',
      version: '3',
      batch_id: 'credit-risk/3/9',
      request_ids: ['a', 'b', 'c'],
      traceparents: ['', '', ''],
      rows: 7,
      max_batch_rows: 0,
      queue_wait_ms: 0.75,
      execution_ms: 2.5,
      queue_depth: 4,
      device: 'cuda:0',
      ok: false,
      kept: ['every_event'],
    })
  })

  it('upgrades a v1 fallback to host_fallback v3, mapping each field; it counts itself', () => {
    const v1 = {
      kind: 'fallback',
      model: 'credit-risk',
      version: '1',
      fallbackModel: 'credit-risk-fallback',
      requestId: 'r-9',
      reason: 'deadline',
    }
    expect(ok(decodeEvent(v1, 99))).toEqual({
      v: 3,
      kind: 'host_fallback',
      ts: 99,
      host: '',
      model: 'credit-risk',
      version: '1',
      request_id: 'r-9',
      traceparent: '',
      fallback_model: 'credit-risk-fallback',
      reason: 'deadline',
      kept: ['every_event'],
    })
    expect(ok(decodeEvent({ ...v1, fallbackModel: null }, 99))).toMatchObject({
      kind: 'host_fallback',
      fallback_model: null,
    })
  })

  it('a v1 event without a receive time takes now as its timestamp', () => {
    const before = Date.now()
    const e = ok(
      decodeEvent({
        kind: 'fallback',
        model: 'm',
        version: '1',
        fallbackModel: null,
        requestId: 'r',
        reason: 'queue_full',
      }),
    )
    expect(e.ts).toBeGreaterThanOrEqual(before)
    expect(e.ts).toBeLessThanOrEqual(Date.now())
  })

  it('refuses a v1 event with a bad field, naming the camelCase field', () => {
    const r = refused(
      decodeEvent({
        kind: 'batch',
        model: 'm',
        version: '1',
        batchId: 'b',
        requestIds: 'a',
        rows: 1,
        queueWaitMs: 0,
        executionMs: 0,
        queueDepth: 0,
        device: 'cpu',
        ok: true,
      }),
    )
    expect(r.reason).toBe('invalid')
    expect(r.detail).toMatch(/^requestIds: /)
    const f = refused(decodeEvent({ kind: 'fallback', model: 'm', version: '1', fallbackModel: null, reason: 'x' }))
    expect(f).toMatchObject({ reason: 'invalid' })
    expect(f.detail).toMatch(/^requestId: /)
  })

  it('a host event in the v1 shape but carrying a v is not upgraded', () => {
    expect(refused(decodeEvent({ kind: 'batch', v: 1, model: 'm' })).reason).toBe('unknown_kind')
  })
})

describe('decodeEvent: refusals', () => {
  it('refuses an unknown kind', () => {
    expect(refused(decodeLine(JSON.stringify({ ...request, kind: 'metric' })))).toEqual({
      reason: 'unknown_kind',
      detail: 'kind: "metric"',
    })
    expect(refused(decodeEvent({ v: 1 }))).toEqual({ reason: 'unknown_kind', detail: 'kind: undefined' })
    expect(refused(decodeEvent({ v: 1, kind: 7 })).reason).toBe('unknown_kind')
  })

  it('refuses kinds that are names on Object.prototype as unknown, without throwing', () => {
    for (const kind of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      const line = `{"v":1,"kind":${JSON.stringify(kind)},"model":"m"}`
      expect(() => decodeLine(line)).not.toThrow()
      expect(refused(decodeLine(line)).reason).toBe('unknown_kind')
      expect(refused(decodeEvent({ kind })).reason).toBe('unknown_kind')
    }
  })

  it('refuses an unknown version, saying which it knows', () => {
    const r = refused(decodeEvent({ ...request, v: 3 }))
    expect(r.reason).toBe('unknown_version')
    expect(r.detail).toBe('request v: 3 (this reader knows 2)')
    expect(refused(decodeEvent({ ...hostBatch, v: 1 })).reason).toBe('unknown_version')
    expect(refused(decodeEvent({ ...hostSaturation, v: 4 })).detail).toContain('host_saturation v: 4')
    const { v: _, ...noVersion } = sample
    expect(refused(decodeEvent(noVersion))).toMatchObject({
      reason: 'unknown_version',
      detail: 'sample v: undefined (this reader knows 1)',
    })
    expect(refused(decodeEvent({ ...request, v: '2' })).reason).toBe('unknown_version')
  })

  it('refuses a wrong field type, naming the field', () => {
    const status = refused(decodeLine(JSON.stringify({ ...request, status: 'x' })))
    expect(status.reason).toBe('invalid')
    expect(status.detail).toMatch(/^status: /)
    expect(refused(decodeEvent({ ...hostBatch, traceparents: ['', 5] })).detail).toMatch(/^traceparents\.1: /)
    expect(refused(decodeEvent({ ...request, duration_us: -1 })).detail).toMatch(/^duration_us: /)
    expect(refused(decodeEvent({ ...request, ts: 1.5 })).detail).toMatch(/^ts: /)
    expect(refused(decodeEvent({ ...request, status: 1000 })).detail).toMatch(/^status: /)
    expect(refused(decodeEvent({ ...sample, reason: 'because' })).detail).toMatch(/^reason: /)
    expect(refused(decodeEvent({ ...hostSaturation, instances: null })).detail).toMatch(/^instances: /)
  })

  it('refuses a missing field, naming it', () => {
    for (const [kind, event] of Object.entries(CURRENT)) {
      for (const field of Object.keys(event).filter((k) => k !== 'kind' && k !== 'v')) {
        const partial: Record<string, unknown> = { ...event }
        delete partial[field]
        const r = refused(decodeEvent(partial))
        expect(r.reason, `${kind} without ${field}`).toBe('invalid')
        expect(r.detail, `${kind} without ${field}`).toMatch(new RegExp(`^${field}: `))
      }
    }
  })

  it('refuses non-JSON as malformed', () => {
    for (const line of ['', '{"v":1,"kind":"request",', 'not json', '{v:1}', "{'kind':'request'}"]) {
      expect(refused(decodeLine(line))).toEqual({ reason: 'malformed', detail: 'not JSON' })
    }
  })

  it('refuses a JSON value that is not an object as malformed', () => {
    for (const line of ['null', '1', '"request"', 'true', '[]', `[${JSON.stringify(request)}]`]) {
      expect(refused(decodeLine(line))).toEqual({ reason: 'malformed', detail: 'not a JSON object' })
    }
    expect(refused(decodeEvent(undefined)).reason).toBe('malformed')
  })

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (line) => {
        const d = decodeLine(line)
        expect(typeof d.ok).toBe('boolean')
        if (!d.ok) expect(['malformed', 'unknown_kind', 'unknown_version', 'invalid']).toContain(d.reason)
      }),
      { numRuns: 2000 },
    )
  })

  it('never throws on arbitrary JSON, nor on known kinds with arbitrary fields', () => {
    const kinds = fc.constantFrom(
      'request',
      'request_stats',
      'sample',
      'host_batch',
      'host_fallback',
      'host_saturation',
      'batch',
      'fallback',
      'constructor',
      '__proto__',
      'toString',
      '',
    )
    const mangled = fc
      .record({ kind: kinds, v: fc.oneof(fc.constantFrom(1, 2, undefined), fc.jsonValue()) })
      .chain((head) =>
        fc
          .dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 8 })
          .map((rest) => JSON.stringify({ ...rest, ...head })),
      )
    fc.assert(
      fc.property(fc.oneof(fc.json({ maxDepth: 3 }), mangled), (line) => {
        const d = decodeLine(line)
        expect(typeof d.ok).toBe('boolean')
        if (!d.ok) expect(d.detail.length).toBeGreaterThan(0)
      }),
      { numRuns: 2000 },
    )
  })

  it('accepts every valid event whatever extra fields it carries (property)', () => {
    const extra = fc.dictionary(
      fc.string({ maxLength: 10 }).filter((k) => !(k in request) && k !== '__proto__'),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 5 },
    )
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(CURRENT)), extra, (event, more) => {
        expect(ok(decodeLine(JSON.stringify({ ...more, ...event })))).toMatchObject(event)
      }),
    )
  })
})

describe('responseFlagNames', () => {
  it('names the flags set in a bitmask, in bit order', () => {
    expect(responseFlagNames(0)).toEqual([])
    expect(responseFlagNames(1)).toEqual(['LH'])
    expect(responseFlagNames(2)).toEqual(['UH'])
    expect(responseFlagNames(1 << 11)).toEqual(['RL'])
    expect(responseFlagNames(1 << 14)).toEqual(['DC'])
    expect(responseFlagNames((1 << 11) | 2 | (1 << 5))).toEqual(['UH', 'UF', 'RL'])
    expect(responseFlagNames(1 << 29)).toEqual(['UDO'])
  })

  it('ignores bits past the table', () => {
    expect(ENVOY_RESPONSE_FLAGS).toHaveLength(30)
    expect(responseFlagNames(1 << 30)).toEqual([])
    expect(responseFlagNames((1 << 30) | 4)).toEqual(['UT'])
  })

  it('names exactly the set bits (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: (1 << 30) - 1 }), (flags) => {
        const names = responseFlagNames(flags)
        const bits = names.map((n) => ENVOY_RESPONSE_FLAGS.indexOf(n))
        expect(bits.reduce((a, b) => a | (1 << b), 0)).toBe(flags)
        expect([...bits].sort((a, b) => a - b)).toEqual(bits)
      }),
    )
  })
})

describe('decodeEvent, bounds a store can hold', () => {
  const batch = {
    v: 2,
    kind: 'host_batch',
    ts: Date.now(),
    host: 'h',
    model: 'm',
    version: '1',
    batch_id: 'b',
    request_ids: ['r'],
    traceparents: [''],
    rows: 1,
    max_batch_rows: 8,
    queue_wait_ms: 0,
    execution_ms: 0,
    queue_depth: 0,
    device: 'cpu',
    ok: true,
  }
  it('refuses counts past 32 bits, naming the field', () => {
    const d = decodeEvent({ ...batch, rows: 2 ** 32 })
    expect(d).toMatchObject({ ok: false, reason: 'invalid' })
    expect(!d.ok && d.detail).toMatch(/^rows: /)
  })
  it('refuses an event stamped far ahead of the reader (a wrong unit or clock), naming ts', () => {
    const now = Date.now()
    const d = decodeEvent({ ...batch, ts: now * 1000 }, now)
    expect(d).toMatchObject({ ok: false, reason: 'invalid' })
    expect(!d.ok && d.detail).toMatch(/^ts: /)
    expect(decodeEvent({ ...batch, ts: now + 20_000 }, now).ok).toBe(true)
  })
  it('refuses an event stamped a minute ahead, of every kind: it would hide a stall from the telemetry-stale alert', () => {
    const now = Date.now()
    for (const e of [request, sample, { ...sample, kind: 'review' }, hostBatch, hostFallback, hostSaturation]) {
      const d = decodeEvent({ ...e, ts: now + 60_000 }, now)
      expect(d, e.kind).toMatchObject({ ok: false, reason: 'invalid' })
      expect(!d.ok && d.detail).toMatch(/^ts: /)
    }
  })
})

describe('decodeEvent, values checked for their meaning', () => {
  const refused = (e: object, field: RegExp) => {
    const d = decodeEvent(e, 1_700_000_000_100)
    expect(d, JSON.stringify(e).slice(0, 200)).toMatchObject({ ok: false, reason: 'invalid' })
    expect(!d.ok && d.detail).toMatch(field)
  }
  it('refuses a confidence outside [0, 1] (the crash-loop event: an integer-valued -9.3e18)', () => {
    for (const confidence of [-9.3e18, -(2 ** 63), -0.01, 1.01, 1e300]) {
      refused({ ...sample, confidence }, /^confidence: /)
      refused({ ...sample, kind: 'review', confidence }, /^confidence: /)
    }
    for (const confidence of [0, 1, 0.5, null])
      expect(decodeEvent({ ...sample, confidence }, 1_700_000_000_100).ok).toBe(true)
  })
  it('refuses durations that are negative, infinite (1e999 parses as Infinity) or longer than a day', () => {
    refused({ ...hostBatch, queue_wait_ms: -1 }, /^queue_wait_ms: /)
    refused({ ...hostBatch, execution_ms: 86_400_001 }, /^execution_ms: /)
    expect(
      decodeLine(JSON.stringify(hostBatch).replace('"execution_ms":1.25', '"execution_ms":1e999'), 1_700_000_000_100),
    ).toMatchObject({ ok: false, detail: expect.stringMatching(/^execution_ms: /) })
    refused({ ...request, duration_us: 86_400_000_001 }, /^duration_us: /)
    refused({ ...request, duration_us: -5 }, /^duration_us: /)
  })
  it('refuses negative or unbounded counts', () => {
    refused({ ...request, flags: -1 }, /^flags: /)
    refused({ ...request, flags: 2 ** 40 }, /^flags: /)
    refused({ ...hostSaturation, instances: -2 }, /^instances: /)
    refused({ ...hostBatch, request_ids: Array.from({ length: 65_537 }, () => 'r') }, /^request_ids: /)
  })
  it('refuses strings past their bound: names and ids at 64 Ki characters (past any request header Envoy takes), bodies at 4 MiB', () => {
    refused({ ...request, route: 'r'.repeat(65_537) }, /^route: /)
    refused({ ...hostFallback, reason: 'x'.repeat(65_537) }, /^reason: /)
    refused({ ...hostSaturation, host: 'h'.repeat(65_537) }, /^host: /)
    // A long caller-chosen request id or model name is still counted (labelled by the collector's policy).
    expect(
      decodeEvent({ ...request, request_id: 'i'.repeat(8192), model: 'm'.repeat(8192) }, 1_700_000_000_100).ok,
    ).toBe(true)
    refused({ ...sample, response: 'x'.repeat((4 << 20) + 1) }, /^response: /)
    expect(decodeEvent({ ...sample, request: 'x'.repeat(1 << 20) }, 1_700_000_000_100).ok).toBe(true)
  })
})
