/**
 * @module
 * What the model hosts report, as mergeable values, per host instance and
 * model version: batches (fill ratio, queue wait, execution time), fallbacks
 * and refusals by reason, and the latest saturation.
 */
import { HostCounts, type HostSaturationEvent, type HostStatsEvent } from '@model-mesh/contracts'

/** One host instance's model version: what a host reports as `host` (its mesh name, or `<address>:<port>`), labelled by the label policy. */
export interface HostLabels {
  host: string
  model: string
  version: string
}

/** A host's counts over some span (contracts' HostCounts), merged across records and minutes. */
export class HostBucket extends HostCounts {
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
