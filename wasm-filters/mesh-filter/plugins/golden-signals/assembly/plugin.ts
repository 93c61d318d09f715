// @module
// The golden-signals plugin: at log time, for every request, records
// labelled proxy-wasm metrics (requests by status class, latency) and folds
// the request into its worker's RequestStats for its label set (an exact
// count and a latency sketch), which go to the telemetry exporter as one
// request_stats record per label set every stats_interval_ms: telemetry
// costs per label set and second, not per request. A request whose story
// is worth keeping (failed, slow, sampled, low confidence, traced) also
// gets its own event. Records and events gather per worker and go to the
// exporter's shared queue as one NDJSON message per batch_events or per
// flush_interval_ms: each enqueue wakes the exporter's thread. Never delays
// a request: everything happens in proxy_on_log, after the response was
// sent, and a full or missing queue drops what it cannot take and counts it.
import { defineMetric, getProperty, increment, incrementMetric, MetricType, orEmpty, recordMetric } from "../../../../sdk/assembly/index"
import { EventBatcher, TelemetryConfig } from "../../../plugin-api/assembly/event-batcher"
import { Plugin, PluginStream } from "../../../plugin-api/assembly/plugin"
import { StreamView, VERSION_HEADER } from "../../../plugin-api/assembly/stream-view"
import { GoldenConfig } from "./config"
import {
  failed, KEPT_FAILED, KEPT_LOW_CONFIDENCE, KEPT_SAMPLED, KEPT_SLOW, KEPT_TRACED, latencyHistogramName, OTHER_MODEL, RequestRecord, requestCounterName,
  RequestStats, statusClass, versionLabel, writeEvent, writeStats,
} from "./signals"

/** The longest interval a record may say it covers (the contract's bound). */
const MAX_INTERVAL_MS: i64 = 3600000

/** contracts/headers.ts's MESH_TRACE, spelled again because AssemblyScript cannot import it (config-corpus.unit.test.ts checks they agree). */
export const TRACE_HEADER = "x-mesh-trace"

/**
 * One label set: its metric ids (defined once, then only incremented and
 * recorded; 0 when Envoy refused the definition) and what this worker
 * counted of it, by response flags (a success has none).
 */
class SeriesIds {
  readonly stats: RequestStats
  /** The same series with response flags (failures only), by bitmask. */
  flagged: Map<i64, RequestStats> | null = null

  constructor(
    readonly requests: u32,
    readonly latency: u32,
    r: RequestRecord,
  ) {
    this.stats = new RequestStats(r, 0)
  }

  statsOf(r: RequestRecord): RequestStats {
    if (r.flags == 0) return this.stats
    if (this.flagged === null) this.flagged = new Map()
    const flagged = this.flagged!
    if (!flagged.has(r.flags)) flagged.set(r.flags, new RequestStats(r, r.flags))
    return flagged.get(r.flags)
  }
}

/**
 * Label sets one VM defines metrics for. The configuration bounds every
 * label, so a mesh stays far below it; past it (callers setting the variant
 * and version headers with no canary plugin in front), requests count under
 * the one overflow series, so no request can add stats to Envoy's store.
 */
const MAX_SERIES = 4096

function sameSeries(a: RequestRecord, b: RequestRecord): bool {
  return a.route == b.route && a.modelLabel == b.modelLabel && versionLabel(a) == versionLabel(b) && a.variant == b.variant && a.overflow == b.overflow && statusClass(a.code) == statusClass(b.code)
}

function seriesKey(r: RequestRecord): string {
  return r.overflow ? "\x1f" + statusClass(r.code) : r.route + "\x1f" + r.modelLabel + "\x1f" + versionLabel(r) + "\x1f" + r.variant + "\x1f" + statusClass(r.code)
}

export class GoldenPlugin extends Plugin {
  /** The stories: at most stories_per_interval an interval; past it counted as suppressed (their requests are in the records). */
  readonly events: EventBatcher
  /**
   * The records, in messages of their own, sent as soon as they are written:
   * a flood of stories (every request failing) never fills the batch or the
   * queue ahead of the records that count them.
   */
  readonly records: EventBatcher
  /** Stories written this interval. */
  stories: i32 = 0
  /** By the raw label values: building the escaped metric names costs more than the rest of onLog. */
  series: Map<string, SeriesIds> = new Map()
  /** The label set of the previous request and its ids: consecutive requests mostly share one, found without building a key. */
  last: RequestRecord | null = null
  lastIds: SeriesIds | null = null
  /** Every label set's ids in order of definition: what a stats flush walks. */
  all: SeriesIds[] = []
  /** When the current stats interval began (ms since the epoch). */
  intervalStart: i64 = Date.now()
  /**
   * Replaced by a live update: no tick comes any more, but requests that
   * began under it still finish here, so each goes out at once.
   */
  deleted: bool = false

  constructor(
    readonly config: GoldenConfig,
    telemetry: TelemetryConfig,
  ) {
    super()
    this.events = new EventBatcher("golden", telemetry.exporterVmId, telemetry.queueName, telemetry.maxPendingEvents, config.batchEvents)
    this.records = new EventBatcher("golden", telemetry.exporterVmId, telemetry.queueName, telemetry.maxPendingEvents, config.batchEvents)
  }

  name(): string {
    return "golden_signals"
  }

  tickMs(): i32 {
    return min(this.config.flushIntervalMs, this.config.statsIntervalMs)
  }

  onTick(): void {
    if (Date.now() - this.intervalStart >= <i64>this.config.statsIntervalMs) this.flushStats()
    this.events.flush()
  }

  /** A live update replaced this configuration (or the VM stops): what it gathered goes now, not never. */
  onDelete(): void {
    this.deleted = true
    this.flushAll()
  }

  /** The records and the stories gathered, now. */
  flushAll(): void {
    this.flushStats()
    this.events.flush()
  }

  /** Sends `r`'s story (kept for the KEPT_* bits in `kept`), unless this interval's are spent: then it is counted as suppressed. */
  story(r: RequestRecord, kept: i32): void {
    if (this.stories >= this.config.storiesPerInterval) {
      increment("golden.stories.suppressed")
      return
    }
    this.stories++
    // Only a story says where the request went: two host calls a counted request does without.
    r.cluster = orEmpty(getProperty(["xds", "cluster_name"]))
    r.upstream = orEmpty(getProperty(["upstream", "address"]))
    const w = this.events.begin()
    if (w === null) return
    writeEvent(w, this.config.service, r, kept, Date.now())
    this.events.end()
  }

  /** One request_stats record per label set that counted a request since the last flush; then the interval starts again. */
  flushStats(): void {
    const now = Date.now()
    // A clock stepped back or far ahead must not cost a record (the contract bounds an interval to an hour).
    const interval = min(max(now - this.intervalStart, 0), MAX_INTERVAL_MS)
    this.intervalStart = now
    this.stories = 0
    for (let i = 0; i < this.all.length; i++) {
      const ids = this.all[i]
      this.sendStats(ids.stats, now, interval)
      if (ids.flagged === null) continue
      const flagged = ids.flagged!.values()
      for (let k = 0; k < flagged.length; k++) this.sendStats(flagged[k], now, interval)
    }
    this.records.flush()
  }

  private sendStats(s: RequestStats, now: i64, interval: i64): void {
    if (s.requests == 0) return
    const w = this.records.begin(s.requests)
    if (w !== null) {
      writeStats(w, this.config.service, s, now, interval)
      this.records.end()
    }
    s.reset()
  }

  newStream(): PluginStream {
    return new GoldenStream(this)
  }

  seriesOf(r: RequestRecord): SeriesIds {
    const last = this.last
    if (last !== null && sameSeries(last, r)) return this.lastIds!
    let key = seriesKey(r)
    if (!this.series.has(key) && this.series.size >= MAX_SERIES) {
      r.overflow = true
      key = seriesKey(r)
    }
    let ids: SeriesIds
    if (this.series.has(key)) {
      ids = this.series.get(key)
    } else {
      // Kept even when Envoy refuses a metric: the series is still counted in its records.
      ids = new SeriesIds(defineMetric(MetricType.Counter, requestCounterName(r)), defineMetric(MetricType.Histogram, latencyHistogramName(r)), r)
      this.series.set(key, ids)
      this.all.push(ids)
    }
    this.last = r
    this.lastIds = ids
    return ids
  }
}

class GoldenStream extends PluginStream {
  constructor(readonly plugin: GoldenPlugin) {
    super()
  }

  onLog(view: StreamView): void {
    const r = new RequestRecord()
    r.route = view.routeName
    r.durationNs = view.durationNs
    r.code = view.status
    // Response flags explain failures (UH, UF, UT, NR...); a success has none worth a host call.
    if (r.code < 200 || r.code >= 400) r.flags = view.responseFlags
    r.model = view.model
    r.modelLabel = r.model.length == 0 || this.plugin.config.models.has(r.model) ? r.model : OTHER_MODEL
    r.variant = view.requestVariant
    // The version that answered, as the host says; else the one the router chose.
    const answered = view.responseHeader(VERSION_HEADER)
    r.version = answered !== null ? answered : view.requestVersion
    r.fallback = view.responseHeader("x-model-fallback") == "true"
    r.requestId = view.requestId
    r.traceparent = view.traceparent

    const plugin = this.plugin
    const ids = plugin.seriesOf(r)
    if (ids.requests != 0) incrementMetric(ids.requests, 1)
    if (ids.latency != 0) recordMetric(ids.latency, <u64>(r.durationNs / 1000000))
    ids.statsOf(r).add(r)

    const kept = keptReasons(plugin.config, r, view)
    if (kept != 0) plugin.story(r, kept)
    // No tick comes for a replaced configuration: what this request added goes at once.
    if (plugin.deleted) plugin.flushAll()
  }
}

/** Why `r`'s story is worth its own event (KEPT_* bits); 0 for an ordinary success, which is only counted. */
function keptReasons(config: GoldenConfig, r: RequestRecord, view: StreamView): i32 {
  let kept = 0
  if (failed(r.code)) kept |= KEPT_FAILED
  if (view.sampled) kept |= KEPT_SAMPLED
  if (view.lowConfidence) kept |= KEPT_LOW_CONFIDENCE
  if (config.routes.has(r.route)) {
    const route = config.routes.get(r.route)
    if (route.slowNs > 0 && r.durationNs > route.slowNs) kept |= KEPT_SLOW
    if (route.traceHeader && view.requestHeader(TRACE_HEADER) == "1") kept |= KEPT_TRACED
  }
  return kept
}
