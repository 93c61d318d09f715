// @module
// What the golden-signals plugin derives from one finished request, free of host calls:
// the labelled metric names and the compact event. The event's schema is
// owned by contracts/events.ts (GoldenSignalEvent, version 1).
import { labelValue, Utf8Writer } from "../../../../sdk/assembly/index"

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

/** Writes the event (GoldenSignalEvent, version 1) for one request. */
export function writeEvent(w: Utf8Writer, service: string, r: RequestRecord, timestampMs: i64): void {
  w.text("{\"v\":1,\"kind\":\"request\",\"ts\":").int(timestampMs)
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
  w.text(",\"duration_us\":").int(r.durationNs / 1000)
  w.text("}")
}
