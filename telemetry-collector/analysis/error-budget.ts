/**
 * @module
 * A route's availability error budget over its SLO window, from its
 * request and failure counts (Store.routeTotals over the window). Pure.
 */

export interface ErrorBudget {
  /** The availability objective, such as 0.999. */
  objective: number
  window_days: number
  requests: number
  /** Requests that failed the objective: 5xx, or no response. */
  failed: number
  /** failed / requests; null with no requests. */
  error_ratio: number | null
  /** The error ratio the objective allows: 1 − objective. */
  allowed_ratio: number
  /** Share of the budget spent: error_ratio / allowed_ratio (past 1 once overspent); null with no requests. */
  spent: number | null
  /** 1 − spent: negative once overspent; null with no requests. */
  remaining: number | null
}

/**
 * The budget of `slo` given the window's totals.
 *
 * @example
 * errorBudget({ availability: 0.999, window_days: 28 }, { requests: 100_000, failed: 25 })
 * // { error_ratio: 0.00025, allowed_ratio: 0.001, spent: 0.25, remaining: 0.75, ... }
 */
export function errorBudget(
  slo: { availability: number; window_days: number },
  totals: { requests: number; failed: number },
): ErrorBudget {
  const allowed = 1 - slo.availability
  const ratio = totals.requests > 0 ? totals.failed / totals.requests : null
  // Rounded to 9 digits: 1 − 0.999 is not exact in binary, and a budget spent to the request must read as spent, not 9e-16 left.
  const spent = ratio === null ? null : Math.round((ratio / allowed) * 1e9) / 1e9
  return {
    objective: slo.availability,
    window_days: slo.window_days,
    requests: totals.requests,
    failed: totals.failed,
    error_ratio: ratio,
    allowed_ratio: allowed,
    spent,
    remaining: spent === null ? null : Math.round((1 - spent) * 1e9) / 1e9,
  }
}
