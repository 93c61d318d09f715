// @module
// The golden-signals plugin: at log time, for every request, records
// labelled proxy-wasm metrics (requests by status class, latency) and one
// compact event for the telemetry exporter. Events gather per worker and go
// to the exporter's shared queue as one NDJSON message per batch_events or
// per flush_interval_ms: each enqueue wakes the exporter's thread, so one
// per event would cost more than the event. Never delays a request:
// everything happens in proxy_on_log, after the response was sent, and a
// full or missing queue drops the events and counts them.
import { defineMetric, getProperty, incrementMetric, MetricType, orEmpty, recordMetric } from "../../../../sdk/assembly/index"
import { EventBatcher, TelemetryConfig } from "../../../plugin-api/assembly/event-batcher"
import { Plugin, PluginStream } from "../../../plugin-api/assembly/plugin"
import { StreamView, VERSION_HEADER } from "../../../plugin-api/assembly/stream-view"
import { GoldenConfig } from "./config"
import { latencyHistogramName, OTHER_MODEL, RequestRecord, requestCounterName, statusClass, versionLabel, writeEvent } from "./signals"

/** The metric ids of one label set: defined once, then only incremented and recorded. */
class SeriesIds {
  constructor(
    readonly requests: u32,
    readonly latency: u32,
  ) {}
}

/**
 * Label sets one VM defines metrics for. The configuration bounds every
 * label, so a mesh stays far below it; past it (callers setting the variant
 * and version headers with no canary plugin in front), requests count under
 * the one overflow series, so no request can add stats to Envoy's store.
 */
const MAX_SERIES = 4096

function sameSeries(a: RequestRecord, b: RequestRecord): bool {
  return a.route == b.route && a.modelLabel == b.modelLabel && versionLabel(a) == versionLabel(b) && a.variant == b.variant && a.overflow == b.overflow && statusClass(a.code) == statusClass(b.code)
}

function seriesKey(r: RequestRecord): string {
  return r.overflow ? "\x1f" + statusClass(r.code) : r.route + "\x1f" + r.modelLabel + "\x1f" + versionLabel(r) + "\x1f" + r.variant + "\x1f" + statusClass(r.code)
}

export class GoldenPlugin extends Plugin {
  readonly events: EventBatcher
  /** By the raw label values: building the escaped metric names costs more than the rest of onLog. */
  series: Map<string, SeriesIds> = new Map()
  /** The label set of the previous request and its ids: consecutive requests mostly share one, found without building a key. */
  last: RequestRecord | null = null
  lastIds: SeriesIds | null = null

  constructor(
    readonly config: GoldenConfig,
    telemetry: TelemetryConfig,
  ) {
    super()
    this.events = new EventBatcher("golden", telemetry.exporterVmId, telemetry.queueName, telemetry.maxPendingEvents, config.batchEvents)
  }

  name(): string {
    return "golden_signals"
  }

  tickMs(): i32 {
    return this.config.flushIntervalMs
  }

  onTick(): void {
    this.events.flush()
  }

  /** A live update replaced this configuration (or the VM stops): what it gathered goes now, not never. */
  onDelete(): void {
    this.events.flush()
  }

  newStream(): PluginStream {
    return new GoldenStream(this)
  }

  seriesOf(r: RequestRecord): SeriesIds {
    const last = this.last
    if (last !== null && sameSeries(last, r)) return this.lastIds!
    let key = seriesKey(r)
    if (!this.series.has(key) && this.series.size >= MAX_SERIES) {
      r.overflow = true
      key = seriesKey(r)
    }
    let ids: SeriesIds
    if (this.series.has(key)) {
      ids = this.series.get(key)
    } else {
      ids = new SeriesIds(defineMetric(MetricType.Counter, requestCounterName(r)), defineMetric(MetricType.Histogram, latencyHistogramName(r)))
      if (ids.requests == 0 || ids.latency == 0) return ids
      this.series.set(key, ids)
    }
    this.last = r
    this.lastIds = ids
    return ids
  }
}

class GoldenStream extends PluginStream {
  constructor(readonly plugin: GoldenPlugin) {
    super()
  }

  onLog(view: StreamView): void {
    const r = new RequestRecord()
    r.route = view.routeName
    r.cluster = orEmpty(getProperty(["xds", "cluster_name"]))
    r.upstream = orEmpty(getProperty(["upstream", "address"]))
    r.durationNs = view.durationNs
    r.code = view.status
    // Response flags explain failures (UH, UF, UT, NR...); a success has none worth a host call.
    if (r.code < 200 || r.code >= 400) r.flags = view.responseFlags
    r.model = view.model
    r.modelLabel = r.model.length == 0 || this.plugin.config.models.has(r.model) ? r.model : OTHER_MODEL
    r.variant = view.requestVariant
    // The version that answered, as the host says; else the one the router chose.
    const answered = view.responseHeader(VERSION_HEADER)
    r.version = answered !== null ? answered : view.requestVersion
    r.fallback = view.responseHeader("x-model-fallback") == "true"
    r.requestId = view.requestId
    r.traceparent = view.traceparent

    const plugin = this.plugin
    const ids = plugin.seriesOf(r)
    if (ids.requests != 0) incrementMetric(ids.requests, 1)
    if (ids.latency != 0) recordMetric(ids.latency, <u64>(r.durationNs / 1000000))
    const w = plugin.events.begin()
    if (w === null) return
    writeEvent(w, plugin.config.service, r, Date.now())
    plugin.events.end()
  }
}
