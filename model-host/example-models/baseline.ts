/**
 * @module
 * The training baseline shipped with each version for drift detection:
 * per-feature decile bins and the distribution of predictions.
 */

export interface FeatureBaseline {
  name: string
  /** 11 edges: min, the 9 inner deciles, max. */
  quantile_edges: number[]
  /** Share of training rows in each of the 10 bins. */
  bin_fractions: number[]
}

export interface Baseline {
  rows: number
  features: FeatureBaseline[]
  prediction: { output: string; class_index: number; bin_edges: number[]; bin_fractions: number[] }
}

/** Index of the bin of `x` given ascending edges (the last bin includes the max). */
export function binOf(edges: readonly number[], x: number): number {
  let bin = 0
  while (bin < edges.length - 2 && x >= edges[bin + 1]!) bin++
  return bin
}

function fractions(values: ArrayLike<number>, edges: number[]): number[] {
  const counts = new Array<number>(edges.length - 1).fill(0)
  for (let i = 0; i < values.length; i++) counts[binOf(edges, values[i]!)]!++
  return counts.map((c) => c / values.length)
}

export function featureBaseline(name: string, column: Float64Array): FeatureBaseline {
  const sorted = Float64Array.from(column).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  const quantile_edges = [sorted[0]!, ...Array.from({ length: 9 }, (_, k) => at((k + 1) / 10)), sorted[sorted.length - 1]!]
  return { name, quantile_edges, bin_fractions: fractions(column, quantile_edges) }
}

export function buildBaseline(names: readonly string[], features: Float32Array, predictions: Float64Array, output: string): Baseline {
  const width = names.length
  const rows = features.length / width
  const column = (j: number) => Float64Array.from({ length: rows }, (_, i) => features[i * width + j]!)
  const bin_edges = Array.from({ length: 11 }, (_, k) => k / 10)
  return {
    rows,
    features: names.map((name, j) => featureBaseline(name, column(j))),
    prediction: { output, class_index: 1, bin_edges, bin_fractions: fractions(predictions, bin_edges) },
  }
}
