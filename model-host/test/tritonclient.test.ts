/**
 * Integration: Triton's own HTTP client (tritonclient, unmodified, its
 * defaults: binary tensor data both ways) against a real host process.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleRows } from '../example-models/dataset.ts'
import { jsonInfer, postJson } from '@model-mesh/testkit/client'
import { copyRepository, ROOT, spawnHost, type HostProcess } from '@model-mesh/testkit/host-process'

const PYTHON = join(ROOT, '.local/venv/bin/python')

describe('tritonclient against the model host', () => {
  let host: HostProcess
  let repo: Awaited<ReturnType<typeof copyRepository>>
  beforeAll(async () => {
    repo = await copyRepository(['credit-risk', 'credit-risk-fallback'])
    host = await spawnHost(repo.dir)
  })
  afterAll(async () => {
    await host?.stop()
    await repo?.remove()
  })

  it('checks health, reads metadata and config, and infers with binary tensors', async () => {
    const rows = sampleRows(3, 11)
    const { stdout } = await promisify(execFile)(PYTHON, [
      join(ROOT, 'model-host/test/clients/tritonclient_check.py'),
      host.url.replace('http://', ''),
      'credit-risk',
      JSON.stringify(rows),
    ])
    const seen = JSON.parse(stdout)
    expect(seen).toMatchObject({
      live: true,
      ready: true,
      model_ready: true,
      max_batch_size: 64,
      shape: [3, 2],
      model_version: '1',
      id: 'triton-1',
    })
    expect(seen.metadata_inputs).toEqual([{ name: 'features', datatype: 'FP32', shape: [-1, 16] }])
    // The same rows over JSON give the same probabilities.
    const viaJson = await postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(rows))
    expect(seen.probabilities.flat()).toEqual(viaJson.json.outputs[0].data)
  })
})
