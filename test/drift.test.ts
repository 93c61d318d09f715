/**
 * Drift end to end, every part real: the local mesh as `npm start` runs it
 * (Envoy with the mesh filter sampling every request, the model hosts,
 * the agent, nats-server, the collector reading the example repository's
 * baselines). Callers drawn from the training distribution go to stable
 * (v1); callers whose debt-to-income is shifted go to canary (v2). The
 * collector finds v1 as trained, v2 drifted on that one feature, and says
 * "insufficient data" until it has enough.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireMesh, startLocalMesh, type LocalMesh } from '@model-mesh/mesh-config'
import type { VersionDrift } from '@model-mesh/telemetry-collector'
import { applicantRows, eventually, metrics, metricSum } from '@model-mesh/testkit/events'
import { localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { freePorts } from '@model-mesh/testkit/ports'

const ROWS = 260
const MIN_SAMPLES = 200

describe('drift through the local mesh', () => {
  let dir: string
  let mesh: LocalMesh
  const drift = async (): Promise<VersionDrift[]> =>
    (
      (await (await fetch(`${mesh.collectorUrl}/api/v1/drift?model=credit-risk`)).json()) as {
        versions: VersionDrift[]
      }
    ).versions
  const version = (vs: VersionDrift[], v: string) => vs.find((x) => x.version === v)
  /** One OIP request per row, to the variant asked for, a few at a time. */
  const send = async (rows: number[][], variant: 'stable' | 'canary') => {
    let next = 0
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < rows.length) {
          const row = rows[next++]!
          const res = await fetch(`${mesh.gatewayUrl}/v2/models/credit-risk/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-mesh-variant-override': variant },
            body: JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: row }] }),
          })
          expect(res.status).toBe(200)
          await res.arrayBuffer()
        }
      }),
    )
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drift-e2e-'))
    const file = join(dir, 'mesh.yaml')
    const routes = `  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    canary: { version: 2, weight: 0, hosts: [canary], allow_override: true }
    # Every request sampled, so a few hundred requests make a window.
    sampling: { rate_bp: 10000 }
`
    await writeFile(
      file,
      localMeshYaml(portsOf(await freePorts(7)), routes, {
        extra: `quality:\n  drift: { min_samples: ${MIN_SAMPLES} }\n`,
      }),
    )
    mesh = await startLocalMesh(await requireMesh(file), { by: 'drift-test' })
  }, 180_000)
  afterAll(async () => {
    await mesh?.stop()
    if (!process.env.KEEP) await rm(dir, { recursive: true, force: true })
  })

  it('says "insufficient data" below the minimum, then no drift for v1 and drift on the shifted feature alone for v2', async () => {
    const stable = applicantRows(ROWS, 901)
    const shifted = applicantRows(ROWS, 902, { debt_to_income: 0.25 })
    await send(stable.slice(0, 100), 'stable')
    await send(shifted.slice(0, 100), 'canary')
    const early = await eventually(
      drift,
      (vs) => version(vs, '1')?.rows === 100 && version(vs, '2')?.rows === 100,
      30_000,
    )
    expect([version(early, '1')!.status, version(early, '2')!.status]).toEqual([
      'insufficient_data',
      'insufficient_data',
    ])

    await send(stable.slice(100), 'stable')
    await send(shifted.slice(100), 'canary')
    const vs = await eventually(drift, (x) => version(x, '1')?.rows === ROWS && version(x, '2')?.rows === ROWS, 30_000)
    expect(version(vs, '1')).toMatchObject({ status: 'ok', drifting: [] })
    expect(version(vs, '2')).toMatchObject({ status: 'drift', drifting: ['debt_to_income'] })
    // The hosts' real predictions: v2's scores rise with the shifted debt-to-income.
    expect(version(vs, '2')!.prediction!.psi!).toBeGreaterThan(version(vs, '1')!.prediction!.psi!)
    const text = await metrics(mesh.collectorUrl)
    expect(metricSum(text, 'mesh_drift_alert', { model: 'credit-risk', version: '2', feature: 'debt_to_income' })).toBe(
      1,
    )
    expect(metricSum(text, 'mesh_drift_alert', { model: 'credit-risk', version: '1', feature: 'debt_to_income' })).toBe(
      0,
    )
  }, 120_000)
})
