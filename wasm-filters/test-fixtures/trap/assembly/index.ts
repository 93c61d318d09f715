// @module
// Test fixture, not a filter: traps (wasm `unreachable`) on every request,
// to prove how Envoy treats a filter's own failure (failure_policy).
import { Action } from "../../../sdk/assembly/constants"
import { HttpContext, RootContext, setRootContextFactory } from "../../../sdk/assembly/context"

export * from "../../../sdk/assembly/exports"
export { proxy_on_request_headers } from "../../../sdk/assembly/exports-http"

class TrapStream extends HttpContext {
  onRequestHeaders(headers: u32, endOfStream: bool): Action {
    unreachable()
    return Action.Continue
  }
}

class TrapRoot extends RootContext {
  newHttpContext(id: u32): HttpContext {
    return new TrapStream(id)
  }
}

setRootContextFactory((id: u32): RootContext => new TrapRoot(id))
