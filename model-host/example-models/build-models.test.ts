import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXAMPLE_MODELS } from '@model-mesh/testkit/host-process'
import { buildModels } from './build-models.ts'
import { baselineSchema } from '@model-mesh/contracts'
import { FEATURE_COUNT, FEATURE_NAMES, generateApplicants } from './dataset.ts'
import { auc } from './mlp.ts'

async function files(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await files(p)))
    else if (e.name !== '.build-stamp') out.push(p)
  }
  return out.sort()
}
const sha = async (f: string) =>
  createHash('sha256')
    .update(await readFile(f))
    .digest('hex')

const session = async (model: string, version = '1') =>
  ort.InferenceSession.create(join(EXAMPLE_MODELS, model, version, 'model.onnx'), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  })

async function pDefault(s: ort.InferenceSession, features: Float32Array): Promise<Float32Array> {
  const rows = features.length / FEATURE_COUNT
  const out = await s.run({ features: new ort.Tensor('float32', features, [rows, FEATURE_COUNT]) })
  const probs = out.probabilities!.data as Float32Array
  for (let i = 0; i < rows; i++) expect(probs[2 * i]! + probs[2 * i + 1]!).toBeCloseTo(1, 5)
  return Float32Array.from({ length: rows }, (_, i) => probs[2 * i + 1]!)
}

describe('example model repository', () => {
  let fresh: string
  beforeAll(async () => {
    fresh = await mkdtemp(join(tmpdir(), 'models-'))
    await buildModels(fresh, () => {})
  }, 120_000)
  afterAll(() => rm(fresh, { recursive: true, force: true }))

  it('builds byte-identical files every time', async () => {
    const a = await files(EXAMPLE_MODELS)
    const b = await files(fresh)
    expect(b.map((f) => relative(fresh, f))).toEqual(a.map((f) => relative(EXAMPLE_MODELS, f)))
    for (let i = 0; i < a.length; i++) expect(await sha(b[i]!), relative(fresh, b[i]!)).toBe(await sha(a[i]!))
  })

  it('lists every file of a version with its sha256', async () => {
    for (const [model, version] of [
      ['credit-risk', '1'],
      ['credit-risk', '2'],
      ['credit-risk-fallback', '1'],
      ['credit-risk-xl', '1'],
    ]) {
      const dir = join(EXAMPLE_MODELS, model!, version!)
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))
      expect(manifest).toMatchObject({ model, version })
      expect(Object.keys(manifest.files).sort()).toEqual(['baseline.json', 'model.onnx', 'preprocessing.json'])
      for (const [f, digest] of Object.entries(manifest.files)) expect(await sha(join(dir, f))).toBe(digest)
    }
  })

  it('ships a baseline (contracts/baseline.ts) of decile bins and percentiles, per feature in input order and for the predictions', async () => {
    const baseline = baselineSchema.parse(
      JSON.parse(await readFile(join(EXAMPLE_MODELS, 'credit-risk', '1', 'baseline.json'), 'utf8')),
    )
    expect(baseline.features.map((f) => f.name)).toEqual([...FEATURE_NAMES])
    const ascending = (xs: number[]) => expect([...xs].sort((x, y) => x - y)).toEqual(xs)
    for (const d of [...baseline.features, baseline.prediction]) {
      ascending(d.quantile_edges)
      ascending(d.percentiles)
      expect(d.percentiles[0]).toBe(d.quantile_edges[0])
      expect(d.percentiles[100]).toBe(d.quantile_edges[10])
      expect(d.bin_fractions.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 9)
    }
    expect(baseline.prediction).toMatchObject({ output: 'probabilities', class_index: 1 })
  })

  it('trains classifiers that beat chance on held-out data, and a fallback that agrees with v1', async () => {
    const test = generateApplicants(2000, 777)
    const v1 = await pDefault(await session('credit-risk', '1'), test.features)
    const v2 = await pDefault(await session('credit-risk', '2'), test.features)
    const fb = await pDefault(await session('credit-risk-fallback'), test.features)
    expect(auc(v1, test.labels)).toBeGreaterThan(0.75)
    expect(auc(v2, test.labels)).toBeGreaterThan(0.75)
    let agree = 0
    for (let i = 0; i < v1.length; i++) if (v1[i]! >= 0.5 === fb[i]! >= 0.5) agree++
    expect(agree / v1.length).toBeGreaterThan(0.9)
  })

  it('gives a row the same bits alone or in a batch of 64 (one intra-op thread)', async () => {
    for (const model of ['credit-risk', 'credit-risk-xl']) {
      const s = await session(model)
      const { features } = generateApplicants(64, 5)
      const batch = new Uint32Array((await pDefault(s, features)).buffer)
      for (const i of [0, 17, 63]) {
        const alone = new Uint32Array(
          (await pDefault(s, features.slice(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT))).buffer,
        )
        expect(alone[0]).toBe(batch[i])
      }
    }
  })

  it('makes the heavy model heavy: about 17 MB of weights', async () => {
    expect((await stat(join(EXAMPLE_MODELS, 'credit-risk-xl', '1', 'model.onnx'))).size).toBeGreaterThan(16_000_000)
  })
})
