// @module
// The canary plugin: picks stable or canary for each request to a
// configured model, sticky by a key, and says so in x-mesh-variant and
// x-model-version, which Envoy's route table matches to choose the cluster
// (Envoy recomputes the route after a filter changes request headers). The
// decision goes into the stream view for the plugins after it.
// Fails open: with no route or no usable key the request goes to stable.
import { MapType, orEmpty, removeHeader, setHeader } from "../../../../sdk/assembly/index"
import { Plugin, PluginStream } from "../../../plugin-api/assembly/plugin"
import { StreamView, VARIANT_HEADER, VERSION_HEADER } from "../../../plugin-api/assembly/stream-view"
import { CanaryConfig } from "./config"
import { chooseVariant } from "./router"

export class CanaryPlugin extends Plugin {
  constructor(readonly config: CanaryConfig) {
    super()
  }

  name(): string {
    return "canary"
  }

  newStream(): PluginStream {
    return new CanaryStream(this.config)
  }
}

class CanaryStream extends PluginStream {
  constructor(readonly config: CanaryConfig) {
    super()
  }

  onRequestHeaders(view: StreamView): void {
    const route = this.config.route(view.model)
    if (route === null) {
      // Not ours to route; callers must not steer the route table, nor pass for
      // the router in what is reported. Every change to request headers makes
      // Envoy recompute the route: remove only what is there.
      if (view.requestHeader(VARIANT_HEADER) !== null) removeHeader(MapType.RequestHeaders, VARIANT_HEADER)
      if (view.requestHeader(VERSION_HEADER) !== null) removeHeader(MapType.RequestHeaders, VERSION_HEADER)
      return
    }
    const requested = route.allowOverride ? orEmpty(view.requestHeader(route.overrideHeader)) : ""
    const overridden = requested == "stable" || requested == "canary"
    const sticky = overridden ? "" : orEmpty(view.requestHeader(route.stickyHeader))
    const requestId = overridden || sticky.length > 0 ? "" : view.requestId
    const variant = chooseVariant(route, sticky, requestId, requested)
    const version = variant == "canary" ? route.canaryVersion : route.stableVersion
    setHeader(MapType.RequestHeaders, VARIANT_HEADER, variant)
    setHeader(MapType.RequestHeaders, VERSION_HEADER, version)
    view.decide(variant, version)
  }
}
