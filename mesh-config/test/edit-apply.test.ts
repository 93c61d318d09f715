/**
 * mesh-config's one way to change mesh.yaml (the CLI's canary edits, the
 * dashboard's, a canary walk's): an edit made from text the file no longer
 * holds is refused, so two editors can never apply one change and write
 * another. No Envoy runs here: an apply writes the files Envoy would read.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canaryRouteYaml, localMeshYaml } from '@model-mesh/testkit/mesh-yaml'
import { applyMeshText } from '../src/edit-apply.ts'
import { rollbackCanary, setCanaryWeight } from '../src/edit.ts'
import { readHistory } from '../src/state.ts'

describe('applyMeshText with the text an edit was made from', () => {
  let dir: string
  let file: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edit-apply-'))
    file = join(dir, 'mesh.yaml')
    await writeFile(
      file,
      localMeshYaml(
        { gateway: 18080, stable: 18001, canary: 18002, fallback: 18003, nats: 14222, agent: 14195, collector: 14196 },
        canaryRouteYaml(2500, 'interval_s: 60'),
      ),
    )
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('applies one of two edits made from the same text at once, refuses the other, and the file holds the one applied', async () => {
    const base = await readFile(file, 'utf8')
    const a = setCanaryWeight(base, 'credit-risk', 5000)
    const b = rollbackCanary(base, 'credit-risk')
    const before = (await readHistory(join(dir, 'state'))).length
    const outcomes = await Promise.all([
      applyMeshText(file, a, 'canary set credit-risk 5000', 'alice', base),
      applyMeshText(file, b, 'canary rollback credit-risk', 'bob', base),
    ])
    expect(outcomes.map((o) => o.status).sort()).toEqual(['applied', 'conflict'])
    const won = outcomes[0]!.status === 'applied' ? a : b
    expect(await readFile(file, 'utf8')).toBe(won)
    const history = await readHistory(join(dir, 'state'))
    expect(history.length).toBe(before + 1)
    expect(history.at(-1)!.action).toBe(won === a ? 'canary set credit-risk 5000' : 'canary rollback credit-risk')
    const lost = outcomes.find((o) => o.status === 'conflict')!
    expect(lost.status === 'conflict' && lost.reason).toMatch(
      /mesh\.yaml changed while "canary (set|rollback) credit-risk.*" was being made/,
    )
  })

  it('refuses an edit of an older text, leaving the file and the history as they were', async () => {
    const old = await readFile(file, 'utf8')
    expect(
      (
        await applyMeshText(
          file,
          setCanaryWeight(old, 'credit-risk', 1000),
          'canary set credit-risk 1000',
          'carol',
          old,
        )
      ).status,
    ).toBe('applied')
    const now = await readFile(file, 'utf8')
    const entries = (await readHistory(join(dir, 'state'))).length
    expect(
      (await applyMeshText(file, setCanaryWeight(old, 'credit-risk', 9000), 'canary set credit-risk 9000', 'dave', old))
        .status,
    ).toBe('conflict')
    expect(await readFile(file, 'utf8')).toBe(now)
    expect((await readHistory(join(dir, 'state'))).length).toBe(entries)
    // Without a base (mesh apply: the file as it is), there is nothing to conflict with.
    expect((await applyMeshText(file, now, 'apply', 'erin')).status).toBe('unchanged')
  })
})
