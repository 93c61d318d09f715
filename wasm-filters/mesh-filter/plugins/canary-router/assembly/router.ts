// @module
// The routing decision, free of host calls: which variant a request gets.
import { stableHash } from "../../../../sdk/assembly/index"
import { MISSING_KEY_STABLE, RouteConfig } from "./config"

export const STABLE = "stable"
export const CANARY = "canary"

/** Bucket 0..9999 of a sticky key for a model: the same everywhere and always. */
export function bucketOf(model: string, key: string): i32 {
  return <i32>(stableHash(model + "\n" + key) % 10000)
}

/**
 * stable or canary. `requested` is the override header's value ("" if none),
 * `key` the sticky header's value ("" if none), `requestId` x-request-id.
 */
export function chooseVariant(route: RouteConfig, key: string, requestId: string, requested: string): string {
  if (route.allowOverride && (requested == STABLE || requested == CANARY)) return requested
  if (route.canaryWeightBp == 0) return STABLE
  let k = key
  if (k.length == 0) {
    if (route.missingKey == MISSING_KEY_STABLE || requestId.length == 0) return STABLE
    k = requestId
  }
  return bucketOf(route.model, k) < route.canaryWeightBp ? CANARY : STABLE
}
