/**
 * Autoscaling in the local mesh, every part real: the heavy example model
 * behind Envoy, its pool autoscaled on queue wait by mesh.yaml's policy. A
 * load step pushes the queue wait over target and the supervisor adds an
 * instance (ready only once loaded and warmed, then announced to Envoy);
 * the load falling back scales it down, Envoy first, with no failed
 * request throughout; the pool never leaves its bounds, and `mesh status`
 * says what was decided and why. Prints the scaling timeline.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '@model-mesh/mesh-config/cli'
import { requireMesh, ROOT, startLocalMesh, type LocalMesh } from '@model-mesh/mesh-config'
import { sampleRows } from '@model-mesh/model-host'
import { jsonInfer } from '@model-mesh/testkit/client'
import { freeConsecutivePorts, freePorts } from '@model-mesh/testkit/ports'

const XL = 'credit-risk-xl'
const UP_WINDOW_S = 2
const DOWN_WINDOW_S = 4
/** Rows a request carries: the model's work, not the HTTP around it, is what the pool runs out of. */
const ROWS = 32
const TARGET_MS = 10

interface Sample {
  at: number
  ms: number
  status: number
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN
}

describe('autoscaling a pool on its queue wait', () => {
  let dir: string
  let file: string
  let mesh: LocalMesh
  const lines: string[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'autoscale-'))
    file = join(dir, 'mesh.yaml')
    const [gateway, nats, agent, collector, dashboard] = await freePorts(5)
    const xl = await freeConsecutivePorts(2)
    await writeFile(
      file,
      `version: 1
gateway: { port: ${gateway}, admin_port: 0, workers: 2 }
repository: ${join(ROOT, 'models')}
state_dir: state
hosts:
  - name: xl
    port: ${xl}
    models: [${XL}]
    autoscale: { min: 1, max: 2, signal: queue_wait, target: ${TARGET_MS}, up_window_s: ${UP_WINDOW_S}, down_window_s: ${DOWN_WINDOW_S} }
routes:
  - name: xl
    match: { model: ${XL} }
    model: ${XL}
    stable: { version: 1, hosts: [xl] }
    timeout_ms: 10000
telemetry:
  nats_url: nats://127.0.0.1:${nats}
  agent: { port: ${agent} }
  collector: { port: ${collector}, dashboard: { port: ${dashboard} } }
`,
    )
    mesh = await startLocalMesh(await requireMesh(file), { by: 'autoscale-test', log: (l) => void lines.push(l) })
  }, 180_000)

  afterAll(async () => {
    await mesh?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('scales up on a load step within the window, then down when it passes, with no failed request and within its bounds', async () => {
    const pool = () => mesh.autoscaler.status()[0]!
    const endpoints = async () => {
      const text = await (await fetch(`${mesh.adminUrl}/clusters`)).text()
      return new Set(
        text
          .split('\n')
          .filter((l) => l.startsWith('xl.stable::') && l.includes('::health_flags::'))
          .map((l) => l.split('::')[1]),
      ).size
    }
    expect(pool()).toMatchObject({ replicas: 1, min: 1, max: 2 })
    expect(await endpoints()).toBe(1)

    // Callers: `concurrency` of them, each sending one request after another, until told to stop.
    const samples: Sample[] = []
    let concurrency = 16
    let stopped = false
    const rows = sampleRows(64, 77)
    const batchOf = (k: number) => Array.from({ length: ROWS }, (_, j) => rows[(k + j) % rows.length]!)
    const caller = async (k: number) => {
      for (let i = 0; !stopped; i++) {
        if (k >= concurrency) {
          await new Promise((r) => setTimeout(r, 20))
          continue
        }
        const t = performance.now()
        const res = await fetch(`${mesh.gatewayUrl}/v2/models/${XL}/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(jsonInfer(batchOf(k + i))),
        }).catch(() => null)
        await res?.arrayBuffer()
        samples.push({ at: Date.now(), ms: performance.now() - t, status: res?.status ?? 0 })
      }
    }
    // The bounds, watched all along.
    let most = 0
    const watch = setInterval(() => (most = Math.max(most, pool().replicas)), 100)
    const callers = Array.from({ length: 16 }, (_, k) => caller(k))
    try {
      const loadAt = Date.now()
      // Done once Envoy runs with the new instance: the decision is recorded then.
      await expect.poll(() => pool().last?.to, { timeout: (UP_WINDOW_S + 20) * 1000, interval: 100 }).toBe(2)
      const upAt = pool().last!.at
      expect(await endpoints()).toBe(2)
      // The load goes on over two instances for a while, then falls back to a trickle that still flows while one goes.
      await new Promise((r) => setTimeout(r, 6000))
      const fellAt = Date.now()
      concurrency = 1
      // Done once the instance has drained and stopped: the decision is recorded then.
      await expect.poll(() => pool().last?.to, { timeout: (DOWN_WINDOW_S + 20) * 1000, interval: 100 }).toBe(1)
      const downAt = pool().last!.at
      expect(await endpoints()).toBe(1)
      await new Promise((r) => setTimeout(r, 1000))
      stopped = true
      await Promise.all(callers)

      const failed = samples.filter((s) => s.status !== 200)
      expect(failed).toEqual([])
      expect(most).toBe(2)
      const before = samples.filter((s) => s.at >= loadAt && s.at < upAt).map((s) => s.ms)
      const after = samples.filter((s) => s.at >= upAt + 2000 && s.at < fellAt).map((s) => s.ms)
      const timeline = `[autoscale] load step at 0 s; ${lines.find((l) => l.includes('1 -> 2'))}; 2 instances at ${((upAt - loadAt) / 1000).toFixed(1)} s (p99 ${quantile(before, 0.99).toFixed(0)} ms before over ${before.length} requests, ${quantile(after, 0.99).toFixed(0)} ms after over ${after.length}); load fell at ${((fellAt - loadAt) / 1000).toFixed(1)} s; 1 instance at ${((downAt - loadAt) / 1000).toFixed(1)} s; ${samples.length} requests, ${failed.length} failed`
      process.stderr.write(`${timeline}\n`)
      // Up within the window and 10 s (the new instance loads and warms in that time). Down after its window, once the
      // signal's own 5 s of batches have passed and the instance has drained (2 s at least): within 20 s of it.
      expect(upAt - loadAt).toBeLessThanOrEqual((UP_WINDOW_S + 10) * 1000)
      expect(downAt - fellAt).toBeLessThanOrEqual((DOWN_WINDOW_S + 20) * 1000)
      expect(pool().last).toMatchObject({ from: 2, to: 1 })
      expect(
        lines.some((l) =>
          /xl 1 -> 2 replicas: queue wait [\d.]+ ms against a target of 10 ms, over it for 2 s/.test(l),
        ),
      ).toBe(true)
    } finally {
      stopped = true
      clearInterval(watch)
      await Promise.all(callers)
    }

    // mesh status and the dashboard's route view say it too.
    const out: string[] = []
    await run(['status', file], { out: (t) => void out.push(t), err: (t) => void out.push(t) })
    expect(out.join('')).toMatch(
      /scale {4}xl: 1 replicas \(1-2\), .* against a target of 10; last 2 -> 1 at .*: queue wait/,
    )
    const view = (await (await fetch(`${mesh.dashboardUrl}/api/v1/dashboard/routes/xl`)).json()) as {
      autoscale: {
        host: string
        replicas: number
        target: number
        last: { from: number; to: number; reason: string }
      }[]
    }
    expect(view.autoscale).toMatchObject([{ host: 'xl', replicas: 1, target: 10, last: { from: 2, to: 1 } }])
    expect(view.autoscale[0]!.last.reason).toMatch(/^queue wait [\d.]+ ms against a target of 10 ms, under it for 4 s$/)
  }, 120_000)
})
