/**
 * @module
 * What the mesh's alerts judge by, and their names, for both sides that judge: the
 * Prometheus rules mesh-config renders (mesh-config/src/alert-rules.ts)
 * and the collector's own alerts, store sums and dashboard
 * (telemetry-collector/src/alerts.ts, store.ts, dashboard/snapshot.ts).
 * Import them from here; never spell them again elsewhere.
 */

/** A request that failed the availability objective: a 5xx, or no response at all (a PromQL `code_class` regex). */
export const FAILED_CODE_CLASSES = '5xx|none'

/**
 * The Google SRE workbook's burn-rate alerts: the share of a window's
 * budget spent within the long window, and the short window that must burn
 * too. The rate that spends it is share × objective window / long window.
 */
export const BURN_ALERTS = [
  { severity: 'page', budgetShare: 0.02, long: '1h', longHours: 1, short: '5m' },
  { severity: 'page', budgetShare: 0.05, long: '6h', longHours: 6, short: '30m' },
  { severity: 'ticket', budgetShare: 0.1, long: '3d', longHours: 72, short: '6h' },
] as const

export type BurnAlert = (typeof BURN_ALERTS)[number]

/** The alert each severity of burn-rate alert raises. */
export const BURN_ALERT_NAMES = { page: 'MeshErrorBudgetBurn', ticket: 'MeshErrorBudgetSlowBurn' } as const

/** The other alerts both sides raise, by what they watch. */
export const ALERT_NAMES = {
  latencyP99: 'MeshLatencyP99OverObjective',
  drift: 'MeshModelDrift',
  canaryRolledBack: 'MeshCanaryRolledBack',
  telemetryLag: 'MeshTelemetryLag',
  telemetryStale: 'MeshTelemetryStale',
  telemetryDropped: 'MeshTelemetryDropped',
} as const

/**
 * A burn-rate alert's numbers for an objective: `burn`, the rate (times
 * the sustainable one) that spends the alert's share of the budget within
 * its long window, and `threshold`, the error ratio that burns at it (both
 * windows must be over it). The one formula: the rules file and the
 * collector's own alerts both call it.
 *
 * @example burnThreshold(BURN_ALERTS[0], { availability: 0.999, window_days: 28 }) // { burn: 13.44 (to float precision), threshold: 0.01344 }
 */
export function burnThreshold(
  a: Pick<BurnAlert, 'budgetShare' | 'longHours'>,
  slo: { availability: number; window_days: number },
): { burn: number; threshold: number } {
  const burn = (a.budgetShare * (slo.window_days * 24)) / a.longHours
  return { burn, threshold: +(burn * (1 - slo.availability)).toPrecision(6) }
}

/** MeshTelemetryStale: the newest event applied is older than this (seconds) while the gateway serves. */
export const TELEMETRY_STALE_S = 300
/** MeshTelemetryLag: a consumer is more than this many messages behind its stream. */
export const TELEMETRY_LAG_MESSAGES = 1000
