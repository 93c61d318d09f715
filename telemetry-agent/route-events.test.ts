/**
 * @module
 * Routing posted NDJSON to subjects: by kind and model token, unnamed
 * models to `_other`, bad lines counted by reason and dropped, and groups
 * chunked at the payload bound without splitting a line.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { OTHER_MODEL_TOKEN } from '@model-mesh/contracts'
import { batchEvent, requestEvent } from '@model-mesh/testkit/events'
import {
  chunkGroup,
  ModelTokens,
  reviewItemOf,
  routeBatch,
  scanRoutingFields,
  type RoutedGroup,
} from './route-events.ts'

const models = new ModelTokens(['credit-risk', 'credit-risk-fallback', 'resnet.v2'])
const line = (e: unknown) => JSON.stringify(e)
const sample = (o: Record<string, unknown> = {}) => ({
  v: 1,
  kind: 'sample',
  ts: 1,
  request_id: 'r',
  traceparent: '',
  model: 'credit-risk',
  version: '1',
  variant: '',
  reason: 'rate',
  confidence: null,
  status: 200,
  request: '{}',
  request_truncated: false,
  response: '{}',
  response_truncated: false,
  ...o,
})
const fallback = (o: Record<string, unknown> = {}) => ({
  v: 2,
  kind: 'host_fallback',
  ts: 1,
  host: 'h',
  model: 'credit-risk',
  version: '1',
  request_id: 'r',
  traceparent: '',
  fallback_model: null,
  reason: 'queue_full',
  ...o,
})
const saturation = (o: Record<string, unknown> = {}) => ({
  v: 2,
  kind: 'host_saturation',
  ts: 1,
  host: 'h',
  model: 'credit-risk',
  version: '1',
  queue_depth: 0,
  busy_instances: 0,
  instances: 1,
  ...o,
})

function bySubject(groups: RoutedGroup[]): Record<string, string[]> {
  return Object.fromEntries(groups.map((g) => [g.subject, g.lines]))
}

describe('ModelTokens', () => {
  it('gives named models their subject token and anything else the token of unnamed models', () => {
    expect(models.tokenOf('credit-risk')).toBe('credit-risk')
    expect(models.tokenOf('resnet.v2')).toBe('resnet~2ev2')
    for (const other of [
      'no-such-model',
      '',
      'credit-risk ',
      'constructor',
      '__proto__',
      7,
      null,
      undefined,
      {},
      ['credit-risk'],
    ])
      expect(models.tokenOf(other)).toBe(OTHER_MODEL_TOKEN)
    expect(models.tokens).toEqual(['credit-risk', 'credit-risk-fallback', 'resnet~2ev2', OTHER_MODEL_TOKEN])
  })
})

describe('routeBatch', () => {
  it('sends each kind to its stream, under the model token', () => {
    const r = requestEvent()
    const s = sample({ model: 'resnet.v2' })
    const b = batchEvent({ model: 'credit-risk-fallback' })
    const f = fallback()
    const sat = saturation()
    const v1 = {
      kind: 'batch',
      model: 'credit-risk',
      version: '1',
      batchId: 'b',
      requestIds: [],
      rows: 0,
      queueWaitMs: 0,
      executionMs: 0,
      queueDepth: 0,
      device: 'cpu',
      ok: true,
    }
    const v1f = {
      kind: 'fallback',
      model: 'credit-risk',
      version: '1',
      fallbackModel: null,
      requestId: 'r',
      reason: 'deadline',
    }
    const out = routeBatch([r, s, b, f, sat, v1, v1f].map(line).join('\n') + '\n', models)
    expect(bySubject(out.groups)).toEqual({
      'mesh.requests.credit-risk': [line(r)],
      'mesh.payloads.resnet~2ev2': [line(s)],
      'mesh.host.credit-risk-fallback': [line(b)],
      'mesh.host.credit-risk': [line(f), line(sat), line(v1), line(v1f)],
    })
    expect(out.events).toBe(7)
    expect(out.unroutable).toEqual({})
  })

  it('sends models mesh.yaml does not name to _other', () => {
    const lines = [
      requestEvent({ model: 'no-such-model' }),
      requestEvent({ model: '' }),
      { ...requestEvent(), model: 42 },
      (({ model: _, ...e }) => e)(requestEvent()),
      requestEvent({ model: 'constructor' }),
      sample({ model: 'a.b.c' }),
      requestEvent({ model: 'credit-risk' }),
    ].map(line)
    const out = routeBatch(lines.join('\n'), models)
    expect(bySubject(out.groups)).toEqual({
      'mesh.requests._other': lines.slice(0, 5),
      'mesh.payloads._other': [lines[5]],
      'mesh.requests.credit-risk': [lines[6]],
    })
    expect(out.events).toBe(7)
  })

  it('counts malformed lines and unknown kinds by reason and forwards neither', () => {
    const good = [requestEvent(), requestEvent(), batchEvent()].map(line)
    const body = [
      good[0],
      '{"v":1,"kind":"request",',
      'not json',
      '42',
      'null',
      '"a string"',
      good[1],
      line({ ...requestEvent(), kind: 'metric' }),
      line({ v: 1, model: 'credit-risk' }),
      line({ kind: 5, model: 'credit-risk' }),
      good[2],
    ].join('\n')
    const out = routeBatch(body, models)
    expect(out.unroutable).toEqual({ malformed: 5, unknown_kind: 3 })
    expect(out.events).toBe(3)
    expect(out.groups.flatMap((g) => g.lines).sort()).toEqual([...good].sort())
  })

  it('counts kinds named on Object.prototype as unknown, without throwing', () => {
    const body = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']
      .map((kind) => `{"v":1,"kind":${JSON.stringify(kind)},"model":"credit-risk"}`)
      .join('\n')
    expect(() => routeBatch(body, models)).not.toThrow()
    const out = routeBatch(body, models)
    expect(out).toEqual({ groups: [], events: 0, reviewItems: 0, unroutable: { unknown_kind: 5 } })
  })

  it('ignores blank lines and trims each line, keeping its text as posted', () => {
    const a = `{"kind":"request", "model":"credit-risk",  "extra": [1, 2]}`
    const b = line(requestEvent())
    const out = routeBatch(`\n\n   \n${a}\r\n\t\n  ${b}  \r\n\n`, models)
    expect(out.groups).toEqual([
      { subject: 'mesh.requests.credit-risk', lines: [a, b], bytes: a.length + 1 + b.length },
    ])
    expect(out.events).toBe(2)
    expect(out.unroutable).toEqual({})
    expect(routeBatch('', models)).toEqual({ groups: [], events: 0, reviewItems: 0, unroutable: {} })
    expect(routeBatch('\n \n\r\n', models)).toEqual({ groups: [], events: 0, reviewItems: 0, unroutable: {} })
  })

  it('keeps order within a subject and counts bytes as the joined length (property)', () => {
    const kinds = [
      'request',
      'sample',
      'host_batch',
      'host_fallback',
      'host_saturation',
      'batch',
      'fallback',
      'nope',
    ] as const
    const item = fc.oneof(
      fc
        .record({
          kind: fc.constantFrom(...kinds),
          model: fc.constantFrom('credit-risk', 'resnet.v2', 'other', 'é'),
          n: fc.nat(),
        })
        .map((e) => JSON.stringify(e)),
      fc.constantFrom('', '   ', '{bad', '[1,2', '7'),
    )
    fc.assert(
      fc.property(fc.array(item, { maxLength: 60 }), (lines) => {
        const out = routeBatch(lines.join('\n'), models)
        const routed = lines.filter((l) => l.startsWith('{"') && !l.includes('"nope"'))
        expect(out.events).toBe(routed.length)
        expect(out.groups.reduce((a, g) => a + g.lines.length, 0)).toBe(routed.length)
        for (const g of out.groups) {
          expect(g.bytes).toBe(g.lines.join('\n').length)
          // Lines of a subject in the order posted.
          expect(g.lines).toEqual(routed.filter((l) => g.lines.includes(l)))
          expect(g.subject).toMatch(/^mesh\.(requests|payloads|host)\.(credit-risk|resnet~2ev2|_other)$/)
        }
        const bad = lines.filter((l) => l.trim() !== '' && !l.startsWith('{"')).length
        const unknown = lines.filter((l) => l.includes('"nope"')).length
        expect((out.unroutable.malformed ?? 0) + (out.unroutable.unknown_kind ?? 0)).toBe(bad + unknown)
        expect(out.unroutable.unknown_kind ?? 0).toBe(unknown)
      }),
      { numRuns: 500 },
    )
  })
})

function group(lines: string[]): RoutedGroup {
  return { subject: 'mesh.requests.m', lines, bytes: lines.join('\n').length }
}

describe('routeBatch and the review queue', () => {
  const thresholds = new Map([['credit-risk', 0.6]])
  const low = (o: Record<string, unknown> = {}) => line(sample({ confidence: 0.5, reason: 'low_confidence', ...o }))

  it("copies a sample under its model's threshold to mesh.review.<model> as a review item, and keeps the sample", () => {
    const text = low()
    const out = routeBatch(text, models, thresholds)
    expect(out.events).toBe(1)
    expect(out.reviewItems).toBe(1)
    expect(out.groups.find((g) => g.subject === 'mesh.payloads.credit-risk')!.lines).toEqual([text])
    expect(JSON.parse(out.groups.find((g) => g.subject === 'mesh.review.credit-risk')!.lines[0]!)).toEqual({
      ...JSON.parse(text),
      kind: 'review',
    })
  })

  it('copies nothing at or over the threshold, without a confidence, for a model without a threshold, or for other kinds', () => {
    const lines = [
      low({ confidence: 0.6 }),
      low({ confidence: 0.9 }),
      low({ confidence: null }),
      low({ model: 'credit-risk-fallback', confidence: 0.1 }),
      line({ v: 1, kind: 'request', model: 'credit-risk', confidence: 0.1 }),
    ]
    const out = routeBatch(lines.join('\n'), models, thresholds)
    expect(out.reviewItems).toBe(0)
    expect(out.groups.some((g) => g.subject.startsWith('mesh.review.'))).toBe(false)
    expect(reviewItemOf('{not json', thresholds)).toBeNull()
  })

  it('decides as a full parse would, whatever the confidence and bodies say (property)', () => {
    const confidence = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(0, 0.6, 0.5999999, 1e-7, -0, null, '0.1', true),
    )
    // Bodies that spell a confidence of their own, escaped inside the string as a producer writes them.
    const body = fc.constantFrom('{}', '{"confidence":0.1}', ',"confidence":0.1,', 'x')
    const reference = (text: string) => {
      const e = JSON.parse(text)
      const t = thresholds.get(e.model)
      return t !== undefined && typeof e.confidence === 'number' && e.confidence < t
    }
    fc.assert(
      fc.property(confidence, body, fc.constantFrom('credit-risk', 'other'), (c, b, model) => {
        const text = line(sample({ confidence: c, request: b, response: b, model }))
        expect(reviewItemOf(text, thresholds) !== null).toBe(reference(text))
      }),
      { numRuns: 500 },
    )
  })
})

describe('chunkGroup', () => {
  it('keeps a group within the bound as one payload', () => {
    const g = group(['aaa', 'bb', 'c'])
    expect(chunkGroup(g, 8)).toEqual([{ data: 'aaa\nbb\nc', events: 3 }])
    expect(chunkGroup(g, 1000)).toEqual([{ data: 'aaa\nbb\nc', events: 3 }])
  })

  it('splits at the bound, between lines', () => {
    expect(chunkGroup(group(['aaa', 'bb', 'c', 'dddd']), 6)).toEqual([
      { data: 'aaa\nbb', events: 2 },
      { data: 'c\ndddd', events: 2 },
    ])
    expect(chunkGroup(group(['aaa', 'bb', 'c', 'dddd']), 5)).toEqual([
      { data: 'aaa', events: 1 },
      { data: 'bb\nc', events: 2 },
      { data: 'dddd', events: 1 },
    ])
  })

  it('sends a line longer than the bound alone', () => {
    expect(chunkGroup(group(['a', 'x'.repeat(20), 'b', 'c']), 4)).toEqual([
      { data: 'a', events: 1 },
      { data: 'x'.repeat(20), events: 1 },
      { data: 'b\nc', events: 2 },
    ])
  })

  it('keeps order and counts, never splits a line, and fills each payload (property)', () => {
    const lineArb = fc.string({ minLength: 1, maxLength: 40 }).filter((l) => !l.includes('\n'))
    fc.assert(
      fc.property(
        fc.array(lineArb, { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 1, max: 200 }),
        (lines, maxBytes) => {
          const chunks = chunkGroup(group(lines), maxBytes)
          const parts = chunks.map((c) => c.data.split('\n'))
          expect(parts.flat()).toEqual(lines)
          expect(chunks.reduce((a, c) => a + c.events, 0)).toBe(lines.length)
          chunks.forEach((c, i) => {
            expect(c.events).toBe(parts[i]!.length)
            if (c.events > 1) expect(c.data.length).toBeLessThanOrEqual(maxBytes)
            // Greedy: the next payload's first line would not have fitted into this one.
            const next = parts[i + 1]
            if (next) expect(c.data.length + 1 + next[0]!.length).toBeGreaterThan(maxBytes)
          })
        },
      ),
      { numRuns: 1000 },
    )
  })
})

describe('scanRoutingFields', () => {
  it('finds kind and model in the lines the producers write, as JSON.parse would', () => {
    for (const e of [
      {
        v: 1,
        kind: 'request',
        ts: 1,
        service: 'gateway',
        request_id: 'r',
        route: 'credit-risk',
        model: 'credit-risk',
        version: '1',
      },
      {
        v: 2,
        kind: 'host_batch',
        ts: 1,
        host: 'stable',
        model: 'credit-risk-fallback',
        version: '1',
        request_ids: ['a', 'b'],
      },
      { v: 1, kind: 'sample', request: '{"model":"decoy","kind":"decoy"}', model: 'credit-risk' },
    ]) {
      const line = JSON.stringify(e)
      expect(scanRoutingFields(line)).toEqual({ kind: e.kind, model: e.model })
    }
  })
  it('gives up (null) on anything less plain, so the line is parsed in full', () => {
    expect(scanRoutingFields('{"kind":"request","model":"a\\"b"}')).toBeNull()
    expect(scanRoutingFields('{"kind":"request"}')).toBeNull()
    expect(scanRoutingFields('[{"kind":"request","model":"m"}]')).toBeNull()
    expect(scanRoutingFields('{"v":1,"kind":"request",')).toBeNull()
  })
  it('never routes differently from a full parse, for any object of string fields (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('kind', 'model', 'x', 'request', 'note'), fc.string()), (o) => {
        const line = JSON.stringify(o)
        const scanned = scanRoutingFields(line)
        if (scanned !== null) expect(scanned).toEqual({ kind: o.kind, model: o.model })
      }),
      { numRuns: 2000 },
    )
  })
})
