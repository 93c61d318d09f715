// @module
// What one request looks like to the chain, read from Envoy at most once
// and shared by every plugin: header maps are fetched whole on first use
// (one host call each, rather than one per header per plugin), values and
// properties are cached as they are asked for, and what a plugin decided
// (the variant and version the canary plugin chose, what the sampler
// sampled) is written here for the plugins after it, rather than read back
// from the headers it set.
import { getHeaderPairs, getProperty, getPropertyInt64, HeaderPairs, MapType, orEmpty } from "../../../sdk/assembly/index"
import { modelOfPath } from "./oip"

/** Set by the canary router on the requests it routes; the route table reads them. */
export const VARIANT_HEADER = "x-mesh-variant"
export const VERSION_HEADER = "x-model-version"

/** A cached i64 property: -2 not read yet (a read that fails gives -1). */
const UNREAD: i64 = -2

export class StreamView {
  private requestPairs: HeaderPairs | null = null
  private responsePairs: HeaderPairs | null = null
  private cachedPath: string | null = null
  private cachedModel: string | null = null
  private cachedRequestId: string | null = null
  private cachedTraceparent: string | null = null
  private cachedStatus: i64 = UNREAD
  private cachedDuration: i64 = UNREAD
  private cachedFlags: i64 = UNREAD
  private cachedRoute: string | null = null

  /**
   * Whether a router plugin is in the chain: then `variant` and `version`
   * are its decision, and a caller's x-mesh-variant never counts.
   */
  routed: bool = false
  /** stable or canary as the router chose; "" when it did not route the request. */
  variant: string = ""
  /** The version the router chose with the variant. */
  version: string = ""
  /** The sampler's decisions, for golden signals' stories: the payload was sampled by rate; the answer's confidence was under the route's threshold. */
  sampled: bool = false
  lowConfidence: bool = false

  constructor(routed: bool) {
    this.routed = routed
  }

  /** The router's decision, for the plugins after it. */
  decide(variant: string, version: string): void {
    this.variant = variant
    this.version = version
  }

  /** A request header as it arrived (names lower case), null when absent. */
  requestHeader(name: string): string | null {
    if (this.requestPairs === null) this.requestPairs = getHeaderPairs(MapType.RequestHeaders)
    return this.requestPairs!.get(name)
  }

  /** A response header (names lower case), null when absent or when no response was sent. */
  responseHeader(name: string): string | null {
    if (this.responsePairs === null) this.responsePairs = getHeaderPairs(MapType.ResponseHeaders)
    return this.responsePairs!.get(name)
  }

  get path(): string {
    if (this.cachedPath === null) this.cachedPath = orEmpty(this.requestHeader(":path"))
    return this.cachedPath!
  }

  /** The model of an OIP path, "" for other paths. */
  get model(): string {
    if (this.cachedModel === null) this.cachedModel = modelOfPath(this.path)
    return this.cachedModel!
  }

  get requestId(): string {
    if (this.cachedRequestId === null) this.cachedRequestId = orEmpty(this.requestHeader("x-request-id"))
    return this.cachedRequestId!
  }

  get traceparent(): string {
    if (this.cachedTraceparent === null) this.cachedTraceparent = orEmpty(this.requestHeader("traceparent"))
    return this.cachedTraceparent!
  }

  /**
   * The variant the request went to: the router's word when there is a
   * router; without one, what x-mesh-variant says (stable or canary, else "").
   */
  get requestVariant(): string {
    if (this.routed) return this.variant
    const header = orEmpty(this.requestHeader(VARIANT_HEADER))
    return header == "stable" || header == "canary" ? header : ""
  }

  /** The version the request was sent to: the router's, else x-model-version beside a variant header. */
  get requestVersion(): string {
    if (this.routed) return this.version
    return this.requestVariant.length > 0 ? orEmpty(this.requestHeader(VERSION_HEADER)) : ""
  }

  /** The :status Envoy sent; 0 when it sent none (or it is not three digits). */
  get status(): i64 {
    if (this.cachedStatus == UNREAD) this.cachedStatus = statusOf(orEmpty(this.responseHeader(":status")))
    return this.cachedStatus
  }

  /** Envoy's route name (the mesh route's), "" when none matched. */
  get routeName(): string {
    if (this.cachedRoute === null) this.cachedRoute = orEmpty(getProperty(["xds", "route_name"]))
    return this.cachedRoute!
  }

  /** Nanoseconds from the first byte received to the last byte sent; 0 when unknown. */
  get durationNs(): i64 {
    if (this.cachedDuration == UNREAD) this.cachedDuration = getPropertyInt64(["request", "duration"])
    return this.cachedDuration < 0 ? 0 : this.cachedDuration
  }

  /** Envoy's response flags bitmask (UH, UF, UT...), 0 when none or unknown. */
  get responseFlags(): i64 {
    if (this.cachedFlags == UNREAD) this.cachedFlags = getPropertyInt64(["response", "flags"])
    return this.cachedFlags < 0 ? 0 : this.cachedFlags
  }
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
