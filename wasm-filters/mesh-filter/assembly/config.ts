// @module
// The mesh filter's one configuration: a section per plugin, and what the
// telemetry producers share. Parsed and checked once, in proxy_on_configure;
// the first problem found is returned with its full field path
// ("canary.routes[0].canary_weight_bp: ..."), and Envoy refuses the whole
// configuration: no chain is ever built from part of one.
//
//   {
//     "telemetry": { "exporter_vm_id": "...", "queue_name": "...", "max_pending_events": 10000 },
//     "canary": { "routes": [...] },
//     "sampling": { "routes": [...], "max_capture_bytes": 16384, "pii_fields": [...] },
//     "golden_signals": { "service": "gateway", "models": [...] }
//   }
//
// A plugin runs when its section is there; a configuration with none is refused.
import { configObject, FilterConfig, invalid, JsonKind, JsonValue, unknownField } from "../../sdk/assembly/index"
import { exporterVmIdError } from "../../telemetry-queue/assembly/queue"
import { TelemetryConfig } from "../plugin-api/assembly/event-batcher"
import { CanaryConfig, parseCanaryConfig } from "../plugins/canary-router/assembly/config"
import { GoldenConfig, parseGoldenConfig } from "../plugins/golden-signals/assembly/config"
import { parseSamplerConfig, SamplerConfig } from "../plugins/payload-sampler/assembly/config"

export class MeshConfig extends FilterConfig {
  telemetry: TelemetryConfig = new TelemetryConfig()
  canary: CanaryConfig | null = null
  sampling: SamplerConfig | null = null
  golden: GoldenConfig | null = null
}

export const SECTIONS = ["telemetry", "canary", "sampling", "golden_signals"]

export function parseMeshConfig(text: string): MeshConfig {
  const c = new MeshConfig()
  const parsed = configObject(c, text)
  if (parsed === null) return c
  const root = parsed!
  const unknown = unknownField(root, SECTIONS)
  if (unknown !== null) return invalid(c, unknown, "unknown field (sections: " + SECTIONS.join(", ") + ")")
  for (let i = 0; i < root.keys.length; i++) {
    if (root.values[i].kind != JsonKind.Object) return invalid(c, root.keys[i], "must be an object")
  }
  const canary = root.get("canary")
  if (canary !== null) {
    c.canary = parseCanaryConfig(canary)
    if (c.canary!.error.length > 0) return located(c, "canary", c.canary!.error)
  }
  const sampling = root.get("sampling")
  if (sampling !== null) {
    c.sampling = parseSamplerConfig(sampling)
    if (c.sampling!.error.length > 0) return located(c, "sampling", c.sampling!.error)
  }
  const golden = root.get("golden_signals")
  if (golden !== null) {
    c.golden = parseGoldenConfig(golden)
    if (c.golden!.error.length > 0) return located(c, "golden_signals", c.golden!.error)
  }
  if (c.canary === null && c.sampling === null && c.golden === null) return invalid(c, "(configuration)", "names no plugin: give one of canary, sampling, golden_signals")
  const telemetry = root.get("telemetry")
  if (telemetry !== null) {
    const error = parseTelemetry(c.telemetry, telemetry)
    if (error.length > 0) return located(c, "telemetry", error)
  }
  // Only a producer shares the exporter's counter: a chain of the canary plugin alone may run under any VM id.
  if (c.sampling !== null || c.golden !== null) {
    const vm = exporterVmIdError(c.telemetry.exporterVmId)
    if (vm.length > 0) return invalid(c, "telemetry.exporter_vm_id", vm)
  }
  return c
}

/** A section's problem ("routes[0].model: ...") under the section's name. */
function located(c: MeshConfig, section: string, error: string): MeshConfig {
  c.error = section + "." + error
  return c
}

const TELEMETRY_KNOWN = ["exporter_vm_id", "queue_name", "max_pending_events"]

function parseTelemetry(t: TelemetryConfig, root: JsonValue): string {
  const unknown = unknownField(root, TELEMETRY_KNOWN)
  if (unknown !== null) return unknown + ": unknown field"
  for (let i = 0; i < root.keys.length; i++) {
    const key = root.keys[i]
    const v = root.values[i]
    if (key == "max_pending_events") {
      if (v.kind != JsonKind.Number || v.number != Math.floor(v.number) || v.number < 1 || v.number > 1e7) return key + ": must be an integer from 1 to 10000000"
      t.maxPendingEvents = <i64>v.number
      continue
    }
    if (v.kind != JsonKind.String || v.str.length == 0) return key + ": must be a non-empty string"
    if (key == "exporter_vm_id") t.exporterVmId = v.str
    else t.queueName = v.str
  }
  return ""
}
