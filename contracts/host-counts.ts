/**
 * @module
 * What a model host's batches and fallbacks add up to: the counts a
 * host_stats record carries, which the host folds per interval and the
 * collector per minute and in all. One class, so both count alike.
 */

/** A batch, as far as its counts go (a host batch event has these fields). */
export interface BatchCounted {
  ok: boolean
  rows: number
  max_batch_rows: number
  queue_wait_ms: number
  execution_ms: number
  queue_depth: number
}

/** A fallback or refusal, as far as its counts go. */
export interface FallbackCounted {
  fallback_model: string | null
  reason: string
}

export class HostCounts {
  batches = 0
  failedBatches = 0
  rows = 0
  /** Sum of rows / max_batch_rows over batches that said their maximum. */
  fillSum = 0
  fillCount = 0
  queueWaitSumMs = 0
  executionSumMs = 0
  maxQueueDepth = 0
  /** Requests the host served with a fallback, by reason (a Map: a reason named `constructor` or `__proto__` is a key like any other). */
  fallbacks = new Map<string, number>()
  /** Requests it refused (no fallback could answer), by reason. */
  refusals = new Map<string, number>()

  addBatch(b: BatchCounted): void {
    this.batches++
    if (!b.ok) this.failedBatches++
    this.rows += b.rows
    if (b.max_batch_rows > 0) {
      this.fillSum += Math.min(1, b.rows / b.max_batch_rows)
      this.fillCount++
    }
    this.queueWaitSumMs += b.queue_wait_ms
    this.executionSumMs += b.execution_ms
    this.maxQueueDepth = Math.max(this.maxQueueDepth, b.queue_depth)
  }

  addFallback(f: FallbackCounted): void {
    const into = f.fallback_model === null ? this.refusals : this.fallbacks
    into.set(f.reason, (into.get(f.reason) ?? 0) + 1)
  }
}
