// @module
// Benchmark fixture, not a filter: exports every HTTP stream callback
// (context create and delete, headers and bodies both ways, log) and does
// nothing in them but read `:path` as many times per request as its
// configuration says (a number; none when empty). bench:mesh runs it to
// price a call into the VM and a host call on their own.
import { HttpContext, RootContext, setRootContextFactory } from "../../../sdk/assembly/context"
import { Action, MapType } from "../../../sdk/assembly/constants"
import { getHeader } from "../../../sdk/assembly/host"

export * from "../../../sdk/assembly/exports"
export { proxy_on_log, proxy_on_request_body, proxy_on_request_headers, proxy_on_response_body, proxy_on_response_headers } from "../../../sdk/assembly/exports-http"

class ReadsStream extends HttpContext {
  constructor(id: u32, readonly reads: i32) {
    super(id)
  }

  onRequestHeaders(headers: u32, endOfStream: bool): Action {
    for (let i = 0; i < this.reads; i++) getHeader(MapType.RequestHeaders, ":path")
    return Action.Continue
  }
}

class ReadsRoot extends RootContext {
  reads: i32 = 0

  onConfigure(configuration: string): bool {
    this.reads = max(0, I32.parseInt(configuration))
    return true
  }

  newHttpContext(id: u32): HttpContext {
    return new ReadsStream(id, this.reads)
  }
}

setRootContextFactory((id: u32): RootContext => new ReadsRoot(id))
