/**
 * @module
 * The host's own Prometheus metrics, served at `GET /metrics`: the telemetry
 * emitter's counters, and each loaded model version's saturation now (the
 * same figures its `host_saturation` events carry). A registry local to the host (not prom-client's global
 * one), and values read from the emitter only when scraped, so nothing is
 * added to the request path.
 */
import { Counter, Gauge, Registry } from 'prom-client'
import type { LoadedVersion } from './loaded-version.ts'
import type { ModelState } from './model-manager.ts'
import { saturationEvents } from './saturation.ts'
import { DROP_REASONS, noDrops, type EmitterCounters } from './telemetry-agent-emitter.ts'

/** Counters of a host with no telemetry agent: nothing sent, nothing dropped. */
const NO_AGENT: EmitterCounters = { emitted: 0, sent: 0, dropped: noDrops(), buffered: 0, inFlight: 0 }

/** A registry whose metrics read `counters()` and `models()` at each scrape. */
export function hostMetrics(
  counters: () => EmitterCounters = () => NO_AGENT,
  models: () => ModelState[] = () => [],
  storiesSuppressed: () => number = () => 0,
): Registry {
  const registry = new Registry()
  new Counter({
    name: 'model_host_telemetry_stories_suppressed_total',
    help: 'Stories (failed batches, fallbacks, refusals) left out past the per-second cap; each is still counted in its host_stats record',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(storiesSuppressed())
    },
  })
  const saturation = [
    ['model_host_queue_depth', 'Requests waiting for a batch, by model version', 'queue_depth'],
    ['model_host_busy_instances', 'Instances running a batch now, by model version', 'busy_instances'],
    ['model_host_instances', 'Instances (inference sessions) loaded, by model version', 'instances'],
  ] as const
  for (const [name, help, field] of saturation) {
    new Gauge({
      name,
      help,
      labelNames: ['model', 'version'],
      registers: [registry],
      collect() {
        this.reset()
        for (const e of saturationEvents(models(), '', 0)) this.set({ model: e.model, version: e.version }, e[field])
      },
    })
  }
  // The autoscaling signal queue_wait (mesh.yaml hosts[].autoscale): mean wait per batch = rate(wait) / rate(batches).
  const batchCounters = [
    ['model_host_batches_total', 'Batches run, by model version', (v: LoadedVersion) => v.stats.execution_count],
    [
      'model_host_batch_queue_wait_seconds_total',
      "Time each batch's oldest request waited for it, summed over batches, by model version",
      (v: LoadedVersion) => v.stats.queue_ms_total / 1000,
    ],
  ] as const
  for (const [name, help, value] of batchCounters) {
    new Counter({
      name,
      help,
      labelNames: ['model', 'version'],
      registers: [registry],
      collect() {
        this.reset()
        for (const m of models()) for (const [version, v] of m.versions) this.inc({ model: m.name, version }, value(v))
      },
    })
  }
  new Counter({
    name: 'model_host_telemetry_events_total',
    help: 'Host telemetry events the telemetry agent accepted',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset()
      this.inc({ result: 'sent' }, counters().sent)
    },
  })
  new Counter({
    name: 'model_host_telemetry_events_emitted_total',
    help: 'Host telemetry events produced (sent + dropped + buffered + in flight)',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(counters().emitted)
    },
  })
  new Counter({
    name: 'model_host_telemetry_events_dropped_total',
    help: 'Host telemetry events dropped, by reason (never retried: the agent spools, the host does not)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset()
      const dropped = counters().dropped
      // Every reason from the start, so rate() has a zero to begin from.
      for (const reason of DROP_REASONS) this.inc({ reason }, dropped[reason])
    },
  })
  new Gauge({
    name: 'model_host_telemetry_buffered_events',
    help: 'Host telemetry events waiting in the bounded buffer or in flight to the agent',
    registers: [registry],
    collect() {
      const c = counters()
      this.set(c.buffered + c.inFlight)
    },
  })
  return registry
}
