/**
 * The gateway's paths, through real Envoy with the rendered mesh in front
 * of real model hosts: only the OIP paths of a route's model, at the
 * versions the route serves, reach a host. Dot segments, encoded dots,
 * doubled slashes, backslashes and escaped slashes never reach the hosts'
 * repository API (load/unload), other models or other versions.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { headers as H } from '@model-mesh/contracts'
import { sampleRows } from '@model-mesh/model-host'
import { EXAMPLE_MODELS, spawnHost, type HostProcess } from '@model-mesh/testkit/host-process'
import { startEnvoy, type RunningEnvoy } from '@model-mesh/testkit/envoy'
import { freePorts } from '@model-mesh/testkit/ports'
import { parseMesh } from '../src/load.ts'
import { GATEWAY_LISTENER, inlinedBootstrap, renderMesh } from '../src/render.ts'

const body = JSON.stringify({
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: sampleRows(1, 5)[0] }],
})

/** One request with the path sent exactly as written (fetch would normalise it first, as curl does without --path-as-is). */
function raw(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  localAddress?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const url = new URL(base)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        localAddress,
        agent: false,
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }))
      },
    )
    req.on('error', reject)
    req.end(method === 'POST' ? body : undefined)
  })
}

// Two real hosts for every gateway below: a primary serving the whole repository and a fallback.
let dir: string
let primary: HostProcess
let fallback: HostProcess
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gateway-paths-'))
  ;[primary, fallback] = await Promise.all([
    spawnHost(EXAMPLE_MODELS),
    spawnHost(EXAMPLE_MODELS, {}, ['--role', 'fallback']),
  ])
})
afterAll(async () => {
  await Promise.all([primary?.stop(), fallback?.stop()])
  await rm(dir, { recursive: true, force: true })
})

/** Envoy with the mesh rendered from more `gateway` settings and one route to the hosts (stable v1, fallback), for the tests of one describe. */
function gatewayFor(settings = ''): { envoy: RunningEnvoy; url: string } {
  const gw = { envoy: undefined as unknown as RunningEnvoy, url: '' }
  beforeAll(async () => {
    const [gatewayPort, agentPort] = await freePorts(2)
    const port = (h: HostProcess) => new URL(h.url).port
    const file = join(dir, `mesh-${gatewayPort}.yaml`)
    const text = `version: 1
gateway: { port: ${gatewayPort}, admin_port: 0, workers: 1${settings} }
repository: ${EXAMPLE_MODELS}
hosts:
  - { name: stable, port: ${port(primary)} }
  - { name: fallback, port: ${port(fallback)}, role: fallback }
routes:
  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
telemetry:
  agent: { port: ${agentPort} }
`
    await writeFile(file, text)
    const loaded = await parseMesh(text, file)
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues))
    gw.envoy = await startEnvoy(inlinedBootstrap(renderMesh(loaded.mesh.config, { xdsDir: dir })), { concurrency: 1 })
    gw.url = gw.envoy.listenerUrl(GATEWAY_LISTENER)
  })
  afterAll(async () => {
    await gw.envoy?.stop()
  })
  return gw
}

describe('gateway paths (real Envoy, rendered mesh, real hosts)', () => {
  const gw = gatewayFor()

  /** The primary host still serves credit-risk: nothing unloaded it. */
  async function stillServing(): Promise<void> {
    const res = await fetch(`${primary.url}/v2/models/credit-risk/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })
    expect(res.status).toBe(200)
    await res.arrayBuffer()
  }

  it("serves the route model's metadata, readiness and inference", async () => {
    expect((await raw(gw.url, 'GET', '/v2/models/credit-risk')).status).toBe(200)
    expect((await raw(gw.url, 'GET', '/v2/models/credit-risk/ready')).status).toBe(200)
    expect((await raw(gw.url, 'GET', '/v2/models/credit-risk/versions/1/ready')).status).toBe(200)
    const infer = await raw(gw.url, 'POST', '/v2/models/credit-risk/infer')
    expect(infer.status).toBe(200)
    expect(infer.headers[H.MODEL_VERSION]).toBe('1')
  })

  const unloads = [
    '/v2/models/credit-risk/../../repository/models/credit-risk/unload',
    '/v2/models/credit-risk/%2e%2e/%2e%2e/repository/models/credit-risk/unload',
    '/v2/models/credit-risk/%2E%2E%2F%2E%2E%2Frepository/models/credit-risk/unload',
    '/v2/models/credit-risk/..%2F..%2Frepository/models/credit-risk/unload',
    '/v2/models/credit-risk/..%2f..%2frepository/models/credit-risk/unload',
    '/v2/models/credit-risk/..\\..\\repository/models/credit-risk/unload',
    '/v2/models/credit-risk/%5c..%5c..%5crepository/models/credit-risk/unload',
    '/v2/models/credit-risk//..//..//repository/models/credit-risk/unload',
    '/v2/models/credit-risk/./../../repository/models/credit-risk/unload',
    '/V2/Models/credit-risk/../../Repository/models/credit-risk/unload',
    '/v2/repository/models/credit-risk/unload',
    '//v2/repository/models/credit-risk/unload',
  ]
  it.each(unloads)('never reaches the repository API: POST %s', async (path) => {
    const res = await raw(gw.url, 'POST', path)
    expect([400, 404]).toContain(res.status)
    await stillServing()
  })

  it('lists no repository, and serves no other model, version or host API', async () => {
    for (const [method, path] of [
      ['POST', '/v2/models/credit-risk/../../repository/index'],
      ['POST', '/v2/repository/index'],
      // The fallback model only through the route's failover, never asked for directly.
      ['POST', '/v2/models/credit-risk/../credit-risk-fallback/infer'],
      ['POST', '/v2/models/credit-risk-fallback/infer'],
      ['GET', '/v2/models/credit-risk/../credit-risk-fallback'],
      // A version the route does not name.
      ['GET', '/v2/models/credit-risk/../credit-risk/versions/2'],
      ['GET', '/v2/models/credit-risk/versions/2/ready'],
      ['POST', '/v2/models/credit-risk/../credit-risk/versions/2/infer'],
      ['POST', '/v2/models/credit-risk/versions/2/infer'],
      // Host APIs that are not the protocol's model surface.
      ['GET', '/v2/models/credit-risk/config'],
      ['GET', '/v2/models/credit-risk/stats'],
      ['GET', '/v2/models/credit-risk/../../../metrics'],
      ['GET', '/v2/models/credit-risk/infer/../../../v2'],
    ] as const) {
      const res = await raw(gw.url, method, path)
      expect({ path, status: res.status }).toEqual({
        path,
        status: expect.toSatisfy((s: number) => s === 400 || s === 404),
      })
    }
  })

  it("gives a caller's request an id of its own and ignores its x-envoy-* headers, loopback callers too (no trusted_callers)", async () => {
    const res = await raw(gw.url, 'POST', '/v2/models/credit-risk/infer', {
      'x-request-id': 'chosen-by-caller',
      'x-envoy-upstream-rq-timeout-ms': '1',
    })
    expect(res.status).toBe(200)
    expect(res.headers[H.REQUEST_ID]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  })

  it("answers the route's own paths with the version the route chose, however they are spelled", async () => {
    for (const path of [
      '/v2/models/credit-risk/versions/1/infer',
      '/v2/models/credit-risk/../credit-risk/versions/1/infer',
      '/v2/models//credit-risk/./infer',
      '/v2/models/credit-risk/%69nfer',
    ]) {
      const res = await raw(gw.url, 'POST', path)
      expect({ path, status: res.status, version: res.headers[H.MODEL_VERSION] }).toEqual({
        path,
        status: 200,
        version: '1',
      })
    }
  })
})

describe('gateway edge settings (real Envoy, rendered mesh, real hosts)', () => {
  const gw = gatewayFor(', trusted_callers: [127.0.0.2/32], max_connections: 4')

  it("gives an untrusted caller's request an id of its own, and keeps a trusted caller's", async () => {
    const untrusted = await raw(gw.url, 'POST', '/v2/models/credit-risk/infer', { 'x-request-id': 'chosen-by-caller' })
    expect(untrusted.status).toBe(200)
    expect(untrusted.headers[H.REQUEST_ID]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    const trusted = await raw(
      gw.url,
      'POST',
      '/v2/models/credit-risk/infer',
      { 'x-request-id': 'from-the-edge-proxy' },
      '127.0.0.2',
    )
    expect(trusted.status).toBe(200)
    expect(trusted.headers[H.REQUEST_ID]).toBe('from-the-edge-proxy')
  })

  it('has no writable runtime layer: runtime_modify cannot switch a rate limit off', async () => {
    const res = await fetch(`${gw.envoy.adminUrl}/runtime_modify?mesh.rate_limit.credit-risk=0`, { method: 'POST' })
    expect(res.status).not.toBe(200)
    expect(await res.text()).toMatch(/admin layer/i)
    const runtime = (await (await fetch(`${gw.envoy.adminUrl}/runtime`)).json()) as { entries: Record<string, unknown> }
    expect(runtime.entries['mesh.rate_limit.credit-risk']).toBeUndefined()
  })

  it('refuses downstream connections past max_connections, and serves again once they close', async () => {
    const url = new URL(gw.url)
    const sockets = await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<Socket>((resolve, reject) => {
            const s = connect({ host: url.hostname, port: Number(url.port) }, () => resolve(s))
            s.on('error', reject)
          }),
      ),
    )
    // Each asks for readiness; the ones past the limit are closed without an answer.
    const answered = await Promise.all(
      sockets.map(
        (s) =>
          new Promise<boolean>((resolve) => {
            let got = ''
            s.on('data', (d) => {
              got += d
              if (got.includes('\r\n\r\n')) resolve(got.startsWith('HTTP/1.1 200'))
            })
            s.on('close', () => resolve(false))
            s.on('error', () => resolve(false))
            s.write(`GET /v2/models/credit-risk/ready HTTP/1.1\r\nhost: gateway\r\n\r\n`)
          }),
      ),
    )
    for (const s of sockets) s.destroy()
    expect(answered.filter(Boolean).length).toBe(4)
    const stats = await (await fetch(`${gw.envoy.adminUrl}/stats?filter=downstream_global_cx_overflow`)).text()
    expect(Number(/downstream_global_cx_overflow: (\d+)/.exec(stats)?.[1])).toBeGreaterThanOrEqual(4)
    // Closed connections leave room again.
    await expect
      .poll(async () => (await raw(gw.url, 'GET', '/v2/models/credit-risk/ready')).status, { timeout: 5000 })
      .toBe(200)
  })
})
