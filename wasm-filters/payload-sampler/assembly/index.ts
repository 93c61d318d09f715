// @module
// payload-sampler: for a sampled request, copies the request and response
// bodies as they stream by (never pausing or buffering the stream), capped
// at max_capture_bytes, masks PII, and hands one sample event to the
// telemetry exporter. A request is sampled when the hash of its x-request-id
// falls under the route's rate (so every component agrees which requests
// are sampled) or when the response's x-model-confidence is under the
// route's threshold (for the review queue).
import { Action, BufferType, LogLevel, MapType } from "../../sdk/assembly/constants"
import { HttpContext, RootContext, setRootContextFactory } from "../../sdk/assembly/context"
import { getBuffer, getHeader, getPropertyInt64, log, orEmpty, setTickPeriod } from "../../sdk/assembly/host"
import { modelOfPath } from "../../sdk/assembly/oip"
import { maskPii } from "../../sdk/assembly/pii"
import { EventBatcher } from "../../sdk/assembly/telemetry-queue"
import { parseConfig, SampleRoute, SamplerConfig } from "./config"
import { sampledByRate } from "./sampling"

export * from "../../sdk/assembly/exports"
export { proxy_on_log, proxy_on_request_body, proxy_on_request_headers, proxy_on_response_body, proxy_on_response_headers } from "../../sdk/assembly/exports-http"
export { proxy_on_tick } from "../../sdk/assembly/exports-service"

class SamplerRoot extends RootContext {
  config: SamplerConfig = new SamplerConfig()
  events: EventBatcher | null = null

  onConfigure(configuration: string): bool {
    const parsed = parseConfig(configuration)
    if (parsed.error.length > 0) {
      log(LogLevel.Error, "payload-sampler: invalid configuration: " + parsed.error)
      return false
    }
    this.config = parsed
    // Samples are rare and large: one queue message each, flushed at once.
    this.events = new EventBatcher("sampler", parsed.exporterVmId, parsed.queueName, parsed.maxPendingEvents, 1)
    setTickPeriod(1000)
    return true
  }

  onTick(): void {
    if (this.events !== null) this.events!.flush()
  }

  newHttpContext(id: u32): HttpContext {
    return new SamplerStream(id, this)
  }
}

class Capture {
  text: string = ""
  bytes: i32 = 0
  truncated: bool = false

  /** Copies (part of) the current body chunk, up to the cap. */
  take(type: BufferType, size: usize, cap: i32): void {
    if (size == 0) return
    const room = cap - this.bytes
    if (room <= 0) {
      this.truncated = true
      return
    }
    const n = <i32>size < room ? <i32>size : room
    const chunk = getBuffer(type, <usize>n)
    if (chunk === null) return
    this.text += chunk!
    this.bytes += n
    if (<i32>size > n) this.truncated = true
  }
}

class SamplerStream extends HttpContext {
  route: SampleRoute | null = null
  requestId: string = ""
  byRate: bool = false
  lowConfidence: bool = false
  confidence: f64 = -1
  captureRequest: bool = false
  request: Capture = new Capture()
  response: Capture = new Capture()

  constructor(id: u32, readonly root: SamplerRoot) {
    super(id)
  }

  get sampled(): bool {
    return this.byRate || this.lowConfidence
  }

  // Headers are read one at a time, and only when needed: most requests are
  // not sampled, and what only the sample needs is read at log time.
  onRequestHeaders(headers: u32, endOfStream: bool): Action {
    this.route = this.root.config.route(modelOfPath(orEmpty(getHeader(MapType.RequestHeaders, ":path"))))
    if (this.route === null) return Action.Continue
    this.requestId = orEmpty(getHeader(MapType.RequestHeaders, "x-request-id"))
    this.byRate = sampledByRate(this.requestId, this.route!.sampleRateBp)
    // With a confidence threshold, any request may end up sampled: keep its (capped) body until the response says.
    this.captureRequest = this.byRate || this.route!.confidenceThreshold > 0
    return Action.Continue
  }

  onRequestBody(size: usize, endOfStream: bool): Action {
    if (this.captureRequest) this.request.take(BufferType.RequestBody, size, this.root.config.maxCaptureBytes)
    return Action.Continue
  }

  onResponseHeaders(headers: u32, endOfStream: bool): Action {
    if (this.route === null) return Action.Continue
    const confidence = getHeader(MapType.ResponseHeaders, "x-model-confidence")
    if (confidence !== null) {
      const c = parseFloat(confidence)
      if (!isNaN(c)) {
        this.confidence = c
        this.lowConfidence = this.route!.confidenceThreshold > 0 && c < this.route!.confidenceThreshold
      }
    }
    if (!this.sampled) {
      this.captureRequest = false
      this.request = new Capture() // not sampled: let go of the copy now
    }
    return Action.Continue
  }

  onResponseBody(size: usize, endOfStream: bool): Action {
    if (this.route !== null && this.sampled) this.response.take(BufferType.ResponseBody, size, this.root.config.maxCaptureBytes)
    return Action.Continue
  }

  onLog(): void {
    if (this.route === null || !this.sampled || this.root.events === null) return
    const fields = this.root.config.piiFields
    const reason = this.byRate ? (this.lowConfidence ? "rate+low_confidence" : "rate") : "low_confidence"
    const w = this.root.events!.begin()
    if (w === null) return
    const status = getPropertyInt64(["response", "code"])
    w.text("{\"v\":1,\"kind\":\"sample\",\"ts\":").int(Date.now())
    w.text(",\"request_id\":").jsonString(this.requestId)
    w.text(",\"traceparent\":").jsonString(orEmpty(getHeader(MapType.RequestHeaders, "traceparent")))
    w.text(",\"model\":").jsonString(this.route!.model)
    w.text(",\"version\":").jsonString(orEmpty(getHeader(MapType.ResponseHeaders, "x-model-version")))
    w.text(",\"variant\":").jsonString(orEmpty(getHeader(MapType.RequestHeaders, "x-mesh-variant")))
    w.text(",\"reason\":\"").text(reason).text("\"")
    w.text(",\"confidence\":").text(this.confidence < 0 ? "null" : this.confidence.toString())
    w.text(",\"status\":").int(status < 0 ? 0 : status)
    w.text(",\"request\":").jsonString(maskPii(this.request.text, fields))
    w.text(",\"request_truncated\":").bool(this.request.truncated)
    w.text(",\"response\":").jsonString(maskPii(this.response.text, fields))
    w.text(",\"response_truncated\":").bool(this.response.truncated)
    w.text("}")
    this.root.events!.end()
  }
}

setRootContextFactory((id: u32): RootContext => new SamplerRoot(id))
