/**
 * The canary verdict: promote only when every check passes with data;
 * rollback when one fails, with the numbers; hold when any lacks data (too
 * few requests or samples, no latency, NaN), never a pass.
 */
import { describe, expect, it } from 'vitest'
import { judgeCanary, type AnalysisSettings, type VariantStats } from './canary-analysis.ts'

const SETTINGS: AnalysisSettings = {
  interval_s: 300,
  min_requests: 200,
  min_samples: 100,
  max_error_rate_increase: 0.01,
  max_p99_ratio: 1.5,
  p99_slack_ms: 10,
  max_fallback_rate_increase: 0.01,
  max_prediction_psi: 0.25,
  max_confidence_drop: 0.05,
}
/** Scores spread like a classifier's: mostly low, a tail of high. */
const scores = (n: number, shift = 0) =>
  Array.from({ length: n }, (_, i) => Math.min(1, ((i * 7919) % n) / n) ** 2 + shift)
const variant = (o: Partial<VariantStats> = {}): VariantStats => ({
  version: '1',
  requests: 1000,
  errors: 2,
  fallbacks: 1,
  p99Ms: 40,
  scores: scores(300),
  meanConfidence: 0.82,
  ...o,
})

describe('judgeCanary', () => {
  it('promotes when every check passes, and says why', () => {
    const j = judgeCanary(variant(), variant({ version: '2', errors: 4, p99Ms: 45 }), SETTINGS)
    expect(j.verdict).toBe('promote')
    expect(j.checks.map((c) => [c.name, c.result])).toEqual([
      ['requests', 'pass'],
      ['error_rate', 'pass'],
      ['p99_latency', 'pass'],
      ['fallback_rate', 'pass'],
      ['prediction_shift', 'pass'],
      ['confidence', 'pass'],
    ])
    expect(j.reasons).toHaveLength(6)
  })

  it('rolls back on a failed check, with the numbers behind it', () => {
    const errors = judgeCanary(variant(), variant({ errors: 40 }), SETTINGS)
    expect(errors.verdict).toBe('rollback')
    expect(errors.reasons).toEqual(["error rate 4% against stable's 0.2% (at most 1.2%)"])
    expect(judgeCanary(variant(), variant({ p99Ms: 90 }), SETTINGS).reasons).toEqual([
      "p99 90 ms against stable's 40 ms (at most 60 ms)",
    ])
    // The slack: 12 ms against 4 ms is 3x, but within 10 ms.
    expect(judgeCanary(variant({ p99Ms: 4 }), variant({ p99Ms: 12 }), SETTINGS).verdict).toBe('promote')
    expect(
      judgeCanary(variant(), variant({ fallbacks: 300 }), SETTINGS).checks.find((c) => c.name === 'fallback_rate'),
    ).toMatchObject({ result: 'fail', stable: 0.001, canary: 0.3 })
    const shifted = judgeCanary(variant(), variant({ scores: scores(300, 0.3) }), SETTINGS)
    expect(shifted.verdict).toBe('rollback')
    expect(shifted.reasons[0]).toMatch(/^canary's predicted scores against stable's: PSI [\d.]+ \(at most 0.25\)$/)
    expect(judgeCanary(variant(), variant({ meanConfidence: 0.7 }), SETTINGS).reasons).toEqual([
      "mean confidence 0.7 against stable's 0.82 (at least 0.77)",
    ])
  })

  it('holds with too few requests, however bad the canary looks, and says how many it has', () => {
    const j = judgeCanary(variant(), variant({ requests: 50, errors: 50 }), SETTINGS)
    expect(j.verdict).toBe('hold')
    expect(j.reasons[0]).toBe('canary served 50 and stable 1000 requests in 300 s; each needs 200')
    expect(j.checks.find((c) => c.name === 'error_rate')!.result).toBe('no_data')
  })

  it('holds on missing data and NaN: no latency, too few samples, no confidence, a NaN score', () => {
    expect(judgeCanary(variant(), variant({ p99Ms: null }), SETTINGS)).toMatchObject({
      verdict: 'hold',
      reasons: ['p99 latency: not enough timed requests'],
    })
    expect(judgeCanary(variant(), variant({ p99Ms: NaN }), SETTINGS).verdict).toBe('hold')
    expect(judgeCanary(variant(), variant({ scores: scores(20) }), SETTINGS).reasons[0]).toMatch(
      /^prediction shift: 20 canary and 300 stable sampled predictions; each needs 100$/,
    )
    expect(judgeCanary(variant({ meanConfidence: null }), variant(), SETTINGS).verdict).toBe('hold')
    expect(judgeCanary(variant(), variant({ meanConfidence: NaN }), SETTINGS).verdict).toBe('hold')
    // NaN scores are not samples: 300 of them make none.
    expect(judgeCanary(variant(), variant({ scores: new Array(300).fill(NaN) }), SETTINGS).verdict).toBe('hold')
  })

  it('a failure outweighs missing data: rollback, naming only what failed', () => {
    const j = judgeCanary(variant(), variant({ errors: 100, p99Ms: null }), SETTINGS)
    expect(j.verdict).toBe('rollback')
    expect(j.reasons).toEqual(["error rate 10% against stable's 0.2% (at most 1.2%)"])
  })
})
