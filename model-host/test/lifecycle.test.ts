/**
 * Integration: load, switch, unload and integrity of model versions in a
 * running host, under traffic.
 */
import { appendFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleRows } from '../example-models/dataset.ts'
import { jsonInfer, postJson } from '@model-mesh/testkit/client'
import { cloneVersion, copyRepository, editConfig, spawnHost, type HostProcess } from '@model-mesh/testkit/host-process'

const rows = sampleRows(4, 7)
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** The operator's token, which repository writes need. */
const TOKEN = 'lifecycle-operator-token-0123456789'

async function start(models = ['credit-risk', 'credit-risk-fallback']): Promise<{ host: HostProcess; dir: string }> {
  const repo = await copyRepository(models)
  cleanups.push(repo.remove)
  const tokenFile = join(repo.dir, '..', `operator-token-${process.pid}-${cleanups.length}`)
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 })
  cleanups.push(() => rm(tokenFile, { force: true }))
  const host = await spawnHost(repo.dir, {}, ['--operator-token-file', tokenFile])
  cleanups.push(host.stop)
  return { host, dir: repo.dir }
}

/** A repository call as the operator makes it. */
const post = (url: string, path: string, body: unknown = {}) =>
  postJson(url + path, body, { authorization: `Bearer ${TOKEN}` })

describe('model lifecycle', () => {
  it('switches the live version without failing a request in flight', async () => {
    const { host, dir } = await start()
    const seen: string[] = []
    const failures: unknown[] = []
    let stop = false
    const traffic = (async () => {
      while (!stop) {
        const batch = await Promise.all(
          Array.from({ length: 8 }, () => postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(rows))),
        )
        for (const r of batch) {
          if (r.status !== 200) failures.push(r.json)
          else seen.push(r.headers.get('x-model-version')!)
        }
      }
    })()
    await new Promise((r) => setTimeout(r, 200))
    await editConfig(dir, 'credit-risk', (c) => (c.live_version = '2'))
    expect(await post(host.url, '/v2/repository/models/credit-risk/load')).toMatchObject({ status: 200 })
    const switchedAt = seen.length
    await new Promise((r) => setTimeout(r, 200))
    stop = true
    await traffic
    expect(failures).toEqual([])
    expect(seen.slice(0, 8).every((v) => v === '1')).toBe(true)
    // Once the load call has returned, every new request is served by version 2.
    expect(seen.slice(switchedAt + 8).every((v) => v === '2')).toBe(true)
    expect(seen.at(-1)).toBe('2')
  })

  it('keeps serving the old state when a reload is refused', async () => {
    const { host, dir } = await start()
    await editConfig(dir, 'credit-risk', (c) => (c.max_batch_size = -3))
    const res = await post(host.url, '/v2/repository/models/credit-risk/load')
    expect(res.status).toBe(400)
    expect(res.json.error).toMatch(/config\.yaml: max_batch_size: /)
    const infer = await postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(rows))
    expect(infer.status).toBe(200)
  })

  it('refuses to load a model that is not in the repository, staying ready', async () => {
    const { host } = await start()
    for (const name of ['bogus', '..%2F..%2Fetc']) {
      const res = await post(host.url, `/v2/repository/models/${name}/load`)
      expect(res.status).toBe(404)
      expect(res.json.error).toMatch(/no model ".*" in the repository/)
    }
    expect((await fetch(`${host.url}/v2/health/ready`)).status).toBe(200)
  })

  it('refuses repository writes without the operator token, and on a host started without one', async () => {
    const { host } = await start()
    // None, a wrong one, and one not sent as a bearer token (a malformed header, RFC 6750's 400).
    for (const [headers, status] of [
      [{}, 401],
      [{ authorization: 'Bearer not-the-operator-token-at-all' }, 401],
      [{ authorization: TOKEN }, 400],
    ] as const) {
      for (const path of ['/v2/repository/models/credit-risk/unload', '/v2/repository/models/credit-risk/load']) {
        const res = await postJson(host.url + path, {}, headers)
        expect({ path, status: res.status }).toEqual({ path, status })
        expect(res.json.error).toMatch(/^authorization: /)
      }
    }
    expect((await postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(rows))).status).toBe(200)

    const repo = await copyRepository(['credit-risk', 'credit-risk-fallback'])
    cleanups.push(repo.remove)
    const open = await spawnHost(repo.dir)
    cleanups.push(open.stop)
    const res = await postJson(
      `${open.url}/v2/repository/models/credit-risk/unload`,
      {},
      { authorization: `Bearer ${TOKEN}` },
    )
    expect(res.status).toBe(403)
    expect(res.json.error).toMatch(/no operator token \(--operator-token-file\)/)
    expect((await postJson(`${open.url}/v2/models/credit-risk/infer`, jsonInfer(rows))).status).toBe(200)
    // Reading the index changes nothing: it needs no token.
    expect((await postJson(`${open.url}/v2/repository/index`, {})).status).toBe(200)
  })

  it('unloads and reloads a model', async () => {
    const { host } = await start()
    expect(await post(host.url, '/v2/repository/models/credit-risk/unload')).toMatchObject({ status: 200 })
    expect((await postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(rows))).status).toBe(404)
    const index = await post(host.url, '/v2/repository/index')
    expect(index.json).toContainEqual({ name: 'credit-risk', state: 'UNAVAILABLE', reason: 'unloaded' })
    expect(await post(host.url, '/v2/repository/models/credit-risk/load')).toMatchObject({ status: 200 })
    expect((await postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(rows))).status).toBe(200)
  })

  it('refuses a version whose bytes differ from its manifest, naming it', async () => {
    const repo = await copyRepository(['credit-risk', 'credit-risk-fallback'])
    cleanups.push(repo.remove)
    await appendFile(join(repo.dir, 'credit-risk', '2', 'model.onnx'), 'x')
    const host = await spawnHost(repo.dir)
    cleanups.push(host.stop)
    const index = await post(host.url, '/v2/repository/index')
    expect(index.json).toContainEqual({ name: 'credit-risk', version: '1', state: 'READY' })
    expect(index.json).toContainEqual({
      name: 'credit-risk',
      version: '2',
      state: 'UNAVAILABLE',
      reason: expect.stringMatching(/model\.onnx has sha256 .* manifest says/),
    })
    const v2 = await postJson(`${host.url}/v2/models/credit-risk/versions/2/infer`, jsonInfer(rows))
    expect(v2.status).toBe(404)
    expect(v2.json.error).toMatch(/unknown version "2".*sha256/)
    expect(host.logs.some((l) => l.includes('version refused') && l.includes('sha256'))).toBe(true)
  })

  it('keeps the last 10 versions and prunes older ones', async () => {
    const repo = await copyRepository(['credit-risk', 'credit-risk-fallback'])
    cleanups.push(repo.remove)
    for (let v = 3; v <= 12; v++) await cloneVersion(repo.dir, 'credit-risk', '2', String(v))
    await editConfig(repo.dir, 'credit-risk', (c) => (c.live_version = '12'))
    const host = await spawnHost(repo.dir)
    cleanups.push(host.stop)
    const left = (await readdir(join(repo.dir, 'credit-risk')))
      .filter((f) => /^\d+$/.test(f))
      .map(Number)
      .sort((a, b) => a - b)
    expect(left).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    const m = await fetch(`${host.url}/v2/models/credit-risk`).then((r) => r.json())
    expect(m.versions).toHaveLength(10)
    const r = await postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(rows))
    expect(r.headers.get('x-model-version')).toBe('12')
  })
})
