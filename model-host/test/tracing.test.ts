/**
 * Integration: the infer route's OpenTelemetry span, in a host started in
 * this process with a minimal recording tracer and a W3C traceparent
 * propagator registered through @opentelemetry/api (what an SDK would do).
 */
import {
  propagation,
  trace,
  TraceFlags,
  type Context,
  type Span,
  type SpanAttributes,
  type SpanContext,
  type SpanKind,
  type SpanOptions,
  type SpanStatus,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleRows } from '../example-models/dataset.ts'
import { createLogger } from '@model-mesh/contracts'
import { startHost, type RunningHost } from '../src/server.ts'
import { jsonInfer, postJson } from '@model-mesh/testkit/client'
import { EXAMPLE_MODELS } from '@model-mesh/testkit/host-process'

interface Recorded {
  name: string
  kind: SpanKind | undefined
  parent: SpanContext | undefined
  attributes: SpanAttributes
  status?: SpanStatus
  ended: boolean
}

const recorded: Recorded[] = []

function recordingSpan(r: Recorded): Span {
  const span = {
    spanContext: () => ({
      traceId: r.parent?.traceId ?? '1'.repeat(32),
      spanId: '2'.repeat(16),
      traceFlags: TraceFlags.SAMPLED,
    }),
    setAttribute: (k: string, v: unknown) => ((r.attributes[k] = v as never), span),
    setAttributes: (a: SpanAttributes) => (Object.assign(r.attributes, a), span),
    setStatus: (s: SpanStatus) => ((r.status = s), span),
    end: () => void (r.ended = true),
    isRecording: () => !r.ended,
  }
  return span as unknown as Span
}

const provider: TracerProvider = {
  getTracer: () =>
    ({
      startSpan(name: string, options: SpanOptions = {}, ctx?: Context) {
        const r: Recorded = {
          name,
          kind: options.kind,
          parent: ctx && trace.getSpanContext(ctx),
          attributes: { ...options.attributes },
          ended: false,
        }
        recorded.push(r)
        return recordingSpan(r)
      },
    }) as unknown as Tracer,
}

/** Reads W3C traceparent (version 00) into a remote span context. */
const traceparentPropagator: TextMapPropagator = {
  fields: () => ['traceparent'],
  inject() {},
  extract(ctx, carrier, getter) {
    const value = getter.get(carrier, 'traceparent')
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(Array.isArray(value) ? value[0]! : (value ?? ''))
    return m
      ? trace.setSpanContext(ctx, { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true })
      : ctx
  },
}

let host: RunningHost
beforeAll(async () => {
  trace.setGlobalTracerProvider(provider)
  propagation.setGlobalPropagator(traceparentPropagator)
  host = await startHost({
    models: EXAMPLE_MODELS,
    port: 0,
    only: ['credit-risk'],
    logger: createLogger('model-host', { level: 'silent' }),
  })
})
afterAll(async () => {
  await host?.close()
  trace.disable()
  propagation.disable()
})

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5))
}

describe('infer spans', () => {
  it('starts a SERVER span `infer <model>` as the child of the incoming traceparent, ended once the response is sent', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    const r = await postJson(`${host.url}/v2/models/credit-risk/versions/2/infer`, jsonInfer(sampleRows(2, 1)), {
      traceparent,
    })
    expect(r.status).toBe(200)
    const span = recorded.at(-1)!
    await until(() => span.ended)
    expect(span).toMatchObject({
      name: 'infer credit-risk',
      kind: 1, // SpanKind.SERVER
      parent: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', isRemote: true },
      attributes: { model: 'credit-risk', version: '2', fallback: false, status: 200 },
      ended: true,
    })
  })

  it('records fallbacks and errors on the span', async () => {
    const fb = await postJson(
      `${host.url}/v2/models/credit-risk/infer`,
      jsonInfer(sampleRows(1, 2), { parameters: { timeout: 1 } }),
    )
    expect(fb.headers.get('x-model-fallback')).toBe('true')
    const fallbackSpan = recorded.at(-1)!
    await until(() => fallbackSpan.ended)
    expect(fallbackSpan.attributes).toMatchObject({ model: 'credit-risk', version: '1', fallback: true, status: 200 })
    expect(fallbackSpan.parent).toBeUndefined()

    const missing = await postJson(`${host.url}/v2/models/credit-risk/versions/9/infer`, jsonInfer(sampleRows(1, 2)))
    expect(missing.status).toBe(404)
    const errorSpan = recorded.at(-1)!
    await until(() => errorSpan.ended)
    expect(errorSpan).toMatchObject({
      name: 'infer credit-risk',
      attributes: { status: 404, fallback: false },
      ended: true,
    })
  })
})
