// @module
// golden-signals: at log time, for every request, records labelled
// proxy-wasm metrics (requests by status class, latency) and one compact
// event for the telemetry exporter. Events gather per worker and go to the
// exporter's shared queue as one NDJSON message per batch_events or per
// flush_interval_ms: each enqueue wakes the exporter's thread, so one per
// event would cost more than the event. Never delays a request: everything
// happens in proxy_on_log, after the response was sent, and a full or
// missing queue drops the events and counts them.
import { LogLevel, MapType } from "../../sdk/assembly/constants"
import { HttpContext, RootContext, setRootContextFactory } from "../../sdk/assembly/context"
import { getHeaderMap, getProperty, getPropertyInt64, headerOf, log, orEmpty, setTickPeriod } from "../../sdk/assembly/host"
import { increment, record } from "../../sdk/assembly/metrics"
import { modelOfPath } from "../../sdk/assembly/oip"
import { EventBatcher } from "../../sdk/assembly/telemetry-queue"
import { GoldenConfig, parseConfig } from "./config"
import { eventJson, latencyHistogramName, RequestRecord, requestCounterName } from "./signals"

export * from "../../sdk/assembly/exports"
export { proxy_on_log } from "../../sdk/assembly/exports-http"
export { proxy_on_tick } from "../../sdk/assembly/exports-service"

class GoldenSignalsRoot extends RootContext {
  config: GoldenConfig = new GoldenConfig()
  events: EventBatcher | null = null

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
    const code = getPropertyInt64(["response", "code"])
    r.code = code < 0 ? 0 : code
    const flags = getPropertyInt64(["response", "flags"])
    r.flags = flags < 0 ? 0 : flags
    const duration = getPropertyInt64(["request", "duration"])
    r.durationNs = duration < 0 ? 0 : duration
    // Two host calls for all headers, rather than one per header.
    const request = getHeaderMap(MapType.RequestHeaders)
    const response = getHeaderMap(MapType.ResponseHeaders)
    r.model = modelOfPath(headerOf(request, ":path"))
    r.variant = headerOf(request, "x-mesh-variant")
    // The version that answered, as the host says; else the one the router chose.
    r.version = response.has("x-model-version") ? response.get("x-model-version") : headerOf(request, "x-model-version")
    r.fallback = headerOf(response, "x-model-fallback") == "true"
    r.requestId = headerOf(request, "x-request-id")
    r.traceparent = headerOf(request, "traceparent")

    increment(requestCounterName(r))
    record(latencyHistogramName(r), <u64>(r.durationNs / 1000000))
    if (this.root.events !== null) this.root.events!.add(eventJson(this.root.config.service, r, Date.now()))
  }
}

setRootContextFactory((id: u32): RootContext => new GoldenSignalsRoot(id))
