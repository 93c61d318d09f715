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
import { enqueue, getHeader, getProperty, getPropertyInt64, log, resolveQueue, setTickPeriod } from "../../sdk/assembly/host"
import { increment, record } from "../../sdk/assembly/metrics"
import { modelOfPath } from "../../sdk/assembly/oip"
import { releaseSlots, reserveSlots } from "../../sdk/assembly/telemetry-queue"
import { GoldenConfig, parseConfig } from "./config"
import { eventJson, latencyHistogramName, RequestRecord, requestCounterName } from "./signals"

export * from "../../sdk/assembly/exports"
export { proxy_on_log } from "../../sdk/assembly/exports-http"
export { proxy_on_tick } from "../../sdk/assembly/exports-service"

/** Queue slots reserved per shared-data round trip. */
const SLOT_BLOCK: i64 = 32

function orEmpty(s: string | null): string {
  return s === null ? "" : s
}

class GoldenSignalsRoot extends RootContext {
  config: GoldenConfig = new GoldenConfig()
  queue: u32 = 0
  /** Queue slots this VM reserved and has not used yet. */
  slots: i64 = 0
  /** Events gathered since the last flush, NDJSON. */
  batch: string = ""
  batchCount: i32 = 0

  onConfigure(configuration: string): bool {
    const parsed = parseConfig(configuration)
    if (parsed.error.length > 0) {
      log(LogLevel.Error, "golden-signals: invalid configuration: " + parsed.error)
      return false
    }
    this.config = parsed
    setTickPeriod(<u32>parsed.flushIntervalMs)
    return true
  }

  onTick(): void {
    this.flush()
  }

  newHttpContext(id: u32): HttpContext {
    return new GoldenSignalsStream(id, this)
  }

  /** Takes an event into the worker's batch, or drops it (counted) when the queue is full. */
  add(event: string): void {
    // Envoy's shared queues are unbounded: bound them with a shared counter.
    if (this.slots == 0) this.slots = reserveSlots(this.config.queueName, this.config.maxPendingEvents, min(SLOT_BLOCK, this.config.maxPendingEvents))
    if (this.slots == 0) {
      increment("golden.events.dropped_queue_full")
      return
    }
    this.slots--
    this.batch += event + "\n"
    this.batchCount++
    if (this.batchCount >= this.config.batchEvents) this.flush()
  }

  /** Hands the batch to the exporter, or drops it (counted) when no exporter queue exists. */
  flush(): void {
    if (this.batchCount == 0) return
    const count = this.batchCount
    const batch = this.batch
    this.batch = ""
    this.batchCount = 0
    // Envoy guarantees no start-up order between VMs: resolve the queue lazily.
    if (this.queue == 0) this.queue = resolveQueue(this.config.exporterVmId, this.config.queueName)
    if (this.queue == 0 || enqueue(this.queue, batch) != 0) {
      this.queue = 0
      releaseSlots(this.config.queueName, count)
      increment("golden.events.dropped_no_exporter", count)
      return
    }
    increment("golden.events.enqueued", count)
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
    r.model = modelOfPath(orEmpty(getHeader(MapType.RequestHeaders, ":path")))
    r.variant = orEmpty(getHeader(MapType.RequestHeaders, "x-mesh-variant"))
    // The version that answered, as the host says; else the one the router chose.
    const answered = getHeader(MapType.ResponseHeaders, "x-model-version")
    r.version = answered !== null ? answered : orEmpty(getHeader(MapType.RequestHeaders, "x-model-version"))
    r.fallback = orEmpty(getHeader(MapType.ResponseHeaders, "x-model-fallback")) == "true"
    r.requestId = orEmpty(getHeader(MapType.RequestHeaders, "x-request-id"))
    r.traceparent = orEmpty(getHeader(MapType.RequestHeaders, "traceparent"))

    increment(requestCounterName(r))
    record(latencyHistogramName(r), <u64>(r.durationNs / 1000000))
    this.root.add(eventJson(this.root.config.service, r, Date.now()))
  }
}

setRootContextFactory((id: u32): RootContext => new GoldenSignalsRoot(id))
