/**
 * @module
 * Warm-up: before a version answers ready, each of its sessions runs the
 * batch sizes it will see (1, 2, 4, ... up to max_batch_size) once on
 * zeros, so the first callers of a new instance (a pool scaled up, a
 * rolling update) do not pay for onnxruntime's first runs of each shape:
 * its allocations and kernel choices happen here instead.
 */
import { DATATYPE_INFO, isNumericDatatype } from './oip/datatypes.ts'
import type { ModelConfig, TensorSpec } from './config.ts'
import type { Feeds, Session } from './runtime/types.ts'

/** The most a warm-up batch holds of each input: a large max_batch_size of wide rows must not cost the host its memory. */
export const WARM_UP_MAX_BYTES = 32 * 1024 * 1024

/** The batch sizes a version warms up with: powers of two up to its largest batch, and that batch; none past `maxRows`. */
export function warmUpBatchSizes(maxBatchSize: number, maxRows = maxBatchSize): number[] {
  const top = Math.max(1, Math.min(maxBatchSize, maxRows))
  const sizes: number[] = []
  for (let n = 1; n < top; n *= 2) sizes.push(n)
  sizes.push(top)
  return sizes
}

/** One warm-up row of `input`: its shape, a dimension of any size taken as 1, and how many elements that is. */
export function warmUpRow(input: TensorSpec): { shape: number[]; elements: number } {
  const shape = input.shape.map((d) => (d === -1 ? 1 : d))
  return { shape, elements: shape.reduce((a, b) => a * b, 1) }
}

/** The most rows a warm-up batch may hold under WARM_UP_MAX_BYTES for the widest input. */
export function warmUpMaxRows(config: ModelConfig): number {
  let widest = 1
  for (const input of config.inputs) {
    if (!isNumericDatatype(input.datatype)) continue
    const row = warmUpRow(input).elements * DATATYPE_INFO[input.datatype].bytes
    widest = Math.max(widest, row)
  }
  return Math.floor(WARM_UP_MAX_BYTES / widest)
}

/** Zeros for every input, `rows` rows of each (a dimension of any size taken as 1); null for a datatype the host cannot make. */
export function warmUpFeeds(config: ModelConfig, rows: number): Feeds | null {
  const feeds: Feeds = {}
  for (const input of config.inputs) {
    if (!isNumericDatatype(input.datatype)) return null
    const info = DATATYPE_INFO[input.datatype]
    const row = warmUpRow(input)
    feeds[input.name] = { type: info.ort, dims: [rows, ...row.shape], data: info.create(rows * row.elements) }
  }
  return feeds
}

/**
 * Runs each warm-up batch on `session`: the milliseconds it took, and the
 * batch sizes that failed with why. A failure does not keep the version
 * from loading: a model may fail on zeros, or on some batch sizes, and serve
 * its callers' (a batch that fails at run time fails over to the fallback).
 */
export async function warmUp(
  session: Session,
  config: ModelConfig,
): Promise<{ ms: number; failed: { rows: number; error: string }[] }> {
  const started = performance.now()
  const outputs = config.outputs.map((o) => o.name)
  const failed: { rows: number; error: string }[] = []
  for (const rows of warmUpBatchSizes(config.max_batch_size, warmUpMaxRows(config))) {
    const feeds = warmUpFeeds(config, rows)
    if (feeds === null) break
    await session.run(feeds, outputs).catch((e: unknown) => failed.push({ rows, error: (e as Error).message }))
  }
  return { ms: performance.now() - started, failed }
}
