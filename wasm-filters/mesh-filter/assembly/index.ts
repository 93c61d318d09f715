// @module
// mesh-filter: the mesh's one Wasm HTTP filter. Its root context parses the
// one configuration (config.ts) and builds the plugin chain from the
// sections present, in a fixed order: canary routing first (the others
// report the variant it chose), then payload sampling, then golden signals.
// One stream context per request runs the chain at each stage with one
// shared StreamView, so Envoy pays for one filter's contexts and VM
// crossings, and each header and property is read once for all plugins.
import { Action, HttpContext, log, LogLevel, RootContext, setRootContextFactory, setTickPeriod } from "../../sdk/assembly/index"
import { Plugin, PluginStream } from "../plugin-api/assembly/plugin"
import { StreamView } from "../plugin-api/assembly/stream-view"
import { CanaryPlugin } from "../plugins/canary-router/assembly/plugin"
import { GoldenPlugin } from "../plugins/golden-signals/assembly/plugin"
import { SamplerPlugin } from "../plugins/payload-sampler/assembly/plugin"
import { MeshConfig, parseMeshConfig } from "./config"

export { proxy_abi_version_0_2_1, proxy_on_memory_allocate, proxy_on_context_create, proxy_on_vm_start, proxy_on_configure, proxy_on_delete } from "../../sdk/assembly/index"
export { proxy_on_log, proxy_on_request_body, proxy_on_request_headers, proxy_on_response_body, proxy_on_response_headers, proxy_on_tick } from "../../sdk/assembly/index"

/** The chain a configuration asks for, in its fixed order. */
function chainOf(config: MeshConfig): Plugin[] {
  const chain: Plugin[] = []
  if (config.canary !== null) chain.push(new CanaryPlugin(config.canary!))
  if (config.sampling !== null) chain.push(new SamplerPlugin(config.sampling!, config.telemetry))
  if (config.golden !== null) chain.push(new GoldenPlugin(config.golden!, config.telemetry))
  return chain
}

class MeshRoot extends RootContext {
  chain: Plugin[] = []
  routed: bool = false

  onConfigure(configuration: string): bool {
    const parsed = parseMeshConfig(configuration)
    if (parsed.error.length > 0) {
      log(LogLevel.Error, "mesh-filter: invalid configuration: " + parsed.error)
      return false
    }
    this.chain = chainOf(parsed)
    this.routed = parsed.canary !== null
    // One timer for the chain: the shortest period any plugin asks for.
    let tick: i32 = 0
    const names: string[] = []
    for (let i = 0; i < this.chain.length; i++) {
      const ms = this.chain[i].tickMs()
      if (ms > 0 && (tick == 0 || ms < tick)) tick = ms
      names.push(this.chain[i].name())
    }
    if (tick > 0) setTickPeriod(<u32>tick)
    log(LogLevel.Info, "mesh-filter: configured " + names.join(", "))
    return true
  }

  onTick(): void {
    for (let i = 0; i < this.chain.length; i++) this.chain[i].onTick()
  }

  onDelete(): void {
    for (let i = 0; i < this.chain.length; i++) this.chain[i].onDelete()
  }

  newHttpContext(id: u32): HttpContext {
    return new MeshStream(id, this)
  }
}

class MeshStream extends HttpContext {
  readonly view: StreamView
  readonly streams: PluginStream[]

  constructor(id: u32, root: MeshRoot) {
    super(id)
    this.view = new StreamView(root.routed)
    const chain = root.chain
    const streams = new Array<PluginStream>(chain.length)
    for (let i = 0; i < chain.length; i++) streams[i] = chain[i].newStream()
    this.streams = streams
  }

  onRequestHeaders(headers: u32, endOfStream: bool): Action {
    for (let i = 0; i < this.streams.length; i++) this.streams[i].onRequestHeaders(this.view)
    return Action.Continue
  }

  onRequestBody(size: usize, endOfStream: bool): Action {
    for (let i = 0; i < this.streams.length; i++) this.streams[i].onRequestBody(this.view, size, endOfStream)
    return Action.Continue
  }

  onResponseHeaders(headers: u32, endOfStream: bool): Action {
    for (let i = 0; i < this.streams.length; i++) this.streams[i].onResponseHeaders(this.view)
    return Action.Continue
  }

  onResponseBody(size: usize, endOfStream: bool): Action {
    for (let i = 0; i < this.streams.length; i++) this.streams[i].onResponseBody(this.view, size, endOfStream)
    return Action.Continue
  }

  onLog(): void {
    for (let i = 0; i < this.streams.length; i++) this.streams[i].onLog(this.view)
  }
}

setRootContextFactory((id: u32): RootContext => new MeshRoot(id))
