// @module
// What golden-signals derives from one finished request, free of host calls:
// the labelled metric names and the compact event. The event's schema is
// owned by contracts/events.ts (GoldenSignalEvent, version 1).
import { jsonString } from "../../sdk/assembly/json"
import { labelValue } from "../../sdk/assembly/metrics"

export class RequestRecord {
  route: string = ""
  model: string = ""
  version: string = ""
  variant: string = ""
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

/** A :status value as a number; 0 when absent or not three digits. */
export function statusOf(status: string): i64 {
  if (status.length != 3) return 0
  let code: i64 = 0
  for (let i = 0; i < 3; i++) {
    const c = status.charCodeAt(i) - 48
    if (c < 0 || c > 9) return 0
    code = code * 10 + c
  }
  return code
}

/** "1xx".."5xx", or "none" when no status was sent. */
export function statusClass(code: i64): string {
  if (code < 100 || code > 599) return "none"
  return STATUS_CLASSES[<i32>(code / 100) - 1]
}

// Constants, so that classifying a request allocates nothing.
const STATUS_CLASSES: string[] = ["1xx", "2xx", "3xx", "4xx", "5xx"]

/** The label part of every metric name; stats_tags in the rendered bootstrap turn it into tags. */
export function labels(r: RequestRecord): string {
  return "rt." + labelValue(r.route) + ".md." + labelValue(r.model) + ".vs." + labelValue(r.version) + ".vr." + labelValue(r.variant)
}

export function requestCounterName(r: RequestRecord): string {
  return "golden." + labels(r) + ".rq.sc." + statusClass(r.code)
}

export function latencyHistogramName(r: RequestRecord): string {
  return "golden." + labels(r) + ".latency_ms"
}

export function eventJson(service: string, r: RequestRecord, timestampMs: i64): string {
  return "{\"v\":1,\"kind\":\"request\",\"ts\":" + timestampMs.toString() +
    ",\"service\":" + jsonString(service) +
    ",\"request_id\":" + jsonString(r.requestId) +
    ",\"traceparent\":" + jsonString(r.traceparent) +
    ",\"route\":" + jsonString(r.route) +
    ",\"model\":" + jsonString(r.model) +
    ",\"version\":" + jsonString(r.version) +
    ",\"variant\":" + jsonString(r.variant) +
    ",\"cluster\":" + jsonString(r.cluster) +
    ",\"upstream\":" + jsonString(r.upstream) +
    ",\"status\":" + r.code.toString() +
    ",\"flags\":" + r.flags.toString() +
    ",\"fallback\":" + (r.fallback ? "true" : "false") +
    ",\"duration_us\":" + (r.durationNs / 1000).toString() + "}"
}
