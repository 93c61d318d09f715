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
import { ByteBuffer } from "../../sdk/assembly/byte-buffer"
import { appendBuffer, getHeader, getPropertyInt64, log, orEmpty, setTickPeriod } from "../../sdk/assembly/host"
import { modelOfPath } from "../../sdk/assembly/oip"
import { isFormContentType, maskBody } from "../../sdk/assembly/pii"
import { EventBatcher } from "../../sdk/assembly/telemetry-queue"
import { completeLength, decodeUtf8 } from "../../sdk/assembly/utf8"
import { parseConfig, SampleRoute, SamplerConfig } from "./config"
import { parseConfidence, sampledByRate } from "./sampling"

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

/**
 * A body's copy: raw bytes up to the cap, decoded once when the sample is
 * written. Bytes, because a chunk can end inside a character (decoding
 * chunks one by one breaks those) and hold half the memory of a string.
 */
class Capture {
  bytes: ByteBuffer | null = null
  truncated: bool = false

  /** Copies (part of) the current body chunk, up to the cap. */
  take(type: BufferType, size: usize, cap: i32): void {
    if (size == 0) return
    if (this.bytes === null) this.bytes = new ByteBuffer(cap)
    const bytes = this.bytes!
    if (<usize>bytes.room < size) this.truncated = true
    // It takes what the cap leaves room for, and asks the host for nothing when that is none.
    appendBuffer(type, size, bytes)
  }

  /** Lets go of the copy (the request was not sampled after all). */
  release(): void {
    this.bytes = null
    this.truncated = false
  }

  /** The copy as text: invalid UTF-8 becomes U+FFFD; a character the cap cut in two is left out. */
  text(): string {
    if (this.bytes === null) return ""
    const bytes = this.bytes!
    const ptr = changetype<usize>(bytes.contiguous())
    const length = this.truncated ? completeLength(ptr, <usize>bytes.length) : <usize>bytes.length
    return decodeUtf8(ptr, length)
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
    // Anything but a number in [0, 1] counts as absent: neither sampled as low confidence nor reported.
    this.confidence = parseConfidence(getHeader(MapType.ResponseHeaders, "x-model-confidence"))
    this.lowConfidence = this.confidence >= 0 && this.route!.confidenceThreshold > 0 && this.confidence < this.route!.confidenceThreshold
    if (!this.sampled) {
      this.captureRequest = false
      this.request.release()
    }
    return Action.Continue
  }

  onResponseBody(size: usize, endOfStream: bool): Action {
    if (this.route !== null && this.sampled) this.response.take(BufferType.ResponseBody, size, this.root.config.maxCaptureBytes)
    return Action.Continue
  }

  onLog(): void {
    if (this.route === null || !this.sampled || this.root.events === null) return
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
    w.text(",\"request\":").jsonString(this.masked(this.request, MapType.RequestHeaders))
    w.text(",\"request_truncated\":").bool(this.request.truncated)
    w.text(",\"response\":").jsonString(this.masked(this.response, MapType.ResponseHeaders))
    w.text(",\"response_truncated\":").bool(this.response.truncated)
    w.text("}")
    this.root.events!.end()
  }

  /** A capture decoded and masked; the content-type (read only now, for sampled requests) says whether it is a form. */
  private masked(capture: Capture, headers: MapType): string {
    const text = capture.text()
    if (text.length == 0) return text
    const form = isFormContentType(orEmpty(getHeader(headers, "content-type")))
    return maskBody(text, this.root.config.piiFields, form, capture.truncated)
  }
}

setRootContextFactory((id: u32): RootContext => new SamplerRoot(id))
