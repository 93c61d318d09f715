/**
 * `mesh up`, the command behind `npm start`, as a user runs it: a process
 * that brings the mesh up, prints where it is, serves, and on Ctrl-C
 * (SIGINT) stops every child it started.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { headers as H } from '@model-mesh/contracts'
import { freeConsecutivePorts, freePorts } from '@model-mesh/testkit/ports'
import { ROOT } from '../src/local-mesh.ts'
import { alive } from '@model-mesh/testkit/process'

describe('mesh up', () => {
  let dir = ''
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('brings the mesh up, prints the gateway, a working curl and the collector, and stops everything on SIGINT', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mesh-up-'))
    // Two instances of the stable host listen on consecutive ports, apart from the others.
    const stable = await freeConsecutivePorts(2)
    let others = await freePorts(7)
    while (others.some((p) => p === stable || p === stable + 1)) others = await freePorts(7)
    const [gateway, admin, fallback, nats, agent, collector, dashboard] = others
    const file = join(dir, 'mesh.yaml')
    await writeFile(
      file,
      `version: 1
gateway: { port: ${gateway}, admin_port: ${admin}, workers: 1 }
repository: ${join(ROOT, 'models')}
hosts:
  - { name: stable, port: ${stable}, instances: 2 }
  - { name: fallback, port: ${fallback}, role: fallback }
routes:
  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
telemetry: { nats_url: "nats://127.0.0.1:${nats}", agent: { port: ${agent} }, collector: { port: ${collector}, dashboard: { port: ${dashboard} } } }
`,
    )
    const child = spawn(process.execPath, [join(ROOT, 'bin/mesh.mjs'), 'up', file], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    try {
      const deadline = Date.now() + 120_000
      while (!out.includes('The mesh is up')) {
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(`mesh up did not come up:\n${out}\n${err}`)
        await new Promise((r) => setTimeout(r, 100))
      }
      expect(out).toContain(`Gateway: http://127.0.0.1:${gateway}`)
      expect(out).toContain(`Envoy admin:  http://127.0.0.1:${admin}`)
      for (const name of [
        'nats',
        'telemetry-collector',
        'telemetry-agent',
        'host-stable-1',
        'host-stable-2',
        'host-fallback',
        'envoy',
      ])
        expect(err).toContain(`[mesh] ${name} is up`)

      // The printed collector URL serves: healthy, with metrics.
      const collectorUrl = /^Collector:\s+(http:\/\/\S+)/m.exec(out)?.[1]
      expect(collectorUrl).toBe(`http://127.0.0.1:${collector}`)
      expect((await fetch(`${collectorUrl}/healthz`)).status).toBe(200)
      const metrics = await fetch(`${collectorUrl}/metrics`)
      expect(metrics.status).toBe(200)
      await metrics.arrayBuffer()

      // The printed dashboard serves its page, and the token file it names holds the token that writes need.
      const [, dashboardUrl, tokenFile] =
        /^Dashboard:\s+(http:\/\/\S+)\s+\(changes need the operator token in (\S+)\)/m.exec(out) ?? []
      expect(dashboardUrl).toBe(`http://127.0.0.1:${dashboard}`)
      const page = await fetch(dashboardUrl!)
      expect(page.status).toBe(200)
      expect(await page.text()).toContain('/assets/app.js')
      const token = (await readFile(tokenFile!, 'utf8')).trim()
      expect(token.length).toBeGreaterThanOrEqual(16)
      const session = await fetch(`${dashboardUrl}/api/v1/session`, { headers: { authorization: `Bearer ${token}` } })
      expect(await session.json()).toEqual({ writable: true, operator: true })

      // The printed curl, run as printed (from the repository root).
      const curl = /^\s+(curl .*)$/m.exec(out)![1]!
      const headers = new Map<string, string>()
      const args = [...curl.matchAll(/-H '([^:]+): ([^']*)'/g)]
      for (const [, k, v] of args) headers.set(k!, v!)
      const url = /curl -s (\S+)/.exec(curl)![1]!
      const bodyFile = /-d @(\S+)/.exec(curl)![1]!
      const res = await fetch(url, {
        method: 'POST',
        headers: Object.fromEntries(headers),
        body: await readFile(join(ROOT, bodyFile)),
      })
      expect(res.status).toBe(200)
      expect(res.headers.get(H.MODEL_VERSION)).toBe('1')
      expect(((await res.json()) as { outputs: { name: string }[] }).outputs[0]!.name).toBe('probabilities')

      // Each host loads what its routes need: the stable hosts credit-risk (its three versions) and its fallback, not credit-risk-xl.
      const index = (await fetch(`http://127.0.0.1:${stable}/v2/repository/index`, { method: 'POST' }).then((r) =>
        r.json(),
      )) as { name: string; state: string }[]
      expect(index.filter((m) => m.state === 'READY').map((m) => m.name)).toEqual([
        'credit-risk',
        'credit-risk',
        'credit-risk',
        'credit-risk-fallback',
      ])

      const pids = [...err.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))
      expect(pids, err).toHaveLength(7)
      child.kill('SIGINT')
      expect(await exited).toBe(0)
      expect(err).toContain('[mesh] stopped')
      // Every child is gone: nothing listens on the mesh's ports any more.
      for (const port of [gateway, stable, stable + 1, fallback, nats, agent, collector]) {
        await expect(
          fetch(`http://127.0.0.1:${port}/`).then(
            () => 'open',
            () => 'closed',
          ),
        ).resolves.toBe('closed')
      }
      for (const pid of pids) expect(alive(pid)).toBe(false)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  }, 180_000)
})
