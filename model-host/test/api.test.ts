/**
 * Integration: the OIP v2 API of a real host process over loopback HTTP,
 * serving the example credit-risk models.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleRows } from '../example-models/dataset.ts'
import { binaryInfer, jsonInfer, postJson, readBinaryResponse } from '@model-mesh/testkit/client'
import { copyRepository, editConfig, spawnHost, type HostProcess } from '@model-mesh/testkit/host-process'

let host: HostProcess
let repo: Awaited<ReturnType<typeof copyRepository>>
const rows = sampleRows(8, 42)

beforeAll(async () => {
  repo = await copyRepository(['credit-risk', 'credit-risk-fallback'])
  await editConfig(repo.dir, 'credit-risk', (c) => (c.max_request_bytes = 64 * 1024))
  host = await spawnHost(repo.dir)
})
afterAll(async () => {
  await host?.stop()
  await repo?.remove()
})

const get = async (path: string) => {
  const res = await fetch(host.url + path)
  return { status: res.status, json: await res.json() }
}

describe('server and health', () => {
  it('serves metadata and JSON health bodies', async () => {
    expect(await get('/v2')).toMatchObject({
      status: 200,
      json: { name: 'model-host', extensions: expect.arrayContaining(['model_repository', 'binary_tensor_data']) },
    })
    expect(await get('/v2/health/live')).toEqual({ status: 200, json: { live: true } })
    expect(await get('/v2/health/ready')).toEqual({ status: 200, json: { ready: true } })
  })

  it('describes models and versions', async () => {
    const m = await get('/v2/models/credit-risk')
    expect(m.status).toBe(200)
    expect(m.json).toMatchObject({
      name: 'credit-risk',
      versions: ['1', '2', '3'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 16] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
    })
    expect((await get('/v2/models/credit-risk/versions/2')).status).toBe(200)
    expect(await get('/v2/models/credit-risk/ready')).toEqual({
      status: 200,
      json: { name: 'credit-risk', ready: true },
    })
    expect(await get('/v2/models/credit-risk/versions/2/ready')).toEqual({
      status: 200,
      json: { name: 'credit-risk', version: '2', ready: true },
    })
  })

  it('serves the model config the way perf_analyzer reads it', async () => {
    const { status, json } = await get('/v2/models/credit-risk/config')
    expect(status).toBe(200)
    expect(json).toMatchObject({
      name: 'credit-risk',
      max_batch_size: 64,
      input: [{ name: 'features', data_type: 'TYPE_FP32', dims: [16] }],
    })
  })
})

describe('inference', () => {
  it('answers a JSON batch with who answered and its confidence', async () => {
    const { status, headers, json } = await postJson(
      `${host.url}/v2/models/credit-risk/infer`,
      jsonInfer(rows, { id: 'req-1' }),
      { 'x-request-id': 'rid-1' },
    )
    expect(status).toBe(200)
    expect(json).toMatchObject({
      model_name: 'credit-risk',
      model_version: '1',
      id: 'req-1',
      parameters: { fallback: false },
    })
    const out = json.outputs[0]
    expect(out).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [8, 2] })
    for (let r = 0; r < 8; r++) expect(out.data[2 * r] + out.data[2 * r + 1]).toBeCloseTo(1, 5)
    const tops = Array.from({ length: 8 }, (_, r) => Math.max(out.data[2 * r], out.data[2 * r + 1]))
    expect(Number(headers.get('x-model-confidence'))).toBeCloseTo(Math.min(...tops), 6)
    expect(json.parameters.confidence).toBeCloseTo(Math.min(...tops), 6)
    expect(headers.get('x-model-version')).toBe('1')
    expect(headers.get('x-model-name')).toBe('credit-risk')
    expect(headers.get('x-model-fallback')).toBe('false')
    expect(headers.get('x-request-id')).toBe('rid-1')
  })

  it('serves a named version', async () => {
    const { status, headers, json } = await postJson(
      `${host.url}/v2/models/credit-risk/versions/2/infer`,
      jsonInfer(rows.slice(0, 1)),
    )
    expect(status).toBe(200)
    expect(json.model_version).toBe('2')
    expect(headers.get('x-model-version')).toBe('2')
  })

  it('speaks the binary tensor data extension and agrees with JSON', async () => {
    const { body, headers } = binaryInfer(rows)
    const res = await fetch(`${host.url}/v2/models/credit-risk/infer`, { method: 'POST', headers, body })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    const { header, outputs } = await readBinaryResponse(res)
    expect(header.outputs[0]).toMatchObject({
      name: 'probabilities',
      shape: [8, 2],
      parameters: { binary_data_size: 64 },
    })
    const viaJson = await postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(rows))
    expect(Array.from(outputs.probabilities!)).toEqual(viaJson.json.outputs[0].data)
  })
})

describe('bad input', () => {
  const infer = (body: unknown, path = '/v2/models/credit-risk/infer') => postJson(host.url + path, body)

  it.each([
    ['malformed JSON', '{"inputs": [', 400, /malformed JSON/],
    [
      'unknown input name',
      jsonInfer(rows, {}).inputs.map((i) => ({ ...i, name: 'x' })),
      400,
      /inputs\[0\]\.name: unknown input "x"/,
    ],
    [
      'wrong datatype',
      { inputs: [{ name: 'features', datatype: 'FP64', shape: [1, 16], data: rows[0] }] },
      400,
      /inputs\[0\]\.datatype/,
    ],
    [
      'wrong shape',
      { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 17], data: [...rows[0]!, 1] }] },
      400,
      /inputs\[0\]\.shape/,
    ],
    [
      'short data',
      { inputs: [{ name: 'features', datatype: 'FP32', shape: [2, 16], data: rows[0] }] },
      400,
      /inputs\[0\]\.data: shape \[2, 16\] needs 32 elements, got 16/,
    ],
    [
      'a string where a number goes',
      { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: [...rows[0]!.slice(1), 'NaN'] }] },
      400,
      /inputs\[0\]\.data\[15\]/,
    ],
  ])('%s gets a 4xx naming the field', async (_, body, status, message) => {
    const payload = Array.isArray(body) ? { inputs: body } : body
    const res = await infer(payload)
    expect(res.status).toBe(status)
    expect(Object.keys(res.json)).toEqual(['error'])
    expect(res.json.error).toMatch(message)
  })

  it('unknown model or version is a 404 with an OIP error body', async () => {
    expect(await infer(jsonInfer(rows), '/v2/models/nope/infer')).toMatchObject({
      status: 404,
      json: { error: 'unknown model "nope"' },
    })
    expect(await infer(jsonInfer(rows), '/v2/models/credit-risk/versions/9/infer')).toMatchObject({
      status: 404,
      json: { error: expect.stringMatching(/unknown version "9"/) },
    })
    expect(await get('/v2/models/nope')).toMatchObject({ status: 404 })
  })

  it('a body over max_request_bytes is a 413', async () => {
    const res = await infer({
      inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: rows[0] }],
      pad: 'x'.repeat(70_000),
    })
    expect(res.status).toBe(413)
    expect(res.json.error).toMatch(/max_request_bytes/)
  })

  it('JSON nested 200,000 levels deep is a 400 naming the nesting, and a normal request still works', async () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000)
    const body = `{"inputs":[{"name":"features","datatype":"FP32","shape":[1,16],"data":${deep}}]}`
    // The fallback keeps the default max_request_bytes (8 MiB), so the body is read in full.
    const res = await infer(body, '/v2/models/credit-risk-fallback/infer')
    expect(res.status).toBe(400)
    expect(res.json.error).toBe('body: JSON nested deeper than 64 levels of arrays and objects')
    const ok = await infer(jsonInfer(rows.slice(0, 1)), '/v2/models/credit-risk-fallback/infer')
    expect(ok.status).toBe(200)
  })

  const inferenceCount = async (model = 'credit-risk') =>
    ((await get(`/v2/models/${model}/stats`)).json.model_stats as any[]).reduce((n, v) => n + v.inference_count, 0)

  const oddIds: [string, string][] = [
    ['CR/LF', 'req-1\r\nx-injected: 1'],
    ['a NUL', 'req\u00001'],
    ['non-Latin-1 characters', 'req-\u2713'],
    ['a Latin-1 letter', 'caf\u00e9'],
    ['more than 256 characters', 'r'.repeat(257)],
  ]

  it.each(oddIds)(
    'without an x-request-id header, a request id with %s is a 400 naming id, refused before any inference',
    async (_, id) => {
      const before = await inferenceCount()
      const res = await infer(jsonInfer(rows.slice(0, 1), { id }))
      expect(res.status).toBe(400)
      expect(res.json.error).toMatch(/^id: .*x-request-id header/)
      expect(await inferenceCount()).toBe(before)
    },
  )

  it.each(oddIds)(
    'with an x-request-id header (as through the gateway), a request id with %s is answered, echoed in the body only',
    async (_, id) => {
      const res = await postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(rows.slice(0, 1), { id }), {
        'x-request-id': 'rid-odd',
      })
      expect(res.status).toBe(200)
      expect(res.json.id).toBe(id)
      expect(res.headers.get('x-request-id')).toBe('rid-odd')
    },
  )

  it('a request id over 64 Ki characters is a 400 naming id even with a header, refused before any inference', async () => {
    // The fallback keeps the default max_request_bytes (8 MiB), so the body is read in full.
    const before = await inferenceCount('credit-risk-fallback')
    const res = await postJson(
      `${host.url}/v2/models/credit-risk-fallback/infer`,
      jsonInfer(rows.slice(0, 1), { id: 'r'.repeat(65_537) }),
      { 'x-request-id': 'rid-long' },
    )
    expect(res.status).toBe(400)
    expect(res.json.error).toMatch(/^id: must be at most 65536 characters/)
    expect(await inferenceCount('credit-risk-fallback')).toBe(before)
  })

  it('a request id of 256 printable ASCII characters is echoed in the body and x-request-id', async () => {
    const id = 'a-Z_0.9 ~!'.repeat(25) + 'xxxxxx'
    const res = await infer(jsonInfer(rows.slice(0, 1), { id }))
    expect(res.status).toBe(200)
    expect(res.json.id).toBe(id)
    expect(res.headers.get('x-request-id')).toBe(id)
  })

  it('NaN sent as binary data is refused', async () => {
    const bad = rows.slice(0, 1).map((r) => r.map((v, i) => (i === 2 ? NaN : v)))
    const { body, headers } = binaryInfer(bad)
    const res = await fetch(`${host.url}/v2/models/credit-risk/infer`, { method: 'POST', headers, body })
    expect(res.status).toBe(400)
    expect((await res.json()).error).toMatch(/inputs\[0\]\.data\[2\]: NaN/)
  })

  it('survives a fuzzed stream of bodies, answering each with 200 or a 4xx, and stays healthy', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc
            .record({
              inputs: fc.array(
                fc.record({
                  name: fc.constantFrom('features', 'x'),
                  datatype: fc.constantFrom('FP32', 'INT8'),
                  shape: fc.array(fc.integer({ min: -1, max: 20 }), { maxLength: 3 }),
                  data: fc.jsonValue(),
                }),
              ),
            })
            .map((v) => JSON.stringify(v)),
        ),
        async (body) => {
          const res = await fetch(`${host.url}/v2/models/credit-risk/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          })
          const json = await res.json()
          expect(res.status === 200 || (res.status >= 400 && res.status < 500)).toBe(true)
          if (res.status !== 200) expect(typeof json.error).toBe('string')
        },
      ),
      { numRuns: 150 },
    )
    expect(await get('/v2/health/live')).toEqual({ status: 200, json: { live: true } })
    expect(host.child.exitCode).toBeNull()
  })
})
