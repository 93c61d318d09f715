/**
 * @module
 * The alerts mesh-config/src/alert-rules.ts gives Prometheus, judged by the
 * collector from its own state, for the dashboard's "active alerts":
 * multi-window burn rates of each route's error budget, p99 over its
 * objective, drifted features, canaries rolled back, and the pipeline's
 * staleness and lag (the same thresholds: contracts/alert-thresholds.ts).
 * `evaluateAlerts` is pure; `alertInput` gathers what it reads.
 *
 * What this sees is the state now: the rules' `for:` durations (10 min for
 * p99 and lag, 15 for drift, 5 for staleness) are not waited out, so an
 * alert can show here up to that long before Prometheus fires it.
 */
import {
  ALERT_NAMES,
  BURN_ALERT_NAMES,
  BURN_ALERTS,
  burnThreshold,
  mergeLatencySketch,
  newLatencySketch,
  TELEMETRY_LAG_MESSAGES,
  TELEMETRY_STALE_S,
} from '@model-mesh/contracts'
import { MEMORY_HORIZON_MS, minuteOf, type Aggregator } from '../state/aggregator.ts'
import type { WalkEvent } from './canary-walk.ts'
import { PREDICTION_FEATURE, type DriftMonitor, type VersionDrift } from './drift-monitor.ts'
import type { Store } from '../store/store.ts'
import { signalBuckets } from '../state/windows.ts'

export interface ActiveAlert {
  /** The Prometheus rule's alert name (MeshErrorBudgetBurn, ...); MeshTelemetryRefused is the collector's own. */
  name: string
  severity: 'page' | 'ticket' | 'info'
  route?: string
  model?: string
  version?: string
  feature?: string
  summary: string
  /** The figure that crossed the threshold (an error ratio, ms, PSI or KS, seconds, messages, events). */
  value?: number
  threshold?: number
}

/** The windows the burn-rate alerts read. */
export type AlertWindow = (typeof BURN_ALERTS)[number]['long' | 'short']

export const ALERT_WINDOW_MS: Record<AlertWindow, number> = {
  '5m': 300_000,
  '30m': 1_800_000,
  '1h': 3_600_000,
  '6h': 21_600_000,
  '3d': 259_200_000,
}

export interface RouteSlo {
  availability: number
  window_days: number
  p99_ms: number
}

export interface RouteAlertInput {
  route: string
  slo: RouteSlo
  /** Failed / all requests per window; null with no requests. */
  errorRatio: Record<AlertWindow, number | null>
  /** p99 latency over the last 5 minutes; null with no requests. */
  p99Ms5m: number | null
}

export interface RolledBackCanary {
  route: string
  canary_version: string
  /** When the walk rolled it back (ms). */
  at: number
}

export interface PipelineHealth {
  /** Age of the newest event applied; null before the first. */
  newestEventAgeS: number | null
  /** Events the collector refused (malformed, invalid) lately. */
  refusedRecently: number
  /** The most messages any consumer is behind its stream. */
  lagMessages: number
  /** Events the agents dropped lately (their dropped counts' increase); absent: not known. */
  droppedRecently?: number
  /** false: the gateway served no requests lately, so old telemetry is not stale (MeshTelemetryStale's second condition); absent: taken as serving. */
  gatewayServing?: boolean
}

export interface AlertInput {
  /** Routes with an slo. */
  routes: RouteAlertInput[]
  /** DriftMonitor.report(). */
  drift: VersionDrift[]
  /** Canary walks rolled back lately (alertInput: within ROLLBACK_LOOKBACK_MS). */
  rollbacks: RolledBackCanary[]
  pipeline: PipelineHealth
}

/** How far back alertInput looks for rolled-back canaries. */
export const ROLLBACK_LOOKBACK_MS = 3_600_000

const SEVERITY_ORDER = { page: 0, ticket: 1, info: 2 } as const
const round = (x: number, digits = 3) => +x.toFixed(digits)

/**
 * The alerts that hold for `input`: pages first, then tickets, then info.
 *
 * @example
 * evaluateAlerts({ routes: [{ route: 'credit-risk', slo, errorRatio: { '5m': 0.05, '1h': 0.05, ... }, p99Ms5m: 40 }], drift: [], rollbacks: [], pipeline })
 * // [{ name: 'MeshErrorBudgetBurn', severity: 'page', route: 'credit-risk', value: 0.05, threshold: 0.01344, ... }, ...]
 */
export function evaluateAlerts(input: AlertInput): ActiveAlert[] {
  const out: ActiveAlert[] = []
  for (const r of input.routes) {
    for (const a of BURN_ALERTS) {
      const { burn, threshold } = burnThreshold(a, r.slo)
      const long = r.errorRatio[a.long]
      const short = r.errorRatio[a.short]
      if (long === null || short === null || !(long > threshold && short > threshold)) continue
      out.push({
        name: BURN_ALERT_NAMES[a.severity],
        severity: a.severity,
        route: r.route,
        value: long,
        threshold,
        summary: `Route ${r.route} is spending its error budget ${+burn.toFixed(2)}x too fast (${round(long * 100, 2)}% failed over ${a.long}, ${round(short * 100, 2)}% over ${a.short})`,
      })
    }
    if (r.p99Ms5m !== null && r.p99Ms5m > r.slo.p99_ms) {
      out.push({
        name: ALERT_NAMES.latencyP99,
        severity: 'page',
        route: r.route,
        value: r.p99Ms5m,
        threshold: r.slo.p99_ms,
        summary: `Route ${r.route}: p99 latency over ${r.slo.p99_ms} ms (${round(r.p99Ms5m, 1)} ms over the last 5 minutes)`,
      })
    }
  }
  for (const v of input.drift) {
    for (const f of [...v.features, ...(v.prediction ? [{ ...v.prediction, feature: PREDICTION_FEATURE }] : [])]) {
      if (f.verdict !== 'drift') continue
      const byPsi = f.psi !== null && f.psi >= v.thresholds.psi
      const [stat, value, threshold] = byPsi
        ? ['PSI', f.psi!, v.thresholds.psi]
        : ['KS', f.ksStatistic!, v.thresholds.ks]
      out.push({
        name: ALERT_NAMES.drift,
        severity: 'ticket',
        model: v.model,
        version: v.version,
        feature: f.feature,
        value,
        threshold,
        summary: `Model ${v.model} v${v.version}: feature ${f.feature} drifted from its training baseline (${stat} ${round(value)}, threshold ${threshold})`,
      })
    }
  }
  for (const c of input.rollbacks) {
    out.push({
      name: ALERT_NAMES.canaryRolledBack,
      severity: 'ticket',
      route: c.route,
      version: c.canary_version,
      summary: `The canary of route ${c.route} (v${c.canary_version}) was rolled back`,
    })
  }
  const p = input.pipeline
  if (p.newestEventAgeS !== null && p.newestEventAgeS > TELEMETRY_STALE_S && p.gatewayServing !== false) {
    out.push({
      name: ALERT_NAMES.telemetryStale,
      severity: 'page',
      value: p.newestEventAgeS,
      threshold: TELEMETRY_STALE_S,
      summary: `No telemetry event newer than ${Math.round(p.newestEventAgeS)} s while the gateway serves requests`,
    })
  }
  if (p.lagMessages > TELEMETRY_LAG_MESSAGES) {
    out.push({
      name: ALERT_NAMES.telemetryLag,
      severity: 'ticket',
      value: p.lagMessages,
      threshold: TELEMETRY_LAG_MESSAGES,
      summary: `The telemetry collector is ${p.lagMessages} messages behind`,
    })
  }
  if ((p.droppedRecently ?? 0) > 0) {
    out.push({
      name: ALERT_NAMES.telemetryDropped,
      severity: 'ticket',
      value: p.droppedRecently,
      threshold: 0,
      summary: `${p.droppedRecently} telemetry events were dropped lately`,
    })
  }
  if (p.refusedRecently > 0) {
    out.push({
      name: 'MeshTelemetryRefused',
      severity: 'info',
      value: p.refusedRecently,
      threshold: 0,
      summary: `The collector refused ${p.refusedRecently} telemetry events lately (malformed or invalid)`,
    })
  }
  // Array.prototype.sort is stable: within a severity, the order above.
  return out.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity])
}

/** The collector's state alertInput reads (the API's context has all of it). */
export interface AlertContext {
  agg: Aggregator
  store: { signals: Pick<Store['signals'], 'routeTotals'>; walks: Pick<Store['walks'], 'events'> }
  /** None: no drift alerts. */
  drift?: Pick<DriftMonitor, 'report'>
  /** Its `pending`: messages not applied yet, per consumer; none yet: no lag. */
  ingest?(): { pending: ReadonlyMap<string, number> } | undefined
}

/** PipelineHealth's fields the collector's state does not hold. */
export interface AlertExtras {
  /** Default: the increase of the collector's refused events over the last 10 minutes, from the readings of earlier calls (increaseTracker, one per aggregator). */
  refusedRecently?: number
  droppedRecently?: number
  gatewayServing?: boolean
}

/** One refusal tracker per aggregator: a reading at every alertInput call. */
const refusals = new WeakMap<Aggregator, ReturnType<typeof increaseTracker>>()

/**
 * Everything evaluateAlerts reads, from the collector's state at `now`:
 * each of `routes` with an slo (mesh.yaml's) gets its error ratio over the
 * burn-rate windows (those memory holds from the aggregator's minute
 * rollups, longer ones summed by the store: the store's signals.routeTotals) and its
 * 5-minute p99; then the drift report, the canaries of `routes` rolled back
 * within ROLLBACK_LOOKBACK_MS (the walk events in the store), the newest
 * event's age and the largest consumer lag. As in windowOf, the minute
 * holding a window's start counts whole.
 *
 * @example
 * const alerts = evaluateAlerts(await alertInput(ctx, mesh.config.routes))
 */
export async function alertInput(
  ctx: AlertContext,
  routes: readonly { name: string; slo?: RouteSlo }[],
  now = Date.now(),
  extras: AlertExtras = {},
): Promise<AlertInput> {
  const sloRoutes = routes.filter((r): r is { name: string; slo: RouteSlo } => r.slo !== undefined)
  const ratios = new Map(sloRoutes.map((r) => [r.name, {} as Record<AlertWindow, number | null>]))
  for (const [w, ms] of Object.entries(ALERT_WINDOW_MS) as [AlertWindow, number][]) {
    let totals: Map<string, { requests: number; failed: number }>
    if (ms < MEMORY_HORIZON_MS) {
      totals = new Map()
      for (const e of signalBuckets(ctx.agg, now - ms, now, false).entries) {
        const t = totals.get(e.labels.route) ?? { requests: 0, failed: 0 }
        t.requests += e.bucket.requests
        t.failed += e.bucket.errors
        totals.set(e.labels.route, t)
      }
    } else totals = await ctx.store.signals.routeTotals(minuteOf(now - ms), now + 1)
    for (const [route, r] of ratios) {
      const t = totals.get(route)
      r[w] = t && t.requests > 0 ? t.failed / t.requests : null
    }
  }
  const p99 = new Map<string, ReturnType<typeof newLatencySketch>>()
  for (const e of signalBuckets(ctx.agg, now - ALERT_WINDOW_MS['5m'], now, false).entries) {
    if (!ratios.has(e.labels.route) || e.bucket.requests === 0) continue
    const sketch = p99.get(e.labels.route) ?? newLatencySketch()
    mergeLatencySketch(sketch, e.bucket.sketch)
    p99.set(e.labels.route, sketch)
  }
  const rollbacks: RolledBackCanary[] = []
  for (const r of routes) {
    for (const e of await ctx.store.walks.events<WalkEvent>(r.name)) {
      if (e.action === 'rollback' && e.ts >= now - ROLLBACK_LOOKBACK_MS)
        rollbacks.push({ route: e.route, canary_version: e.canary_version, at: e.ts })
    }
  }
  const newest = ctx.agg.pipeline.newestEventTs
  return {
    routes: sloRoutes.map((r) => ({
      route: r.name,
      slo: r.slo,
      errorRatio: ratios.get(r.name)!,
      p99Ms5m: p99.get(r.name)?.getValueAtQuantile(0.99) ?? null,
    })),
    drift: ctx.drift?.report(now) ?? [],
    rollbacks,
    pipeline: {
      newestEventAgeS: newest > 0 ? Math.max(0, (now - newest) / 1000) : null,
      refusedRecently: extras.refusedRecently ?? refusedRecently(ctx.agg, now),
      lagMessages: Math.max(0, ...(ctx.ingest?.()?.pending.values() ?? [])),
      ...(extras.droppedRecently !== undefined ? { droppedRecently: extras.droppedRecently } : {}),
      ...(extras.gatewayServing !== undefined ? { gatewayServing: extras.gatewayServing } : {}),
    },
  }
}

function refusedRecently(agg: Aggregator, now: number): number {
  let tracker = refusals.get(agg)
  if (!tracker) refusals.set(agg, (tracker = increaseTracker()))
  return tracker(
    Object.values(agg.pipeline.refused).reduce((a, n) => a + n, 0),
    now,
  )
}

/**
 * The alerts that hold now: evaluateAlerts of alertInput.
 *
 * @example
 * const alerts = await activeAlerts(ctx, mesh.config.routes) // pages first
 */
export async function activeAlerts(
  ctx: AlertContext,
  routes: readonly { name: string; slo?: RouteSlo }[],
  now = Date.now(),
  extras: AlertExtras = {},
): Promise<ActiveAlert[]> {
  return evaluateAlerts(await alertInput(ctx, routes, now, extras))
}

/**
 * The increase of a running total over the last `windowMs` (10 minutes,
 * as MeshTelemetryDropped counts drops), from the readings it is given: for
 * PipelineHealth's refusedRecently (alertInput keeps one per aggregator)
 * or droppedRecently (the agents' dropped counts). Until a reading is a window
 * old, the increase since the first.
 *
 * @example
 * const refused = increaseTracker()
 * refused(sum(agg.pipeline.refused)) // at each snapshot
 */
export function increaseTracker(windowMs = 600_000): (total: number, now?: number) => number {
  const readings: { at: number; total: number }[] = []
  return (total, now = Date.now()) => {
    readings.push({ at: now, total })
    // Keep the newest reading at or before the window's start: the base the increase counts from.
    while (readings.length > 1 && readings[1]!.at <= now - windowMs) readings.shift()
    return Math.max(0, total - readings[0]!.total)
  }
}
