// @module
// The bound on the telemetry exporter's shared queue. Envoy's shared queues
// are unbounded, so producers and the exporter keep a shared counter,
// `<queue>.pending`, of the events in the queue, and nothing else: a
// producer adds a batch's events just before it enqueues the batch (or
// drops what does not fit under the bound), the exporter subtracts what it
// dequeues. Events still gathering in a worker are not counted, so a root
// context or VM that goes away leaves nothing counted behind: the count is
// right by construction, not by clean-up. Envoy scopes shared data (and
// queue names) by VM id, so producers and the exporter must run with the
// same vm_config.vm_id, DEFAULT_EXPORTER_VM_ID unless configured otherwise
// (exporterVmIdError refuses a producer that does not).
import { Status } from "./constants"
import { enqueue, getProperty, getSharedCounter, resolveQueue, setSharedCounter } from "./host"
import { increment } from "./metrics"
import { Utf8Writer } from "./utf8-writer"

/** contracts/telemetry-exporter.ts's TELEMETRY_VM_ID, spelled again because AssemblyScript cannot import it (config-corpus.unit.test.ts checks they agree). */
export const DEFAULT_EXPORTER_VM_ID = "mesh-telemetry"
export const DEFAULT_QUEUE = "mesh.telemetry"

export function pendingKey(queue: string): string {
  return queue + ".pending"
}

/**
 * Counts up to `want` more events into the queue and returns how many fit
 * (0 when `max` are already waiting). A CAS mismatch means another worker's
 * update went through first, so it retries until its own goes through too:
 * it never gives up, and never grants an event it did not count.
 */
export function reserveSlots(queue: string, max: i64, want: i64): i64 {
  const key = pendingKey(queue)
  while (true) {
    const c = getSharedCounter(key)
    const n = c.value < 0 ? 0 : c.value
    if (n >= max) return 0
    const granted = min(want, max - n)
    if (setSharedCounter(key, n + granted, c.cas)) return granted
  }
}

/** Counts `count` events out of the queue (drained, or never enqueued after all); retries until it goes through. */
export function releaseSlots(queue: string, count: i64): void {
  const key = pendingKey(queue)
  while (true) {
    const c = getSharedCounter(key)
    const n = c.value < 0 ? 0 : c.value
    if (setSharedCounter(key, n > count ? n - count : 0, c.cas)) return
  }
}

/** Sets the count to 0: the exporter does, before it registers the queue, which is then empty. */
export function resetSlots(queue: string): void {
  setSharedCounter(pendingKey(queue), 0, 0)
}

/**
 * Why a producer configured with `exporterVmId` cannot reach the exporter's
 * counter, or "" when it can: Envoy scopes shared data by the plugin's own
 * vm_config.vm_id (the `plugin_vm_id` property, which Envoy 1.40 gives ABI
 * 0.2.1 modules), so a producer under any other VM id would count events the
 * exporter never counts out, and drop everything once the bound is reached.
 * A host that does not tell the VM id is given the benefit of the doubt.
 */
export function exporterVmIdError(exporterVmId: string): string {
  const own = getProperty(["plugin_vm_id"])
  if (own === null || own == exporterVmId) return ""
  return "is \"" + exporterVmId + "\" but this plugin runs with vm_config.vm_id \"" + own +
    "\": producers must run with the exporter's VM id (Envoy scopes the queue's shared counter by VM id)"
}

/**
 * Gathers a producer's events (NDJSON lines) per worker and hands them to
 * the exporter's queue as one message per `batchEvents` or per flush: every
 * enqueue wakes the exporter's thread, so one message per event would cost
 * more than the event. Events are written straight into the batch
 * (`begin`, write, `end`). The queue's bound is checked per message, at
 * flush: one shared-data round trip per batch, not per event. Counts, under
 * `<prefix>.events.*`, what it enqueued and what it dropped (queue full, or
 * no exporter). Call flush() on the root's tick and when the root context
 * is deleted (a live configuration update replaces it), so no gathered
 * event is left behind.
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
   * Starts an event: returns the writer to write it with, then call end();
   * null when the queue was full at the last flush (the drop is counted).
   */
  begin(): Utf8Writer | null {
    if (this.full) {
      increment(this.prefix + ".events.dropped_queue_full")
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
      return
    }
    // Counted before it is enqueued, so the exporter never counts out an event not yet counted in.
    const granted = <i32>reserveSlots(this.queueName, this.maxPending, count)
    if (granted < count) {
      this.full = true
      increment(this.prefix + ".events.dropped_queue_full", count - granted)
      if (granted == 0) return
    }
    const bytes = granted == count ? length : this.endOfEvent(granted, length)
    if (enqueue(this.queue, this.out.dataStart, <usize>bytes) != Status.Ok) {
      this.queue = 0
      releaseSlots(this.queueName, granted)
      increment(this.prefix + ".events.dropped_no_exporter", granted)
      return
    }
    increment(this.prefix + ".events.enqueued", granted)
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
