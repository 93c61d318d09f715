// @module
// Optional HTTP stream callbacks. Export from a filter's entry file only
// those it uses, e.g. `export { proxy_on_log } from "../../sdk/assembly/index"`.
import { Action } from "./constants"
import { streams } from "./context"

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
