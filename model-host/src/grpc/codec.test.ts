/**
 * The gRPC messages to and from the REST side's forms, and errors to gRPC
 * statuses; run end to end by model-host/test/grpc.test.ts.
 */
import { status } from '@grpc/grpc-js'
import { describe, expect, it } from 'vitest'
import { InferenceError } from '../errors.ts'
import {
  grpcStatusOf,
  type ModelInferRequest,
  outputsOf,
  parameterValue,
  requestBytes,
  restFormOf,
  timeBudgetMs,
} from './codec.ts'

const request = (over: Partial<ModelInferRequest>): ModelInferRequest => ({
  model_name: 'm',
  model_version: '',
  id: '',
  parameters: {},
  inputs: [],
  outputs: [],
  raw_input_contents: [],
  ...over,
})

describe('gRPC codec', () => {
  it('turns typed contents into data and raw contents into binary data with their sizes', () => {
    const typed = restFormOf(
      request({
        id: 'r1',
        parameters: { timeout: { parameter_choice: 'int64_param', int64_param: 5000 } },
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], parameters: {}, contents: { fp32_contents: [0.5, 1] } }],
      }),
    )
    expect(typed.json).toEqual({
      id: 'r1',
      parameters: { timeout: 5000 },
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], parameters: {}, data: [0.5, 1] }],
    })
    expect(typed.binary.length).toBe(0)
    const raw = restFormOf(
      request({
        inputs: [
          { name: 'a', datatype: 'FP32', shape: [1, 1], parameters: {} },
          { name: 'b', datatype: 'INT64', shape: [1, 1], parameters: {} },
        ],
        raw_input_contents: [Uint8Array.of(1, 2, 3, 4), Uint8Array.of(5, 6, 7, 8, 9, 10, 11, 12)],
      }),
    )
    expect((raw.json as { inputs: { parameters: unknown }[] }).inputs.map((i) => i.parameters)).toEqual([
      { binary_data_size: 4 },
      { binary_data_size: 8 },
    ])
    expect([...raw.binary]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
  })

  it('refuses raw contents for some inputs only, or beside typed contents, naming the field', () => {
    const two = [
      { name: 'a', datatype: 'FP32', shape: [1, 1], parameters: {} },
      { name: 'b', datatype: 'FP32', shape: [1, 1], parameters: {}, contents: { fp32_contents: [1] } },
    ]
    expect(() => restFormOf(request({ inputs: two, raw_input_contents: [Uint8Array.of(0, 0, 0, 0)] }))).toThrow(
      /^raw_input_contents: 1 given for 2 inputs/,
    )
    expect(() =>
      restFormOf(request({ inputs: two, raw_input_contents: [Uint8Array.of(0, 0, 0, 0), Uint8Array.of(0, 0, 0, 0)] })),
    ).toThrow(/^inputs\[1\]\.contents: must be empty/)
  })

  it('sends outputs as raw little-endian contents', () => {
    const data = Float32Array.of(0.25, 0.75)
    const out = outputsOf([{ name: 'p', tensor: { type: 'float32', dims: [1, 2], data } as never }])
    expect(out.outputs).toEqual([{ name: 'p', datatype: 'FP32', shape: [1, 2], parameters: {} }])
    expect(new Float32Array(new Uint8Array(out.raw_output_contents[0]!).buffer)).toEqual(data)
  })

  it('counts the bytes of raw and typed contents alike, each element at its width', () => {
    expect(
      requestBytes(
        request({
          inputs: [
            { name: 'a', datatype: 'FP32', shape: [1, 3], parameters: {}, contents: { fp32_contents: [1, 2, 3] } },
            { name: 'b', datatype: 'INT64', shape: [1, 2], parameters: {}, contents: { int64_contents: [1, 2] } },
            {
              name: 'c',
              datatype: 'BYTES',
              shape: [1, 1],
              parameters: {},
              contents: { bytes_contents: [Buffer.from('hello')] },
            },
          ],
        }),
      ),
    ).toBe(12 + 16 + 5)
    expect(requestBytes(request({ raw_input_contents: [Buffer.alloc(10), Buffer.alloc(6)] }))).toBe(16)
  })

  it("budgets a request's time as REST does, and never past its deadline", () => {
    const strict = { default_timeout_ms: 1000, allow_timeout_override: false }
    const open = { default_timeout_ms: 1000, allow_timeout_override: true }
    const now = 1_000_000
    // No deadline: the timeout parameter where overrides are allowed, else the default.
    expect(timeBudgetMs(Infinity, 5_000_000, open, now)).toBe(5000)
    expect(timeBudgetMs(Infinity, 5_000_000, strict, now)).toBe(1000)
    expect(timeBudgetMs(Infinity, undefined, open, now)).toBe(1000)
    // A deadline: the client's budget where overrides are allowed; else the default, cut to the deadline.
    expect(timeBudgetMs(new Date(now + 3000), undefined, open, now)).toBe(3000)
    expect(timeBudgetMs(now + 3_600_000, undefined, strict, now)).toBe(1000)
    expect(timeBudgetMs(now + 200, undefined, strict, now)).toBe(200)
    expect(timeBudgetMs(now - 5, undefined, strict, now)).toBe(0)
  })

  it('reads parameters, and maps errors to the gRPC status a client expects', () => {
    expect(parameterValue({ parameter_choice: 'string_param', string_param: 'y' })).toBe('y')
    expect(grpcStatusOf(new InferenceError('inputs[0].shape: bad', 400))).toBe(status.INVALID_ARGUMENT)
    expect(grpcStatusOf(new InferenceError('too big', 413))).toBe(status.INVALID_ARGUMENT)
    expect(grpcStatusOf(new InferenceError('unknown model', 404))).toBe(status.NOT_FOUND)
    expect(grpcStatusOf(new InferenceError('queue is full', 503, 1, true))).toBe(status.RESOURCE_EXHAUSTED)
    expect(grpcStatusOf(new InferenceError('not ready', 503, 1))).toBe(status.UNAVAILABLE)
    expect(grpcStatusOf(new InferenceError('deadline', 504))).toBe(status.DEADLINE_EXCEEDED)
    expect(grpcStatusOf(new Error('boom'))).toBe(status.INTERNAL)
  })
})
