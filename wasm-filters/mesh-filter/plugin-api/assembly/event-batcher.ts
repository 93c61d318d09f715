// @module
// The telemetry producers' side of the exporter's queue: where the mesh
// filter's producers (sampling, golden signals) hand their events
// (TelemetryConfig) and the per-worker batcher that hands them over
// (EventBatcher), within the bound kept in telemetry-queue/assembly/queue.ts.
import { enqueue, FilterConfig, increment, resolveQueue, Status, Utf8Writer } from "../../../sdk/assembly/index"
import { DEFAULT_EXPORTER_VM_ID, DEFAULT_QUEUE, releaseSlots, requestsIn, reserveSlots } from "../../../telemetry-queue/assembly/queue"

/** Where the telemetry producers (sampling, golden signals) hand their events to the exporter. */
export class TelemetryConfig extends FilterConfig {
  /** The exporter's VM id, which this module must run under (Envoy scopes the queue's counter by VM id). */
  exporterVmId: string = DEFAULT_EXPORTER_VM_ID
  queueName: string = DEFAULT_QUEUE
  /** Events waiting for the exporter beyond which new ones are dropped (and counted). */
  maxPendingEvents: i64 = 10000
}

/**
 * Gathers a producer's events (NDJSON lines) per worker and hands them to
 * the exporter's queue as one message per `batchEvents` or per flush: every
 * enqueue wakes the exporter's thread, so one message per event would cost
 * more than the event. Events are written straight into the batch
 * (`begin`, write, `end`). The queue's bound is checked per message, at
 * flush: one shared-data round trip per batch, not per event. Counts, under
 * `<prefix>.events.*`, what it enqueued and what it dropped (queue full, or
 * no exporter), and under `<prefix>.requests.*` the requests the dropped
 * request_stats records counted: what the loss means for the counts. Call
 * flush() on the root's tick and when the root context is deleted (a live
 * configuration update replaces it), so no gathered event is left behind.
 */
export class EventBatcher {
  queue: u32 = 0
  /** The batch so far: whole events, each ending in a newline. */
  readonly out: Utf8Writer = new Utf8Writer(4096)
  /** Bytes of `out` that hold finished events. */
  private finished: i32 = 0
  count: i32 = 0
  /**
   * The queue was full at the last flush: events drop without being written
   * until the next flush, so a stalled exporter costs requests neither the
   * event nor the cross-worker lock of shared data.
   */
  private full: bool = false

  constructor(
    readonly prefix: string,
    readonly vmId: string,
    readonly queueName: string,
    readonly maxPending: i64,
    readonly batchEvents: i32,
  ) {}

  /**
   * Starts an event (a record counting `requests` requests, or 0): returns
   * the writer to write it with, then call end(); null when the queue was
   * full at the last flush (the drop is counted).
   */
  begin(requests: i64 = 0): Utf8Writer | null {
    if (this.full) {
      increment(this.prefix + ".events.dropped_queue_full")
      if (requests > 0) increment(this.prefix + ".requests.dropped_queue_full", requests)
      return null
    }
    // An event begun and never ended is forgotten.
    this.out.truncate(this.finished)
    return this.out
  }

  /** Finishes the event begun with begin(). */
  end(): void {
    this.out.text("\n")
    this.finished = this.out.length
    this.count++
    if (this.count >= this.batchEvents) this.flush()
  }

  /** Hands the gathered events to the queue, as many as the bound lets through; drops and counts the rest. */
  flush(): void {
    this.full = false
    const count = this.count
    if (count > 0) this.send(count, this.finished)
    this.out.truncate(0)
    this.finished = 0
    this.count = 0
  }

  /** Sends the batch's first `length` bytes, `count` events. */
  private send(count: i32, length: i32): void {
    // Envoy guarantees no start-up order between VMs: resolve the queue lazily.
    if (this.queue == 0) this.queue = resolveQueue(this.vmId, this.queueName)
    if (this.queue == 0) {
      increment(this.prefix + ".events.dropped_no_exporter", count)
      this.countDroppedRequests("no_exporter", 0, length)
      return
    }
    // Counted before it is enqueued, so the exporter never counts out an event not yet counted in.
    const granted = <i32>reserveSlots(this.queueName, this.maxPending, count)
    const bytes = granted == count ? length : this.endOfEvent(granted, length)
    if (granted < count) {
      this.full = true
      increment(this.prefix + ".events.dropped_queue_full", count - granted)
      this.countDroppedRequests("queue_full", bytes, length)
      if (granted == 0) return
    }
    if (enqueue(this.queue, this.out.dataStart, <usize>bytes) != Status.Ok) {
      this.queue = 0
      releaseSlots(this.queueName, granted)
      increment(this.prefix + ".events.dropped_no_exporter", granted)
      this.countDroppedRequests("no_exporter", 0, bytes)
      return
    }
    increment(this.prefix + ".events.enqueued", granted)
  }

  /** Counts the requests the records in bytes [from, to) of the batch counted, dropped for `why` (rare: read only then). */
  private countDroppedRequests(why: string, from: i32, to: i32): void {
    const requests = requestsIn(String.UTF8.decodeUnsafe(this.out.dataStart + <usize>from, <usize>(to - from)))
    if (requests > 0) increment(this.prefix + ".requests.dropped_" + why, requests)
  }

  /** The byte offset just past the `n`th event of the batch (only when the bound cuts a batch short). */
  private endOfEvent(n: i32, length: i32): i32 {
    const data = this.out.dataStart
    let seen = 0
    for (let i = 0; i < length; i++) {
      if (load<u8>(data + <usize>i) == 10 && ++seen == n) return i + 1
    }
    return length
  }
}
