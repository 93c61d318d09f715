/**
 * Canary analysis end to end, every part real: the local mesh (Envoy with
 * the mesh filter, stable, canary and fallback hosts, the agent,
 * nats-server, the collector reading mesh.yaml), traffic from callers, and
 * the verdict `mesh canary status` prints: hold with too little traffic,
 * promote for a canary as good as stable (v2, retrained), rollback once the
 * canary's host is gone and the fallback answers its callers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '@model-mesh/mesh-config/cli'
import { requireMesh, startLocalMesh, type LocalMesh } from '@model-mesh/mesh-config'
import { applicantRows, eventually } from '@model-mesh/testkit/events'
import { canaryRouteYaml, localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { freePorts } from '@model-mesh/testkit/ports'

interface Analysis {
  verdict: string
  reasons: string[]
  checks: { name: string; result: string }[]
  stable: { requests: number; sampled_predictions: number }
  canary: { requests: number; fallbacks: number; sampled_predictions: number }
}

describe('canary analysis through the local mesh', () => {
  let dir: string
  let file: string
  let mesh: LocalMesh
  const rows = applicantRows(1000, 1201)
  let sent = 0
  const analysis = async (): Promise<Analysis> =>
    (await (await fetch(`${mesh.collectorUrl}/api/v1/canary/credit-risk`)).json()) as Analysis
  /** `n` callers, one request each (half land on canary: weight 5000, sticky by x-user-id); the statuses they got. */
  const send = async (n: number) => {
    const statuses: number[] = []
    const start = sent
    sent += n
    let next = start
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < start + n) {
          const i = next++
          const res = await fetch(`${mesh.gatewayUrl}/v2/models/credit-risk/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-user-id': `caller-${i}` },
            body: JSON.stringify({
              inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: rows[i % rows.length] }],
            }),
          })
          statuses.push(res.status)
          await res.arrayBuffer()
        }
      }),
    )
    return statuses
  }
  const status = async () => {
    const out: string[] = []
    const code = await run(['canary', 'status', 'credit-risk', '--config', file], {
      out: (t) => void out.push(t),
      err: (t) => void out.push(t),
    })
    return { code, text: out.join('') }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'canary-e2e-'))
    file = join(dir, 'mesh.yaml')
    // Latency is not what these tests judge: a loaded test machine's p99 swings by tens of milliseconds.
    const routes = canaryRouteYaml(5000, 'interval_s: 60, min_requests: 100, min_samples: 80, p99_slack_ms: 50')
    await writeFile(file, localMeshYaml(portsOf(await freePorts(7)), routes))
    mesh = await startLocalMesh(await requireMesh(file), { by: 'canary-test' })
  }, 180_000)
  afterAll(async () => {
    await mesh?.stop()
    if (!process.env.KEEP) await rm(dir, { recursive: true, force: true })
  })

  it('holds with too little traffic, saying how many requests each variant served', async () => {
    expect(new Set(await send(30))).toEqual(new Set([200]))
    await eventually(analysis, (a) => a.stable.requests + a.canary.requests === 30)
    const { code, text } = await status()
    expect(code).toBe(0)
    expect(text).toMatch(/^route credit-risk: canary v2 \(weight 5000\) against stable v1, last 60 s: HOLD$/m)
    expect(text).toMatch(/canary served \d+ and stable \d+ requests in 60 s; each needs 100/)
  })

  it('promotes a canary as good as stable, every check passing', async () => {
    expect(new Set(await send(470))).toEqual(new Set([200]))
    const a = await eventually(
      analysis,
      (x) =>
        x.stable.requests + x.canary.requests === 500 &&
        x.canary.sampled_predictions + x.stable.sampled_predictions === 500,
      30_000,
    )
    expect(a.checks.filter((c) => c.result !== 'pass')).toEqual([])
    expect(a.verdict).toBe('promote')
    expect((await status()).text).toContain('last 60 s: PROMOTE')
  })

  it('rolls back once the canary host is gone and the fallback answers its callers (every one), naming the fallback rate', async () => {
    await mesh.supervisor.stopChild('host-canary')
    // Every caller is answered: the canary's, by the fallback pool (a retry each until the health checks see the host gone).
    expect(new Set(await send(300))).toEqual(new Set([200]))
    const a = await eventually(analysis, (x) => x.stable.requests + x.canary.requests === 800, 30_000)
    expect(a.canary.fallbacks).toBeGreaterThan(30)
    expect(a.verdict).toBe('rollback')
    expect(a.reasons.join('\n')).toMatch(/^fallback rate [\d.]+% against stable's 0% \(at most 1%\)$/m)
    const { text } = await status()
    expect(text).toContain('last 60 s: ROLLBACK')
    expect(text).toMatch(/FAIL\s+fallback_rate/)
  }, 60_000)
})
