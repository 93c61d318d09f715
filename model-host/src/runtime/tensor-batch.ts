/**
 * @module
 * Pure helpers that join requests' tensors into one batch along the first
 * dimension and split the batch's outputs back per request.
 */
import type { TensorData } from '../oip/datatypes.ts'
import type { Feeds, OrtTensor } from './types.ts'

/** One request's tensors, each with its full shape (first dimension = rows). */
export type RequestTensors = Record<string, OrtTensor>

/**
 * Concatenates each input along dimension 0 into fresh arrays (also for a
 * single request: the batch is transferred to the session's thread, and the
 * request keeps its own tensors for a fallback). All requests carry the same
 * inputs and row shapes.
 */
export function concatBatch(requests: readonly RequestTensors[]): Feeds {
  const feeds: Feeds = {}
  for (const name of Object.keys(requests[0]!)) {
    const parts = requests.map((r) => r[name]!)
    const first = parts[0]!
    const rows = parts.reduce((n, t) => n + t.dims[0]!, 0)
    const length = parts.reduce((n, t) => n + t.data.length, 0)
    const Ctor = first.data.constructor as new (n: number) => TensorData
    const data = new Ctor(length)
    let offset = 0
    for (const t of parts) {
      ;(data as Float32Array).set(t.data as Float32Array, offset)
      offset += t.data.length
    }
    feeds[name] = { type: first.type, dims: [rows, ...first.dims.slice(1)], data }
  }
  return feeds
}

/** Splits batch outputs back into per-request tensors, by each request's row count. */
export function splitBatch(
  outputs: Record<string, OrtTensor>,
  rowsPerRequest: readonly number[],
): Record<string, OrtTensor>[] {
  const results: Record<string, OrtTensor>[] = rowsPerRequest.map(() => ({}))
  for (const [name, t] of Object.entries(outputs)) {
    const totalRows = t.dims[0]!
    const perRow = totalRows === 0 ? 0 : t.data.length / totalRows
    let row = 0
    rowsPerRequest.forEach((rows, i) => {
      results[i]![name] = {
        type: t.type,
        dims: [rows, ...t.dims.slice(1)],
        data: t.data.subarray(row * perRow, (row + rows) * perRow) as TensorData,
      }
      row += rows
    })
  }
  return results
}
