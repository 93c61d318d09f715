/**
 * The gRPC messages to and from the REST side's forms, and errors to gRPC
 * statuses; run end to end by model-host/test/grpc.test.ts.
 */
import { status } from '@grpc/grpc-js'
import { describe, expect, it } from 'vitest'
import { InferenceError } from '../errors.ts'
import { grpcStatusOf, type ModelInferRequest, outputsOf, parameterValue, restFormOf, toParameter } from './codec.ts'

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

  it('maps parameters both ways and errors to the gRPC status a client expects', () => {
    expect(toParameter(3)).toEqual({ int64_param: 3 })
    expect(toParameter(0.5)).toEqual({ double_param: 0.5 })
    expect(toParameter('x')).toEqual({ string_param: 'x' })
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
