// @module
// Test fixture, not a filter: traps (wasm `unreachable`) on every request,
// to prove how Envoy treats a filter's own failure (failure_policy).
import { Action, HttpContext, RootContext, setRootContextFactory } from "../../../sdk/assembly/index"

export { proxy_abi_version_0_2_1, proxy_on_memory_allocate, proxy_on_context_create, proxy_on_vm_start, proxy_on_configure, proxy_on_delete } from "../../../sdk/assembly/index"
export { proxy_on_request_headers } from "../../../sdk/assembly/index"

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
