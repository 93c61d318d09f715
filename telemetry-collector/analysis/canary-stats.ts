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
import { SHORT_HORIZON_MS, type Aggregator } from '../state/aggregator.ts'
import type { Route } from '@model-mesh/mesh-config'
import { judgeCanary, type CanaryJudgement, type VariantStats } from './canary-analysis.ts'
import type { DriftMonitor } from './drift-monitor.ts'
import { SignalBucket } from '../state/signals.ts'
import { signalBuckets } from '../state/windows.ts'

export interface VariantKey {
  route: string
  model: string
  variant: 'stable' | 'canary'
  version: string
}

export function variantStats(
  agg: Aggregator,
  drift: DriftMonitor | undefined,
  k: VariantKey,
  intervalMs: number,
  now = Date.now(),
  since = 0,
): VariantStats {
  const start = Math.max(now - intervalMs, since)
  // 10-second buckets while they are kept, minute rollups beyond.
  const bucket = new SignalBucket()
  for (const e of signalBuckets(agg, start, now, now - start <= SHORT_HORIZON_MS).entries) {
    if (e.labels.route === k.route && e.labels.variant === k.variant) bucket.merge(e.bucket)
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

export interface CanaryAnalysis extends CanaryJudgement {
  route: string
  model: string
  weight: number
  interval_s: number
  from: number
  to: number
  stable: VariantFigures
  canary: VariantFigures
}

interface VariantFigures {
  version: string
  requests: number
  errors: number
  fallbacks: number
  p99_ms: number | null
  sampled_predictions: number
  mean_confidence: number | null
}

/**
 * A route's canary against its stable, now, as mesh.yaml's canary.analysis
 * says, over its interval or since `since` if that is later (a walk judges
 * only what came after it started: the variant's requests before may have
 * gone to another canary version).
 */
export function analyseCanary(
  agg: Aggregator,
  drift: DriftMonitor | undefined,
  route: Route & { canary: NonNullable<Route['canary']> },
  now = Date.now(),
  since = 0,
): CanaryAnalysis {
  const settings = route.canary.analysis
  const key = { route: route.name, model: route.model }
  const stable = variantStats(
    agg,
    drift,
    { ...key, variant: 'stable', version: route.stable.version },
    settings.interval_s * 1000,
    now,
    since,
  )
  const canary = variantStats(
    agg,
    drift,
    { ...key, variant: 'canary', version: route.canary.version },
    settings.interval_s * 1000,
    now,
    since,
  )
  const figures = (v: VariantStats): VariantFigures => ({
    version: v.version,
    requests: v.requests,
    errors: v.errors,
    fallbacks: v.fallbacks,
    p99_ms: v.p99Ms,
    sampled_predictions: v.scores.length,
    mean_confidence: v.meanConfidence,
  })
  return {
    route: route.name,
    model: route.model,
    weight: route.canary.weight,
    interval_s: settings.interval_s,
    from: Math.max(now - settings.interval_s * 1000, since),
    to: now,
    ...judgeCanary(stable, canary, settings),
    stable: figures(stable),
    canary: figures(canary),
  }
}
