import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InferenceError } from '../errors.ts'
import { creditRiskConfig } from '../test-fixtures.ts'
import {
  decodeInferRequest,
  echoedRequestId,
  MAX_BODY_REQUEST_ID_LENGTH,
  MAX_DATA_DEPTH,
  MAX_JSON_DEPTH,
  MAX_REQUEST_ID_LENGTH,
  splitBody,
} from './request.ts'

const config = creditRiskConfig()
const row = Array.from({ length: 16 }, (_, i) => i + 0.5)
const input = (over: Record<string, unknown> = {}) => ({
  name: 'features',
  datatype: 'FP32',
  shape: [1, 16],
  data: row,
  ...over,
})
const decode = (body: unknown, binary: Uint8Array = new Uint8Array(0)) => decodeInferRequest(body, binary, config)

/** Decoding must refuse with a 400 whose message starts with the field. */
function refusal(body: unknown, binary?: Uint8Array): string {
  try {
    decode(body, binary)
  } catch (e) {
    expect(e).toBeInstanceOf(InferenceError)
    expect((e as InferenceError).status).toBe(400)
    return (e as Error).message
  }
  throw new Error('expected a refusal')
}

describe('decodeInferRequest', () => {
  it('accepts flat and nested data for a batch', () => {
    const flat = decode({ inputs: [input({ shape: [2, 16], data: [...row, ...row] })] })
    const nested = decode({ inputs: [input({ shape: [2, 16], data: [row, row] })] })
    expect(flat.rows).toBe(2)
    expect(Array.from(flat.tensors.features!.data as Float32Array)).toEqual(
      Array.from(nested.tensors.features!.data as Float32Array),
    )
    expect(flat.tensors.features!.dims).toEqual([2, 16])
    expect(flat.outputs).toEqual([{ name: 'probabilities', binary: false }])
  })

  it('reads binary tensor data after the JSON header', () => {
    const bytes = new Uint8Array(new Float32Array(row).buffer)
    const d = decode(
      {
        inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], parameters: { binary_data_size: 64 } }],
        outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
      },
      bytes,
    )
    expect(Array.from(d.tensors.features!.data as Float32Array)).toEqual(row)
    expect(d.outputs).toEqual([{ name: 'probabilities', binary: true }])
  })

  it('copies binary data out of a pooled Buffer at any offset', () => {
    const pool = Buffer.alloc(200, 0xff)
    Buffer.from(new Float32Array(row).buffer).copy(pool, 13)
    const d = decode(
      { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], parameters: { binary_data_size: 64 } }] },
      pool.subarray(13, 77),
    )
    expect(Array.from(d.tensors.features!.data as Float32Array)).toEqual(row)
  })

  it('splits a body by Inference-Header-Content-Length', () => {
    const json = new TextEncoder().encode('{"a":1}')
    const body = new Uint8Array([...json, 1, 2, 3])
    const { json: parsed, binary } = splitBody(body, String(json.length))
    expect(parsed).toEqual({ a: 1 })
    expect(Array.from(binary)).toEqual([1, 2, 3])
    expect(() => splitBody(body, '999')).toThrow(/Inference-Header-Content-Length/)
    expect(() => splitBody(new TextEncoder().encode('{oops'), undefined)).toThrow(/malformed JSON/)
  })

  it.each([
    [{ inputs: [] }, /^inputs: /],
    [{}, /^inputs: /],
    [{ inputs: [input({ name: 'feature' })] }, /^inputs\[0\]\.name: unknown input "feature"/],
    [{ inputs: [input({ datatype: 'INT64' })] }, /^inputs\[0\]\.datatype: input "features" is FP32, got INT64/],
    [{ inputs: [input({ shape: [1, 15] })] }, /^inputs\[0\]\.shape: .*got \[1, 15\]/],
    [{ inputs: [input({ shape: [16] })] }, /^inputs\[0\]\.shape: /],
    [{ inputs: [input({ shape: [65, 16] })] }, /^inputs\[0\]\.shape: .*1 <= n <= 64/],
    [{ inputs: [input({ shape: [0, 16], data: [] })] }, /^inputs\[0\]\.shape: /],
    [{ inputs: [input({ data: row.slice(1) })] }, /^inputs\[0\]\.data: shape \[1, 16\] needs 16 elements, got 15/],
    [{ inputs: [input({ data: [...row.slice(1), 'x'] })] }, /^inputs\[0\]\.data\[15\]: expected a number/],
    [
      { inputs: [input({ data: [...row.slice(1), null] })] },
      /^inputs\[0\]\.data\[15\]: expected a number for FP32, got null/,
    ],
    [{ inputs: [input({ data: undefined })] }, /^inputs\[0\]\.data: missing/],
    [{ inputs: [input(), input()] }, /^inputs\[1\]\.name: input "features" given more than once/],
    [{ inputs: [input()], outputs: [{ name: 'logits' }] }, /^outputs\[0\]\.name: unknown output "logits"/],
    [{ inputs: [input()], parameters: { priority: 0 } }, /^parameters\.priority: /],
    [{ inputs: [input()], parameters: { timeout: -5 } }, /^parameters\.timeout: /],
    [{ inputs: [input({ shape: [1, -16] })] }, /^inputs\[0\]\.shape\[1\]: /],
  ])('refuses %j naming the field', (body, message) => {
    expect(refusal(body)).toMatch(message)
  })

  it('refuses data nested more than MAX_DATA_DEPTH levels, naming the field, and accepts it at the bound', () => {
    const nest = (levels: number, inner: unknown) =>
      Array.from({ length: levels - 1 }).reduce<unknown>((v) => [v], inner)
    const oneFeature = creditRiskConfig({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1] }] })
    const atBound = decodeInferRequest(
      { inputs: [input({ shape: [1, 1], data: nest(MAX_DATA_DEPTH, [7]) })] },
      new Uint8Array(0),
      oneFeature,
    )
    expect(Array.from(atBound.tensors.features!.data as Float32Array)).toEqual([7])
    expect(refusal({ inputs: [input({ data: nest(MAX_DATA_DEPTH + 1, row) })] })).toBe(
      `inputs[0].data: nested more than ${MAX_DATA_DEPTH} levels deep (a tensor nests only as deep as its shape, [1, 16])`,
    )
    // Far past the stack's depth: still a 400, not a RangeError.
    expect(refusal({ inputs: [input({ data: JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)) })] })).toMatch(
      /^inputs\[0\]\.data: nested more than 64 levels/,
    )
  })

  it('refuses JSON nested deeper than MAX_JSON_DEPTH before parsing it; brackets inside strings do not count', () => {
    const nested = (levels: number, inner = '1') => '['.repeat(levels) + inner + ']'.repeat(levels)
    const body = (json: string) => splitBody(new TextEncoder().encode(json), undefined)
    const refused = (json: string) => {
      try {
        body(json)
      } catch (e) {
        expect((e as InferenceError).status).toBe(400)
        return (e as Error).message
      }
      throw new Error('expected a refusal')
    }
    expect(body(nested(MAX_JSON_DEPTH)).json).toEqual(JSON.parse(nested(MAX_JSON_DEPTH)))
    expect(refused(nested(MAX_JSON_DEPTH + 1))).toBe(
      `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`,
    )
    expect(refused(`{"a":${nested(40, `{"b":${nested(30)}}`)}}`)).toMatch(/nested deeper than 64/) // objects and arrays together
    expect(refused(nested(200_000))).toMatch(/nested deeper than 64/)
    // In strings, escaped quotes included, brackets are text.
    const text = '{"s":"' + '['.repeat(100) + String.raw`\\","t":"\"` + '{'.repeat(100) + '","u":' + nested(60) + '}'
    expect(body(text).json).toEqual(JSON.parse(text))
    // A quote escaped by an odd run of backslashes does not close the string; one after an even run does.
    expect(refused(String.raw`{"s":"\\"` + nested(65) + '}')).toMatch(/nested deeper/)
    const escapedQuote = String.raw`{"s":"\"` + '['.repeat(65) + '"}'
    expect(body(escapedQuote).json).toEqual({ s: '"' + '['.repeat(65) })
  })

  it('accepts any request id up to its bound, refusing a longer one naming id', () => {
    for (const id of ['a\r\nb', 'a\u0000', 'caf\u00e9', '\u2713 \u{1F600}', 'x'.repeat(MAX_BODY_REQUEST_ID_LENGTH)]) {
      expect(decode({ id, inputs: [input()] }).id).toBe(id)
    }
    expect(refusal({ id: 'x'.repeat(MAX_BODY_REQUEST_ID_LENGTH + 1), inputs: [input()] })).toMatch(
      /^id: must be at most 65536 characters/,
    )
  })

  it('echoes the request header when there is one, else the body id only when a header can carry it', () => {
    const refused = (bodyId: string) => {
      try {
        echoedRequestId(undefined, bodyId)
      } catch (e) {
        expect((e as InferenceError).status).toBe(400)
        return (e as Error).message
      }
      throw new Error('expected a refusal')
    }
    for (const id of ['a\r\nb', 'a\u0000', 'a\u007f', 'caf\u00e9', '\u2713', 'x'.repeat(MAX_REQUEST_ID_LENGTH + 1)]) {
      expect(refused(id)).toMatch(/^id: must be .*x-request-id header/)
      // With a header, the header is echoed and the body id goes only into the JSON body.
      expect(echoedRequestId('rid-1', id)).toBe('rid-1')
    }
    const longest = 'a !~'.repeat(MAX_REQUEST_ID_LENGTH / 4)
    expect(echoedRequestId(undefined, longest)).toBe(longest)
    expect(echoedRequestId(undefined, undefined)).toBeUndefined()
  })

  it('refuses NaN and Infinity arriving as binary data', () => {
    const values = new Float32Array(row)
    values[3] = NaN
    const header = {
      inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], parameters: { binary_data_size: 64 } }],
    }
    expect(refusal(header, new Uint8Array(values.buffer))).toMatch(/^inputs\[0\]\.data\[3\]: NaN is not allowed/)
    values[3] = Infinity
    expect(refusal(header, new Uint8Array(values.buffer))).toMatch(/^inputs\[0\]\.data\[3\]: Infinity/)
  })

  it('refuses binary sizes that do not match the shape or the body', () => {
    const header = (size: number) => ({
      inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], parameters: { binary_data_size: size } }],
    })
    expect(refusal(header(60), new Uint8Array(60))).toMatch(
      /^inputs\[0\]\.parameters\.binary_data_size: .*needs 64 bytes, got 60/,
    )
    expect(refusal(header(64), new Uint8Array(32))).toMatch(
      /^inputs\[0\]\.parameters\.binary_data_size: body holds 32 bytes/,
    )
    expect(refusal(header(64), new Uint8Array(70))).toMatch(/^body: 6 bytes of binary data are not claimed/)
  })

  it('never throws anything but a 400 InferenceError on arbitrary JSON (property)', () => {
    const anyInput = fc.record(
      {
        name: fc.oneof(fc.constant('features'), fc.string()),
        datatype: fc.oneof(fc.constantFrom('FP32', 'INT64', 'BYTES', 'FP16', 'BOOL'), fc.string()),
        shape: fc.oneof(fc.constant([1, 16]), fc.array(fc.integer({ min: -2, max: 70 }), { maxLength: 4 })),
        data: fc.oneof(
          fc.constant(row),
          fc.jsonValue(),
          fc.array(fc.oneof(fc.double(), fc.integer(), fc.string()), { maxLength: 40 }),
        ),
        parameters: fc.oneof(fc.constant(undefined), fc.dictionary(fc.string(), fc.jsonValue())),
      },
      { requiredKeys: [] },
    )
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record({ inputs: fc.array(anyInput, { maxLength: 3 }), parameters: fc.jsonValue() }, { requiredKeys: [] }),
    )
    fc.assert(
      fc.property(body, fc.uint8Array({ maxLength: 80 }), (b, bin) => {
        try {
          const d = decode(b, bin)
          // Anything accepted is a well-formed batch for the model.
          expect(d.tensors.features!.data.length).toBe(d.rows * 16)
        } catch (e) {
          if (!(e instanceof InferenceError) || e.status !== 400) throw e
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('refuses a shape claiming more elements than a request can carry, before allocating for it', () => {
    const open = { ...config, inputs: [{ ...config.inputs[0]!, shape: [-1] }] }
    const huge = { inputs: [input({ shape: [1, 2 ** 40], data: [1, 2, 3] })] }
    expect(() => decodeInferRequest(huge, new Uint8Array(0), open)).toThrow(
      /^inputs\[0\]\.shape: \[1, 1099511627776\] holds/,
    )
  })
})
