// @module
// The payload-sampling plugin: for a sampled request, copies the request and
// response bodies as they stream by (never pausing or buffering the stream),
// capped at max_capture_bytes, masks PII, and hands one sample event
// (PayloadSampleEvent, contracts/events.ts) to the telemetry exporter. A
// request is sampled when the hash of its x-request-id falls under the
// route's rate (so every component agrees which requests are sampled) or
// when the response's x-model-confidence is under the route's threshold
// (for the review queue).
import { BufferType, orEmpty } from "../../../../sdk/assembly/index"
import { isFormContentType, maskBody } from "./pii"
import { EventBatcher, TelemetryConfig } from "../../../plugin-api/assembly/event-batcher"
import { Plugin, PluginStream } from "../../../plugin-api/assembly/plugin"
import { StreamView, VERSION_HEADER } from "../../../plugin-api/assembly/stream-view"
import { Capture } from "./capture"
import { SampleRoute, SamplerConfig } from "./config"
import { parseConfidence, sampledByRate } from "./sampling"

export class SamplerPlugin extends Plugin {
  readonly events: EventBatcher

  constructor(
    readonly config: SamplerConfig,
    telemetry: TelemetryConfig,
  ) {
    super()
    // Samples are rare and large: one queue message each, handed over at once.
    this.events = new EventBatcher("sampler", telemetry.exporterVmId, telemetry.queueName, telemetry.maxPendingEvents, 1)
  }

  name(): string {
    return "sampling"
  }

  tickMs(): i32 {
    return 1000
  }

  onTick(): void {
    this.events.flush()
  }

  onDelete(): void {
    this.events.flush()
  }

  newStream(): PluginStream {
    return new SamplerStream(this)
  }
}

class SamplerStream extends PluginStream {
  route: SampleRoute | null = null
  byRate: bool = false
  lowConfidence: bool = false
  confidence: f64 = -1
  captureRequest: bool = false
  request: Capture = new Capture()
  response: Capture = new Capture()

  constructor(readonly plugin: SamplerPlugin) {
    super()
  }

  get sampled(): bool {
    return this.byRate || this.lowConfidence
  }

  onRequestHeaders(view: StreamView): void {
    this.route = this.plugin.config.route(view.model)
    if (this.route === null) return
    this.byRate = sampledByRate(view.requestId, this.route!.sampleRateBp)
    view.sampled = this.byRate
    // With a confidence threshold, any request may end up sampled: keep its (capped) body until the response says.
    this.captureRequest = this.byRate || this.route!.confidenceThreshold > 0
  }

  onRequestBody(view: StreamView, size: usize, endOfStream: bool): void {
    if (this.captureRequest) this.request.take(BufferType.RequestBody, size, this.plugin.config.maxCaptureBytes)
  }

  onResponseHeaders(view: StreamView): void {
    if (this.route === null) return
    // Anything but a number in [0, 1] counts as absent: neither sampled as low confidence nor reported.
    this.confidence = parseConfidence(view.responseHeader("x-model-confidence"))
    const threshold = this.route!.confidenceThreshold
    this.lowConfidence = this.confidence >= 0 && threshold > 0 && this.confidence < threshold
    view.lowConfidence = this.lowConfidence
    if (!this.sampled) {
      this.captureRequest = false
      this.request.release()
    }
  }

  onResponseBody(view: StreamView, size: usize, endOfStream: bool): void {
    if (this.route !== null && this.sampled) this.response.take(BufferType.ResponseBody, size, this.plugin.config.maxCaptureBytes)
  }

  onLog(view: StreamView): void {
    if (this.route === null || !this.sampled) return
    const reason = this.byRate ? (this.lowConfidence ? "rate+low_confidence" : "rate") : "low_confidence"
    const events = this.plugin.events
    const w = events.begin()
    if (w === null) return
    w.text("{\"v\":1,\"kind\":\"sample\",\"ts\":").int(Date.now())
    w.text(",\"request_id\":").jsonString(view.requestId)
    w.text(",\"traceparent\":").jsonString(view.traceparent)
    w.text(",\"model\":").jsonString(this.route!.model)
    w.text(",\"version\":").jsonString(orEmpty(view.responseHeader(VERSION_HEADER)))
    w.text(",\"variant\":").jsonString(view.requestVariant)
    w.text(",\"reason\":\"").text(reason).text("\"")
    w.text(",\"confidence\":").text(this.confidence < 0 ? "null" : this.confidence.toString())
    w.text(",\"status\":").int(view.status)
    w.text(",\"request\":").jsonString(this.masked(this.request, view.requestHeader("content-type")))
    w.text(",\"request_truncated\":").bool(this.request.truncated)
    w.text(",\"response\":").jsonString(this.masked(this.response, view.responseHeader("content-type")))
    w.text(",\"response_truncated\":").bool(this.response.truncated)
    w.text("}")
    events.end()
  }

  /** A capture decoded and masked; its content-type says whether it is a form. */
  private masked(capture: Capture, contentType: string | null): string {
    const text = capture.text()
    if (text.length == 0) return text
    return maskBody(text, this.plugin.config.piiFields, isFormContentType(orEmpty(contentType)), capture.truncated)
  }
}
