/**
 * @module
 * mesh.yaml → a Prometheus rules file: for every route with an `slo`,
 * multi-window, multi-burn-rate alerts on its availability error budget
 * (the Google SRE workbook's: a fast burn pages when both a long and a
 * short window burn, so it fires quickly and stops soon after the burn
 * does), and p99 over its objective; then model drift, canary rollbacks, and the telemetry
 * pipeline's own lag, staleness and drops, whatever the routes. The
 * thresholds are contracts/alert-thresholds.ts, which the collector's own
 * alerts read too. Pure: the
 * same config gives the same text. `mesh rules` prints it; `promtool check
 * rules` and `promtool test rules` check it (mesh-config/test/alert-rules.test.ts).
 */
import { stringify } from 'yaml'
import {
  ALERT_NAMES,
  BURN_ALERT_NAMES,
  BURN_ALERTS,
  burnThreshold,
  FAILED_CODE_CLASSES,
  TELEMETRY_LAG_MESSAGES,
  TELEMETRY_STALE_S,
} from '@model-mesh/contracts'
import type { MeshConfig, Route } from './schema.ts'

/** Every window a burn-rate alert reads, each a recording rule. */
const RATE_WINDOWS = [...new Set(BURN_ALERTS.flatMap((a) => [a.short, a.long]))]

interface Rule {
  record?: string
  alert?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

const quote = (s: string) => JSON.stringify(s)
const errorRatio = (window: string) => `mesh:route_error_ratio:rate${window}`

function routeRules(r: Route & { slo: NonNullable<Route['slo']> }): Rule[] {
  const sel = `route=${quote(r.name)}`
  const rules: Rule[] = RATE_WINDOWS.map((w) => ({
    record: errorRatio(w),
    expr: `sum by (route) (rate(mesh_requests_total{${sel},code_class=~"${FAILED_CODE_CLASSES}"}[${w}])) / sum by (route) (rate(mesh_requests_total{${sel}}[${w}]))`,
  }))
  for (const a of BURN_ALERTS) {
    const { burn, threshold } = burnThreshold(a, r.slo)
    rules.push({
      alert: BURN_ALERT_NAMES[a.severity],
      expr: `${errorRatio(a.long)}{${sel}} > ${threshold} and ${errorRatio(a.short)}{${sel}} > ${threshold}`,
      labels: { severity: a.severity, route: r.name, long_window: a.long },
      annotations: {
        summary: `Route ${r.name} is spending its error budget ${+burn.toFixed(2)}x too fast`,
        description: `Over ${a.long} (and ${a.short}) more than ${+(threshold * 100).toPrecision(4)}% of requests to route ${r.name} failed (5xx or no response): at this rate ${a.budgetShare * 100}% of the ${r.slo.window_days}-day budget (availability ${r.slo.availability}) goes in ${a.long}.`,
      },
    })
  }
  rules.push({
    alert: ALERT_NAMES.latencyP99,
    expr: `histogram_quantile(0.99, sum by (route, le) (rate(mesh_request_duration_seconds_bucket{${sel}}[5m]))) > ${r.slo.p99_ms / 1000}`,
    for: '10m',
    labels: { severity: 'page', route: r.name },
    annotations: {
      summary: `Route ${r.name}: p99 latency over ${r.slo.p99_ms} ms`,
      description: `The p99 of requests to route ${r.name} over the last 5 minutes has been over its objective of ${r.slo.p99_ms} ms for 10 minutes.`,
    },
  })
  return rules
}

/** Alerts that hold whatever the routes: model quality and the telemetry pipeline itself. */
const MESH_RULES: Rule[] = [
  {
    alert: ALERT_NAMES.drift,
    expr: 'max by (model, version, feature) (mesh_drift_alert) == 1',
    for: '15m',
    labels: { severity: 'ticket' },
    annotations: {
      summary:
        'Model {{ $labels.model }} v{{ $labels.version }}: feature {{ $labels.feature }} drifted from its training baseline',
      description:
        "The sampled values of {{ $labels.feature }} have been past the model's PSI or KS threshold for 15 minutes (GET /api/v1/drift on the collector has the numbers).",
    },
  },
  {
    alert: ALERT_NAMES.canaryRolledBack,
    expr: 'increase(mesh_canary_rollbacks_total[15m]) > 0',
    labels: { severity: 'ticket' },
    annotations: {
      summary: 'The canary of route {{ $labels.route }} was rolled back',
      description:
        'A canary walk of route {{ $labels.route }} failed its analysis and was rolled back (npx mesh canary status {{ $labels.route }} says why).',
    },
  },
  {
    alert: ALERT_NAMES.telemetryLag,
    expr: `max by (consumer) (mesh_collector_lag_messages) > ${TELEMETRY_LAG_MESSAGES}`,
    for: '10m',
    labels: { severity: 'ticket' },
    annotations: {
      summary: 'The telemetry collector is {{ $value }} messages behind on {{ $labels.consumer }}',
      description: 'The collector has not kept up with its stream for 10 minutes: its numbers are behind the mesh.',
    },
  },
  {
    alert: ALERT_NAMES.telemetryStale,
    // Requests to the gateway, not to Envoy's admin interface (Prometheus' own scrapes would keep that rate up).
    expr: `max(mesh_collector_newest_event_age_seconds) > ${TELEMETRY_STALE_S} and sum(rate(envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix!="admin"}[5m])) > 0`,
    for: '5m',
    labels: { severity: 'page' },
    annotations: {
      summary: 'No telemetry event newer than {{ $value }} s while the gateway serves requests',
      description:
        "The collector's newest event is over 5 minutes old although Envoy is serving: the dashboards and alerts are reading stale numbers.",
    },
  },
  {
    alert: ALERT_NAMES.telemetryDropped,
    // Each source counts its own drops; a missing one (no host running yet) counts 0, not nothing.
    expr: '(sum(increase(mesh_agent_events_dropped_total[10m])) or vector(0)) + (sum(increase(exporter_events_dropped[10m])) or vector(0)) + (sum(increase(model_host_telemetry_events_dropped_total[10m])) or vector(0)) > 0',
    labels: { severity: 'ticket' },
    annotations: {
      summary: 'Telemetry events were dropped in the last 10 minutes',
      description:
        "The agent, Envoy's exporter or a model host dropped events (their counters say where and why): the totals are short by that many.",
    },
  },
]

export function alertRules(config: MeshConfig): { groups: { name: string; rules: Rule[] }[] } {
  const withSlo = config.routes.filter((r): r is Route & { slo: NonNullable<Route['slo']> } => r.slo !== undefined)
  return {
    groups: [
      ...withSlo.map((r) => ({ name: `mesh-slo-${r.name}`, rules: routeRules(r) })),
      { name: 'mesh-quality-and-telemetry', rules: MESH_RULES },
    ],
  }
}

export function alertRulesText(config: MeshConfig): string {
  return `# Generated by \`npx mesh rules\` from mesh.yaml: edit the SLOs there, not here.\n${stringify(alertRules(config), { lineWidth: 0 })}`
}
