/**
 * @module
 * Drift of a sample against a training distribution (contracts/baseline.ts),
 * free of I/O: the population stability index over the baseline's decile
 * bins, and the Kolmogorov-Smirnov distance between the sample's empirical
 * CDF and the baseline's (from its 101 percentiles, so the distance is
 * exact to within a percentile), with the two-sample p-value for the
 * baseline's row count. A verdict needs a minimum sample; below it the
 * answer is "insufficient data", never a verdict either way.
 */
import { binOf, type Distribution } from '@model-mesh/contracts'

export interface DriftThresholds {
  /** Fewest sample values before any verdict. */
  minSamples: number
  /** PSI at or above this is drift (0.1 is usually read as a moderate shift, 0.25 as a large one). */
  psi: number
  /** KS distance at or above this is drift. */
  ks: number
}

export const DEFAULT_DRIFT_THRESHOLDS: DriftThresholds = { minSamples: 200, psi: 0.2, ks: 0.15 }

export type DriftVerdict = 'ok' | 'drift' | 'insufficient_data'

export interface DistributionDrift {
  samples: number
  /** null below the minimum sample: not computed, so nothing can read a number from too little data. */
  psi: number | null
  ksStatistic: number | null
  ksPValue: number | null
  verdict: DriftVerdict
  /**
   * The sample against the baseline's decile bins: the bins' 11 edges
   * (`quantile_edges`), the baseline's share of rows in each of the 10
   * (`bin_fractions`), and the sample's (`current`, summing to 1); null
   * with no values. Given below the minimum sample too: it shows the data,
   * it is no verdict.
   */
  histogram: DriftHistogram | null
}

export interface DriftHistogram {
  edges: number[]
  baseline: number[]
  current: number[]
}

/** Empty bins get this share, so a bin the sample never hits (or the baseline never did) counts without a log of 0. */
const EMPTY_BIN = 1e-4

/** The share of `values` in each of the baseline's bins (binOf); all 0 with no values. */
export function binShares(baseline: Distribution, values: readonly number[]): number[] {
  const counts = new Array<number>(baseline.bin_fractions.length).fill(0)
  for (const v of values) counts[binOf(baseline.quantile_edges, v)]!++
  return counts.map((c) => (values.length > 0 ? c / values.length : 0))
}

/** Σ (actual − expected) · ln(actual / expected) over the baseline's bins, from the sample's shares (binShares). */
function psiOfShares(baseline: Distribution, shares: readonly number[]): number {
  let sum = 0
  baseline.bin_fractions.forEach((expected, i) => {
    const e = Math.max(expected, EMPTY_BIN)
    const a = Math.max(shares[i]!, EMPTY_BIN)
    sum += (a - e) * Math.log(a / e)
  })
  return sum
}

/** Σ (actual − expected) · ln(actual / expected) over the baseline's bins. */
export function psi(baseline: Distribution, values: readonly number[]): number {
  return psiOfShares(baseline, binShares(baseline, values))
}

/** The baseline's CDF at x: the share of training rows at or below x (strictly below with `strict`), to within a percentile. */
function baselineCdf(percentiles: readonly number[], x: number, strict: boolean): number {
  // The highest k with p_k <= x (or < x): binary search over the ascending percentiles.
  let lo = -1
  let hi = percentiles.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (strict ? percentiles[mid]! < x : percentiles[mid]! <= x) lo = mid
    else hi = mid - 1
  }
  if (lo < 0) return 0
  return lo === percentiles.length - 1 ? 1 : lo / (percentiles.length - 1)
}

/** sup |F_sample − F_baseline|, taken at every sample value and every percentile, at and just below each. */
export function ksStatistic(baseline: Distribution, values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const n = sorted.length
  const below = (x: number, strict: boolean) => {
    // Sample values <= x (or < x).
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (strict ? sorted[mid]! < x : sorted[mid]! <= x) lo = mid + 1
      else hi = mid
    }
    return lo / n
  }
  let d = 0
  for (const x of [...new Set([...sorted, ...baseline.percentiles])]) {
    for (const strict of [false, true])
      d = Math.max(d, Math.abs(below(x, strict) - baselineCdf(baseline.percentiles, x, strict)))
  }
  return d
}

/** The asymptotic two-sample KS p-value for distance d between samples of n and m values (Kolmogorov's series). */
export function ksPValue(d: number, n: number, m: number): number {
  const en = Math.sqrt((n * m) / (n + m))
  const lambda = (en + 0.12 + 0.11 / en) * d
  if (lambda < 0.2) return 1
  let sum = 0
  for (let j = 1; j <= 100; j++) {
    const term = 2 * (j % 2 === 1 ? 1 : -1) * Math.exp(-2 * j * j * lambda * lambda)
    sum += term
    if (Math.abs(term) < 1e-12) break
  }
  return Math.min(1, Math.max(0, sum))
}

/** One distribution's drift: a verdict only with enough values; NaN or infinite values never count. */
export function distributionDrift(
  baseline: Distribution,
  baselineRows: number,
  values: readonly number[],
  t: DriftThresholds,
): DistributionDrift {
  const finite = values.filter(Number.isFinite)
  // The bins are counted once: for the histogram and for PSI.
  const shares = binShares(baseline, finite)
  const histogram =
    finite.length > 0
      ? { edges: [...baseline.quantile_edges], baseline: [...baseline.bin_fractions], current: shares }
      : null
  if (finite.length < t.minSamples)
    return {
      samples: finite.length,
      psi: null,
      ksStatistic: null,
      ksPValue: null,
      verdict: 'insufficient_data',
      histogram,
    }
  const p = psiOfShares(baseline, shares)
  const d = ksStatistic(baseline, finite)
  return {
    samples: finite.length,
    psi: p,
    ksStatistic: d,
    ksPValue: ksPValue(d, finite.length, baselineRows),
    verdict: p >= t.psi || d >= t.ks ? 'drift' : 'ok',
    histogram,
  }
}
