/**
 * @module
 * Numbers out of Open Inference Protocol JSON bodies, as the sampler
 * captured them (masked; numeric tensor data survives the masking): the
 * rows of an input tensor, and one column of an output tensor. A body that
 * is not OIP JSON, was cut by the capture cap, or holds other shapes gives
 * null, never a guess.
 */

interface Tensor {
  name: string
  shape: number[]
  data: number[]
}

function tensors(body: string, key: 'inputs' | 'outputs'): Tensor[] | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return null
  }
  const list = (parsed as Record<string, unknown> | null)?.[key]
  if (!Array.isArray(list)) return null
  const out: Tensor[] = []
  for (const t of list) {
    if (!t || typeof t !== 'object') continue
    const { name, shape, data } = t as Record<string, unknown>
    if (typeof name !== 'string' || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
      continue
    // OIP allows data flat or nested in the shape; row-major either way.
    const flat = Array.isArray(data) ? (data.flat(Infinity) as unknown[]) : []
    if (!flat.every((x): x is number => typeof x === 'number')) continue
    if (flat.length !== shape.reduce((a: number, d: number) => a * d, 1)) continue
    out.push({ name, shape: shape as number[], data: flat })
  }
  return out
}

/** Rows of `width` values each: the first input whose last dimension is `width` (one row per leading index); without `width`, the first input's. */
export function inputRows(body: string, width?: number): number[][] | null {
  const t = tensors(body, 'inputs')?.find((x) => width === undefined || x.shape.at(-1) === width)
  if (!t) return null
  width ??= t.shape.at(-1) ?? 0
  if (width === 0) return null
  return Array.from({ length: t.data.length / width }, (_, i) => t.data.slice(i * width, (i + 1) * width))
}

/** Column `index` of output `name`, one value per row. */
export function outputColumn(body: string, name: string, index: number): number[] | null {
  const t = tensors(body, 'outputs')?.find((x) => x.name === name)
  const width = t?.shape.at(-1)
  if (!t || width === undefined || index >= width) return null
  return Array.from({ length: t.data.length / width }, (_, i) => t.data[i * width + index]!)
}
