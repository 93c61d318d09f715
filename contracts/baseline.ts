/**
 * @module
 * The training baseline that ships with every model version
 * (`<repository>/<model>/<version>/baseline.json`), written by the model
 * builder and read by the collector's drift detection: per input feature
 * and for the predictions, decile bins (for the population stability
 * index) and the 101 percentiles (for Kolmogorov-Smirnov).
 */
import { z } from 'zod'

const distribution = {
  /** 11 ascending edges: min, the 9 inner deciles, max (ties where values repeat). */
  quantile_edges: z.array(z.number()).length(11),
  /** Share of training rows in each of the 10 bins (binOf). */
  bin_fractions: z.array(z.number().min(0).max(1)).length(10),
  /** The 0th..100th percentiles of the training rows. */
  percentiles: z.array(z.number()).length(101),
}

export const featureBaselineSchema = z.object({ name: z.string().min(1), ...distribution })

export const baselineSchema = z.object({
  /** Training rows the distributions were taken from. */
  rows: z.number().int().positive(),
  /** In the order of the input tensor's columns. */
  features: z.array(featureBaselineSchema).min(1),
  prediction: z.object({
    /** The output tensor and the column of it that is the score (the positive class's probability). */
    output: z.string().min(1),
    class_index: z.number().int().min(0),
    ...distribution,
  }),
})

export type FeatureBaseline = z.infer<typeof featureBaselineSchema>
export type Baseline = z.infer<typeof baselineSchema>
/** One distribution of a baseline: a feature's, or the predictions'. */
export type Distribution = Pick<FeatureBaseline, 'quantile_edges' | 'bin_fractions' | 'percentiles'>

/** Index of the bin of `x` given ascending edges (the last bin includes the max; values outside go to the end bins). */
export function binOf(edges: readonly number[], x: number): number {
  let bin = 0
  while (bin < edges.length - 2 && x >= edges[bin + 1]!) bin++
  return bin
}

/** A distribution of `values` as the baseline keeps it. */
export function distributionOf(values: ArrayLike<number>): Distribution {
  const sorted = Float64Array.from(values).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  const quantile_edges = [
    sorted[0]!,
    ...Array.from({ length: 9 }, (_, k) => at((k + 1) / 10)),
    sorted[sorted.length - 1]!,
  ]
  const counts = new Array<number>(10).fill(0)
  for (let i = 0; i < values.length; i++) counts[binOf(quantile_edges, values[i]!)]!++
  return {
    quantile_edges,
    bin_fractions: counts.map((c) => c / values.length),
    percentiles: Array.from({ length: 101 }, (_, k) => (k === 100 ? sorted[sorted.length - 1]! : at(k / 100))),
  }
}
