// @module
// What the golden-signals plugin derives from finished requests, free of
// host calls: the labelled metric names, what a worker counts of a label
// set (RequestStats, sent as one request_stats record per interval), and a
// request's own event when its story is worth keeping. The schemas are
// owned by contracts/events.ts (RequestStatsEvent version 1,
// GoldenSignalEvent version 2).
import { labelValue, Utf8Writer } from "../../../../sdk/assembly/index"
import { LatencySketch } from "./latency-sketch"

/** The model label of every model the configuration does not list. */
export const OTHER_MODEL = "other"

export class RequestRecord {
  route: string = ""
  /** The model of the OIP path, as the event reports it. */
  model: string = ""
  /** The model as metric names label it: `model` when the configuration lists it (or ""), else "other". */
  modelLabel: string = ""
  /** The version that answered (the host's), else the one the router chose; never a caller's. */
  version: string = ""
  /** stable or canary as the router set it; "" otherwise. */
  variant: string = ""
  /**
   * Past the cap on label sets, a request is counted under one series whose
   * labels are all "other" (only a deployment without the canary router,
   * where callers set the variant and version headers, could get there).
   */
  overflow: bool = false
  cluster: string = ""
  upstream: string = ""
  requestId: string = ""
  traceparent: string = ""
  /** HTTP status, 0 when no response was sent (reset, timeout before headers). */
  code: i64 = 0
  /** Envoy's response flags bitmask (UH, UF, UT...). */
  flags: i64 = 0
  durationNs: i64 = 0
  fallback: bool = false
}

/** "1xx".."5xx", or "none" when no status was sent. */
export function statusClass(code: i64): string {
  if (code < 100 || code > 599) return "none"
  return STATUS_CLASSES[<i32>(code / 100) - 1]
}

// Constants, so that classifying a request allocates nothing.
const STATUS_CLASSES: string[] = ["1xx", "2xx", "3xx", "4xx", "5xx"]

/**
 * The label part of every metric name; stats_tags in the rendered bootstrap
 * turn it into tags. Every label is bounded by configuration: the route
 * (Envoy's route names), the model (golden-signals' `models`, else
 * "other"), the version (the host's or the router's; none for "other"
 * models) and the variant (stable, canary or none).
 */
export function labels(r: RequestRecord): string {
  if (r.overflow) return OVERFLOW_LABELS
  return "rt." + labelValue(r.route) + ".md." + labelValue(r.modelLabel) + ".vs." + labelValue(versionLabel(r)) + ".vr." + labelValue(r.variant)
}

/** The version as metric names label it: none for models the configuration does not list. */
export function versionLabel(r: RequestRecord): string {
  return r.modelLabel == OTHER_MODEL ? "" : r.version
}

const OVERFLOW_LABELS = "rt.other.md.other.vs.other.vr.other"

export function requestCounterName(r: RequestRecord): string {
  return "golden." + labels(r) + ".rq.sc." + statusClass(r.code)
}

export function latencyHistogramName(r: RequestRecord): string {
  return "golden." + labels(r) + ".latency_ms"
}

// Why a request's story is kept, as bits (contracts' KEPT_REASONS, in that order).
export const KEPT_FAILED: i32 = 1
export const KEPT_SLOW: i32 = 2
export const KEPT_SAMPLED: i32 = 4
export const KEPT_LOW_CONFIDENCE: i32 = 8
export const KEPT_TRACED: i32 = 16
const KEPT_NAMES: string[] = ["failed", "slow", "sampled", "low_confidence", "traced"]

/** A day, in ns: the longest duration the contract takes. */
export const MAX_DURATION_NS: i64 = 86400000000000

/** Failed: a 4xx, a 5xx, or no response at all. */
export function failed(code: i64): bool {
  return code < 200 || code >= 400
}

/** What one worker counted of one label set (the series and the response flags) since its last flush. */
export class RequestStats {
  route: string
  model: string
  version: string
  variant: string
  codeClass: string
  requests: i64 = 0
  fallbacks: i64 = 0
  durationUsSum: i64 = 0
  readonly latency: LatencySketch = new LatencySketch()

  /** The label set of `r` (as metric names label it), with these flags. */
  constructor(
    r: RequestRecord,
    readonly flags: i64,
  ) {
    const overflow = r.overflow
    this.route = overflow ? OTHER_MODEL : r.route
    this.model = overflow ? OTHER_MODEL : r.modelLabel
    this.version = overflow ? OTHER_MODEL : versionLabel(r)
    this.variant = overflow ? OTHER_MODEL : r.variant
    this.codeClass = statusClass(r.code)
  }

  add(r: RequestRecord): void {
    this.requests++
    if (r.fallback) this.fallbacks++
    // Longer than a day is a broken clock (the contract refuses it): a day, so the record's other requests still count.
    const ns = min(r.durationNs, MAX_DURATION_NS)
    this.durationUsSum += ns / 1000
    this.latency.add(<f64>ns / 1e6)
  }

  /** Empty again, keeping its memory: it is reused every interval. */
  reset(): void {
    this.requests = 0
    this.fallbacks = 0
    this.durationUsSum = 0
    this.latency.reset()
  }
}

/** Writes one request_stats record (RequestStatsEvent, version 1): what `s` counted over the interval ending at `timestampMs`. */
export function writeStats(w: Utf8Writer, service: string, s: RequestStats, timestampMs: i64, intervalMs: i64): void {
  w.text("{\"v\":1,\"kind\":\"request_stats\",\"ts\":").int(timestampMs)
  w.text(",\"interval_ms\":").int(intervalMs)
  w.text(",\"service\":").jsonString(service)
  w.text(",\"route\":").jsonString(s.route)
  w.text(",\"model\":").jsonString(s.model)
  w.text(",\"version\":").jsonString(s.version)
  w.text(",\"variant\":").jsonString(s.variant)
  w.text(",\"code_class\":\"").text(s.codeClass)
  w.text("\",\"flags\":").int(s.flags)
  w.text(",\"requests\":").int(s.requests)
  w.text(",\"fallbacks\":").int(s.fallbacks)
  w.text(",\"duration_us_sum\":").int(s.durationUsSum)
  w.text(",\"latency_ms\":\"")
  s.latency.writeBase64(w)
  w.text("\"}")
}

/** Writes one request's story (GoldenSignalEvent, version 2), kept for the reasons in `kept` (KEPT_* bits). */
export function writeEvent(w: Utf8Writer, service: string, r: RequestRecord, kept: i32, timestampMs: i64): void {
  w.text("{\"v\":2,\"kind\":\"request\",\"ts\":").int(timestampMs)
  w.text(",\"service\":").jsonString(service)
  w.text(",\"request_id\":").jsonString(r.requestId)
  w.text(",\"traceparent\":").jsonString(r.traceparent)
  w.text(",\"route\":").jsonString(r.route)
  w.text(",\"model\":").jsonString(r.model)
  w.text(",\"version\":").jsonString(r.version)
  w.text(",\"variant\":").jsonString(r.variant)
  w.text(",\"cluster\":").jsonString(r.cluster)
  w.text(",\"upstream\":").jsonString(r.upstream)
  w.text(",\"status\":").int(r.code)
  w.text(",\"flags\":").int(r.flags)
  w.text(",\"fallback\":").bool(r.fallback)
  w.text(",\"duration_us\":").int(min(r.durationNs, MAX_DURATION_NS) / 1000)
  w.text(",\"kept\":[")
  let first = true
  for (let bit = 0; bit < KEPT_NAMES.length; bit++) {
    if ((kept & (1 << bit)) == 0) continue
    if (!first) w.text(",")
    w.text("\"").text(KEPT_NAMES[bit]).text("\"")
    first = false
  }
  w.text("]}")
}
