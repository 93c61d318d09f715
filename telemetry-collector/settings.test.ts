/**
 * The collector's label policy from mesh.yaml: the routes, host instances
 * and model versions it names are labels; anything else an event says is `other`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { loadMeshFile, parseMesh } from '@model-mesh/mesh-config'
import { LabelPolicy, OTHER } from './state/aggregator.ts'
import { collectorOptionsOf, knownLabelsOf } from './settings.ts'

describe('knownLabelsOf and the label policy', () => {
  it('labels what mesh.yaml names and `other` for the rest, whatever an event says', async () => {
    const loaded = await loadMeshFile(join(import.meta.dirname, '../mesh.yaml'))
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues))
    const known = knownLabelsOf(loaded.mesh)
    const p = new LabelPolicy({ models: ['credit-risk', 'credit-risk-fallback'], ...known })
    expect(p.route('credit-risk')).toBe('credit-risk')
    expect(p.route('')).toBe('')
    for (const r of ['credit-risk-2', 'constructor', '__proto__', 'x'.repeat(300)]) expect(p.route(r)).toBe(OTHER)
    for (const h of ['stable', 'canary', 'fallback', '127.0.0.1:8001', '127.0.0.1:8003']) expect(p.hostName(h)).toBe(h)
    for (const h of ['127.0.0.1:9999', 'toString', 'evil']) expect(p.hostName(h)).toBe(OTHER)
    // Versions its routes name and its repository holds; a model it does not know has none.
    expect(['1', '2', '3', '4', '1/../2'].map((v) => p.version('credit-risk', v))).toEqual([
      '1',
      '2',
      '3',
      OTHER,
      OTHER,
    ])
    expect(p.version('credit-risk-fallback', '1')).toBe('1')
    expect(p.version(OTHER, '1')).toBe(OTHER)
    expect(p.knownVersion('credit-risk', '2')).toBe(true)
    expect(p.knownVersion('credit-risk', '../x')).toBe(false)
    expect(p.knownVersion('../../etc', '1')).toBe(false)
    expect(['queue_full', 'fallback_role', 'constructor', 'made-up'].map((r) => p.reason(r))).toEqual([
      'queue_full',
      'fallback_role',
      OTHER,
      OTHER,
    ])
  })

  it("knows a host of several instances by each instance's name and by its own (every Kubernetes pod of it reports so)", async () => {
    const file = join(import.meta.dirname, '../mesh.yaml')
    const text = readFileSync(file, 'utf8').replace(
      '{ name: stable, port: 8001 }',
      '{ name: stable, port: 8001, instances: 2 }',
    )
    const loaded = await parseMesh(text.replace('{ name: canary, port: 8002 }', '{ name: canary, port: 8012 }'), file)
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues))
    const p = new LabelPolicy({ models: ['credit-risk'], ...knownLabelsOf(loaded.mesh) })
    for (const h of ['stable-1', 'stable-2', 'stable', 'canary']) expect(p.hostName(h)).toBe(h)
    expect(p.hostName('stable-3')).toBe(OTHER)
  })

  it('a version added to the repository while the collector runs gets its label (after a fresh listing)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labels-'))
    try {
      const loaded = await loadMeshFile(join(import.meta.dirname, '../mesh.yaml'))
      if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues))
      mkdirSync(join(dir, 'credit-risk', '1'), { recursive: true })
      const versions = knownLabelsOf({ ...loaded.mesh, repositoryDir: dir }).versions!
      expect([...versions('credit-risk')].sort()).toEqual(['1', '2'])
      mkdirSync(join(dir, 'credit-risk', '5'))
      vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 11_000)
      try {
        expect([...versions('credit-risk')].sort()).toEqual(['1', '2', '5'])
      } finally {
        vi.restoreAllMocks()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a route added to mesh.yaml while the collector runs is labelled after a reload', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labels-'))
    try {
      const source = join(import.meta.dirname, '../mesh.yaml')
      const file = join(dir, 'mesh.yaml')
      const yaml = readFileSync(source, 'utf8').replace(
        'repository: models',
        `repository: ${join(import.meta.dirname, '../models')}`,
      )
      writeFileSync(file, yaml)
      const loaded = await loadMeshFile(file)
      if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues))
      const opts = collectorOptionsOf(loaded.mesh)
      const p = new LabelPolicy({ models: opts.models, ...opts.labels })
      expect(p.route('credit-risk-b')).toBe(OTHER)
      writeFileSync(file, yaml.replace('  - name: credit-risk\n', '  - name: credit-risk-b\n'))
      p.update((await opts.reloadLabels!())!)
      expect(p.route('credit-risk-b')).toBe('credit-risk-b')
      expect(p.route('credit-risk')).toBe(OTHER)
      // A file that no longer loads keeps the last lists.
      writeFileSync(file, 'version: [')
      expect(await opts.reloadLabels!()).toBeNull()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
