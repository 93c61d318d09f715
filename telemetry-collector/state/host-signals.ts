/**
 * @module
 * What the model hosts report, as mergeable values, per host instance and
 * model version: batches (fill ratio, queue wait, execution time), fallbacks
 * and refusals by reason, and the latest saturation.
 */
import type { HostBatchEvent, HostFallbackEvent, HostSaturationEvent, HostStatsEvent } from '@model-mesh/contracts'

/** One host instance's model version: what a host reports as `host` (its mesh name, or `<address>:<port>`), labelled by the label policy. */
export interface HostLabels {
  host: string
  model: string
  version: string
}

export class HostBucket {
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

  addBatch(e: HostBatchEvent): void {
    this.batches++
    if (!e.ok) this.failedBatches++
    this.rows += e.rows
    if (e.max_batch_rows > 0) {
      this.fillSum += Math.min(1, e.rows / e.max_batch_rows)
      this.fillCount++
    }
    this.queueWaitSumMs += e.queue_wait_ms
    this.executionSumMs += e.execution_ms
    this.maxQueueDepth = Math.max(this.maxQueueDepth, e.queue_depth)
  }

  /** A host_stats record: its interval's batches and fallbacks, their reasons labelled by `reason`. */
  addStats(e: HostStatsEvent, reason: (r: string) => string): void {
    this.batches += e.batches
    this.failedBatches += e.failed_batches
    this.rows += e.rows
    this.fillSum += e.fill_sum
    this.fillCount += e.fill_count
    this.queueWaitSumMs += e.queue_wait_ms_sum
    this.executionSumMs += e.execution_ms_sum
    this.maxQueueDepth = Math.max(this.maxQueueDepth, e.max_queue_depth)
    for (const [into, counts] of [
      [this.fallbacks, e.fallbacks],
      [this.refusals, e.refusals],
    ] as const)
      for (const [r, n] of Object.entries(counts)) into.set(reason(r), (into.get(reason(r)) ?? 0) + n)
  }

  addFallback(e: HostFallbackEvent): void {
    const into = e.fallback_model === null ? this.refusals : this.fallbacks
    into.set(e.reason, (into.get(e.reason) ?? 0) + 1)
  }

  merge(o: HostBucket): this {
    this.batches += o.batches
    this.failedBatches += o.failedBatches
    this.rows += o.rows
    this.fillSum += o.fillSum
    this.fillCount += o.fillCount
    this.queueWaitSumMs += o.queueWaitSumMs
    this.executionSumMs += o.executionSumMs
    this.maxQueueDepth = Math.max(this.maxQueueDepth, o.maxQueueDepth)
    for (const [r, n] of o.fallbacks) this.fallbacks.set(r, (this.fallbacks.get(r) ?? 0) + n)
    for (const [r, n] of o.refusals) this.refusals.set(r, (this.refusals.get(r) ?? 0) + n)
    return this
  }

  summary() {
    return {
      batches: this.batches,
      failed_batches: this.failedBatches,
      rows: this.rows,
      batch_fill_ratio: this.fillCount > 0 ? this.fillSum / this.fillCount : null,
      mean_queue_wait_ms: this.batches > 0 ? this.queueWaitSumMs / this.batches : null,
      mean_execution_ms: this.batches > 0 ? this.executionSumMs / this.batches : null,
      max_queue_depth: this.maxQueueDepth,
      // fromEntries defines own properties: `__proto__` is a reason, not the object's prototype.
      fallbacks: Object.fromEntries(this.fallbacks),
      refusals: Object.fromEntries(this.refusals),
    }
  }
}

/** The persisted form: everything is counts, so one JSON column holds it (the by-reason maps as objects). */
export function hostBucketToJson(b: HostBucket): string {
  return JSON.stringify({ ...b, fallbacks: Object.fromEntries(b.fallbacks), refusals: Object.fromEntries(b.refusals) })
}

export function hostBucketFromJson(text: string): HostBucket {
  // JSON.parse defines own properties, so a stored `__proto__` key is read back as a reason.
  const { fallbacks = {}, refusals = {}, ...counts } = JSON.parse(text) as Record<string, unknown>
  return Object.assign(new HostBucket(), counts, {
    fallbacks: new Map(Object.entries(fallbacks as Record<string, number>)),
    refusals: new Map(Object.entries(refusals as Record<string, number>)),
  })
}

/** The latest saturation report of one host's model version. */
export interface Saturation extends HostLabels {
  ts: number
  queue_depth: number
  busy_instances: number
  instances: number
}

/** The latest saturation of a report, with its labels as the label policy gave them. */
export const saturationOf = (e: HostSaturationEvent, { host, model, version }: HostLabels): Saturation => ({
  host,
  model,
  version,
  ts: e.ts,
  queue_depth: e.queue_depth,
  busy_instances: e.busy_instances,
  instances: e.instances,
})
