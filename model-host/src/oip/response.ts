/**
 * @module
 * Encoding an infer response: JSON, or JSON header plus raw tensor bytes when
 * the client asked for binary outputs (binary tensor data extension).
 */
import type { OrtTensor } from '../runtime/session.ts'
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
  const outputs = r.outputs.map(({ name, binary, tensor }) => {
    const datatype = datatypeOfOrt(tensor.type) ?? tensor.type.toUpperCase()
    const base = { name, datatype, shape: [...tensor.dims] }
    if (binary) {
      const d = tensor.data
      chunks.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
      return { ...base, parameters: { binary_data_size: d.byteLength } }
    }
    return { ...base, data: toJsonArray(tensor) }
  })
  const header = JSON.stringify({
    model_name: r.model,
    model_version: r.version,
    ...(r.id !== undefined ? { id: r.id } : {}),
    parameters: r.parameters,
    outputs,
  })
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

function toJsonArray(t: OrtTensor): (number | boolean)[] {
  const out = new Array<number | boolean>(t.data.length)
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i]!
    out[i] = t.type === 'bool' ? v !== 0 : Number(v)
  }
  return out
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
