/**
 * Integration: a batch that fails at run time fails over per request to the
 * model's fallback, never silently and never failing its batch-mates; and a
 * host in the mesh's fallback pool (--role fallback) answers with fallbacks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleRows } from '../example-models/dataset.ts'
import { writeFragileModel } from './broken-model.ts'
import { jsonInfer, postJson } from '@model-mesh/testkit/client'
import { copyRepository, EXAMPLE_MODELS, spawnHost, type HostProcess } from '@model-mesh/testkit/host-process'

describe('fallback on a runtime failure', () => {
  let host: HostProcess
  let repo: Awaited<ReturnType<typeof copyRepository>>
  beforeAll(async () => {
    repo = await copyRepository(['credit-risk-fallback'])
    await writeFragileModel(repo.dir, 'fragile', 'credit-risk-fallback')
    host = await spawnHost(repo.dir)
  })
  afterAll(async () => {
    await host?.stop()
    await repo?.remove()
  })

  it('serves a one-row batch itself', async () => {
    const r = await postJson(`${host.url}/v2/models/fragile/infer`, jsonInfer(sampleRows(1, 3)))
    expect(r.status).toBe(200)
    expect(r.headers.get('x-model-fallback')).toBe('false')
    // Its warm-up failed on larger batches, and it loaded anyway: callers' batches fail over per request instead.
    expect(host.logs.some((l) => l.includes('warm-up batch failed; loading anyway'))).toBe(true)
  })

  it('answers a request whose batch failed from the fallback, marked, counted and logged', async () => {
    const r = await postJson(`${host.url}/v2/models/fragile/infer`, jsonInfer(sampleRows(2, 4)))
    expect(r.status).toBe(200)
    expect(r.headers.get('x-model-fallback')).toBe('true')
    expect(r.headers.get('x-model-name')).toBe('credit-risk-fallback')
    expect(r.json.parameters).toMatchObject({
      fallback: true,
      fallback_reason: 'runtime_error',
      requested_model: 'fragile',
    })
    expect(r.json.outputs[0].shape).toEqual([2, 2])
    const stats = await fetch(`${host.url}/v2/models/fragile/stats`).then((res) => res.json())
    expect(stats.model_stats[0].failed_executions).toBeGreaterThanOrEqual(1)
    expect(stats.fallback.runtime_error).toBeGreaterThanOrEqual(1)
    expect(host.logs.some((l) => l.includes('batch failed; failing over per request'))).toBe(true)
  })

  it('never fails batch-mates: concurrent single rows all get an answer', async () => {
    const rows = sampleRows(6, 5)
    const responses = await Promise.all(
      rows.map((row) => postJson(`${host.url}/v2/models/fragile/infer`, jsonInfer([row]))),
    )
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200])
    // Rows that shared a batch (which this model cannot run) were each answered by the fallback.
    for (const r of responses.filter((res) => res.headers.get('x-model-fallback') === 'true')) {
      expect(r.json.parameters.fallback_reason).toBe('runtime_error')
    }
  })
})

describe('a host with --role fallback', () => {
  let host: HostProcess
  beforeAll(async () => {
    host = await spawnHost(EXAMPLE_MODELS, {}, ['--role', 'fallback'])
  })
  afterAll(() => host?.stop())

  it("answers every request with the requested model's fallback, marked", async () => {
    const r = await postJson(`${host.url}/v2/models/credit-risk/versions/2/infer`, jsonInfer(sampleRows(3, 8)))
    expect(r.status).toBe(200)
    expect([r.headers.get('x-model-name'), r.headers.get('x-model-fallback')]).toEqual(['credit-risk-fallback', 'true'])
    expect(r.json.parameters).toMatchObject({
      fallback: true,
      fallback_reason: 'fallback_role',
      requested_model: 'credit-risk',
      requested_version: '2',
    })
    expect(r.json.outputs[0].shape).toEqual([3, 2])
  })

  it('runs only the models that are a fallback: the ones it answers for are loaded without sessions', async () => {
    const devices = async (model: string) => {
      const versions = ((await (await fetch(`${host.url}/v2/models/${model}`)).json()) as { versions: string[] })
        .versions
      return Promise.all(
        versions.map(async (v) => [
          v,
          (
            (await (await fetch(`${host.url}/v2/models/${model}/versions/${v}`)).json()) as {
              parameters: { device: string }
            }
          ).parameters.device,
        ]),
      )
    }
    expect(await devices('credit-risk')).toEqual([
      ['1', 'none'],
      ['2', 'none'],
      ['3', 'none'],
    ])
    expect(await devices('credit-risk-xl')).toEqual([['1', 'none']])
    expect((await devices('credit-risk-fallback')).map(([v, device]) => [v, device !== 'none'])).toEqual([['1', true]])
    // Every version still resolves, so the host answers for each of them.
    const index = (await (await fetch(`${host.url}/v2/repository/index`, { method: 'POST' })).json()) as {
      name: string
      version?: string
      state: string
    }[]
    expect(index.filter((m) => m.name === 'credit-risk').map((m) => [m.version, m.state])).toEqual([
      ['1', 'READY'],
      ['2', 'READY'],
      ['3', 'READY'],
    ])
  })

  it('refuses, naming why, a model that has no fallback', async () => {
    const r = await postJson(`${host.url}/v2/models/credit-risk-fallback/infer`, jsonInfer(sampleRows(1, 8)))
    expect(r.status).toBe(503)
    expect(r.json.error).toBe(
      'model "credit-risk-fallback" version "1": this host answers only with fallbacks, and the model has none that can answer',
    )
  })
})
