// @module
// The callbacks the host calls (proxy-wasm ABI 0.2.1), dispatched to
// contexts. A filter's entry file re-exports everything from here.
import { Action, BufferType } from "./constants"
import { createContext, roots, streams } from "./context"
import { getBuffer } from "./host"

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_memory_allocate(size: usize): usize {
  return heap.alloc(size)
}

export function proxy_on_context_create(id: u32, parent: u32): void {
  createContext(id, parent)
}

export function proxy_on_vm_start(id: u32, size: usize): bool {
  if (!roots.has(id)) return true
  const config = getBuffer(BufferType.VmConfiguration, size)
  return roots.get(id).onVmStart(config === null ? "" : config)
}

export function proxy_on_configure(id: u32, size: usize): bool {
  if (!roots.has(id)) return false
  const config = getBuffer(BufferType.PluginConfiguration, size)
  return roots.get(id).onConfigure(config === null ? "" : config)
}

export function proxy_on_request_headers(id: u32, headers: u32, endOfStream: bool): Action {
  return streams.has(id) ? streams.get(id).onRequestHeaders(headers, endOfStream) : Action.Continue
}

export function proxy_on_response_headers(id: u32, headers: u32, endOfStream: bool): Action {
  return streams.has(id) ? streams.get(id).onResponseHeaders(headers, endOfStream) : Action.Continue
}

export function proxy_on_request_body(id: u32, size: usize, endOfStream: bool): Action {
  return streams.has(id) ? streams.get(id).onRequestBody(size, endOfStream) : Action.Continue
}

export function proxy_on_response_body(id: u32, size: usize, endOfStream: bool): Action {
  return streams.has(id) ? streams.get(id).onResponseBody(size, endOfStream) : Action.Continue
}

export function proxy_on_log(id: u32): void {
  if (streams.has(id)) streams.get(id).onLog()
}

export function proxy_on_done(id: u32): bool {
  return true
}

export function proxy_on_delete(id: u32): void {
  if (streams.has(id)) streams.delete(id)
  else if (roots.has(id)) roots.delete(id)
}

export function proxy_on_tick(id: u32): void {
  if (roots.has(id)) roots.get(id).onTick()
}

export function proxy_on_queue_ready(id: u32, queue: u32): void {
  if (roots.has(id)) roots.get(id).onQueueReady(queue)
}

export function proxy_on_http_call_response(id: u32, token: u32, headers: u32, bodySize: usize, trailers: u32): void {
  if (roots.has(id)) roots.get(id).onHttpCallResponse(token, headers, bodySize, trailers)
}
