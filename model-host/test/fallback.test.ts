/**
 * Integration: a batch that fails at run time fails over per request to the
 * model's fallback, never silently and never failing its batch-mates.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleRows } from '../example-models/dataset.ts'
import { writeFragileModel } from './broken-model.ts'
import { jsonInfer, postJson } from './client.ts'
import { copyRepository, spawnHost, type HostProcess } from './host-process.ts'

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
  })

  it('answers a request whose batch failed from the fallback, marked, counted and logged', async () => {
    const r = await postJson(`${host.url}/v2/models/fragile/infer`, jsonInfer(sampleRows(2, 4)))
    expect(r.status).toBe(200)
    expect(r.headers.get('x-model-fallback')).toBe('true')
    expect(r.headers.get('x-model-name')).toBe('credit-risk-fallback')
    expect(r.json.parameters).toMatchObject({ fallback: true, fallback_reason: 'runtime_error', requested_model: 'fragile' })
    expect(r.json.outputs[0].shape).toEqual([2, 2])
    const stats = await fetch(`${host.url}/v2/models/fragile/stats`).then((res) => res.json())
    expect(stats.model_stats[0].failed_executions).toBeGreaterThanOrEqual(1)
    expect(stats.fallback.runtime_error).toBeGreaterThanOrEqual(1)
    expect(host.logs.some((l) => l.includes('batch failed; failing over per request'))).toBe(true)
  })

  it('never fails batch-mates: concurrent single rows all get an answer', async () => {
    const rows = sampleRows(6, 5)
    const responses = await Promise.all(rows.map((row) => postJson(`${host.url}/v2/models/fragile/infer`, jsonInfer([row]))))
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200])
    // Rows that shared a batch (which this model cannot run) were each answered by the fallback.
    for (const r of responses.filter((res) => res.headers.get('x-model-fallback') === 'true')) {
      expect(r.json.parameters.fallback_reason).toBe('runtime_error')
    }
  })
})
