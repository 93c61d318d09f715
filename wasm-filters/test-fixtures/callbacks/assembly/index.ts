// @module
// Benchmark fixture, not a filter: exports every HTTP stream callback
// (context create and delete, headers and bodies both ways, log) and does
// nothing in them but the reads its configuration asks for:
// `{"header_reads": N}` reads `:path` N times at request headers,
// `{"property_reads": M}` reads a property M times at log time, where
// golden-signals reads its properties (`"property"`: its dotted path,
// `xds.route_name` by default). bench:mesh runs it to price a call
// into the VM, a header read and a property read on their own.
import { Action, getHeader, getProperty, HttpContext, MapType, parseConfigObject, RootContext, setRootContextFactory } from "../../../sdk/assembly/index"

export { proxy_abi_version_0_2_1, proxy_on_memory_allocate, proxy_on_context_create, proxy_on_vm_start, proxy_on_configure, proxy_on_delete } from "../../../sdk/assembly/index"
export { proxy_on_log, proxy_on_request_body, proxy_on_request_headers, proxy_on_response_body, proxy_on_response_headers } from "../../../sdk/assembly/index"

class ReadsStream extends HttpContext {
  constructor(id: u32, readonly root: ReadsRoot) {
    super(id)
  }

  onRequestHeaders(headers: u32, endOfStream: bool): Action {
    for (let i = 0; i < this.root.headerReads; i++) getHeader(MapType.RequestHeaders, ":path")
    return Action.Continue
  }

  onLog(): void {
    for (let i = 0; i < this.root.propertyReads; i++) getProperty(this.root.property)
  }
}

class ReadsRoot extends RootContext {
  headerReads: i32 = 0
  propertyReads: i32 = 0
  property: string[] = ["xds", "route_name"]

  onConfigure(configuration: string): bool {
    const parsed = parseConfigObject(configuration)
    if (parsed.value === null) return false
    const root = parsed.value!
    for (let i = 0; i < root.keys.length; i++) {
      const v = root.values[i]
      if (root.keys[i] == "header_reads") this.headerReads = <i32>v.number
      else if (root.keys[i] == "property_reads") this.propertyReads = <i32>v.number
      else if (root.keys[i] == "property") this.property = v.str.split(".")
    }
    return true
  }

  newHttpContext(id: u32): HttpContext {
    return new ReadsStream(id, this)
  }
}

setRootContextFactory((id: u32): RootContext => new ReadsRoot(id))
