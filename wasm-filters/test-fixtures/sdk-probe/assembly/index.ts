// @module
// Test fixture, not a filter: a small plugin written against the SDK alone,
// so the SDK's own tests (sdk/sdk.unit.test.ts) exercise its layers the way
// any plugin author would: contexts and their lifecycle, configuration
// parsing with located errors, header maps, properties, body capture and
// UTF-8 decoding, metrics, timers and the sticky hash.
//
//   {"echo": ["name", ...], "hash_header": "x-key", "tick_ms": 100, "capture_bytes": 16}
//
// At request headers it writes, on the request: x-echo-<name> (the header's
// value, or "(absent)"), x-hash (stableHash of hash_header's value), and
// removes x-remove-me. It captures the
// request body up to capture_bytes and logs it, decoded, at log time.
import { Action, appendBuffer, BufferType, ByteBuffer, completeLength, configObject, decodeUtf8, FilterConfig, getHeaderPairs, getPropertyInt64, HttpContext, increment, invalid, JsonKind, log, LogLevel, MapType, removeHeader, RootContext, setHeader, setRootContextFactory, setTickPeriod, stableHash, unknownField } from "../../../sdk/assembly/index"

export { proxy_abi_version_0_2_1, proxy_on_memory_allocate, proxy_on_context_create, proxy_on_vm_start, proxy_on_configure, proxy_on_delete } from "../../../sdk/assembly/index"
export { proxy_on_log, proxy_on_request_body, proxy_on_request_headers, proxy_on_tick } from "../../../sdk/assembly/index"

class ProbeConfig extends FilterConfig {
  echo: string[] = []
  hashHeader: string = ""
  tickMs: i32 = 0
  captureBytes: i32 = 16
}

function parse(text: string): ProbeConfig {
  const c = new ProbeConfig()
  const parsed = configObject(c, text)
  if (parsed === null) return c
  const root = parsed!
  const unknown = unknownField(root, ["echo", "hash_header", "tick_ms", "capture_bytes"])
  if (unknown !== null) return invalid(c, unknown, "unknown field")
  const echo = root.get("echo")
  if (echo !== null) {
    if (echo.kind != JsonKind.Array) return invalid(c, "echo", "must be an array of header names")
    for (let i = 0; i < echo.items.length; i++) {
      if (echo.items[i].kind != JsonKind.String) return invalid(c, "echo[" + i.toString() + "]", "must be a string")
      c.echo.push(echo.items[i].str)
    }
  }
  const hash = root.get("hash_header")
  if (hash !== null) c.hashHeader = hash.str
  const tick = root.get("tick_ms")
  if (tick !== null) c.tickMs = <i32>tick.number
  const capture = root.get("capture_bytes")
  if (capture !== null) c.captureBytes = <i32>capture.number
  return c
}

class ProbeRoot extends RootContext {
  config: ProbeConfig = new ProbeConfig()

  onConfigure(configuration: string): bool {
    const parsed = parse(configuration)
    if (parsed.error.length > 0) {
      log(LogLevel.Error, "sdk-probe: invalid configuration: " + parsed.error)
      return false
    }
    this.config = parsed
    if (parsed.tickMs > 0) setTickPeriod(<u32>parsed.tickMs)
    log(LogLevel.Info, "sdk-probe: root " + this.id.toString() + " configured")
    return true
  }

  onTick(): void {
    increment("probe.ticks")
  }

  onDelete(): void {
    log(LogLevel.Info, "sdk-probe: root " + this.id.toString() + " deleted")
  }

  newHttpContext(id: u32): HttpContext {
    return new ProbeStream(id, this)
  }
}

class ProbeStream extends HttpContext {
  body: ByteBuffer
  truncated: bool = false

  constructor(id: u32, readonly root: ProbeRoot) {
    super(id)
    this.body = new ByteBuffer(root.config.captureBytes)
  }

  onRequestHeaders(headers: u32, endOfStream: bool): Action {
    const pairs = getHeaderPairs(MapType.RequestHeaders)
    const echo = this.root.config.echo
    for (let i = 0; i < echo.length; i++) {
      const value = pairs.get(echo[i])
      setHeader(MapType.RequestHeaders, "x-echo-" + echo[i], value === null ? "(absent)" : value)
    }
    const key = this.root.config.hashHeader
    if (key.length > 0) setHeader(MapType.RequestHeaders, "x-hash", stableHash(pairs.value(key)).toString())
    if (pairs.get("x-remove-me") !== null) removeHeader(MapType.RequestHeaders, "x-remove-me")
    increment("probe.requests")
    return Action.Continue
  }

  onRequestBody(size: usize, endOfStream: bool): Action {
    if (<usize>this.body.room < size) this.truncated = true
    appendBuffer(BufferType.RequestBody, size, this.body)
    return Action.Continue
  }

  onLog(): void {
    const ptr = changetype<usize>(this.body.contiguous())
    const length = this.truncated ? completeLength(ptr, <usize>this.body.length) : <usize>this.body.length
    log(LogLevel.Info, "sdk-probe: stream " + this.id.toString() + " body [" + decodeUtf8(ptr, length) + "] duration " + getPropertyInt64(["request", "duration"]).toString())
  }
}

setRootContextFactory((id: u32): RootContext => new ProbeRoot(id))
