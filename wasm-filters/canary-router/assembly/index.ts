// @module
// canary-router: picks stable or canary for each request to a configured
// model, sticky by a key, and says so in x-mesh-variant and x-model-version;
// Envoy's route table matches those headers to choose the cluster.
// Fails open: with no route or no usable key the request goes to stable.
import { Action, LogLevel, MapType } from "../../sdk/assembly/constants"
import { HttpContext, RootContext, setRootContextFactory } from "../../sdk/assembly/context"
import { getHeader, log, orEmpty, removeHeader, setHeader } from "../../sdk/assembly/host"
import { CanaryConfig, parseConfig } from "./config"
import { modelOfPath } from "../../sdk/assembly/oip"
import { chooseVariant } from "./router"

export * from "../../sdk/assembly/exports"
export { proxy_on_request_headers } from "../../sdk/assembly/exports-http"

const VARIANT_HEADER = "x-mesh-variant"
const VERSION_HEADER = "x-model-version"
const REQUEST_ID_HEADER = "x-request-id"

class CanaryRouterRoot extends RootContext {
  config: CanaryConfig = new CanaryConfig()

  onConfigure(configuration: string): bool {
    const parsed = parseConfig(configuration)
    if (parsed.error.length > 0) {
      log(LogLevel.Error, "canary-router: invalid configuration: " + parsed.error)
      return false
    }
    this.config = parsed
    log(LogLevel.Info, "canary-router: configured " + parsed.routes.length.toString() + " route(s)")
    return true
  }

  newHttpContext(id: u32): HttpContext {
    return new CanaryRouterStream(id, this)
  }
}

class CanaryRouterStream extends HttpContext {
  constructor(id: u32, readonly root: CanaryRouterRoot) {
    super(id)
  }

  onRequestHeaders(headers: u32, endOfStream: bool): Action {
    // Only the headers the decision needs, each when it needs it: usually two host calls.
    const route = this.root.config.route(modelOfPath(orEmpty(getHeader(MapType.RequestHeaders, ":path"))))
    if (route === null) {
      // Not ours to route; callers must not steer the route table, nor pass for
      // the router in what later filters (golden-signals) trust. Every change
      // to request headers makes Envoy recompute the route: remove only what is there.
      if (getHeader(MapType.RequestHeaders, VARIANT_HEADER) !== null) removeHeader(MapType.RequestHeaders, VARIANT_HEADER)
      if (getHeader(MapType.RequestHeaders, VERSION_HEADER) !== null) removeHeader(MapType.RequestHeaders, VERSION_HEADER)
      return Action.Continue
    }
    const requested = route.allowOverride ? orEmpty(getHeader(MapType.RequestHeaders, route.overrideHeader)) : ""
    const overridden = requested == "stable" || requested == "canary"
    const sticky = overridden ? "" : orEmpty(getHeader(MapType.RequestHeaders, route.stickyHeader))
    const requestId = overridden || sticky.length > 0 ? "" : orEmpty(getHeader(MapType.RequestHeaders, REQUEST_ID_HEADER))
    const variant = chooseVariant(route, sticky, requestId, requested)
    setHeader(MapType.RequestHeaders, VARIANT_HEADER, variant)
    setHeader(MapType.RequestHeaders, VERSION_HEADER, variant == "canary" ? route.canaryVersion : route.stableVersion)
    return Action.Continue
  }
}

setRootContextFactory((id: u32): RootContext => new CanaryRouterRoot(id))
