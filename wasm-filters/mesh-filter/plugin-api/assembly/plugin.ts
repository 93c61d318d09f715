// @module
// The plugin chain's one interface. A plugin is one job of the mesh filter
// (canary routing, payload sampling, golden signals). Its root part is made
// once per configuration and holds what outlives a request (configuration,
// metric ids, the telemetry batcher); for every request it opens a
// PluginStream, which the chain calls at each stage, in chain order, with
// the request's shared StreamView. Every stage continues: no plugin pauses
// or fails a request (a plugin that cannot decide takes its safe default).
import { StreamView } from "./stream-view"

export class PluginStream {
  onRequestHeaders(view: StreamView): void {}
  /** A request body chunk of `size` bytes is in the host's buffer. */
  onRequestBody(view: StreamView, size: usize, endOfStream: bool): void {}
  onResponseHeaders(view: StreamView): void {}
  onResponseBody(view: StreamView, size: usize, endOfStream: bool): void {}
  /**
   * The request is over (sent, failed or answered by Envoy itself). Comes
   * for every request, even one whose other stages never ran (a filter
   * before ours answered it).
   */
  onLog(view: StreamView): void {}
}

export class Plugin {
  /** The name in logs and in the configuration. */
  name(): string {
    return ""
  }
  /** Milliseconds between onTick calls this plugin wants; 0 for none. */
  tickMs(): i32 {
    return 0
  }
  newStream(): PluginStream {
    return new PluginStream()
  }
  onTick(): void {}
  /** The configuration was replaced (a live update) or the VM stops: give back what it holds. */
  onDelete(): void {}
}
