// @module
// telemetry-exporter: a singleton Wasm service (envoy.bootstrap.wasm) that
// owns the telemetry queue the filters write to, drains it on a timer or
// when a batch has gathered, and posts each batch (NDJSON) to the local
// telemetry agent with proxy_http_call (ABI 0.2.1's name for 0.1.0's
// proxy_dispatch_http_call). It never retries: a batch
// the agent cannot take is dropped and counted, so memory cannot grow.
import { dequeue, dispatchHttpCall, getHeader, increment, log, LogLevel, MapType, registerQueue, RootContext, setRootContextFactory, setTickPeriod } from "../../sdk/assembly/index"
import { releaseSlots, requestsIn, resetSlots } from "../../telemetry-queue/assembly/queue"
import { ExporterConfig, parseConfig, resolveToken } from "./config"

export { proxy_abi_version_0_2_1, proxy_on_memory_allocate, proxy_on_context_create, proxy_on_vm_start, proxy_on_configure, proxy_on_delete } from "../../sdk/assembly/index"
export { proxy_on_http_call_response, proxy_on_queue_ready, proxy_on_tick } from "../../sdk/assembly/index"

/** Producer messages that trigger a flush before the tick. */
const EARLY_FLUSH_MESSAGES = 16

function lines(ndjson: string): i32 {
  let n = 0
  for (let i = 0; i < ndjson.length; i++) if (ndjson.charCodeAt(i) == 10) n++
  return n
}

class ExporterRoot extends RootContext {
  config: ExporterConfig = new ExporterConfig()
  queue: u32 = 0
  inFlight: i32 = 0
  /** Events per outstanding call, by token. */
  batches: Map<u32, i32> = new Map<u32, i32>()
  /** The requests its request_stats records count, per outstanding call: what a failed call loses. */
  batchRequests: Map<u32, i64> = new Map<u32, i64>()
  /** Messages (each a producer's batch of events) waiting since the last flush. */
  waiting: i32 = 0
  headerNames: string[] = []
  /** The call's header values; x-event-count (index 4) is set per call. */
  headerValues: string[] = []

  onConfigure(configuration: string): bool {
    const parsed = parseConfig(configuration)
    // The credential comes from Envoy's environment (WASI environ_get), never from this configuration.
    const token = parsed.error.length > 0 ? "" : resolveToken(parsed, process.env)
    if (parsed.error.length > 0) {
      log(LogLevel.Error, "telemetry-exporter: invalid configuration: " + parsed.error)
      return false
    }
    this.config = parsed
    // Built once: every call carries the same credential (never logged).
    this.headerNames = [":method", ":path", ":authority", "content-type", "x-event-count"]
    this.headerValues = ["POST", parsed.path, parsed.authority, "application/x-ndjson", ""]
    if (token.length > 0) {
      this.headerNames.push("authorization")
      this.headerValues.push("Bearer " + token)
    }
    // The bound counts the events in the queue, which starts empty: set it to 0
    // before producers can find the queue. (Only an earlier exporter VM of this
    // process could have left events in it; they are counted out as they
    // drain, the count stopping at 0, so the bound is loose until they are gone.)
    resetSlots(parsed.queueName)
    this.queue = registerQueue(parsed.queueName)
    if (this.queue == 0) {
      log(LogLevel.Error, "telemetry-exporter: could not register queue " + parsed.queueName)
      return false
    }
    setTickPeriod(<u32>parsed.flushIntervalMs)
    log(LogLevel.Info, "telemetry-exporter: draining " + parsed.queueName + " to cluster " + parsed.cluster)
    return true
  }

  onQueueReady(queue: u32): void {
    if (queue != this.queue) return
    // Flush early once enough producer batches have gathered; otherwise the tick will.
    this.waiting++
    if (this.waiting >= EARLY_FLUSH_MESSAGES) this.flush()
  }

  onTick(): void {
    this.flush()
  }

  flush(): void {
    while (this.inFlight < this.config.maxInFlight) {
      let body = ""
      let count: i32 = 0
      // Messages are producers' NDJSON batches; a POST carries whole messages.
      // Whole messages, so a body may end a message over the bounds; the agent's own limit (8 MiB) leaves room.
      let requests: i64 = 0
      while (count < this.config.maxBatchEvents && body.length < this.config.maxBatchBytes) {
        const message = dequeue(this.queue)
        if (message === null) break
        body += message
        count += lines(message)
        requests += requestsIn(message)
      }
      this.waiting = 0
      if (count == 0) return
      releaseSlots(this.config.queueName, count)
      const values = this.headerValues.slice(0)
      values[4] = count.toString()
      const token = dispatchHttpCall(
        this.config.cluster,
        this.headerNames,
        values,
        body,
        <u32>this.config.timeoutMs,
      )
      if (token == 0) {
        // No callback will come (unknown cluster, no healthy host): drop, count, move on.
        increment("exporter.batches_dropped")
        increment("exporter.events_dropped", count)
        increment("exporter.requests_dropped", requests)
        continue
      }
      this.inFlight++
      this.batches.set(token, count)
      this.batchRequests.set(token, requests)
    }
  }

  onHttpCallResponse(token: u32, headers: u32, bodySize: usize, trailers: u32): void {
    if (!this.batches.has(token)) return
    const count = this.batches.get(token)
    const requests = this.batchRequests.get(token)
    this.batches.delete(token)
    this.batchRequests.delete(token)
    this.inFlight--
    const status = getHeader(MapType.HttpCallResponseHeaders, ":status")
    if (status !== null && status.startsWith("2")) {
      increment("exporter.batches_sent")
      increment("exporter.events_sent", count)
      increment("exporter.requests_sent", requests)
    } else {
      increment("exporter.batches_failed")
      increment("exporter.events_dropped", count)
      increment("exporter.requests_dropped", requests)
    }
  }
}

setRootContextFactory((id: u32): RootContext => new ExporterRoot(id))
