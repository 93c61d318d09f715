// @module
// The golden-signals plugin's configuration (the mesh filter's
// `golden_signals` section), checked once in proxy_on_configure.
import { FilterConfig, invalid, JsonKind, JsonValue, unknownField } from "../../../../sdk/assembly/index"
import { OTHER_MODEL } from "./signals"

export class GoldenConfig extends FilterConfig {
  /** Who is reporting (the Envoy's role: gateway, sidecar of X). */
  service: string = "gateway"
  /**
   * The models metric names may carry; any other model of a path is labelled
   * "other", so a client cannot add stats by inventing model names.
   */
  models: Set<string> = new Set()
  /** Events gathered per worker before they go to the queue as one message. */
  batchEvents: i32 = 32
  /** The longest an event waits in its worker before going to the queue. */
  flushIntervalMs: i32 = 200
}

const KNOWN = ["service", "models", "batch_events", "flush_interval_ms"]

/** The section (an object; empty takes every default), or the first problem in it. */
export function parseGoldenConfig(root: JsonValue): GoldenConfig {
  const c = new GoldenConfig()
  const unknown = unknownField(root, KNOWN)
  if (unknown !== null) return invalid(c, unknown, "unknown field")
  for (let i = 0; i < root.keys.length; i++) {
    const key = root.keys[i]
    const v = root.values[i]
    if (key == "batch_events" || key == "flush_interval_ms") {
      if (v.kind != JsonKind.Number || v.number != Math.floor(v.number) || v.number < 1 || v.number > 60000) {
        return invalid(c, key, "must be an integer from 1 to 60000")
      }
      if (key == "batch_events") c.batchEvents = <i32>v.number
      else c.flushIntervalMs = <i32>v.number
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
