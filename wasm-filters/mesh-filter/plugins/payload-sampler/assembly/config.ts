// @module
// The payload-sampling plugin's configuration (the mesh filter's `sampling`
// section), checked once in proxy_on_configure.
import { FilterConfig, invalid, JsonKind, JsonValue, unknownField } from "../../../../sdk/assembly/index"

export class SampleRoute {
  model: string = ""
  /** Share of requests sampled, in basis points, decided from the request id. */
  sampleRateBp: i32 = 0
  /** Also sample responses whose x-model-confidence is below this (0: off). */
  confidenceThreshold: f64 = 0
}

export class SamplerConfig extends FilterConfig {
  routes: SampleRoute[] = []
  /** Bytes captured per body; beyond, the sample says truncated. */
  maxCaptureBytes: i32 = 16384
  /** JSON field names (lower case) whose values are masked at any depth. */
  piiFields: string[] = ["full_name", "first_name", "last_name", "email", "phone", "ssn", "address", "iban", "card_number", "date_of_birth"]

  route(model: string): SampleRoute | null {
    for (let i = 0; i < this.routes.length; i++) if (this.routes[i].model == model) return this.routes[i]
    return null
  }
}


function intIn(v: JsonValue, lo: f64, hi: f64): bool {
  return v.kind == JsonKind.Number && v.number == Math.floor(v.number) && v.number >= lo && v.number <= hi
}

const KNOWN = ["routes", "max_capture_bytes", "pii_fields"]
const ROUTE_KNOWN = ["model", "sample_rate_bp", "confidence_threshold"]

/** The section (an object), or the first problem in it. */
export function parseSamplerConfig(root: JsonValue): SamplerConfig {
  const c = new SamplerConfig()
  const unknown = unknownField(root, KNOWN)
  if (unknown !== null) return invalid(c, unknown, "unknown field")
  for (let i = 0; i < root.keys.length; i++) {
    const key = root.keys[i]
    const v = root.values[i]
    if (key == "max_capture_bytes") {
      if (!intIn(v, 0, 1048576)) return invalid(c, key, "must be an integer from 0 to 1048576")
      c.maxCaptureBytes = <i32>v.number
    } else if (key == "pii_fields") {
      if (v.kind != JsonKind.Array) return invalid(c, key, "must be an array of strings")
      const fields: string[] = []
      for (let k = 0; k < v.items.length; k++) {
        if (v.items[k].kind != JsonKind.String || v.items[k].str.length == 0) return invalid(c, key + "[" + k.toString() + "]", "must be a non-empty string")
        fields.push(v.items[k].str.toLowerCase())
      }
      c.piiFields = fields
    } else {
      // routes
      if (v.kind != JsonKind.Array || v.items.length == 0) return invalid(c, key, "required, a non-empty array")
      for (let k = 0; k < v.items.length; k++) {
        const at = "routes[" + k.toString() + "]"
        const r = v.items[k]
        if (r.kind != JsonKind.Object) return invalid(c, at, "must be an object")
        const unknownKey = unknownField(r, ROUTE_KNOWN)
        if (unknownKey !== null) return invalid(c, at + "." + unknownKey, "unknown field")
        const route = new SampleRoute()
        const model = r.get("model")
        if (model === null || model.kind != JsonKind.String || model.str.length == 0) return invalid(c, at + ".model", "required, a non-empty string")
        if (c.route(model.str) !== null) return invalid(c, at + ".model", "duplicate model \"" + model.str + "\"")
        route.model = model.str
        const rate = r.get("sample_rate_bp")
        if (rate !== null) {
          if (!intIn(rate, 0, 10000)) return invalid(c, at + ".sample_rate_bp", "must be an integer from 0 to 10000")
          route.sampleRateBp = <i32>rate.number
        }
        const threshold = r.get("confidence_threshold")
        if (threshold !== null) {
          if (threshold.kind != JsonKind.Number || threshold.number < 0 || threshold.number > 1) return invalid(c, at + ".confidence_threshold", "must be a number from 0 to 1")
          route.confidenceThreshold = threshold.number
        }
        c.routes.push(route)
      }
    }
  }
  if (c.routes.length == 0) return invalid(c, "routes", "required, a non-empty array")
  return c
}
