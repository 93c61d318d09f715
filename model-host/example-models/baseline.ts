/**
 * @module
 * The training baseline shipped with each version for drift detection
 * (its format: contracts/baseline.ts): each feature's distribution over the
 * training rows, and the distribution of the served predictions.
 */
import { distributionOf, type Baseline } from '@model-mesh/contracts'

export function buildBaseline(
  names: readonly string[],
  features: Float32Array,
  predictions: Float64Array,
  output: string,
): Baseline {
  const width = names.length
  const rows = features.length / width
  const column = (j: number) => Float64Array.from({ length: rows }, (_, i) => features[i * width + j]!)
  return {
    rows,
    features: names.map((name, j) => ({ name, ...distributionOf(column(j)) })),
    prediction: { output, class_index: 1, ...distributionOf(predictions) },
  }
}
