/**
 * @module
 * `POST /v2/models/{m}[/versions/{v}]/infer`: read and validate the request,
 * hand it to the model manager, and say in headers and parameters who answered.
 * Each inference is an OpenTelemetry SERVER span, the child of the incoming
 * trace context (a no-op unless the process registers an SDK).
 */
import { randomUUID } from 'node:crypto'
import { Hono, type Context } from 'hono'
import { headers as H } from '@model-mesh/contracts'
import { InferenceError } from '../errors.ts'
import type { ModelManager } from '../model-manager.ts'
import { clientGone, header, nodeResponse, readBodyLimited, requestHeaders } from '../oip/node-request.ts'
import { decodeInferRequest, echoedRequestId, INFERENCE_HEADER_CONTENT_LENGTH, splitBody } from '../oip/request.ts'
import { encodeInferResponse, whoAnswered } from '../oip/response.ts'
import { endInferSpan, startInferSpan } from '../tracing.ts'

export function inferRoutes(manager: ModelManager): Hono {
  const traced = async (c: Context, model: string, version?: string) => {
    const span = startInferSpan(requestHeaders(c), model)
    try {
      const answer = await infer(c, model, version)
      endInferSpan(span, nodeResponse(c), { status: 200, version: answer.version, fallback: answer.fallback })
      return answer.response
    } catch (e) {
      endInferSpan(span, nodeResponse(c), { status: e instanceof InferenceError ? e.status : 500, fallback: false })
      throw e
    }
  }

  const infer = async (c: Context, model: string, version?: string) => {
    const target = manager.resolve(model, version)
    const cfg = target.config
    const body = await readBodyLimited(c, cfg.max_request_bytes, `max_request_bytes of "${model}"`)
    const { json, binary } = splitBody(body, header(c, INFERENCE_HEADER_CONTENT_LENGTH))
    const decoded = decodeInferRequest(json, binary, cfg)
    const requestId = echoedRequestId(header(c, H.REQUEST_ID), decoded.id) ?? randomUUID()

    const outcome = await manager.infer(target, {
      requestId,
      // As it arrived (what Envoy forwarded), for the host's events.
      traceparent: header(c, H.TRACEPARENT) ?? '',
      rows: decoded.rows,
      tensors: decoded.tensors,
      shapeKey: decoded.shapeKey,
      deadline: performance.now() + timeoutMs(c, cfg.dynamic_batching, decoded.timeoutUs),
      priority: decoded.priority,
      client: clientGone(c),
    })

    const { served, fallback, parameters, headers: answered } = whoAnswered(target, outcome)
    const encoded = encodeInferResponse({
      model: served.model,
      version: served.version,
      id: decoded.id,
      parameters,
      outputs: decoded.outputs.map((o) => ({ ...o, tensor: outcome.outputs[o.name]! })),
    })
    // A plain header object lets @hono/node-server write the response without building web Headers.
    const headers: Record<string, string> = {
      'content-type': encoded.contentType,
      ...answered,
      [H.REQUEST_ID]: requestId,
    }
    if (encoded.headerLength !== undefined) headers[INFERENCE_HEADER_CONTENT_LENGTH] = String(encoded.headerLength)
    // The span names the requested model, so its version is the one resolved for it; `fallback` says whether another answered.
    return {
      response: new Response(encoded.body as string, { status: 200, headers }),
      version: target.version,
      fallback,
    }
  }

  return new Hono()
    .post('/v2/models/:model/infer', (c) => traced(c, c.req.param('model')))
    .post('/v2/models/:model/versions/:version/infer', (c) => traced(c, c.req.param('model'), c.req.param('version')))
}

/**
 * The request's time budget: Envoy's expected timeout or the request's own
 * `timeout` parameter when the model allows overrides, else the model's default.
 */
function timeoutMs(
  c: Context,
  b: { default_timeout_ms: number; allow_timeout_override: boolean },
  timeoutUs: number | undefined,
): number {
  if (!b.allow_timeout_override) return b.default_timeout_ms
  const envoy = Number(header(c, H.ENVOY_EXPECTED_TIMEOUT_MS))
  if (Number.isFinite(envoy) && envoy > 0) return envoy
  if (timeoutUs !== undefined) return timeoutUs / 1000
  return b.default_timeout_ms
}
