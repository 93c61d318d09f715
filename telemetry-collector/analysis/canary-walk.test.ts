/**
 * The canary walk's decisions, against a real mesh.yaml changed through
 * mesh-config's validated path (apply writes the rendered files; no Envoy
 * runs here), with the analysis' verdicts chosen by the test: steps on
 * promote once a step has lasted, promotion at the end, rollback after the
 * failure threshold, hold in place, and a manual change winning.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parseDocument } from 'yaml'
import { applyMeshText, promoteCanary, setCanaryWeight } from '@model-mesh/mesh-config'
import { localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import type { CanaryJudgement, Verdict } from './canary-analysis.ts'
import type { CanaryAnalysis } from './canary-stats.ts'
import { CanaryWalker, type Walk, type WalkEvent } from './canary-walk.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function setup(analysis: string) {
  const dir = await mkdtemp(join(tmpdir(), 'walk-'))
  dirs.push(dir)
  const file = join(dir, 'mesh.yaml')
  const routes = `  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    canary: { version: 2, weight: 0, hosts: [canary], analysis: { mode: auto, ${analysis} } }
`
  await writeFile(file, localMeshYaml(portsOf([18080, 18001, 18002, 18003, 14222, 14195, 14196]), routes))
  let verdict: Verdict = 'promote'
  const events: WalkEvent[] = []
  const walks = new Map<string, Walk>()
  const walker = new CanaryWalker({
    meshFile: file,
    analyse: () =>
      ({ verdict, reasons: [`the test says ${verdict}`], checks: [] }) as CanaryJudgement as CanaryAnalysis,
    walks: {
      load: async () => [...walks.values()],
      save: async (w, e) => {
        walks.set(w.route, structuredClone(w))
        events.push(e)
      },
      events: async () => events,
    },
    log: () => {},
  })
  const canary = async () => {
    const doc = parseDocument(await readFile(file, 'utf8'))
    return {
      stable: String(doc.getIn(['routes', 0, 'stable', 'version'])),
      version: String(doc.getIn(['routes', 0, 'canary', 'version'])),
      weight: Number(doc.getIn(['routes', 0, 'canary', 'weight'])),
    }
  }
  return { file, walker, events, canary, say: (v: Verdict) => void (verdict = v) }
}

describe('CanaryWalker', () => {
  it('walks through the steps on promote verdicts, each step lasting its interval, then promotes', async () => {
    const t = await setup('steps: [1000, 5000], step_interval_s: 10, check_interval_s: 1')
    await t.walker.tick(0)
    expect(await t.canary()).toEqual({ stable: '1', version: '2', weight: 1000 })
    await t.walker.tick(5_000)
    // Promote, but the step has lasted 5 s of its 10: no move.
    expect((await t.canary()).weight).toBe(1000)
    await t.walker.tick(10_000)
    expect((await t.canary()).weight).toBe(5000)
    await t.walker.tick(20_000)
    expect(await t.canary()).toEqual({ stable: '2', version: '2', weight: 0 })
    expect(t.events.map((e) => [e.action, e.weight])).toEqual([
      ['start', 1000],
      ['verdict', 1000],
      ['step', 5000],
      ['promote', 0],
    ])
    expect((await t.walker.walkOf('credit-risk'))!.status).toBe('promoted')
    // A promoted canary (now the stable version) starts nothing more.
    await t.walker.tick(30_000)
    expect(t.events).toHaveLength(4)
  })

  it('holds in place while the analysis holds, and rolls back after failure_threshold failed checks in a row', async () => {
    const t = await setup('steps: [1000, 5000], step_interval_s: 1, check_interval_s: 1, failure_threshold: 2')
    await t.walker.tick(0)
    t.say('hold')
    await t.walker.tick(5_000)
    await t.walker.tick(10_000)
    expect((await t.canary()).weight).toBe(1000)
    t.say('rollback')
    await t.walker.tick(11_000)
    expect((await t.canary()).weight).toBe(1000)
    await t.walker.tick(12_000)
    expect(await t.canary()).toEqual({ stable: '1', version: '2', weight: 0 })
    expect(t.events.map((e) => [e.action, e.verdict])).toEqual([
      ['start', null],
      ['verdict', 'hold'],
      ['verdict', 'rollback'],
      ['rollback', 'rollback'],
    ])
    expect(t.events.at(-1)!.reasons).toEqual(['the test says rollback'])
    // Rolled back stays rolled back: the same canary version is not walked again.
    t.say('promote')
    await t.walker.tick(20_000)
    expect((await t.canary()).weight).toBe(0)
  })

  it('stops when a manual change takes over, and says so', async () => {
    const t = await setup('steps: [1000, 5000], step_interval_s: 1, check_interval_s: 1')
    await t.walker.tick(0)
    const text = await readFile(t.file, 'utf8')
    expect(
      (
        await applyMeshText(
          t.file,
          setCanaryWeight(text, 'credit-risk', 1234),
          'canary set credit-risk 1234',
          'operator',
        )
      ).status,
    ).toBe('applied')
    await t.walker.tick(5_000)
    expect((await t.canary()).weight).toBe(1234)
    const last = t.events.at(-1)!
    expect(last.action).toBe('overridden')
    expect(last.reasons[0]).toMatch(
      /^a manual change took over \(weight 1234, stable v1; the walk had set weight 1000\): the walk stopped$/,
    )
    await t.walker.tick(10_000)
    expect((await t.canary()).weight).toBe(1234)
  })

  it('ends as overridden when someone promotes the canary (or changes its version) by hand, never to pick it up again', async () => {
    const t = await setup('steps: [1000, 5000], step_interval_s: 1, check_interval_s: 1')
    await t.walker.tick(0)
    const text = await readFile(t.file, 'utf8')
    expect(
      (await applyMeshText(t.file, promoteCanary(text, 'credit-risk').text, 'canary promote credit-risk', 'operator'))
        .status,
    ).toBe('applied')
    await t.walker.tick(5_000)
    expect(t.events.at(-1)).toMatchObject({
      action: 'overridden',
      reasons: ['a manual change took over (canary v2, stable v2): the walk stopped'],
    })
    expect((await t.walker.walkOf('credit-risk'))!.status).toBe('overridden')
    expect(await t.canary()).toEqual({ stable: '2', version: '2', weight: 0 })
  })
})
