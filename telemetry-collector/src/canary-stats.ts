/**
 * @module
 * What canary analysis needs of one variant over an interval, from the
 * collector's state: its requests, errors, fallbacks and p99 from the
 * signal buckets (10-second ones for intervals up to two minutes, minute
 * rollups beyond; the bucket holding the interval's start counts whole),
 * and its predicted scores and confidence from the drift monitor's windows.
 * Requests count by route and variant, whichever model answered them: a
 * fallback answers under its own version, and its answers are the variant's
 * fallbacks. Predictions count by the variant's version.
 */
import { TEN_S_MS, minuteOf, type Aggregator } from './aggregator.ts'
import type { VariantStats } from './canary-analysis.ts'
import type { DriftMonitor } from './drift-monitor.ts'
import { SignalBucket } from './signals.ts'

/** Ten-second buckets are kept this long (aggregator.ts); longer intervals read minutes. */
const FINE_INTERVAL_MS = 120_000

export interface VariantKey {
  route: string
  model: string
  variant: 'stable' | 'canary'
  version: string
}

export function variantStats(agg: Aggregator, drift: DriftMonitor | undefined, k: VariantKey, intervalMs: number, now = Date.now()): VariantStats {
  const start = now - intervalMs
  const fine = intervalMs <= FINE_INTERVAL_MS
  const from = fine ? start - (start % TEN_S_MS) : minuteOf(start)
  const bucket = new SignalBucket()
  for (const e of (fine ? agg.tens : agg.minutes).values()) {
    const l = e.labels
    if (e.minute >= from && e.minute <= now && l.route === k.route && l.variant === k.variant) bucket.merge(e.bucket)
  }
  const quality = drift?.recent(k.model, k.version, start) ?? { scores: [], meanConfidence: null }
  return {
    version: k.version,
    requests: bucket.requests,
    errors: bucket.errors,
    fallbacks: bucket.fallbacks,
    p99Ms: bucket.requests > 0 ? bucket.sketch.getValueAtQuantile(0.99) : null,
    scores: quality.scores,
    meanConfidence: quality.meanConfidence,
  }
}
