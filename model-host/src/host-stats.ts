/**
 * @module
 * What the host reports, folded per model version into one `host_stats`
 * record an interval (batches, rows, fill, queue wait and execution as
 * latency sketches, queue depth, fallbacks and refusals by reason), so the
 * pipeline carries a record per version and second, not an event per batch.
 * The stories still go out whole: a failed batch's event (with its request
 * ids) and every fallback or refusal. Called on the inference path: it only
 * adds to counts; the records are built on the flush timer.
 */
import type { DDSketch } from '@datadog/sketches-js'
import {
  HOST_EVENT_VERSION,
  HostCounts,
  HOST_STATS_VERSION,
  newLatencySketch,
  type HostBatchEvent,
  type HostFallbackEvent,
  type HostStatsEvent,
} from '@model-mesh/contracts'
import type { HostEmitter } from './telemetry.ts'

/** A batch as the host tells it (before it is decided whether it is a story). */
export type BatchReport = Omit<HostBatchEvent, 'v' | 'kept'>
/** A fallback or refusal as the host tells it. */
export type FallbackReport = Omit<HostFallbackEvent, 'v' | 'kept'>

/**
 * Stories (failed batches, fallbacks, refusals) sent per interval at most:
 * in an overload every request may fall back, and the records that count
 * them must not queue behind their stories. Past it a story is counted in
 * its record all the same, and as suppressed.
 */
export const MAX_STORIES_PER_INTERVAL = 1000

/** A day: no batch waits or runs longer (the contract's bound), whatever a clock says. */
const DAY_MS = 86_400_000

/** A duration as a sketch takes it: under 1 ns is 0 (the zero bucket), over a day is a day. */
const sketchable = (ms: number) => (ms < 1e-6 ? 0 : Math.min(ms, DAY_MS))

/** Where the host's versions and its manager report batches and fallbacks. */
export interface HostReporter {
  batch(b: BatchReport): void
  fallback(f: FallbackReport): void
}

/** The reporter of a host with no telemetry agent: counts nothing nobody would read. */
export const noReports: HostReporter = { batch() {}, fallback() {} }

/** What one version did since the last flush. */
class VersionStats extends HostCounts {
  device = ''
  queueWait: DDSketch = newLatencySketch()
  execution: DDSketch = newLatencySketch()

  constructor(
    readonly model: string,
    readonly version: string,
  ) {
    super()
  }

  get empty(): boolean {
    return this.batches === 0 && this.fallbacks.size === 0 && this.refusals.size === 0
  }
}

export class HostStats implements HostReporter {
  #versions = new Map<string, VersionStats>()
  #since = Date.now()
  #stories = 0
  /** Stories left out past MAX_STORIES_PER_INTERVAL, since the start (served at /metrics). */
  storiesSuppressed = 0

  /** `out` takes the records and the stories (the agent's emitter, guarded). */
  constructor(private readonly out: HostEmitter) {}

  batch(b: BatchReport): void {
    const s = this.#of(b.model, b.version)
    const batch = { ...b, queue_wait_ms: sketchable(b.queue_wait_ms), execution_ms: sketchable(b.execution_ms) }
    s.device = b.device
    s.addBatch(batch)
    s.queueWait.accept(batch.queue_wait_ms)
    s.execution.accept(batch.execution_ms)
    // A failed batch keeps its story: which requests it held.
    if (!b.ok && this.#story()) this.out.emit({ ...batch, v: HOST_EVENT_VERSION, kept: ['failed'] })
  }

  fallback(f: FallbackReport): void {
    this.#of(f.model, f.version).addFallback(f)
    if (this.#story())
      this.out.emit({ ...f, v: HOST_EVENT_VERSION, kept: [f.fallback_model === null ? 'refused' : 'fallback'] })
  }

  /** Whether this interval may send one more story; counts one suppressed when not. */
  #story(): boolean {
    if (this.#stories < MAX_STORIES_PER_INTERVAL) {
      this.#stories++
      return true
    }
    this.storiesSuppressed++
    return false
  }

  /** One record per version that did anything since the last flush; then the interval starts again. */
  flush(host: string, now = Date.now()): void {
    const interval = Math.min(Math.max(0, now - this.#since), 3_600_000)
    this.#since = now
    this.#stories = 0
    const versions = this.#versions
    this.#versions = new Map()
    for (const s of versions.values()) if (!s.empty) this.out.emit(statsRecord(s, host, now, interval))
  }

  #of(model: string, version: string): VersionStats {
    const key = `${model}\u0000${version}`
    let s = this.#versions.get(key)
    if (!s) this.#versions.set(key, (s = new VersionStats(model, version)))
    return s
  }
}

/** The wire record of one version's interval (contracts' HostStatsEvent, its sketches decoded). */
function statsRecord(s: VersionStats, host: string, ts: number, interval: number): HostStatsEvent {
  return {
    v: HOST_STATS_VERSION,
    kind: 'host_stats',
    ts,
    interval_ms: interval,
    host,
    model: s.model,
    version: s.version,
    device: s.device,
    batches: s.batches,
    failed_batches: s.failedBatches,
    rows: s.rows,
    fill_sum: s.fillSum,
    fill_count: s.fillCount,
    queue_wait_ms_sum: s.queueWaitSumMs,
    execution_ms_sum: s.executionSumMs,
    max_queue_depth: s.maxQueueDepth,
    queue_wait_ms: s.queueWait,
    execution_ms: s.execution,
    fallbacks: Object.fromEntries(s.fallbacks),
    refusals: Object.fromEntries(s.refusals),
  }
}
