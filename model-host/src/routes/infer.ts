/**
 * @module
 * `POST /v2/models/{m}[/versions/{v}]/infer`: read and validate the request,
 * hand it to the model manager, and say in headers and parameters who answered.
 */
import { randomUUID } from 'node:crypto'
import { Hono, type Context } from 'hono'
import * as H from '../../../contracts/headers.ts'
import type { ModelManager } from '../model-manager.ts'
import { clientGone, header, readBodyLimited } from '../oip/node-request.ts'
import { decodeInferRequest, INFERENCE_HEADER_CONTENT_LENGTH, splitBody } from '../oip/request.ts'
import { confidenceOf, encodeInferResponse } from '../oip/response.ts'

export function inferRoutes(manager: ModelManager): Hono {
  const infer = async (c: Context, model: string, version?: string) => {
    const target = manager.resolve(model, version)
    const cfg = target.config
    const body = await readBodyLimited(c, cfg.max_request_bytes, `max_request_bytes of "${model}"`)
    const { json, binary } = splitBody(body, header(c, INFERENCE_HEADER_CONTENT_LENGTH))
    const decoded = decodeInferRequest(json, binary, cfg)
    const requestId = header(c, H.REQUEST_ID) ?? decoded.id ?? randomUUID()

    const outcome = await manager.infer(target, {
      requestId,
      rows: decoded.rows,
      tensors: decoded.tensors,
      shapeKey: decoded.shapeKey,
      deadline: performance.now() + timeoutMs(c, cfg.dynamic_batching, decoded.timeoutUs),
      priority: decoded.priority,
      client: clientGone(c),
    })

    const served = outcome.served
    const fallback = outcome.fallbackReason !== undefined
    const classifier = served.config.outputs.find((o) => o.classifier)
    const confidence = classifier && outcome.outputs[classifier.name] ? confidenceOf(outcome.outputs[classifier.name]!) : undefined
    const parameters: Record<string, string | number | boolean> = { fallback }
    if (fallback) {
      parameters.fallback_reason = outcome.fallbackReason!
      parameters.requested_model = target.model
      parameters.requested_version = target.version
    }
    if (confidence !== undefined) parameters.confidence = confidence

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
      [H.MODEL_NAME]: served.model,
      [H.MODEL_VERSION]: served.version,
      [H.MODEL_FALLBACK]: String(fallback),
      [H.REQUEST_ID]: requestId,
    }
    if (confidence !== undefined) headers[H.MODEL_CONFIDENCE] = String(confidence)
    if (encoded.headerLength !== undefined) headers[INFERENCE_HEADER_CONTENT_LENGTH] = String(encoded.headerLength)
    return new Response(encoded.body as string, { status: 200, headers })
  }

  return new Hono()
    .post('/v2/models/:model/infer', (c) => infer(c, c.req.param('model')))
    .post('/v2/models/:model/versions/:version/infer', (c) => infer(c, c.req.param('model'), c.req.param('version')))
}

/**
 * The request's time budget: Envoy's expected timeout or the request's own
 * `timeout` parameter when the model allows overrides, else the model's default.
 */
function timeoutMs(c: Context, b: { default_timeout_ms: number; allow_timeout_override: boolean }, timeoutUs: number | undefined): number {
  if (!b.allow_timeout_override) return b.default_timeout_ms
  const envoy = Number(header(c, H.ENVOY_EXPECTED_TIMEOUT_MS))
  if (Number.isFinite(envoy) && envoy > 0) return envoy
  if (timeoutUs !== undefined) return timeoutUs / 1000
  return b.default_timeout_ms
}
