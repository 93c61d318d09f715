/**
 * @module
 * OpenTelemetry spans of the infer route, through @opentelemetry/api only:
 * the host never installs an SDK. With none registered every call here is a
 * no-op: about 0.15 µs per request, wrapper included (measured in
 * model-host/bench/tracing-overhead.ts), so no guard on the provider is
 * needed. A process that registers an SDK and a propagator gets one SERVER
 * span per inference, the child of the trace context Envoy forwarded.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type TextMapGetter,
} from '@opentelemetry/api'

// A ProxyTracer: it follows whatever provider is registered, even after this module loaded.
const tracer = trace.getTracer('model-host')

/** Reads Node's parsed headers (lower-case names; repeated ones joined by the getter's caller). */
export const incomingHeaderGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (headers) => Object.keys(headers),
  get: (headers, key) => headers[key.toLowerCase()],
}

/** Starts `infer <model>` as the child of the context in the request's headers. */
export function startInferSpan(headers: IncomingHttpHeaders, model: string): Span {
  const parent = propagation.extract(context.active(), headers, incomingHeaderGetter)
  return tracer.startSpan(`infer ${model}`, { kind: SpanKind.SERVER, attributes: { model } }, parent)
}

/** What the span records about the answer. */
export interface InferSpanEnd {
  status: number
  /** The version of the requested model the request was given; absent when none was (404). */
  version?: string
  fallback: boolean
}

/**
 * Ends the span once the response has been sent (its `close`), or at once
 * when there is no Node response or nothing records: a no-op span needs no listener.
 */
export function endInferSpan(span: Span, response: ServerResponse | undefined, end: InferSpanEnd): void {
  if (!span.isRecording()) return span.end()
  span.setAttributes({
    status: end.status,
    fallback: end.fallback,
    ...(end.version !== undefined ? { version: end.version } : {}),
  })
  if (end.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
  if (response && !response.writableFinished) response.once('close', () => span.end())
  else span.end()
}
