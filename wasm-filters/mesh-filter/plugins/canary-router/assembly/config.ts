// @module
// The canary plugin's configuration (the mesh filter's `canary` section),
// checked once, in proxy_on_configure.
// Every problem names its field, e.g. "routes[0].canary_weight_bp: ...".
import { FilterConfig, invalid, JsonKind, JsonValue, unknownField } from "../../../../sdk/assembly/index"

export const MISSING_KEY_REQUEST_ID = "request_id"
export const MISSING_KEY_STABLE = "stable"

export class RouteConfig {
  model: string = ""
  stableVersion: string = ""
  canaryVersion: string = ""
  /** Canary share in basis points, 0..10000. */
  canaryWeightBp: i32 = 0
  /** Request header whose value keeps a caller on one variant (lower case). */
  stickyHeader: string = "x-user-id"
  /** When the sticky header is absent: "request_id" (hash x-request-id) or "stable". */
  missingKey: string = MISSING_KEY_REQUEST_ID
  allowOverride: bool = false
  overrideHeader: string = "x-mesh-variant-override"
}

export class CanaryConfig extends FilterConfig {
  routes: RouteConfig[] = []

  route(model: string): RouteConfig | null {
    for (let i = 0; i < this.routes.length; i++) if (this.routes[i].model == model) return this.routes[i]
    return null
  }
}


function isHeaderName(s: string): bool {
  if (s.length == 0) return false
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i)
    const ok = (ch >= 97 && ch <= 122) || (ch >= 48 && ch <= 57) || ch == 45 || ch == 95
    if (!ok) return false
  }
  return true
}

/** Reads an optional string field; returns null and sets the error when it has the wrong type. */
function optionalString(c: CanaryConfig, obj: JsonValue, key: string, field: string, fallback: string): string | null {
  const v = obj.get(key)
  if (v === null) return fallback
  if (v.kind != JsonKind.String) {
    invalid(c, field, "must be a string")
    return null
  }
  return v.str
}

function requiredString(c: CanaryConfig, obj: JsonValue, key: string, field: string): string | null {
  const v = obj.get(key)
  if (v === null || v.kind != JsonKind.String || v.str.length == 0) {
    invalid(c, field, "required, a non-empty string")
    return null
  }
  return v.str
}

const KNOWN = ["model", "stable_version", "canary_version", "canary_weight_bp", "sticky_header", "missing_key", "allow_override", "override_header"]

/** The plugin's section of the mesh filter's configuration (an object), or the first problem in it. */
export function parseCanaryConfig(root: JsonValue): CanaryConfig {
  const c = new CanaryConfig()
  const unknown = unknownField(root, ["routes"])
  if (unknown !== null) return invalid(c, unknown, "unknown field")
  const routes = root.get("routes")
  if (routes === null || routes.kind != JsonKind.Array || routes.items.length == 0) return invalid(c, "routes", "required, a non-empty array")
  for (let i = 0; i < routes.items.length; i++) {
    const at = "routes[" + i.toString() + "]"
    const r = routes.items[i]
    if (r.kind != JsonKind.Object) return invalid(c, at, "must be an object")
    const unknownKey = unknownField(r, KNOWN)
    if (unknownKey !== null) return invalid(c, at + "." + unknownKey, "unknown field")
    const route = new RouteConfig()
    const model = requiredString(c, r, "model", at + ".model")
    if (model === null) return c
    if (c.route(model) !== null) return invalid(c, at + ".model", "duplicate model \"" + model + "\"")
    route.model = model
    const stable = requiredString(c, r, "stable_version", at + ".stable_version")
    if (stable === null) return c
    route.stableVersion = stable
    const canary = requiredString(c, r, "canary_version", at + ".canary_version")
    if (canary === null) return c
    route.canaryVersion = canary
    const w = r.get("canary_weight_bp")
    if (w === null || w.kind != JsonKind.Number || w.number != Math.floor(w.number) || w.number < 0 || w.number > 10000) {
      return invalid(c, at + ".canary_weight_bp", "required, an integer from 0 to 10000")
    }
    route.canaryWeightBp = <i32>w.number
    const sticky = optionalString(c, r, "sticky_header", at + ".sticky_header", route.stickyHeader)
    if (sticky === null) return c
    if (!isHeaderName(sticky)) return invalid(c, at + ".sticky_header", "must be a lower-case header name")
    route.stickyHeader = sticky
    const missing = optionalString(c, r, "missing_key", at + ".missing_key", route.missingKey)
    if (missing === null) return c
    if (missing != MISSING_KEY_REQUEST_ID && missing != MISSING_KEY_STABLE) return invalid(c, at + ".missing_key", "must be \"request_id\" or \"stable\"")
    route.missingKey = missing
    const allow = r.get("allow_override")
    if (allow !== null) {
      if (allow.kind != JsonKind.Bool) return invalid(c, at + ".allow_override", "must be true or false")
      route.allowOverride = allow.bool
    }
    const overrideName = optionalString(c, r, "override_header", at + ".override_header", route.overrideHeader)
    if (overrideName === null) return c
    if (!isHeaderName(overrideName)) return invalid(c, at + ".override_header", "must be a lower-case header name")
    route.overrideHeader = overrideName
    c.routes.push(route)
  }
  return c
}
