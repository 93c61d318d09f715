// @module
// golden-signals configuration, checked once in proxy_on_configure.
import { FilterConfig, invalid } from "../../sdk/assembly/config"
import { JsonKind, parseConfigObject } from "../../sdk/assembly/json"
import { DEFAULT_EXPORTER_VM_ID, DEFAULT_QUEUE } from "../../sdk/assembly/telemetry-queue"

export class GoldenConfig extends FilterConfig {
  /** Who is reporting (the Envoy's role: gateway, sidecar of X). */
  service: string = "gateway"
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


const KNOWN = ["service", "exporter_vm_id", "queue_name", "max_pending_events", "batch_events", "flush_interval_ms"]

export function parseConfig(text: string): GoldenConfig {
  const c = new GoldenConfig()
  if (text.length == 0) return c
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
    if (v.kind != JsonKind.String || v.str.length == 0) return invalid(c, key, "must be a non-empty string")
    if (key == "service") c.service = v.str
    else if (key == "exporter_vm_id") c.exporterVmId = v.str
    else c.queueName = v.str
  }
  return c
}
