// @module
// Context lifecycle: one root context per plugin (configuration, shared
// state) and one HTTP context per stream, created by its root. Filters
// subclass RootContext and HttpContext and register a root factory.
import { Action } from "./constants"

export class HttpContext {
  constructor(readonly id: u32) {}
  onRequestHeaders(headers: u32, endOfStream: bool): Action {
    return Action.Continue
  }
  onResponseHeaders(headers: u32, endOfStream: bool): Action {
    return Action.Continue
  }
  onRequestBody(size: usize, endOfStream: bool): Action {
    return Action.Continue
  }
  onResponseBody(size: usize, endOfStream: bool): Action {
    return Action.Continue
  }
  onLog(): void {}
}

export class RootContext {
  constructor(readonly id: u32) {}
  /** Receives the plugin configuration; false refuses it (Envoy then fails the filter's load). */
  onConfigure(configuration: string): bool {
    return true
  }
  onVmStart(configuration: string): bool {
    return true
  }
  newHttpContext(id: u32): HttpContext {
    return new HttpContext(id)
  }
  /**
   * Envoy is done with this root context: a live (ECDS) update replaced its
   * configuration, or the VM is shutting down. Give back what it holds
   * (flush gathered events). Envoy 1.40 calls proxy_on_done and then
   * proxy_on_delete for the root's id; the SDK exports only proxy_on_delete,
   * since an exported proxy_on_done would be called for every stream too.
   * Host calls still work here.
   */
  onDelete(): void {}
  onTick(): void {}
  onQueueReady(queue: u32): void {}
  onHttpCallResponse(token: u32, headers: u32, bodySize: usize, trailers: u32): void {}
}

export type RootFactory = (id: u32) => RootContext

let rootFactory: RootFactory = (id: u32): RootContext => new RootContext(id)
export const roots = new Map<u32, RootContext>()
export const streams = new Map<u32, HttpContext>()

export function setRootContextFactory(factory: RootFactory): void {
  rootFactory = factory
}

export function createContext(id: u32, parent: u32): void {
  if (parent == 0) {
    roots.set(id, rootFactory(id))
  } else if (roots.has(parent)) {
    streams.set(id, roots.get(parent).newHttpContext(id))
  }
}
