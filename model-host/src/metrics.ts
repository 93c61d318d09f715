/**
 * @module
 * The host's own Prometheus metrics, served at `GET /metrics`: the telemetry
 * emitter's counters. A registry local to the host (not prom-client's global
 * one), and values read from the emitter only when scraped, so nothing is
 * added to the request path.
 */
import { Counter, Gauge, Registry } from 'prom-client'
import { DROP_REASONS, noDrops, type EmitterCounters } from './telemetry-agent-emitter.ts'

/** Counters of a host with no telemetry agent: nothing sent, nothing dropped. */
const NO_AGENT: EmitterCounters = { emitted: 0, sent: 0, dropped: noDrops(), buffered: 0, inFlight: 0 }

/** A registry whose metrics read `counters()` at each scrape. */
export function hostMetrics(counters: () => EmitterCounters = () => NO_AGENT): Registry {
  const registry = new Registry()
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
