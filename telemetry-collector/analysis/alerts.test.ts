/**
 * The collector's own alerts: evaluateAlerts on hand-made inputs (each
 * alert fires just past its rule's threshold and not at it; a burn needs
 * both windows), its thresholds against the generated Prometheus rules,
 * and alertInput on a real aggregator and DuckDB store.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BURN_ALERTS, burnThreshold } from '@model-mesh/contracts'
import { alertRules, type MeshConfig } from '@model-mesh/mesh-config'
import { batchEvent, requestEvent } from '@model-mesh/testkit/events'
import { Aggregator } from '../state/aggregator.ts'
import {
  activeAlerts,
  alertInput,
  evaluateAlerts,
  increaseTracker,
  type AlertInput,
  type AlertWindow,
  type PipelineHealth,
  type RouteAlertInput,
} from './alerts.ts'
import type { VersionDrift } from './drift-monitor.ts'
import { DEFAULT_DRIFT_THRESHOLDS } from './drift.ts'
import { Store } from '../store/store.ts'

const slo = { availability: 0.999, window_days: 28, p99_ms: 100 }
// 2% of a 28-day budget in 1h: burn 13.44, an error ratio of 0.01344 (and 5.6x: 0.0056 over 6h; 0.933x: 0.000933333 over 3d).
const PAGE_1H = 0.01344
const quietPipeline: PipelineHealth = { newestEventAgeS: 1, refusedRecently: 0, lagMessages: 0 }
const ratios = (r: Partial<Record<AlertWindow, number | null>>): Record<AlertWindow, number | null> => ({
  '5m': 0,
  '30m': 0,
  '1h': 0,
  '6h': 0,
  '3d': 0,
  ...r,
})
const route = (o: Partial<RouteAlertInput> = {}): RouteAlertInput => ({
  route: 'credit-risk',
  slo,
  errorRatio: ratios({}),
  p99Ms5m: 20,
  ...o,
})
const input = (o: Partial<AlertInput> = {}): AlertInput => ({
  routes: [route()],
  drift: [],
  rollbacks: [],
  pipeline: quietPipeline,
  ...o,
})
const names = (i: AlertInput) => evaluateAlerts(i).map((a) => a.name)

describe('evaluateAlerts', () => {
  it('fires nothing on a healthy mesh', () => {
    expect(evaluateAlerts(input())).toEqual([])
  })

  it('pages on a burn just over the threshold in both 1h and 5m, and not on either window alone or at the threshold', () => {
    const over = PAGE_1H * 1.01
    const fired = evaluateAlerts(input({ routes: [route({ errorRatio: ratios({ '1h': over, '5m': over }) })] }))
    expect(fired).toEqual([
      {
        name: 'MeshErrorBudgetBurn',
        severity: 'page',
        route: 'credit-risk',
        value: over,
        threshold: PAGE_1H,
        summary: expect.stringMatching(/^Route credit-risk is spending its error budget 13\.44x too fast/),
      },
    ])
    expect(fired[0]!.summary).toContain('over 1h')
    expect(names(input({ routes: [route({ errorRatio: ratios({ '1h': over, '5m': PAGE_1H * 0.99 }) })] }))).toEqual([])
    expect(names(input({ routes: [route({ errorRatio: ratios({ '1h': PAGE_1H * 0.99, '5m': 0.5 }) })] }))).toEqual([])
    expect(names(input({ routes: [route({ errorRatio: ratios({ '1h': PAGE_1H, '5m': PAGE_1H }) })] }))).toEqual([])
    // No requests in a window: no ratio, no alert (Prometheus' 0/0 compares false).
    expect(names(input({ routes: [route({ errorRatio: ratios({ '1h': 0.5, '5m': null }) })] }))).toEqual([])
  })

  it('raises every burn-rate alert a sustained failure ratio crosses: both pages and the slow-burn ticket', () => {
    const fired = evaluateAlerts(
      input({
        routes: [route({ errorRatio: ratios({ '5m': 0.02, '30m': 0.02, '1h': 0.02, '6h': 0.02, '3d': 0.02 }) })],
      }),
    )
    expect(fired.map((a) => [a.name, a.severity, a.threshold])).toEqual([
      ['MeshErrorBudgetBurn', 'page', 0.01344],
      ['MeshErrorBudgetBurn', 'page', 0.0056],
      ['MeshErrorBudgetSlowBurn', 'ticket', 0.000933333],
    ])
    // 0.1%, a ratio only the slow burn reads as too fast (its 3d and 6h windows).
    expect(
      names(
        input({
          routes: [route({ errorRatio: ratios({ '5m': 0.001, '30m': 0.001, '1h': 0.001, '6h': 0.001, '3d': 0.001 }) })],
        }),
      ),
    ).toEqual(['MeshErrorBudgetSlowBurn'])
  })

  it('uses the thresholds the Prometheus rules file carries (one formula)', () => {
    const config = {
      routes: [{ name: 'credit-risk', slo: { availability: 0.995, window_days: 30, p99_ms: 250 } }],
    } as unknown as MeshConfig
    const exprs = alertRules(config)
      .groups[0]!.rules.filter((r) => r.alert?.startsWith('MeshErrorBudget'))
      .map((r) => r.expr)
    for (const [i, a] of BURN_ALERTS.entries()) {
      const { threshold } = burnThreshold(a, config.routes[0]!.slo!)
      expect(exprs[i]).toContain(`> ${threshold} and`)
      const justOver = threshold * 1.001
      const fired = evaluateAlerts(
        input({
          routes: [
            route({ slo: config.routes[0]!.slo!, errorRatio: ratios({ [a.long]: justOver, [a.short]: justOver }) }),
          ],
        }),
      )
      expect(fired.map((f) => f.threshold)).toContain(threshold)
    }
  })

  it('pages when the 5-minute p99 is over the objective, not at it', () => {
    expect(evaluateAlerts(input({ routes: [route({ p99Ms5m: 101.5 })] }))).toEqual([
      {
        name: 'MeshLatencyP99OverObjective',
        severity: 'page',
        route: 'credit-risk',
        value: 101.5,
        threshold: 100,
        summary: 'Route credit-risk: p99 latency over 100 ms (101.5 ms over the last 5 minutes)',
      },
    ])
    expect(names(input({ routes: [route({ p99Ms5m: 100 })] }))).toEqual([])
    expect(names(input({ routes: [route({ p99Ms5m: null })] }))).toEqual([])
  })

  it('raises a ticket per drifted feature (and for the predictions), naming model, version and feature', () => {
    const judged = (
      feature: string,
      verdict: 'ok' | 'drift' | 'insufficient_data',
      psi: number | null,
      ks: number | null,
    ) => ({ feature, samples: 500, psi, ksStatistic: ks, ksPValue: null, verdict, histogram: null })
    const v: VersionDrift = {
      model: 'credit-risk',
      version: '2',
      status: 'drift',
      rows: 500,
      thresholds: DEFAULT_DRIFT_THRESHOLDS,
      meanConfidence: 0.8,
      features: [judged('age', 'ok', 0.01, 0.02), judged('debt_to_income', 'drift', 1.7, 0.6)],
      prediction: (({ feature: _, ...d }) => d)(judged('', 'drift', 0.05, 0.3)),
      drifting: ['debt_to_income'],
    }
    const insufficient: VersionDrift = {
      ...v,
      version: '3',
      status: 'insufficient_data',
      features: [judged('age', 'insufficient_data', null, null)],
      prediction: null,
      drifting: [],
    }
    const fired = evaluateAlerts(input({ drift: [v, insufficient] }))
    expect(fired.map((a) => [a.name, a.severity, a.model, a.version, a.feature, a.value, a.threshold])).toEqual([
      ['MeshModelDrift', 'ticket', 'credit-risk', '2', 'debt_to_income', 1.7, DEFAULT_DRIFT_THRESHOLDS.psi],
      // Drifted on KS only: the KS figure is the one shown.
      ['MeshModelDrift', 'ticket', 'credit-risk', '2', '_prediction', 0.3, DEFAULT_DRIFT_THRESHOLDS.ks],
    ])
    expect(fired[0]!.summary).toBe(
      'Model credit-risk v2: feature debt_to_income drifted from its training baseline (PSI 1.7, threshold 0.2)',
    )
  })

  it("pages on stale telemetry past the rules' 300 s while the gateway serves, and not when it is known quiet", () => {
    const stale = (p: Partial<PipelineHealth>) => names(input({ pipeline: { ...quietPipeline, ...p } }))
    expect(stale({ newestEventAgeS: 301 })).toEqual(['MeshTelemetryStale'])
    expect(stale({ newestEventAgeS: 301, gatewayServing: true })).toEqual(['MeshTelemetryStale'])
    expect(stale({ newestEventAgeS: 300 })).toEqual([])
    expect(stale({ newestEventAgeS: 3600, gatewayServing: false })).toEqual([])
    expect(stale({ newestEventAgeS: null })).toEqual([])
    expect(stale({ lagMessages: 1001 })).toEqual(['MeshTelemetryLag'])
    expect(stale({ lagMessages: 1000 })).toEqual([])
    expect(stale({ droppedRecently: 7 })).toEqual(['MeshTelemetryDropped'])
  })

  it('sorts pages first, then tickets, then info', () => {
    const fired = evaluateAlerts(
      input({
        routes: [route({ p99Ms5m: 500 })],
        rollbacks: [{ route: 'credit-risk', canary_version: '3', at: Date.now() }],
        pipeline: { newestEventAgeS: 900, refusedRecently: 4, lagMessages: 5000 },
      }),
    )
    expect(fired.map((a) => [a.severity, a.name])).toEqual([
      ['page', 'MeshLatencyP99OverObjective'],
      ['page', 'MeshTelemetryStale'],
      ['ticket', 'MeshCanaryRolledBack'],
      ['ticket', 'MeshTelemetryLag'],
      ['info', 'MeshTelemetryRefused'],
    ])
    expect(fired[2]).toMatchObject({
      route: 'credit-risk',
      version: '3',
      summary: 'The canary of route credit-risk (v3) was rolled back',
    })
  })
})

describe('increaseTracker', () => {
  it('gives the increase over the window, from the newest reading at or before its start', () => {
    const t = increaseTracker(60_000)
    expect(t(10, 0)).toBe(0)
    expect(t(15, 30_000)).toBe(5)
    expect(t(18, 60_000)).toBe(8)
    // The reading at 30 s is the base now (the one at 0 s is more than a window old).
    expect(t(20, 90_000)).toBe(5)
    expect(t(20, 200_000)).toBe(0)
  })
})

describe('alertInput on a real aggregator and store', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('takes windows up to an hour from memory and longer ones from the store, the 5 min p99, recent rollbacks, lag and refusals', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'alerts-'))
    dirs.push(dir)
    const store = await Store.open(dir)
    const agg = new Aggregator(['credit-risk'])
    const now = Date.now()
    const at = (ago: number, n: number, o: Parameters<typeof requestEvent>[0] = {}) =>
      Array.from({ length: n }, () => requestEvent({ ts: now - ago, ...o }))
    const events = [
      // The last 5 minutes: 3% failed (5xx and no response), every request 150 ms.
      ...at(120_000, 97, { duration_us: 150_000 }),
      ...at(120_000, 2, { status: 503, duration_us: 150_000 }),
      ...at(120_000, 1, { status: 0, duration_us: 150_000 }),
      // 45 minutes ago, all fine; 4 hours ago, a quarter failed; 2 days ago, all fine. 4xx is not a failure.
      ...at(45 * 60_000, 100, { status: 404 }),
      ...at(4 * 3_600_000, 150),
      ...at(4 * 3_600_000, 50, { status: 502 }),
      ...at(2 * 86_400_000, 400),
      // Another route: counted for itself only.
      ...at(60_000, 10, { route: 'other-route', status: 500 }),
      batchEvent({ ts: now - 60_000 }),
    ]
    for (const e of events) agg.apply(e)
    agg.refuse('malformed', 2)
    await store.commit(agg.takeChanges(now), new Map())
    // Memory no longer holds the old minutes: only the store can count them.
    expect([...agg.minutes.values()].every((m) => m.minute >= now - 3 * 3_600_000)).toBe(true)
    const walk = {
      route: 'credit-risk',
      canary_version: '2',
      stable_version: '1',
      steps: [10],
      step: 0,
      weight: 0,
      status: 'rolled_back' as const,
      started_at: now - 3 * 3_600_000,
      step_started_at: 0,
      last_check_at: 0,
      failures: 3,
      last_verdict: 'rollback',
    }
    await store.walks.save(walk, {
      ts: now - 2 * 3_600_000,
      route: 'credit-risk',
      canary_version: '1',
      action: 'rollback',
      weight: 0,
      verdict: 'rollback',
      reasons: [],
    })
    await store.walks.save(walk, {
      ts: now - 10 * 60_000,
      route: 'credit-risk',
      canary_version: '2',
      action: 'rollback',
      weight: 0,
      verdict: 'rollback',
      reasons: [],
    })
    await store.walks.save(walk, {
      ts: now - 5 * 60_000,
      route: 'credit-risk',
      canary_version: '2',
      action: 'verdict',
      weight: 0,
      verdict: 'hold',
      reasons: [],
    })

    const ctx = {
      agg,
      store,
      ingest: () => ({
        pending: new Map([
          ['collector-requests-credit-risk', 1500],
          ['collector-host-credit-risk', 3],
        ]),
      }),
    }
    const routes = [{ name: 'credit-risk', slo }, { name: 'no-slo' }]
    const got = await alertInput(ctx, routes, now)
    expect(got.routes).toHaveLength(1)
    const r = got.routes[0]!
    expect(r.errorRatio['5m']).toBeCloseTo(3 / 100, 12)
    expect(r.errorRatio['30m']).toBeCloseTo(3 / 100, 12)
    expect(r.errorRatio['1h']).toBeCloseTo(3 / 200, 12)
    expect(r.errorRatio['6h']).toBeCloseTo(53 / 400, 12)
    expect(r.errorRatio['3d']).toBeCloseTo(53 / 800, 12)
    expect(r.p99Ms5m!).toBeGreaterThan(148)
    expect(r.p99Ms5m!).toBeLessThan(152)
    expect(got.rollbacks).toEqual([{ route: 'credit-risk', canary_version: '2', at: now - 10 * 60_000 }])
    expect(got.pipeline).toEqual({ newestEventAgeS: 60, refusedRecently: 0, lagMessages: 1500 })
    expect(got.drift).toEqual([])

    // The refusals are counted from the first reading on.
    agg.refuse('invalid', 3)
    const alerts = await activeAlerts(ctx, routes, now + 1000)
    expect(alerts.map((a) => a.name)).toEqual([
      'MeshErrorBudgetBurn',
      'MeshErrorBudgetBurn',
      'MeshLatencyP99OverObjective',
      'MeshErrorBudgetSlowBurn',
      'MeshCanaryRolledBack',
      'MeshTelemetryLag',
      'MeshTelemetryRefused',
    ])
    expect(alerts.at(-1)!.value).toBe(3)
    store.close()
  })
})
