/**
 * @module
 * Encoding an infer response: JSON, or JSON header plus raw tensor bytes when
 * the client asked for binary outputs (binary tensor data extension).
 */
import { headers as H } from '@model-mesh/contracts'
import type { LoadedVersion } from '../loaded-version.ts'
import type { InferOutcome } from '../model-manager.ts'
import type { OrtTensor } from '../runtime/types.ts'
import { datatypeOfOrt } from './datatypes.ts'

export interface InferResponseParts {
  model: string
  version: string
  id: string | undefined
  parameters: Record<string, string | number | boolean>
  outputs: { name: string; binary: boolean; tensor: OrtTensor }[]
}

export interface EncodedResponse {
  body: string | Uint8Array
  contentType: string
  /** Set when the body carries binary tensor data. */
  headerLength?: number
}

export function encodeInferResponse(r: InferResponseParts): EncodedResponse {
  const chunks: Uint8Array[] = []
  // Written by hand rather than with JSON.stringify over an object tree: this
  // runs once per request, and the hand-built string is several times cheaper.
  let outputs = ''
  for (const { name, binary, tensor } of r.outputs) {
    const datatype = datatypeOfOrt(tensor.type)
    const head = `{"name":${JSON.stringify(name)},"datatype":"${datatype}","shape":[${tensor.dims.join(',')}]`
    if (binary) {
      const d = tensor.data
      chunks.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
      outputs += `${outputs ? ',' : ''}${head},"parameters":{"binary_data_size":${d.byteLength}}}`
    } else {
      outputs += `${outputs ? ',' : ''}${head},"data":[${jsonValues(tensor)}]}`
    }
  }
  let parameters = ''
  for (const key in r.parameters)
    parameters += `${parameters ? ',' : ''}${JSON.stringify(key)}:${JSON.stringify(r.parameters[key])}`
  const id = r.id !== undefined ? `,"id":${JSON.stringify(r.id)}` : ''
  const header = `{"model_name":${JSON.stringify(r.model)},"model_version":${JSON.stringify(r.version)}${id},"parameters":{${parameters}},"outputs":[${outputs}]}`
  if (chunks.length === 0) return { body: header, contentType: 'application/json' }
  const headerBytes = new TextEncoder().encode(header)
  const body = new Uint8Array(headerBytes.length + chunks.reduce((n, c) => n + c.length, 0))
  body.set(headerBytes, 0)
  let offset = headerBytes.length
  for (const c of chunks) {
    body.set(c, offset)
    offset += c.length
  }
  return { body, contentType: 'application/octet-stream', headerLength: headerBytes.length }
}

/** Comma-separated JSON values of a tensor; non-finite floats (not JSON) become null. */
function jsonValues(t: OrtTensor): string {
  const d = t.data
  if (t.type === 'bool') return Array.from(d as Uint8Array, (v) => (v ? 'true' : 'false')).join(',')
  let s = ''
  for (let i = 0; i < d.length; i++) {
    const v = Number(d[i])
    s += (i ? ',' : '') + (Number.isFinite(v) ? v : 'null')
  }
  return s
}

/** Top-class probability per row of a classifier output, and the least confident row's value. */
export function confidenceOf(t: OrtTensor): number {
  const rows = t.dims[0]!
  const perRow = rows ? t.data.length / rows : 0
  let min = Infinity
  for (let r = 0; r < rows; r++) {
    let top = -Infinity
    for (let k = 0; k < perRow; k++) top = Math.max(top, Number(t.data[r * perRow + k]))
    min = Math.min(min, top)
  }
  return min
}

/**
 * Who answered an inference, as both front doors say it: the response's
 * parameters (`fallback`; with a fallback, why and what was asked; a
 * classifier's `confidence`) and the headers REST sends and gRPC puts in
 * its trailers (model, version, fallback, confidence).
 */
export function whoAnswered(target: LoadedVersion, outcome: InferOutcome) {
  const served = outcome.served
  const fallback = outcome.fallbackReason !== undefined
  const classifier = served.config.outputs.find((o) => o.classifier)
  const confidence =
    classifier && outcome.outputs[classifier.name] ? confidenceOf(outcome.outputs[classifier.name]!) : undefined
  const parameters: Record<string, string | number | boolean> = { fallback }
  if (fallback) {
    parameters.fallback_reason = outcome.fallbackReason!
    parameters.requested_model = target.model
    parameters.requested_version = target.version
  }
  if (confidence !== undefined) parameters.confidence = confidence
  const headers: Record<string, string> = {
    [H.MODEL_NAME]: served.model,
    [H.MODEL_VERSION]: served.version,
    [H.MODEL_FALLBACK]: String(fallback),
  }
  if (confidence !== undefined) headers[H.MODEL_CONFIDENCE] = String(confidence)
  return { served, fallback, parameters, headers }
}
