/**
 * Integration: the host's gRPC service (inference.GRPCInferenceService) over
 * real HTTP/2, driven by Triton's unmodified gRPC client (tritonclient.grpc)
 * and by a plain grpc-js client of our .proto for what that client cannot
 * send (typed contents, a malformed request), against a real host process:
 * the same answers as REST, bit for bit, and the same refusals as gRPC
 * statuses naming the field.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { credentials, Metadata, status } from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleRows } from '../example-models/dataset.ts'
import { jsonInfer, postJson } from '@model-mesh/testkit/client'
import { copyRepository, editConfig, ROOT, spawnHost, type HostProcess } from '@model-mesh/testkit/host-process'
import { inferenceService } from '../src/grpc/service.ts'

const PYTHON = join(ROOT, '.local/venv/bin/python')

/** A grpc-js client of our .proto; `call(method, request)` resolves with the response and trailers, or the error. */
function client(address: string) {
  const Service = inferenceService()
  const c = new Service(address, credentials.createInsecure())
  const call = (method: string, request: unknown, options: { deadline?: number } = {}) =>
    new Promise<{ response?: any; error?: { code: number; details: string }; trailer?: Metadata }>((resolve) => {
      let trailer: Metadata | undefined
      const unary = c[method] as (...args: unknown[]) => { on(e: string, l: (m: Metadata) => void): void }
      const pending = unary.call(
        c,
        request,
        new Metadata(),
        options.deadline ? { deadline: Date.now() + options.deadline } : {},
        (error: { code: number; details: string } | null, response: unknown) =>
          // The trailers come with the status, just before the callback.
          setImmediate(() => resolve(error ? { error, trailer } : { response, trailer })),
      )
      pending.on('status', (s: any) => (trailer = s.metadata))
    })
  return { call, close: () => c.close() }
}

/** A host process serving gRPC on a free port too: the ready line says which. */
async function spawnGrpcHost(dir: string): Promise<{ host: HostProcess; grpcAddress: string }> {
  const host = await spawnHost(dir, {}, ['--grpc-port', '0'])
  const ready = JSON.parse(host.logs.find((l) => l.includes('"msg":"ready"'))!) as { grpc_port: number }
  return { host, grpcAddress: `127.0.0.1:${ready.grpc_port}` }
}

describe('the gRPC service on a model host', () => {
  let host: HostProcess
  let repo: Awaited<ReturnType<typeof copyRepository>>
  let grpcAddress = ''
  beforeAll(async () => {
    repo = await copyRepository(['credit-risk', 'credit-risk-fallback'])
    ;({ host, grpcAddress } = await spawnGrpcHost(repo.dir))
  })
  afterAll(async () => {
    await host?.stop()
    await repo?.remove()
  })

  it("answers Triton's own gRPC client as REST answers, bit for bit, and refuses as REST does", async () => {
    const rows = sampleRows(3, 21)
    const { stdout } = await promisify(execFile)(PYTHON, [
      join(ROOT, 'model-host/test/clients/tritonclient_grpc_check.py'),
      grpcAddress,
      'credit-risk',
      JSON.stringify(rows),
    ])
    const seen = JSON.parse(stdout)
    expect(seen).toMatchObject({
      live: true,
      ready: true,
      model_ready: true,
      server: 'model-host',
      max_batch_size: 64,
      input_type: 'TYPE_FP32',
      shape: [3, 2],
      model_version: '1',
      id: 'triton-grpc-1',
      async_shape: [1, 2],
    })
    expect(seen.metadata_inputs).toEqual([{ name: 'features', datatype: 'FP32', shape: ['-1', '16'] }])
    expect(seen.parameters.fallback).toEqual({ bool_param: false })
    expect(seen.parameters.confidence.double_param).toBeGreaterThan(0)
    // The three rows inferred, then the one inferred asynchronously.
    expect(seen.inference_delta).toBe(4)
    expect(seen.unknown_model).toEqual({ status: 'StatusCode.NOT_FOUND', message: 'unknown model "no-such-model"' })
    expect(seen.wrong_shape.status).toBe('StatusCode.INVALID_ARGUMENT')
    expect(seen.wrong_shape.message).toContain('inputs[0].shape')
    // REST, binary outputs: the same bytes.
    const rest = await postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(rows))
    const bits = Buffer.from(new Float32Array(rest.json.outputs[0].data as number[]).buffer).toString('hex')
    expect(seen.bits).toBe(bits)
  })

  it('takes typed contents, says who answered in its parameters and trailers, and names the field it refuses', async () => {
    const c = client(grpcAddress)
    try {
      const rows = sampleRows(2, 5)
      const typed = await c.call('ModelInfer', {
        model_name: 'credit-risk',
        id: 'typed-1',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [2, 16], contents: { fp32_contents: rows.flat() } }],
      })
      expect(typed.error).toBeUndefined()
      expect(typed.response.model_version).toBe('1')
      expect(typed.response.outputs[0]).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [2, 2] })
      const raw = typed.response.raw_output_contents[0] as Buffer
      const rest = await postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(rows))
      expect([...new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4)]).toEqual(rest.json.outputs[0].data)
      expect(typed.trailer?.get('x-model-version')).toEqual(['1'])
      expect(typed.trailer?.get('x-model-fallback')).toEqual(['false'])
      expect(typed.trailer?.get('x-request-id')).toEqual(['typed-1'])

      const unknownInput = await c.call('ModelInfer', {
        model_name: 'credit-risk',
        inputs: [{ name: 'nope', datatype: 'FP32', shape: [1, 16], contents: { fp32_contents: rows[0] } }],
      })
      expect(unknownInput.error?.code).toBe(status.INVALID_ARGUMENT)
      expect(unknownInput.error?.details).toContain('inputs[0].name')
      const short = await c.call('ModelInfer', {
        model_name: 'credit-risk',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16] }],
        raw_input_contents: [Buffer.alloc(12)],
      })
      expect(short.error?.code).toBe(status.INVALID_ARGUMENT)
      expect(short.error?.details).toContain('inputs[0].parameters.binary_data_size')
      const noModel = await c.call('ModelInfer', { inputs: [] })
      expect(noModel.error).toMatchObject({ code: status.INVALID_ARGUMENT, details: 'model_name: missing' })
    } finally {
      c.close()
    }
  })

  it('lists the repository, and refuses to change it without the operator credential (this host has none)', async () => {
    const c = client(grpcAddress)
    try {
      const index = await c.call('RepositoryIndex', {})
      expect(index.response.models).toContainEqual({ name: 'credit-risk', version: '1', state: 'READY', reason: '' })
      const unload = await c.call('RepositoryModelUnload', { model_name: 'credit-risk' })
      expect(unload.error?.code).toBe(status.PERMISSION_DENIED)
      expect(unload.error?.details).toContain('authorization')
      expect((await c.call('ModelReady', { name: 'credit-risk' })).response).toEqual({ ready: true })
    } finally {
      c.close()
    }
  })
})

describe('the gRPC service under overload (credit-risk-xl, no fallback, a queue of 8)', () => {
  let host: HostProcess
  let repo: Awaited<ReturnType<typeof copyRepository>>
  let grpcAddress = ''
  beforeAll(async () => {
    repo = await copyRepository(['credit-risk-xl'])
    await editConfig(repo.dir, 'credit-risk-xl', (c) => {
      c.max_batch_size = 1
      c.dynamic_batching = { ...c.dynamic_batching, max_queue_size: 8, preferred_batch_sizes: [] }
    })
    ;({ host, grpcAddress } = await spawnGrpcHost(repo.dir))
  })
  afterAll(async () => {
    await host?.stop()
    await repo?.remove()
  })

  const request = (rows: number[][]) => ({
    model_name: 'credit-risk-xl',
    inputs: [
      { name: 'features', datatype: 'FP32', shape: [rows.length, 16], contents: { fp32_contents: rows.flat() } },
    ],
  })
  const refused = async () =>
    ((await (await fetch(`${host.url}/v2/models/credit-risk-xl/stats`)).json()) as { refused: Record<string, number> })
      .refused

  it('answers a full queue RESOURCE_EXHAUSTED, naming the queue, and every other call OK', async () => {
    const c = client(grpcAddress)
    try {
      const calls = await Promise.all(
        Array.from({ length: 64 }, (_, i) => c.call('ModelInfer', request(sampleRows(1, i)))),
      )
      const codes = calls.map((r) => r.error?.code ?? status.OK)
      expect(codes.filter((code) => code !== status.OK && code !== status.RESOURCE_EXHAUSTED)).toEqual([])
      expect(codes).toContain(status.RESOURCE_EXHAUSTED)
      expect(codes).toContain(status.OK)
      const full = calls.find((r) => r.error?.code === status.RESOURCE_EXHAUSTED)!
      expect(full.error!.details).toContain('queue is full (max_queue_size 8)')
      expect((await refused()).queue_full).toBe(codes.filter((code) => code === status.RESOURCE_EXHAUSTED).length)
    } finally {
      c.close()
    }
  })

  it("takes grpc-timeout as the request's deadline: a call that cannot make it is never run", async () => {
    const c = client(grpcAddress)
    const inferences = async () =>
      (
        (await (await fetch(`${host.url}/v2/models/credit-risk-xl/stats`)).json()) as {
          model_stats: { inference_count: number }[]
        }
      ).model_stats.reduce((n, v) => n + v.inference_count, 0)
    try {
      const before = await inferences()
      // Six calls in the queue, a batch of one at a time; one more with a 2 ms deadline cannot be served in time behind them.
      const busy = Array.from({ length: 6 }, (_, i) => c.call('ModelInfer', request(sampleRows(1, i))))
      const late = await c.call('ModelInfer', request(sampleRows(1, 9)), { deadline: 2 })
      expect((await Promise.all(busy)).map((r) => r.error?.code ?? status.OK)).toEqual(Array(6).fill(status.OK))
      expect(late.error?.code).toBe(status.DEADLINE_EXCEEDED)
      // The host ran the six and not the late one: it left the queue unrun, whether its deadline or the cancel came first.
      await new Promise((r) => setTimeout(r, 200))
      expect((await inferences()) - before).toBe(6)
    } finally {
      c.close()
    }
  })
})
