// @module
// golden-signals configuration, checked once in proxy_on_configure.
import { FilterConfig, invalid } from "../../sdk/assembly/config"
import { JsonKind, parseConfigObject } from "../../sdk/assembly/json"
import { DEFAULT_EXPORTER_VM_ID, DEFAULT_QUEUE, exporterVmIdError } from "../../sdk/assembly/telemetry-queue"
import { OTHER_MODEL } from "./signals"

export class GoldenConfig extends FilterConfig {
  /** Who is reporting (the Envoy's role: gateway, sidecar of X). */
  service: string = "gateway"
  /**
   * The models metric names may carry; any other model of a path is labelled
   * "other", so a client cannot add stats by inventing model names.
   */
  models: Set<string> = new Set()
  /** Where the telemetry exporter registered its queue. */
  exporterVmId: string = DEFAULT_EXPORTER_VM_ID
  queueName: string = DEFAULT_QUEUE
  /** Events waiting for the exporter beyond which new ones are dropped (and counted). */
  maxPendingEvents: i64 = 10000
  /** Events gathered per worker before they go to the queue as one message. */
  batchEvents: i32 = 32
  /** The longest an event waits in its worker before going to the queue. */
  flushIntervalMs: i32 = 200
}

const KNOWN = ["service", "models", "exporter_vm_id", "queue_name", "max_pending_events", "batch_events", "flush_interval_ms"]

/** The configuration, or the first problem found in it (an empty configuration takes every default). */
export function parseConfig(text: string): GoldenConfig {
  const c = text.length == 0 ? new GoldenConfig() : parseFields(text)
  if (c.error.length > 0) return c
  const vm = exporterVmIdError(c.exporterVmId)
  if (vm.length > 0) return invalid(c, "exporter_vm_id", vm)
  return c
}

function parseFields(text: string): GoldenConfig {
  const c = new GoldenConfig()
  const parsed = parseConfigObject(text)
  if (parsed.value === null) {
    c.error = parsed.error
    return c
  }
  const root = parsed.value!
  for (let i = 0; i < root.keys.length; i++) {
    const key = root.keys[i]
    const v = root.values[i]
    if (!KNOWN.includes(key)) return invalid(c, key, "unknown field")
    if (key == "max_pending_events") {
      if (v.kind != JsonKind.Number || v.number != Math.floor(v.number) || v.number < 1 || v.number > 1e7) {
        return invalid(c, key, "must be an integer from 1 to 10000000")
      }
      c.maxPendingEvents = <i64>v.number
      continue
    }
    if (key == "batch_events" || key == "flush_interval_ms") {
      if (v.kind != JsonKind.Number || v.number != Math.floor(v.number) || v.number < 1 || v.number > 60000) {
        return invalid(c, key, "must be an integer from 1 to 60000")
      }
      if (key == "batch_events") c.batchEvents = <i32>v.number
      else c.flushIntervalMs = <i32>v.number
      continue
    }
    if (key == "models") {
      if (v.kind != JsonKind.Array) return invalid(c, key, "must be an array of model names")
      for (let k = 0; k < v.items.length; k++) {
        const at = key + "[" + k.toString() + "]"
        const m = v.items[k]
        if (m.kind != JsonKind.String || m.str.length == 0) return invalid(c, at, "must be a non-empty string")
        if (m.str == OTHER_MODEL) return invalid(c, at, "\"other\" is the label of the models not listed")
        if (c.models.has(m.str)) return invalid(c, at, "duplicate model \"" + m.str + "\"")
        c.models.add(m.str)
      }
      continue
    }
    if (v.kind != JsonKind.String || v.str.length == 0) return invalid(c, key, "must be a non-empty string")
    if (key == "service") c.service = v.str
    else if (key == "exporter_vm_id") c.exporterVmId = v.str
    else c.queueName = v.str
  }
  return c
}
