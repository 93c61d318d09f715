// @module
// golden-signals: at log time, for every request, records labelled
// proxy-wasm metrics (requests by status class, latency) and one compact
// event for the telemetry exporter. Events gather per worker and go to the
// exporter's shared queue as one NDJSON message per batch_events or per
// flush_interval_ms: each enqueue wakes the exporter's thread, so one per
// event would cost more than the event. Never delays a request: everything
// happens in proxy_on_log, after the response was sent, and a full or
// missing queue drops the events and counts them.
import { LogLevel, MapType, MetricType } from "../../sdk/assembly/constants"
import { HttpContext, RootContext, setRootContextFactory } from "../../sdk/assembly/context"
import { defineMetric, getHeaderPairs, getProperty, getPropertyInt64, incrementMetric, log, orEmpty, recordMetric, setTickPeriod } from "../../sdk/assembly/host"
import { modelOfPath } from "../../sdk/assembly/oip"
import { EventBatcher } from "../../sdk/assembly/telemetry-queue"
import { GoldenConfig, parseConfig } from "./config"
import { latencyHistogramName, OTHER_MODEL, RequestRecord, requestCounterName, statusClass, statusOf, variantOf, versionLabel, writeEvent } from "./signals"

export * from "../../sdk/assembly/exports"
export { proxy_on_log } from "../../sdk/assembly/exports-http"
export { proxy_on_tick } from "../../sdk/assembly/exports-service"

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
 * and version headers with no canary router in front), requests count under
 * the one overflow series, so no request can add stats to Envoy's store.
 */
const MAX_SERIES = 4096

function sameSeries(a: RequestRecord, b: RequestRecord): bool {
  return a.route == b.route && a.modelLabel == b.modelLabel && versionLabel(a) == versionLabel(b) && a.variant == b.variant && a.overflow == b.overflow && statusClass(a.code) == statusClass(b.code)
}

function seriesKey(r: RequestRecord): string {
  return r.overflow ? "\x1f" + statusClass(r.code) : r.route + "\x1f" + r.modelLabel + "\x1f" + versionLabel(r) + "\x1f" + r.variant + "\x1f" + statusClass(r.code)
}

class GoldenSignalsRoot extends RootContext {
  config: GoldenConfig = new GoldenConfig()
  events: EventBatcher | null = null
  /** By the raw label values: building the escaped metric names costs more than the rest of onLog. */
  series: Map<string, SeriesIds> = new Map()

  /** The label set of the previous request and its ids: consecutive requests mostly share one, found without building a key. */
  last: RequestRecord | null = null
  lastIds: SeriesIds | null = null

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

  onConfigure(configuration: string): bool {
    const parsed = parseConfig(configuration)
    if (parsed.error.length > 0) {
      log(LogLevel.Error, "golden-signals: invalid configuration: " + parsed.error)
      return false
    }
    this.config = parsed
    this.events = new EventBatcher("golden", parsed.exporterVmId, parsed.queueName, parsed.maxPendingEvents, parsed.batchEvents)
    setTickPeriod(<u32>parsed.flushIntervalMs)
    return true
  }

  onTick(): void {
    if (this.events !== null) this.events!.flush()
  }

  /** A live update replaced this root (or the VM stops): what it gathered goes now, not never. */
  onDelete(): void {
    if (this.events !== null) this.events!.flush()
  }

  newHttpContext(id: u32): HttpContext {
    return new GoldenSignalsStream(id, this)
  }
}

class GoldenSignalsStream extends HttpContext {
  constructor(id: u32, readonly root: GoldenSignalsRoot) {
    super(id)
  }

  onLog(): void {
    const r = new RequestRecord()
    r.route = orEmpty(getProperty(["xds", "route_name"]))
    r.cluster = orEmpty(getProperty(["xds", "cluster_name"]))
    r.upstream = orEmpty(getProperty(["upstream", "address"]))
    const duration = getPropertyInt64(["request", "duration"])
    r.durationNs = duration < 0 ? 0 : duration
    // Two host calls for all headers, rather than one per header.
    const request = getHeaderPairs(MapType.RequestHeaders)
    const response = getHeaderPairs(MapType.ResponseHeaders)
    // response.code is the :status Envoy sent (0 when it sent none); property
    // reads are the costliest host calls, so read the header map we have.
    r.code = statusOf(response.value(":status"))
    // Response flags explain failures (UH, UF, UT, NR...); a success has none worth a host call.
    if (r.code < 200 || r.code >= 400) {
      const flags = getPropertyInt64(["response", "flags"])
      r.flags = flags < 0 ? 0 : flags
    }
    r.model = modelOfPath(request.value(":path"))
    r.modelLabel = r.model.length == 0 || this.root.config.models.has(r.model) ? r.model : OTHER_MODEL
    // The canary router sets x-mesh-variant with x-model-version, and removes both
    // headers when a caller sends them for a model it does not route: without the
    // variant, x-model-version on the request is a caller's, and is not used.
    r.variant = variantOf(request.value("x-mesh-variant"))
    // The version that answered, as the host says; else the one the router chose.
    const answered = response.get("x-model-version")
    r.version = answered !== null ? answered : r.variant.length > 0 ? request.value("x-model-version") : ""
    r.fallback = response.value("x-model-fallback") == "true"
    r.requestId = request.value("x-request-id")
    r.traceparent = request.value("traceparent")

    const ids = this.root.seriesOf(r)
    if (ids.requests != 0) incrementMetric(ids.requests, 1)
    if (ids.latency != 0) recordMetric(ids.latency, <u64>(r.durationNs / 1000000))
    const events = this.root.events
    if (events === null) return
    const w = events.begin()
    if (w === null) return
    writeEvent(w, this.root.config.service, r, Date.now())
    events.end()
  }
}

setRootContextFactory((id: u32): RootContext => new GoldenSignalsRoot(id))
