/**
 * routeStatus: a route's colour on the dashboard and why, from its last
 * minute, its SLO, its error budget and its alerts (pure).
 */
import { describe, expect, it } from 'vitest'
import type { ActiveAlert } from '../analysis/alerts.ts'
import { errorBudget } from '../analysis/error-budget.ts'
import { SignalBucket, summarise } from '../state/signals.ts'
import { requestEvent } from '@model-mesh/testkit/events'
import { routeStatus } from './snapshot.ts'

const SLO = { p99_ms: 250, availability: 0.999, window_days: 28 }

/** The last minute's summary of `n` requests of `ms` milliseconds each. */
function lastMinute(n: number, ms = 10) {
  const b = new SignalBucket()
  for (let i = 0; i < n; i++) b.add(requestEvent({ duration_us: ms * 1000 }))
  return summarise(b, 60)
}

/** A budget with `remaining` of it left (1,000,000 requests at 0.999: 1,000 failures allowed). */
const budgetLeft = (remaining: number) =>
  errorBudget(SLO, { requests: 1_000_000, failed: Math.round((1 - remaining) * 1000) })

const alert = (severity: ActiveAlert['severity'], summary: string): ActiveAlert => ({
  name: 'MeshErrorBudgetBurn',
  severity,
  route: 'credit-risk',
  summary,
})

describe('routeStatus', () => {
  it('is ok with traffic and nothing wrong, idle without traffic', () => {
    expect(routeStatus(lastMinute(50), SLO, budgetLeft(0.9), [])).toEqual({ status: 'ok', reasons: [] })
    expect(routeStatus(lastMinute(0), SLO, budgetLeft(0.9), [])).toEqual({
      status: 'idle',
      reasons: ['no requests in the last minute'],
    })
    // No SLO, no budget: only traffic decides.
    expect(routeStatus(lastMinute(5, 5000), null, null, [])).toEqual({ status: 'ok', reasons: [] })
  })

  it('is critical on a page alert or a spent budget, warning on a ticket alert; an info alert leaves the colour', () => {
    expect(routeStatus(lastMinute(50), SLO, budgetLeft(0.9), [alert('page', 'burning fast')])).toEqual({
      status: 'critical',
      reasons: ['burning fast'],
    })
    expect(routeStatus(lastMinute(50), SLO, budgetLeft(0.9), [alert('ticket', 'burning slowly')])).toEqual({
      status: 'warning',
      reasons: ['burning slowly'],
    })
    expect(routeStatus(lastMinute(50), SLO, budgetLeft(0.9), [alert('info', 'refused events')]).status).toBe('ok')
    expect(routeStatus(lastMinute(50), SLO, budgetLeft(-0.5), [])).toEqual({
      status: 'critical',
      reasons: ['error budget spent (50% over)'],
    })
    // Exactly spent is spent.
    expect(routeStatus(lastMinute(50), SLO, { ...budgetLeft(0.5), spent: 1, remaining: 0 }, [])).toEqual({
      status: 'critical',
      reasons: ['error budget spent (0% over)'],
    })
  })

  it('warns under a quarter of the budget left, not at a quarter', () => {
    expect(routeStatus(lastMinute(50), SLO, budgetLeft(0.2), [])).toEqual({
      status: 'warning',
      reasons: ['20% of the error budget left'],
    })
    expect(routeStatus(lastMinute(50), SLO, budgetLeft(0.25), [])).toEqual({ status: 'ok', reasons: [] })
    // A budget with no requests in its window says nothing.
    expect(routeStatus(lastMinute(50), SLO, errorBudget(SLO, { requests: 0, failed: 0 }), [])).toEqual({
      status: 'ok',
      reasons: [],
    })
  })

  it("warns when the last minute's p99 is over the objective, not at it", () => {
    const slow = routeStatus(lastMinute(100, 400), SLO, budgetLeft(0.9), [])
    expect(slow.status).toBe('warning')
    expect(slow.reasons).toHaveLength(1)
    expect(slow.reasons[0]).toMatch(/^p99 \d+(\.\d+)? ms over the 250 ms objective in the last minute$/)
    // The sketch's p99 of 100 requests of 240 ms is within 1% of it: under 250.
    expect(routeStatus(lastMinute(100, 240), SLO, budgetLeft(0.9), []).status).toBe('ok')
  })

  it('lists the critical reasons first, then the warnings; a quiet route with a problem is not idle', () => {
    expect(
      routeStatus(lastMinute(100, 400), SLO, budgetLeft(-0.1), [
        alert('ticket', 'drift'),
        alert('page', 'burning fast'),
      ]),
    ).toEqual({
      status: 'critical',
      reasons: [
        'burning fast',
        'error budget spent (10% over)',
        'drift',
        expect.stringMatching(/^p99 .* over the 250 ms objective/),
      ],
    })
    expect(routeStatus(lastMinute(0), SLO, budgetLeft(0.1), [])).toEqual({
      status: 'warning',
      reasons: ['10% of the error budget left'],
    })
  })
})
