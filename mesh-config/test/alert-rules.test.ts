/**
 * The Prometheus rules mesh.yaml's SLOs generate, checked by the real
 * promtool (Debian's prometheus package): `promtool check rules` accepts
 * the file, and `promtool test rules` fires each alert on synthetic series
 * that should fire it, and none on healthy ones.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { BURN_ALERTS } from '@model-mesh/contracts'
import { alertRules, alertRulesText } from '../src/alert-rules.ts'
import { run } from '../src/cli.ts'
import { requireMesh } from '../src/load.ts'
import { ROOT } from '../src/local-mesh.ts'
import { promtool } from '@model-mesh/testkit/prometheus'

describe('alert rules from mesh.yaml', async () => {
  const mesh = await requireMesh(join(ROOT, 'mesh.yaml'))
  const rules = alertRules(mesh.config)
  const route = mesh.config.routes[0]!
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rules-'))
    await writeFile(join(dir, 'rules.yml'), alertRulesText(mesh.config))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  /** The annotations a generated alert carries (promtool compares them too). */
  const annotationsOf = (alert: string, labels: Record<string, string> = {}) =>
    rules.groups
      .flatMap((g) => g.rules)
      .find((r) => r.alert === alert && Object.entries(labels).every(([k, v]) => r.labels?.[k] === v))!.annotations!
  const burnAlert = (severity: string, long: string) => ({
    exp_labels: { severity, route: route.name, long_window: long },
    exp_annotations: annotationsOf(severity === 'page' ? 'MeshErrorBudgetBurn' : 'MeshErrorBudgetSlowBurn', {
      long_window: long,
    }),
  })
  /** Requests a minute, ok and failed: `healthy` minutes of 100 ok, then `ok` and `failed` a minute for `minutes`. */
  const requests = (ok: number, failed: number, minutes = 300, healthy = 0) => {
    const series = (code: string) =>
      `mesh_requests_total{route="${route.name}",model="credit-risk",version="1",variant="stable",code_class="${code}"}`
    return [
      {
        series: series('2xx'),
        values: `${healthy ? `0+100x${healthy} ` : ''}${healthy * 100 + (healthy ? ok : 0)}+${ok}x${minutes}`,
      },
      {
        series: series('5xx'),
        values: `${healthy ? `0+0x${healthy} ` : ''}${healthy ? failed : 0}+${failed}x${minutes}`,
      },
    ]
  }

  it('gives each route with an slo burn-rate and latency alerts, and passes promtool check rules', () => {
    expect(route.slo).toEqual({ p99_ms: 100, availability: 0.999, window_days: 28 })
    const names = rules.groups.flatMap((g) => g.rules.map((r) => r.alert ?? r.record))
    expect(names).toEqual(
      expect.arrayContaining([
        'MeshErrorBudgetBurn',
        'MeshErrorBudgetSlowBurn',
        'MeshLatencyP99OverObjective',
        'MeshModelDrift',
        'MeshCanaryRolledBack',
        'MeshTelemetryLag',
        'MeshTelemetryStale',
        'MeshTelemetryDropped',
        'mesh:route_error_ratio:rate5m',
        'mesh:route_error_ratio:rate3d',
      ]),
    )
    // 2% of a 28-day budget in an hour: a burn rate of 13.44, over an error budget of 0.1%.
    const fast = rules.groups[0]!.rules.find((r) => r.labels?.long_window === '1h')!
    expect(fast.expr).toContain('> 0.01344')
    expect(BURN_ALERTS.map((a) => a.long)).toEqual(['1h', '6h', '3d'])
    const checked = promtool(['check', 'rules', join(dir, 'rules.yml')])
    expect(checked.output).toMatch(/SUCCESS: \d+ rules found/)
    expect(checked.code).toBe(0)
  })

  it('fires each alert on series that should fire it, and none on healthy ones (promtool test rules)', async () => {
    const tests = {
      rule_files: ['rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          // An hour healthy, then 5% of requests failing: 25 minutes on, every burn-rate window is past its threshold.
          interval: '1m',
          input_series: requests(95, 5, 60, 60),
          alert_rule_test: [
            { eval_time: '55m', alertname: 'MeshErrorBudgetBurn', exp_alerts: [] },
            { eval_time: '55m', alertname: 'MeshErrorBudgetSlowBurn', exp_alerts: [] },
            {
              eval_time: '85m',
              alertname: 'MeshErrorBudgetBurn',
              exp_alerts: [burnAlert('page', '1h'), burnAlert('page', '6h')],
            },
            { eval_time: '85m', alertname: 'MeshErrorBudgetSlowBurn', exp_alerts: [burnAlert('ticket', '3d')] },
          ],
        },
        {
          // 0.05% failing: within the 0.1% budget, nothing fires.
          interval: '1m',
          input_series: requests(19_990, 10),
          alert_rule_test: [
            { eval_time: '280m', alertname: 'MeshErrorBudgetBurn', exp_alerts: [] },
            { eval_time: '280m', alertname: 'MeshErrorBudgetSlowBurn', exp_alerts: [] },
          ],
        },
        {
          // A quiet gateway: only Prometheus scrapes Envoy's admin interface. Old telemetry is not stale then.
          interval: '1m',
          input_series: [
            { series: 'mesh_collector_newest_event_age_seconds', values: '600x30' },
            { series: 'envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="admin"}', values: '0+10x30' },
          ],
          alert_rule_test: [{ eval_time: '15m', alertname: 'MeshTelemetryStale', exp_alerts: [] }],
        },
        {
          // Every request in the 0.25-0.5 s bucket: p99 far over 100 ms, for more than 10 minutes.
          interval: '1m',
          input_series: [
            ...['0.1', '0.25'].map((le) => ({
              series: `mesh_request_duration_seconds_bucket{route="${route.name}",le="${le}"}`,
              values: '0x30',
            })),
            ...['0.5', '1', '+Inf'].map((le) => ({
              series: `mesh_request_duration_seconds_bucket{route="${route.name}",le="${le}"}`,
              values: '0+60x30',
            })),
          ],
          alert_rule_test: [
            { eval_time: '8m', alertname: 'MeshLatencyP99OverObjective', exp_alerts: [] },
            {
              eval_time: '20m',
              alertname: 'MeshLatencyP99OverObjective',
              exp_alerts: [
                {
                  exp_labels: { severity: 'page', route: route.name },
                  exp_annotations: annotationsOf('MeshLatencyP99OverObjective'),
                },
              ],
            },
          ],
        },
        {
          interval: '1m',
          input_series: [
            { series: 'mesh_drift_alert{model="credit-risk",version="2",feature="debt_to_income"}', values: '1x30' },
            { series: 'mesh_drift_alert{model="credit-risk",version="2",feature="age"}', values: '0x30' },
            { series: 'mesh_collector_lag_messages{consumer="collector-requests-credit-risk"}', values: '5000x30' },
            { series: 'mesh_collector_newest_event_age_seconds', values: '600x30' },
            { series: 'envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="gateway"}', values: '0+100x30' },
            {
              series: 'mesh_canary_rollbacks_total{route="credit-risk"}',
              values: '0 0 0 0 0 0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1',
            },
            {
              series: 'mesh_agent_events_dropped_total{reason="spool_full"}',
              values: '0 0 0 0 0 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50',
            },
          ],
          alert_rule_test: [
            {
              eval_time: '20m',
              alertname: 'MeshModelDrift',
              exp_alerts: [
                {
                  exp_labels: { severity: 'ticket', model: 'credit-risk', version: '2', feature: 'debt_to_income' },
                  exp_annotations: {
                    summary: 'Model credit-risk v2: feature debt_to_income drifted from its training baseline',
                    description: annotationsOf('MeshModelDrift').description!.replace(
                      '{{ $labels.feature }}',
                      'debt_to_income',
                    ),
                  },
                },
              ],
            },
            {
              eval_time: '15m',
              alertname: 'MeshTelemetryLag',
              exp_alerts: [
                {
                  exp_labels: { severity: 'ticket', consumer: 'collector-requests-credit-risk' },
                  exp_annotations: {
                    summary: 'The telemetry collector is 5000 messages behind on collector-requests-credit-risk',
                    description: annotationsOf('MeshTelemetryLag').description!,
                  },
                },
              ],
            },
            {
              eval_time: '10m',
              alertname: 'MeshTelemetryStale',
              exp_alerts: [
                {
                  exp_labels: { severity: 'page' },
                  exp_annotations: {
                    summary: 'No telemetry event newer than 600 s while the gateway serves requests',
                    description: annotationsOf('MeshTelemetryStale').description!,
                  },
                },
              ],
            },
            { eval_time: '9m', alertname: 'MeshCanaryRolledBack', exp_alerts: [] },
            {
              eval_time: '12m',
              alertname: 'MeshCanaryRolledBack',
              exp_alerts: [
                {
                  exp_labels: { severity: 'ticket', route: 'credit-risk' },
                  exp_annotations: {
                    summary: 'The canary of route credit-risk was rolled back',
                    description: annotationsOf('MeshCanaryRolledBack').description!.replaceAll(
                      '{{ $labels.route }}',
                      'credit-risk',
                    ),
                  },
                },
              ],
            },
            {
              eval_time: '8m',
              alertname: 'MeshTelemetryDropped',
              exp_alerts: [
                { exp_labels: { severity: 'ticket' }, exp_annotations: annotationsOf('MeshTelemetryDropped') },
              ],
            },
            // Ten minutes after the last drop, the increase is 0 again.
            { eval_time: '25m', alertname: 'MeshTelemetryDropped', exp_alerts: [] },
          ],
        },
      ],
    }
    await writeFile(join(dir, 'tests.yml'), stringify(tests, { lineWidth: 0 }))
    const tested = promtool(['test', 'rules', join(dir, 'tests.yml')])
    expect(tested.output).toContain('SUCCESS')
    expect(tested.code).toBe(0)
  })

  it('mesh rules prints the file; --out writes it', async () => {
    const out: string[] = []
    expect(await run(['rules', join(ROOT, 'mesh.yaml')], { out: (t) => void out.push(t), err: () => {} })).toBe(0)
    expect(out.join('')).toBe(alertRulesText(mesh.config))
    const file = join(dir, 'written.yml')
    expect(await run(['rules', join(ROOT, 'mesh.yaml'), '--out', file], { out: () => {}, err: () => {} })).toBe(0)
    expect(await readFile(file, 'utf8')).toBe(alertRulesText(mesh.config))
  })
})
