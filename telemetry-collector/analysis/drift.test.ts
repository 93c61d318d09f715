/**
 * Drift against the example model's real baseline (models/credit-risk/1,
 * built by setup): traffic drawn from the training distribution raises no
 * drift; a shifted feature raises drift on that feature and no other; too
 * few samples give "insufficient data", never a verdict. Then the monitor
 * on sample events as the payload sampler writes them.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { binOf, type PayloadSampleEvent } from '@model-mesh/contracts'
import { FEATURE_NAMES } from '@model-mesh/model-host'
import { EXAMPLE_MODELS } from '@model-mesh/testkit/host-process'
import { DEFAULT_DRIFT_THRESHOLDS, distributionDrift, ksPValue, ksStatistic, psi } from './drift.ts'
import { applicantRows, sampleEvent } from '@model-mesh/testkit/events'
import { DEFAULT_DRIFT_SETTINGS, DriftMonitor } from './drift-monitor.ts'

const monitor = () => new DriftMonitor(EXAMPLE_MODELS)
const baseline = (() => {
  const b = monitor().baseline('credit-risk', '1')
  if (!('baseline' in b)) throw new Error(b.error)
  return b.baseline
})()

const rows = applicantRows
const column = (rs: number[][], j: number) => rs.map((r) => r[j]!)

describe('drift statistics against the credit-risk baseline', () => {
  it('finds no drift in traffic drawn from the training distribution, on any feature, for several draws', () => {
    for (const seed of [11, 12, 13]) {
      const draw = rows(1000, seed)
      const verdicts = baseline.features.map((f, j) =>
        distributionDrift(f, baseline.rows, column(draw, j), DEFAULT_DRIFT_THRESHOLDS),
      )
      expect(verdicts.map((v) => v.verdict)).toEqual(baseline.features.map(() => 'ok'))
      for (const v of verdicts) expect(v.psi!).toBeLessThan(0.05)
    }
  })

  it('finds drift on a shifted feature and on no other', () => {
    const draw = rows(1000, 21, { debt_to_income: 0.25 })
    const verdicts = baseline.features.map((f, j) => ({
      feature: f.name,
      ...distributionDrift(f, baseline.rows, column(draw, j), DEFAULT_DRIFT_THRESHOLDS),
    }))
    expect(verdicts.filter((v) => v.verdict === 'drift').map((v) => v.feature)).toEqual(['debt_to_income'])
    const dti = verdicts.find((v) => v.feature === 'debt_to_income')!
    expect(dti.psi!).toBeGreaterThan(1)
    expect(dti.ksStatistic!).toBeGreaterThan(0.5)
    expect(dti.ksPValue!).toBeLessThan(1e-6)
  })

  it('gives "insufficient data" below the minimum sample, with no numbers, however shifted', () => {
    const few = rows(DEFAULT_DRIFT_THRESHOLDS.minSamples - 1, 31, { age: 30 })
    const v = distributionDrift(baseline.features[0]!, baseline.rows, column(few, 0), DEFAULT_DRIFT_THRESHOLDS)
    // The histogram shows what there is; it is no verdict.
    expect(v).toEqual({
      samples: DEFAULT_DRIFT_THRESHOLDS.minSamples - 1,
      psi: null,
      ksStatistic: null,
      ksPValue: null,
      verdict: 'insufficient_data',
      histogram: {
        edges: baseline.features[0]!.quantile_edges,
        baseline: baseline.features[0]!.bin_fractions,
        current: expect.any(Array),
      },
    })
    expect(
      distributionDrift(baseline.features[0]!, baseline.rows, [NaN], DEFAULT_DRIFT_THRESHOLDS).histogram,
    ).toBeNull()
    // NaN and infinities are not values: they cannot make up the count.
    const padded = [...column(few, 0), NaN, Infinity, -Infinity]
    expect(distributionDrift(baseline.features[0]!, baseline.rows, padded, DEFAULT_DRIFT_THRESHOLDS).verdict).toBe(
      'insufficient_data',
    )
  })

  it("gives the histogram: the baseline's decile edges and shares, and the sample's share in each bin, from the counts PSI reads", () => {
    const j = FEATURE_NAMES.indexOf('debt_to_income')
    const f = baseline.features[j]!
    const values = column(rows(1000, 22, { debt_to_income: 0.25 }), j)
    const h = distributionDrift(f, baseline.rows, values, DEFAULT_DRIFT_THRESHOLDS).histogram!
    expect(h.edges).toEqual(f.quantile_edges)
    expect(h.edges).toHaveLength(11)
    expect(h.baseline).toEqual(f.bin_fractions)
    expect(h.current).toHaveLength(10)
    expect(h.current.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9)
    // Each share counted as binOf bins: below the second edge is bin 0, at or past the last inner edge the last bin.
    expect(h.current[0]).toBeCloseTo(values.filter((x) => x < f.quantile_edges[1]!).length / values.length, 12)
    expect(h.current[9]).toBeCloseTo(values.filter((x) => x >= f.quantile_edges[9]!).length / values.length, 12)
    // Shifted up by 0.25: the mass has moved to the top bins, away from the baseline's tenth each.
    expect(h.current[9]!).toBeGreaterThan(0.5)
    expect(h.current[0]!).toBeLessThan(0.02)
    // And PSI is the one computed from these shares.
    const expected = f.bin_fractions.reduce((sum, e, i) => {
      const a = Math.max(h.current[i]!, 1e-4)
      const b = Math.max(e, 1e-4)
      return sum + (a - b) * Math.log(a / b)
    }, 0)
    expect(distributionDrift(f, baseline.rows, values, DEFAULT_DRIFT_THRESHOLDS).psi).toBeCloseTo(expected, 12)
    expect(psi(f, values)).toBeCloseTo(expected, 12)
  })

  it('computes PSI and KS as defined: 0 for the baseline itself, KS exact on a discrete feature', () => {
    const f = baseline.features[FEATURE_NAMES.indexOf('loan_term_months')]!
    // The baseline's own percentiles as a sample: KS within a percentile of 0.
    expect(ksStatistic(f, f.percentiles.slice(0, 100))).toBeLessThanOrEqual(0.02)
    // Everyone at 60 months: KS is the baseline's share below 60.
    const below60 = f.percentiles.filter((p) => p < 60).length / 100
    expect(ksStatistic(f, new Array(500).fill(60))).toBeCloseTo(below60, 1)
    const age = baseline.features[0]!
    expect(psi(age, column(rows(5000, 41), 0))).toBeLessThan(0.01)
    expect(ksPValue(0, 100, 10_000)).toBe(1)
    expect(ksPValue(0.2, 500, 10_000)).toBeLessThan(1e-6)
  })
})

const sample = (rs: number[][], o: Partial<PayloadSampleEvent> = {}) => sampleEvent(rs, o)

describe('DriftMonitor', () => {
  it('judges a version from its rate samples: insufficient, then ok, then drift on the shifted feature only', () => {
    const m = monitor()
    const draw = rows(600, 51)
    for (let i = 0; i < 100; i++) m.observe(sample([draw[i]!]))
    expect(m.report()[0]).toMatchObject({
      model: 'credit-risk',
      version: '1',
      status: 'insufficient_data',
      rows: 100,
      drifting: [],
    })
    for (let i = 100; i < 600; i += 2) m.observe(sample([draw[i]!, draw[i + 1]!]))
    const ok = m.report()[0]!
    expect(ok.status).toBe('ok')
    expect(ok.rows).toBe(600)
    expect(ok.meanConfidence).toBeCloseTo(0.8, 9)
    // Every response scored 0.1: far from the baseline's predictions.
    expect(ok.prediction!.verdict).toBe('drift')

    const shifted = monitor()
    for (const r of rows(600, 52, { credit_utilization: 0.4 })) shifted.observe(sample([r]))
    const report = shifted.report()[0]!
    expect(report).toMatchObject({ status: 'drift', drifting: ['credit_utilization'] })
    // Every feature and the predictions carry their histogram; every score was 0.1, so all of them are in 0.1's bin.
    const cu = report.features.find((f) => f.feature === 'credit_utilization')!
    expect(cu.histogram!.edges).toEqual(baseline.features[FEATURE_NAMES.indexOf('credit_utilization')]!.quantile_edges)
    expect(report.features.every((f) => f.histogram !== null && f.histogram.current.length === 10)).toBe(true)
    const scoreBin = binOf(baseline.prediction.quantile_edges, 0.1)
    expect(report.prediction!.histogram!.current.map((x, i) => (i === scoreBin ? x : 0))).toEqual(
      report.prediction!.histogram!.current,
    )
    expect(report.prediction!.histogram!.current[scoreBin]).toBe(1)
  })

  it('leaves out low-confidence samples (rows and confidence: not a fair draw), truncated or non-OIP bodies and rows of another width', () => {
    const m = monitor()
    const [r] = rows(1, 61)
    m.observe(sample([r!], { reason: 'low_confidence', confidence: 0.2 }))
    m.observe(sample([r!], { request_truncated: true }))
    m.observe(
      sample([r!], {
        request: '{"inputs": [{"name": "features", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}',
      }),
    )
    m.observe(sample([r!], { request: 'not json' }))
    m.observe(sample([r!], { reason: 'rate+low_confidence', confidence: 0.3 }))
    const v = m.report()[0]!
    expect(v.rows).toBe(1)
    expect(v.meanConfidence).toBeCloseTo((0.8 + 0.8 + 0.8 + 0.3) / 4, 9)
  })

  it('keeps the window: older samples and rows past max_rows leave it', () => {
    const m = new DriftMonitor(EXAMPLE_MODELS, {
      defaults: { ...DEFAULT_DRIFT_SETTINGS, windowMs: 60_000, maxRows: 300 },
      models: {},
    })
    const draw = rows(400, 71)
    const now = Date.now()
    for (let i = 0; i < 50; i++) m.observe(sample([draw[i]!], { ts: now - 120_000 }))
    for (let i = 50; i < 400; i++) m.observe(sample([draw[i]!], { ts: now }))
    expect(m.report(now)[0]!.rows).toBe(300)
  })

  it('says so when a version ships no baseline', () => {
    const m = monitor()
    m.observe(sample(rows(1, 81), { version: '99' }))
    expect(m.report()[0]).toMatchObject({ version: '99', status: 'no_baseline', rows: 0 })
    expect(m.report()[0]!.baselineError).toMatch(/credit-risk\/99\/baseline.json/)
  })
})

describe('DriftMonitor: baselines read only for known model versions, inside the repository', () => {
  it('looks up no model or version that is a path, nor one the mesh does not know; says what is wrong without quoting the file or its absolute path', () => {
    const repo = mkdtempSync(join(tmpdir(), 'drift-repo-'))
    try {
      mkdirSync(join(repo, 'credit-risk', '3'), { recursive: true })
      writeFileSync(join(repo, 'credit-risk', '3', 'baseline.json'), 'root:x:0:0:root:/root:/bin/bash')
      const known = (model: string, version: string) => model === 'credit-risk' && ['1', '3'].includes(version)
      const m = new DriftMonitor(repo, undefined, known)
      for (const [model, version] of [
        ['../../etc', '1'],
        ['credit-risk', '../x'],
        ['credit-risk', '../../etc/passwd'],
        ['..', '3'],
        ['credit-risk', '2'],
        ['constructor', '1'],
      ] as const) {
        expect(m.baseline(model, version), `${model} ${version}`).toEqual({
          error: 'not a model version mesh.yaml names',
        })
        m.observe(sample(rows(1, 91), { model, version }))
      }
      // None of them has a window either: a client cannot grow them.
      expect(m.report()).toEqual([])
      const broken = m.baseline('credit-risk', '3')
      expect(broken).toEqual({ error: 'credit-risk/3/baseline.json: not valid JSON' })
      expect(m.baseline('credit-risk', '1')).toEqual({ error: 'credit-risk/1/baseline.json: no such file' })
    } finally {
      rmSync(repo, { recursive: true, force: true })
    }
  })
})
