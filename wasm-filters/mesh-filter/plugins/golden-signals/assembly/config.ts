// @module
// The golden-signals plugin's configuration (the mesh filter's
// `golden_signals` section), checked once in proxy_on_configure.
import { FilterConfig, invalid, JsonKind, JsonValue, unknownField } from "../../../../sdk/assembly/index"
import { OTHER_MODEL } from "./signals"

/** A route's rules for keeping a request's story (by Envoy's route name). */
export class GoldenRoute {
  name: string = ""
  /** Requests slower than this (ns; the route's p99 objective) have their story; 0: none is slow. */
  slowNs: i64 = 0
  /** Whether a caller's x-mesh-trace: 1 keeps a request's story. */
  traceHeader: bool = false
}

export class GoldenConfig extends FilterConfig {
  /** Who is reporting (the Envoy's role: gateway, sidecar of X). */
  service: string = "gateway"
  /**
   * The models metric names may carry; any other model of a path is labelled
   * "other", so a client cannot add stats by inventing model names.
   */
  models: Set<string> = new Set()
  /** Story rules by route name; a route not listed keeps only failed, sampled and low-confidence requests' stories. */
  routes: Map<string, GoldenRoute> = new Map()
  /** How often each worker sends what it counted (one request_stats record per label set). */
  statsIntervalMs: i32 = 1000
  /** Stories each worker sends per stats interval at most (an outage makes every request one); past it they are counted as suppressed. */
  storiesPerInterval: i32 = 1000
  /** Events gathered per worker before they go to the queue as one message. */
  batchEvents: i32 = 32
  /** The longest an event waits in its worker before going to the queue. */
  flushIntervalMs: i32 = 200
}

const KNOWN = ["service", "models", "routes", "stats_interval_ms", "stories_per_interval", "batch_events", "flush_interval_ms"]
const ROUTE_KNOWN = ["name", "slow_ms", "trace_header"]

/** The section (an object; empty takes every default), or the first problem in it. */
export function parseGoldenConfig(root: JsonValue): GoldenConfig {
  const c = new GoldenConfig()
  const unknown = unknownField(root, KNOWN)
  if (unknown !== null) return invalid(c, unknown, "unknown field")
  for (let i = 0; i < root.keys.length; i++) {
    const key = root.keys[i]
    const v = root.values[i]
    if (key == "stories_per_interval") {
      if (v.kind != JsonKind.Number || v.number != Math.floor(v.number) || v.number < 0 || v.number > 1000000) {
        return invalid(c, key, "must be an integer from 0 to 1000000")
      }
      c.storiesPerInterval = <i32>v.number
    } else if (key == "batch_events" || key == "flush_interval_ms" || key == "stats_interval_ms") {
      if (v.kind != JsonKind.Number || v.number != Math.floor(v.number) || v.number < 1 || v.number > 60000) {
        return invalid(c, key, "must be an integer from 1 to 60000")
      }
      if (key == "batch_events") c.batchEvents = <i32>v.number
      else if (key == "flush_interval_ms") c.flushIntervalMs = <i32>v.number
      else c.statsIntervalMs = <i32>v.number
    } else if (key == "routes") {
      if (v.kind != JsonKind.Array) return invalid(c, key, "must be an array of routes")
      for (let k = 0; k < v.items.length; k++) {
        const at = key + "[" + k.toString() + "]"
        if (!addRoute(c, v.items[k], at)) return c
      }
    } else if (key == "models") {
      if (v.kind != JsonKind.Array) return invalid(c, key, "must be an array of model names")
      for (let k = 0; k < v.items.length; k++) {
        const at = key + "[" + k.toString() + "]"
        const m = v.items[k]
        if (m.kind != JsonKind.String || m.str.length == 0) return invalid(c, at, "must be a non-empty string")
        if (m.str == OTHER_MODEL) return invalid(c, at, "\"other\" is the label of the models not listed")
        if (c.models.has(m.str)) return invalid(c, at, "duplicate model \"" + m.str + "\"")
        c.models.add(m.str)
      }
    } else {
      if (v.kind != JsonKind.String || v.str.length == 0) return invalid(c, key, "must be a non-empty string")
      c.service = v.str
    }
  }
  return c
}

/** Adds one `routes` entry (at path `at`) to `c`; false with `c`'s error set when it is refused. */
function addRoute(c: GoldenConfig, r: JsonValue, at: string): bool {
  if (r.kind != JsonKind.Object) return refused(c, at, "must be an object")
  const unknown = unknownField(r, ROUTE_KNOWN)
  if (unknown !== null) return refused(c, at + "." + unknown, "unknown field")
  const route = new GoldenRoute()
  const name = r.get("name")
  if (name === null || name.kind != JsonKind.String || name.str.length == 0) return refused(c, at + ".name", "required, a non-empty string")
  if (c.routes.has(name.str)) return refused(c, at + ".name", "duplicate route \"" + name.str + "\"")
  route.name = name.str
  const slow = r.get("slow_ms")
  if (slow !== null) {
    if (slow.kind != JsonKind.Number || slow.number != Math.floor(slow.number) || slow.number < 0 || slow.number > 86400000) return refused(c, at + ".slow_ms", "must be an integer from 0 to 86400000")
    route.slowNs = <i64>slow.number * 1000000
  }
  const trace = r.get("trace_header")
  if (trace !== null) {
    if (trace.kind != JsonKind.Bool) return refused(c, at + ".trace_header", "must be true or false")
    route.traceHeader = trace.bool
  }
  c.routes.set(route.name, route)
  return true
}

function refused(c: GoldenConfig, field: string, reason: string): bool {
  invalid(c, field, reason)
  return false
}
