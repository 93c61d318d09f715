// @module
// The bound on the telemetry exporter's shared queue. Envoy's shared queues
// are unbounded, so producers and the exporter keep a shared counter of
// waiting events, `<queue>.pending`: producers reserve a slot before
// enqueueing (or drop when the bound is reached), the exporter releases
// slots as it drains. Envoy scopes shared data (and queue names) by VM id,
// so producers and the exporter must run with the same vm_config.vm_id,
// DEFAULT_VM_ID unless configured otherwise.
import { Status } from "./constants"
import { enqueue, getSharedCounter, resolveQueue, setSharedCounter } from "./host"
import { increment } from "./metrics"
import { Utf8Writer } from "./utf8-writer"

export const DEFAULT_EXPORTER_VM_ID = "mesh-telemetry"
export const DEFAULT_QUEUE = "mesh.telemetry"

export function pendingKey(queue: string): string {
  return queue + ".pending"
}

/**
 * Reserves up to `want` slots at once and returns how many it got (0 when
 * `max` events are already waiting). Producers reserve in blocks because
 * shared data takes a lock across workers: one round trip per block, not
 * per event. Unused reservations of a VM that goes away stay counted until
 * the exporter's next release brings the counter down.
 */
export function reserveSlots(queue: string, max: i64, want: i64): i64 {
  const key = pendingKey(queue)
  for (let attempt = 0; attempt < 4; attempt++) {
    const c = getSharedCounter(key)
    const n = c.value < 0 ? 0 : c.value
    if (n >= max) return 0
    const granted = min(want, max - n)
    if (setSharedCounter(key, n + granted, c.cas)) return granted
  }
  // Contended: let one event through; the bound is approximate under races.
  return 1
}

/** Releases `count` slots after draining. */
export function releaseSlots(queue: string, count: i64): void {
  const key = pendingKey(queue)
  for (let attempt = 0; attempt < 8; attempt++) {
    const c = getSharedCounter(key)
    const n = c.value < 0 ? 0 : c.value
    if (setSharedCounter(key, n > count ? n - count : 0, c.cas)) return
  }
}

/**
 * Gathers a producer's events (NDJSON lines) per worker and hands them to
 * the exporter's queue as one message per `batchEvents` or per flush: every
 * enqueue wakes the exporter's thread, so one message per event would cost
 * more than the event. Events are written straight into the batch
 * (`begin`, write, `end`). Counts, under `<prefix>.events.*`, what it
 * enqueued and what it dropped (queue full, or no exporter).
 */
export class EventBatcher {
  queue: u32 = 0
  /** Queue slots this VM reserved and has not used yet. */
  slots: i64 = 0
  /** The batch so far: whole events, each ending in a newline. */
  readonly out: Utf8Writer = new Utf8Writer(4096)
  /** Bytes of `out` that hold finished events. */
  private finished: i32 = 0
  count: i32 = 0
  /**
   * The queue was full at the last reservation: events drop without asking
   * again until the next flush, so a stalled exporter does not make every
   * request take the cross-worker lock of shared data.
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
   * null when the queue is full (the drop is counted).
   */
  begin(): Utf8Writer | null {
    // Envoy's shared queues are unbounded: bound them with a shared counter.
    if (this.slots == 0 && !this.full) {
      this.slots = reserveSlots(this.queueName, this.maxPending, min(SLOT_BLOCK, this.maxPending))
      this.full = this.slots == 0
    }
    if (this.slots == 0) {
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
    this.slots--
    this.count++
    if (this.count >= this.batchEvents) this.flush()
  }

  flush(): void {
    this.full = false
    this.out.truncate(this.finished)
    const count = this.count
    if (count == 0) return
    this.count = 0
    // Envoy guarantees no start-up order between VMs: resolve the queue lazily.
    if (this.queue == 0) this.queue = resolveQueue(this.vmId, this.queueName)
    const status = this.queue == 0 ? Status.NotFound : enqueue(this.queue, this.out.dataStart, <usize>this.out.length)
    this.out.truncate(0)
    this.finished = 0
    if (status != Status.Ok) {
      this.queue = 0
      releaseSlots(this.queueName, count)
      increment(this.prefix + ".events.dropped_no_exporter", count)
      return
    }
    increment(this.prefix + ".events.enqueued", count)
  }
}

/** Queue slots reserved per shared-data round trip. */
const SLOT_BLOCK: i64 = 32
