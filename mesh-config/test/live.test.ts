/**
 * The local mesh, live: real nats-server (JetStream), three real model
 * hosts (stable, canary, fallback) and real Envoy, started the way
 * `npm start` starts them, then operated through the CLI as an operator
 * would: canary set / promote / rollback, apply under load, a refused
 * apply, history and revert, a host dying.
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { headers as H } from '@model-mesh/contracts'
import { sampleRows } from '@model-mesh/model-host'
import { envoyVersion } from '@model-mesh/testkit/envoy'
import { localMeshYaml, portsOf, type LocalMeshPorts } from '@model-mesh/testkit/mesh-yaml'
import { freePorts } from '@model-mesh/testkit/ports'
import { applyMesh } from '../src/apply.ts'
import { run } from '../src/cli.ts'
import type { MeshStatus } from '../src/inspect.ts'
import { requireMesh } from '../src/load.ts'
import { startLocalMesh, type LocalMesh } from '../src/local-mesh.ts'
import { natsCredential } from '../src/nats-auth.ts'
import { paths, readHistory } from '../src/state.ts'
import type { SupervisorEvent } from '../src/supervisor.ts'

const rows = sampleRows(64, 3)
const body = (i: number) =>
  JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: rows[i % rows.length] }] })
const USERS = Array.from({ length: 40 }, (_, i) => `user-${i}`)

function meshYaml(p: LocalMeshPorts, extraRoutes = ''): string {
  return localMeshYaml(
    p,
    `  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    canary:
      version: 2
      weight: 1000   # basis points
      hosts: [canary]
      allow_override: true
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
    timeout_ms: 2000
${extraRoutes}`,
  )
}

describe('the local mesh, live', () => {
  let dir: string
  let file: string
  let mesh: LocalMesh
  let ports: Parameters<typeof meshYaml>[0]
  const events: SupervisorEvent[] = []
  const cli = async (...args: string[]) => {
    const out: string[] = []
    const err: string[] = []
    const code = await run([...args, '--config', file, '--by', 'live-test'], {
      out: (t) => void out.push(t),
      err: (t) => void err.push(t),
    })
    return { code, out: out.join(''), err: err.join('') }
  }
  const infer = async (user: string, i = 0, model = 'credit-risk') => {
    const res = await fetch(`${mesh.gatewayUrl}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user-id': user },
      body: body(i),
    })
    await res.arrayBuffer()
    return res
  }
  /** Polls until every user is answered by `version`; returns how long that took. */
  const untilAllOn = async (version: string, since: number) => {
    for (;;) {
      const versions = await Promise.all(USERS.map(async (u) => (await infer(u)).headers.get(H.MODEL_VERSION)))
      if (versions.every((v) => v === version)) return performance.now() - since
      if (performance.now() - since > 5000)
        throw new Error(`users still see ${[...new Set(versions)].join(', ')} after 5 s`)
    }
  }

  beforeAll(async () => {
    process.stderr.write(`live mesh: Envoy ${await envoyVersion()}\n`)
    dir = await mkdtemp(join(tmpdir(), 'mesh-live-'))
    file = join(dir, 'mesh.yaml')
    ports = portsOf(await freePorts(7))
    await writeFile(file, meshYaml(ports))
    mesh = await startLocalMesh(await requireMesh(file), { by: 'live-test', onEvent: (e) => events.push(e) })
  }, 180_000)
  afterAll(async () => {
    await mesh?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it("serves inference through the gateway; nats-server runs JetStream, only for the mesh's users", async () => {
    const res = await infer('alice')
    expect(res.status).toBe(200)
    expect(res.headers.get(H.MODEL_NAME)).toBe('credit-risk')
    expect(['1', '2']).toContain(res.headers.get(H.MODEL_VERSION))
    expect(res.headers.get(H.REQUEST_ID)).toMatch(/^[0-9a-f-]{36}$/)
    await expect(connect({ servers: `127.0.0.1:${ports.nats}`, reconnect: false, timeout: 2000 })).rejects.toThrow(
      /authorization/i,
    )
    const nc = await connect({
      servers: `127.0.0.1:${ports.nats}`,
      ...(await natsCredential(join(dir, 'state'), 'operator')),
    })
    try {
      const info = await (await jetstreamManager(nc)).getAccountInfo()
      expect(info.limits).toBeDefined()
    } finally {
      await nc.close()
    }
    const status = await cli('status', '--json')
    expect(status.code).toBe(0)
    const s = JSON.parse(status.out) as MeshStatus
    expect(s.envoy).toMatchObject({ running: true, inSync: true })
    expect(s.hosts.map((h) => [h.name, h.ready])).toEqual([
      ['stable', true],
      ['canary', true],
      ['fallback', true],
    ])
    expect(s.routes[0]).toMatchObject({ name: 'credit-risk', stable: '1', canary: { version: '2', weight: 1000 } })
    expect(s.routes[0]!.clusters['credit-risk.stable']).toEqual([
      { address: `127.0.0.1:${ports.stable}`, healthy: true, flags: '' },
    ])
  })

  it('applies a weight change and a new route under load without failing a request', async () => {
    let stop = false
    let newRouteLive = false
    let ok = 0
    const failures: string[] = []
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const model = i % 4 === 3 && newRouteLive ? 'credit-risk-fallback' : 'credit-risk'
        try {
          const res = await infer(`load-${w}-${i % 50}`, i, model)
          if (res.status === 200) ok++
          else failures.push(`${model}: HTTP ${res.status}`)
        } catch (e) {
          failures.push(`${model}: ${(e as Error).cause ?? (e as Error).message}`)
        }
      }
    }
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)))
    await new Promise((r) => setTimeout(r, 500))
    const set = await cli('canary', 'set', 'credit-risk', '5000')
    expect(set.code, set.err).toBe(0)
    await new Promise((r) => setTimeout(r, 500))
    const withRoute = (await readFile(file, 'utf8')).replace(
      'telemetry:\n',
      '  - name: fallback-model\n    match: { model: credit-risk-fallback }\n    model: credit-risk-fallback\n    stable: { version: 1, hosts: [stable] }\ntelemetry:\n',
    )
    await writeFile(file, withRoute)
    const diff = JSON.parse((await cli('diff', '--json')).out) as {
      text: string
      resources: { kind: string; name: string; change: string }[]
    }
    expect(diff.text).toContain('+  - name: fallback-model')
    expect(diff.resources).toEqual([
      { kind: 'routes', name: 'gateway-routes', change: 'changed' },
      { kind: 'extension', name: 'mesh-filter', change: 'changed' },
      { kind: 'clusters', name: 'fallback-model.stable', change: 'added' },
    ])
    const applied = await cli('apply')
    expect(applied.code, applied.err).toBe(0)
    newRouteLive = true
    await new Promise((r) => setTimeout(r, 1500))
    stop = true
    await load
    expect(failures).toEqual([])
    expect(ok).toBeGreaterThan(100)
    const res = await infer('bob', 0, 'credit-risk-fallback')
    expect([res.status, res.headers.get(H.MODEL_NAME)]).toEqual([200, 'credit-risk-fallback'])
  })

  it('canary set, rollback and promote show in x-model-version within a second', async () => {
    let t = performance.now()
    expect((await cli('canary', 'set', 'credit-risk', '100%')).code).toBe(0)
    expect(await untilAllOn('2', t)).toBeLessThan(1000)
    t = performance.now()
    expect((await cli('canary', 'rollback', 'credit-risk')).code).toBe(0)
    expect(await untilAllOn('1', t)).toBeLessThan(1000)
    t = performance.now()
    const before = await readFile(file, 'utf8')
    const promoted = await cli('canary', 'promote', 'credit-risk')
    expect(promoted.code).toBe(0)
    expect(await untilAllOn('2', t)).toBeLessThan(1000)
    // The edit kept the file's comments and layout: only the stable version changed (the weight was 0 already).
    expect((await readFile(file, 'utf8')).split('\n').filter((l, i) => l !== before.split('\n')[i])).toEqual([
      '    stable: { version: 2, hosts: [stable] }',
    ])
  })

  it('refuses an invalid config and leaves the running config exactly as it was', async () => {
    const xds = paths(join(dir, 'state')).xdsDir
    const snapshot = async () =>
      Object.fromEntries(
        await Promise.all((await readdir(xds)).map(async (f) => [f, await readFile(join(xds, f), 'utf8')])),
      )
    const before = { files: await snapshot(), history: (await readHistory(join(dir, 'state'))).length }
    const envoyBefore = (JSON.parse((await cli('status', '--json')).out) as MeshStatus).envoy
    expect(envoyBefore).toMatchObject({ running: true, inSync: true })
    const good = await readFile(file, 'utf8')

    // Refused by validation: nothing is written, mesh.yaml keeps its text.
    const set = await cli('canary', 'set', 'credit-risk', '20000')
    expect(set.code, set.out + set.err).toBe(1)
    await writeFile(file, good.replace(/weight: \d+/, 'weight: 20000'))
    const applied = await cli('apply')
    expect(applied.code, applied.out + applied.err).toBe(1)
    expect(applied.err).toMatch(/mesh\.yaml:\d+:\d+: routes\[0\]\.canary\.weight: must be 0-10000 \(basis points\)/)
    await writeFile(file, good)

    // Refused by Envoy (a config the validator would never let through): the files Envoy had are put back.
    const mesh2 = await requireMesh(file)
    mesh2.config.gateway.address = 'not-an-ip'
    const refused = await applyMesh(mesh2, { by: 'live-test', action: 'bad apply' })
    expect(refused.status).toBe('refused')

    expect(refused.status === 'refused' && refused.reason).toMatch(
      /Envoy refused the update of listener_manager\.lds: listener gateway: .*not-an-ip/,
    )
    expect(await snapshot()).toEqual(before.files)
    expect((await readHistory(join(dir, 'state'))).length).toBe(before.history)
    // Envoy runs, file by file, the versions it ran before.
    const files = async () =>
      ((JSON.parse((await cli('status', '--json')).out) as MeshStatus).envoy as { files: unknown }).files
    await expect.poll(files, { timeout: 5000 }).toEqual((envoyBefore as { files: unknown }).files)
    expect((await infer('carol')).status).toBe(200)
  })

  it('keeps a history of who applied what, and revert restores a config exactly', async () => {
    const history = await cli('history', '--json')
    const entries = JSON.parse(history.out) as { id: number; by: string; action: string; version: string }[]
    expect(entries.map((e) => e.action)).toEqual([
      'up',
      'canary set credit-risk 5000',
      'apply',
      'canary set credit-risk 100%',
      'canary rollback credit-risk',
      'canary promote credit-risk',
    ])
    expect(new Set(entries.map((e) => e.by))).toEqual(new Set(['live-test']))
    // A line cut short by a crash does not break the history; a broken mesh.yaml does not stop a revert.
    await writeFile(
      join(dir, 'state/history.jsonl'),
      `${await readFile(join(dir, 'state/history.jsonl'), 'utf8')}{"id": 99, "ti`,
    )
    expect(JSON.parse((await cli('history', '--json')).out)).toHaveLength(entries.length)
    await writeFile(file, 'version: 1\nstate_dir: state\nroutes: [oops\n')
    const reverted = await cli('revert', '1')
    expect(reverted.code, reverted.err).toBe(0)
    expect((JSON.parse((await cli('history', '--json')).out) as { id: number; action: string }[]).at(-1)).toMatchObject(
      { id: entries.length + 1, action: 'revert 1' },
    )
    expect(await readFile(file, 'utf8')).toBe(meshYaml(ports))
    const s = JSON.parse((await cli('status', '--json')).out) as MeshStatus
    expect(s.config.version).toBe(entries[0]!.version)
    expect(s.envoy).toMatchObject({ running: true, inSync: true })
    const diff = await cli('diff')
    expect(diff.out).toContain('mesh.yaml is as last applied')
  })

  it('restarts a host that dies, and the fallback pool answers meanwhile', async () => {
    const pid = mesh.supervisor.pid('host-stable')!
    const restartsBefore = mesh.supervisor.restarts('host-stable')
    process.kill(pid, 'SIGKILL')
    await new Promise((r) => setTimeout(r, 50))
    const res = await fetch(`${mesh.gatewayUrl}/v2/models/credit-risk/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mesh-variant-override': 'stable' },
      body: body(0),
    })
    await res.arrayBuffer()
    expect(res.status).toBe(200)
    expect([res.headers.get(H.MODEL_NAME), res.headers.get(H.MODEL_FALLBACK)]).toEqual(['credit-risk-fallback', 'true'])
    await mesh.supervisor.waitHealthy('host-stable', 60_000)
    expect(mesh.supervisor.restarts('host-stable')).toBe(restartsBefore + 1)
    expect(events).toContainEqual(expect.objectContaining({ kind: 'exited', name: 'host-stable', signal: 'SIGKILL' }))
  })
})
