/**
 * @module
 * Canary analysis: a canary against stable over an interval, on request
 * signals (error rate, p99 latency, fallback rate) and on model quality
 * (the canary's predicted scores against stable's, and its confidence).
 * The verdict is rollback when a check fails, hold while any check lacks
 * data (too few requests or samples, no latency, a NaN), promote only when
 * every check passes: missing data is never a pass. Pure; the collector
 * feeds it from its windows (canary-stats.ts).
 */
import { distributionOf } from '@model-mesh/contracts'
import { psi } from './drift.ts'

/** What mesh.yaml's `canary.analysis` says (routes[].canary.analysis). */
export interface AnalysisSettings {
  interval_s: number
  min_requests: number
  min_samples: number
  max_error_rate_increase: number
  max_p99_ratio: number
  p99_slack_ms: number
  max_fallback_rate_increase: number
  max_prediction_psi: number
  max_confidence_drop: number
}

/** One variant over the interval. */
export interface VariantStats {
  version: string
  requests: number
  errors: number
  fallbacks: number
  /** null when no request was timed. */
  p99Ms: number | null
  /** Predicted scores of its rate-sampled responses. */
  scores: number[]
  /** Mean confidence of its rate-sampled responses, null when none said. */
  meanConfidence: number | null
}

export type CheckName = 'requests' | 'error_rate' | 'p99_latency' | 'fallback_rate' | 'prediction_shift' | 'confidence'
export type CheckResult = 'pass' | 'fail' | 'no_data'

export interface Check {
  name: CheckName
  result: CheckResult
  stable: number | null
  canary: number | null
  /** The bound the canary's figure is held to. */
  limit: number | null
  reason: string
}

export type Verdict = 'promote' | 'hold' | 'rollback'

export interface CanaryJudgement {
  verdict: Verdict
  /** The checks that decided it: the failed ones for rollback, those without data for hold, all for promote. */
  reasons: string[]
  checks: Check[]
}

const finite = (x: number | null): x is number => x !== null && Number.isFinite(x)
const pct = (x: number) => `${+(x * 100).toPrecision(3)}%`
const num = (x: number) => `${+x.toPrecision(4)}`

function check(
  name: CheckName,
  stable: number | null,
  canary: number | null,
  limit: number | null,
  fails: (c: number, l: number) => boolean,
  say: (r: CheckResult) => string,
): Check {
  const result: CheckResult =
    !finite(stable) || !finite(canary) || !finite(limit) ? 'no_data' : fails(canary, limit) ? 'fail' : 'pass'
  return {
    name,
    result,
    stable: finite(stable) ? stable : null,
    canary: finite(canary) ? canary : null,
    limit: finite(limit) ? limit : null,
    reason: say(result),
  }
}

export function judgeCanary(stable: VariantStats, canary: VariantStats, s: AnalysisSettings): CanaryJudgement {
  const checks: Check[] = []
  const enough = stable.requests >= s.min_requests && canary.requests >= s.min_requests
  checks.push({
    name: 'requests',
    result: enough ? 'pass' : 'no_data',
    stable: stable.requests,
    canary: canary.requests,
    limit: s.min_requests,
    reason: enough
      ? `both served at least ${s.min_requests} requests`
      : `canary served ${canary.requests} and stable ${stable.requests} requests in ${s.interval_s} s; each needs ${s.min_requests}`,
  })
  const rate = (n: number, v: VariantStats) => (enough && v.requests > 0 ? n / v.requests : null)
  const stableErrors = rate(stable.errors, stable)
  const canaryErrors = rate(canary.errors, canary)
  checks.push(
    check(
      'error_rate',
      stableErrors,
      canaryErrors,
      finite(stableErrors) ? stableErrors + s.max_error_rate_increase : null,
      (c, l) => c > l,
      (r) =>
        r === 'no_data'
          ? 'error rate: not enough requests'
          : `error rate ${pct(canaryErrors!)} against stable's ${pct(stableErrors!)} (at most ${pct(stableErrors! + s.max_error_rate_increase)})`,
    ),
  )
  const p99Limit =
    enough && finite(stable.p99Ms) ? Math.max(stable.p99Ms * s.max_p99_ratio, stable.p99Ms + s.p99_slack_ms) : null
  checks.push(
    check(
      'p99_latency',
      enough ? stable.p99Ms : null,
      enough ? canary.p99Ms : null,
      p99Limit,
      (c, l) => c > l,
      (r) =>
        r === 'no_data'
          ? 'p99 latency: not enough timed requests'
          : `p99 ${num(canary.p99Ms!)} ms against stable's ${num(stable.p99Ms!)} ms (at most ${num(p99Limit!)} ms)`,
    ),
  )
  const stableFallbacks = rate(stable.fallbacks, stable)
  const canaryFallbacks = rate(canary.fallbacks, canary)
  checks.push(
    check(
      'fallback_rate',
      stableFallbacks,
      canaryFallbacks,
      finite(stableFallbacks) ? stableFallbacks + s.max_fallback_rate_increase : null,
      (c, l) => c > l,
      (r) =>
        r === 'no_data'
          ? 'fallback rate: not enough requests'
          : `fallback rate ${pct(canaryFallbacks!)} against stable's ${pct(stableFallbacks!)} (at most ${pct(stableFallbacks! + s.max_fallback_rate_increase)})`,
    ),
  )
  const sampled =
    stable.scores.filter(Number.isFinite).length >= s.min_samples &&
    canary.scores.filter(Number.isFinite).length >= s.min_samples
  const shift = sampled
    ? psi(distributionOf(stable.scores.filter(Number.isFinite)), canary.scores.filter(Number.isFinite))
    : null
  checks.push(
    check(
      'prediction_shift',
      sampled ? 0 : null,
      shift,
      s.max_prediction_psi,
      (c, l) => c > l,
      (r) =>
        r === 'no_data'
          ? `prediction shift: ${canary.scores.length} canary and ${stable.scores.length} stable sampled predictions; each needs ${s.min_samples}`
          : `canary's predicted scores against stable's: PSI ${num(shift!)} (at most ${s.max_prediction_psi})`,
    ),
  )
  const confidenceFloor =
    sampled && finite(stable.meanConfidence) ? stable.meanConfidence - s.max_confidence_drop : null
  checks.push(
    check(
      'confidence',
      sampled ? stable.meanConfidence : null,
      sampled ? canary.meanConfidence : null,
      confidenceFloor,
      (c, l) => c < l,
      (r) =>
        r === 'no_data'
          ? 'confidence: not enough sampled responses reporting one'
          : `mean confidence ${num(canary.meanConfidence!)} against stable's ${num(stable.meanConfidence!)} (at least ${num(confidenceFloor!)})`,
    ),
  )
  const failed = checks.filter((c) => c.result === 'fail')
  const missing = checks.filter((c) => c.result === 'no_data')
  const verdict: Verdict = failed.length > 0 ? 'rollback' : missing.length > 0 ? 'hold' : 'promote'
  const reasons = (verdict === 'rollback' ? failed : verdict === 'hold' ? missing : checks).map((c) => c.reason)
  return { verdict, reasons, checks }
}
