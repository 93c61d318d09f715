/**
 * @module
 * /metrics: the collector's state as Prometheus series, registered in a
 * prom-client Registry as collectors that read the aggregator when scraped.
 * Counters carry the stored all-time totals, so they do not reset when the
 * collector restarts; collectors that own disjoint models export disjoint
 * series, which Prometheus sums.
 */
import { Registry } from 'prom-client'
import { seriesKey, type Aggregator } from '../state/aggregator.ts'
import type { CanaryWalker } from '../analysis/canary-walk.ts'
import { PREDICTION_FEATURE, type DriftMonitor, type VersionDrift } from '../analysis/drift-monitor.ts'
import type { Ingest } from '../ingest/consumers.ts'
import { DURATION_BUCKETS_S } from '../state/signals.ts'
import { mergeByHost } from '../state/windows.ts'

/** One sample: `metricName` for a histogram's _bucket, _sum and _count. */
interface Sample {
  labels: object
  value: number
  metricName?: string
}
type Values = Sample[]

/** Hosts report saturation every second; a report older than this is stale. */
const SATURATION_FRESH_MS = 30_000

/** Where metrics register, and whether a model's series are this collector's to export. */
interface Scope {
  registry: Registry
  reports(modelLabel: string): boolean
}

/**
 * One metric whose values are computed at scrape time. prom-client's own
 * metric types keep their values themselves; these read the aggregator,
 * which restores its totals from the store.
 */
function stateMetric(
  scope: Scope,
  name: string,
  help: string,
  type: 'counter' | 'gauge' | 'histogram',
  values: () => Values,
): void {
  // A series of a model this collector does not consume now is another's to export (its state here is older).
  const reported = () => values().filter((v) => !('model' in v.labels) || scope.reports(String(v.labels.model)))
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: reported() }),
    reset() {},
  }
  scope.registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0])
}

export function collectorMetrics(
  agg: Aggregator,
  ingest: () => Ingest | undefined,
  drift?: DriftMonitor,
  walker: () => CanaryWalker | undefined = () => undefined,
  /** Whether the series of a model (its label) are this collector's to export: the models it consumes now (default all). */
  reports: (modelLabel: string) => boolean = () => true,
): Registry {
  const r = new Registry()
  const scope: Scope = { registry: r, reports }
  if (drift) driftMetrics(scope, drift)
  // 0 for every route that has had a walk, so the first rollback is an increase (alerts read increase()).
  stateMetric(
    scope,
    'mesh_canary_rollbacks_total',
    'Canary walks (auto mode) that ended in a rollback, by route.',
    'counter',
    () => {
      const by = new Map<string, number>()
      for (const c of walker()?.counts() ?? [])
        by.set(c.route, (by.get(c.route) ?? 0) + (c.status === 'rolled_back' ? c.walks : 0))
      return [...by].map(([route, value]) => ({ labels: { route }, value }))
    },
  )
  stateMetric(
    scope,
    'mesh_canary_walks',
    'Canary walks by route and how they stand: walking, promoted, rolled_back, overridden (a manual change took over), failed (a change was refused).',
    'gauge',
    () => (walker()?.counts() ?? []).map((c) => ({ labels: { route: c.route, status: c.status }, value: c.walks })),
  )

  stateMetric(
    scope,
    'mesh_requests_total',
    'Requests through the mesh, as Envoy saw them, by route, model, version, variant and status class (none: no response was sent).',
    'counter',
    () =>
      [...agg.totals.values()].map((t) => ({ labels: { ...t.labels, code_class: t.code }, value: t.total.requests })),
  )
  stateMetric(
    scope,
    'mesh_request_duration_seconds',
    "Request duration at the gateway, from the request's first byte to its log.",
    'histogram',
    () =>
      [...agg.totals.values()].flatMap((t) => {
        const labels = { ...t.labels, code_class: t.code }
        let cumulative = 0
        const buckets: Values = DURATION_BUCKETS_S.map((le, i) => {
          cumulative += t.total.buckets[i]!
          return { metricName: 'mesh_request_duration_seconds_bucket', labels: { ...labels, le }, value: cumulative }
        })
        buckets.push({
          metricName: 'mesh_request_duration_seconds_bucket',
          labels: { ...labels, le: '+Inf' },
          value: t.total.requests,
        })
        buckets.push({ metricName: 'mesh_request_duration_seconds_sum', labels, value: t.total.durationSumS })
        buckets.push({ metricName: 'mesh_request_duration_seconds_count', labels, value: t.total.requests })
        return buckets
      }),
  )
  stateMetric(
    scope,
    'mesh_fallbacks_total',
    'Requests a fallback model answered (x-model-fallback: true), by route, model, version and variant.',
    'counter',
    () => {
      const by = new Map<string, { labels: Record<string, string>; value: number }>()
      for (const t of agg.totals.values()) {
        const key = seriesKey(t.labels)
        const e = by.get(key) ?? { labels: { ...t.labels }, value: 0 }
        e.value += t.total.fallbacks
        by.set(key, e)
      }
      return [...by.values()]
    },
  )

  stateMetric(
    scope,
    'mesh_host_batches_total',
    'Batches the model hosts executed, by host instance, model, version and outcome.',
    'counter',
    () =>
      [...agg.hostTotals.values()].flatMap((t) => [
        { labels: { ...t.labels, ok: 'true' }, value: t.bucket.batches - t.bucket.failedBatches },
        { labels: { ...t.labels, ok: 'false' }, value: t.bucket.failedBatches },
      ]),
  )
  stateMetric(scope, 'mesh_host_batch_rows_total', 'Rows the model hosts executed in batches.', 'counter', () =>
    [...agg.hostTotals.values()].map((t) => ({ labels: t.labels, value: t.bucket.rows })),
  )
  stateMetric(
    scope,
    'mesh_host_fallbacks_total',
    'Requests a host answered with a fallback model, by reason.',
    'counter',
    () =>
      [...agg.hostTotals.values()].flatMap((t) =>
        [...t.bucket.fallbacks].map(([reason, value]) => ({ labels: { ...t.labels, reason }, value })),
      ),
  )
  stateMetric(
    scope,
    'mesh_host_refusals_total',
    'Requests a host refused with no fallback to answer them, by reason.',
    'counter',
    () =>
      [...agg.hostTotals.values()].flatMap((t) =>
        [...t.bucket.refusals].map(([reason, value]) => ({ labels: { ...t.labels, reason }, value })),
      ),
  )
  stateMetric(
    scope,
    'mesh_host_batch_fill_ratio',
    'Mean rows per batch over the batch size limit, over the last 5 minutes.',
    'gauge',
    () => {
      // The minute holding the window's start counts whole.
      const from = Date.now() - 6 * 60_000
      const recent = [...agg.hostMinutes.values()].filter((m) => m.minute >= from)
      return [...mergeByHost(recent).values()].flatMap((h) => {
        const ratio = h.bucket.summary().batch_fill_ratio
        return ratio === null ? [] : [{ labels: h.labels, value: ratio }]
      })
    },
  )
  // A host that stopped reporting (gone, or its agent) has no current saturation: its last figure is not shown as one.
  const saturation = (field: 'queue_depth' | 'busy_instances' | 'instances') => () =>
    [...agg.saturation.values()]
      .filter((s) => s.ts >= Date.now() - SATURATION_FRESH_MS)
      .map((s) => ({ labels: { host: s.host, model: s.model, version: s.version }, value: s[field] }))
  stateMetric(
    scope,
    'mesh_host_queue_depth',
    "Requests waiting in a host's batcher, as last reported.",
    'gauge',
    saturation('queue_depth'),
  )
  stateMetric(
    scope,
    'mesh_host_busy_instances',
    'Model instances running a batch, as last reported.',
    'gauge',
    saturation('busy_instances'),
  )
  stateMetric(
    scope,
    'mesh_host_instances',
    "Model instances (sessions) of a host's model version.",
    'gauge',
    saturation('instances'),
  )

  stateMetric(
    scope,
    'mesh_collector_events_applied_total',
    'Telemetry events applied to the store, by kind.',
    'counter',
    () => Object.entries(agg.pipeline.applied).map(([kind, value]) => ({ labels: { kind }, value })),
  )
  stateMetric(
    scope,
    'mesh_collector_events_refused_total',
    'Telemetry events skipped (and their messages acknowledged), by reason: malformed, unknown_kind, unknown_version, invalid (a value out of range), too_large (a message inflating past its bound), store_refused.',
    'counter',
    () => Object.entries(agg.pipeline.refused).map(([reason, value]) => ({ labels: { reason }, value })),
  )
  stateMetric(
    scope,
    'mesh_collector_messages_redelivered_total',
    'JetStream messages delivered more than once.',
    'counter',
    () => [{ value: agg.pipeline.redelivered, labels: {} }],
  )
  stateMetric(
    scope,
    'mesh_collector_messages_skipped_total',
    'Messages already applied (redelivered, or an agent batch published again past the duplicate window), not counted again.',
    'counter',
    () => [{ value: agg.pipeline.skipped, labels: {} }],
  )
  stateMetric(
    scope,
    'mesh_collector_lag_messages',
    'Messages in the stream this collector has not applied yet, per consumer.',
    'gauge',
    () =>
      [...(ingest()?.pending ?? new Map<string, number>())].map(([consumer, value]) => ({
        labels: { consumer },
        value,
      })),
  )
  stateMetric(
    scope,
    'mesh_collector_newest_event_age_seconds',
    'Age of the newest event applied (by its own timestamp); stale numbers show here first.',
    'gauge',
    () =>
      agg.pipeline.newestEventTs > 0
        ? [{ value: Math.max(0, (Date.now() - agg.pipeline.newestEventTs) / 1000), labels: {} }]
        : [],
  )
  return r
}

/**
 * Drift, judged when scraped (one judgement serves every drift metric of a
 * scrape: they are read within a second of each other). A version with too
 * few samples has no PSI or KS series, and 1 in mesh_drift_insufficient_data.
 */
function driftMetrics(scope: Scope, drift: DriftMonitor): void {
  let cached: { at: number; report: VersionDrift[] } | undefined
  const report = () => {
    if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), report: drift.report() }
    return cached.report
  }
  const perDistribution =
    (value: (d: { psi: number | null; ksStatistic: number | null; verdict: string }) => number | null) => () =>
      report().flatMap((v) =>
        [...v.features, ...(v.prediction ? [{ feature: PREDICTION_FEATURE, ...v.prediction }] : [])].flatMap((f) => {
          const x = value(f)
          return x === null ? [] : [{ labels: { model: v.model, version: v.version, feature: f.feature }, value: x }]
        }),
      )
  stateMetric(
    scope,
    'mesh_drift_psi',
    `Population stability index of a feature's sampled values (feature="${PREDICTION_FEATURE}": the predicted score) against the version's training baseline.`,
    'gauge',
    perDistribution((d) => d.psi),
  )
  stateMetric(
    scope,
    'mesh_drift_ks_statistic',
    "Kolmogorov-Smirnov distance of a feature's sampled values against the training baseline.",
    'gauge',
    perDistribution((d) => d.ksStatistic),
  )
  stateMetric(
    scope,
    'mesh_drift_alert',
    "Drift verdict per feature: 1 drifted past the model's PSI or KS threshold, 0 within them (absent while data is insufficient).",
    'gauge',
    perDistribution((d) => (d.verdict === 'insufficient_data' ? null : d.verdict === 'drift' ? 1 : 0)),
  )
  stateMetric(scope, 'mesh_drift_sample_rows', "Rate-sampled rows in a model version's drift window.", 'gauge', () =>
    report().map((v) => ({ labels: { model: v.model, version: v.version }, value: v.rows })),
  )
  stateMetric(
    scope,
    'mesh_drift_insufficient_data',
    '1 while a model version has fewer sampled rows than its minimum for a drift verdict (or no baseline).',
    'gauge',
    () =>
      report().map((v) => ({
        labels: { model: v.model, version: v.version },
        value: v.status === 'insufficient_data' || v.status === 'no_baseline' ? 1 : 0,
      })),
  )
  stateMetric(
    scope,
    'mesh_model_confidence_mean',
    "Mean x-model-confidence of a model version's rate-sampled responses in the drift window.",
    'gauge',
    () =>
      report().flatMap((v) =>
        v.meanConfidence === null ? [] : [{ labels: { model: v.model, version: v.version }, value: v.meanConfidence }],
      ),
  )
}
