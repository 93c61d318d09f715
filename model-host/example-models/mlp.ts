/**
 * @module
 * A small multilayer perceptron trained with Adam on softmax cross-entropy,
 * in plain float64 JS. Hidden layers use ReLU; the output is a 2-class
 * softmax. With no hidden layer it is a logistic regression.
 */
import { Random } from './random.ts'

export interface Layer {
  inputs: number
  outputs: number
  /** Row-major inputs x outputs, as ONNX Gemm takes B with transB = 0. */
  weights: Float64Array
  bias: Float64Array
}

export interface Mlp {
  layers: Layer[]
  /** Standardisation applied to raw features before the first layer. */
  mean: Float64Array
  std: Float64Array
}

export interface TrainOptions {
  hidden: number[]
  epochs: number
  batchSize: number
  learningRate: number
  seed: number
}

/** He-initialised layers. */
export function initLayers(sizes: number[], r: Random): Layer[] {
  const layers: Layer[] = []
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inputs = sizes[l]!
    const outputs = sizes[l + 1]!
    const scale = Math.sqrt(2 / inputs)
    const weights = new Float64Array(inputs * outputs)
    for (let i = 0; i < weights.length; i++) weights[i] = r.normal(0, scale)
    layers.push({ inputs, outputs, weights, bias: new Float64Array(outputs) })
  }
  return layers
}

export function standardisation(features: Float32Array, width: number): { mean: Float64Array; std: Float64Array } {
  const rows = features.length / width
  const mean = new Float64Array(width)
  const std = new Float64Array(width)
  for (let i = 0; i < rows; i++) for (let j = 0; j < width; j++) mean[j]! += features[i * width + j]! / rows
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < width; j++) std[j]! += (features[i * width + j]! - mean[j]!) ** 2 / rows
  for (let j = 0; j < width; j++) std[j] = Math.sqrt(std[j]!) || 1
  return { mean, std }
}

/** Activations of every layer for one standardised row; the last is the softmax output. */
function forwardRow(layers: Layer[], x: Float64Array): Float64Array[] {
  const acts = [x]
  let a = x
  layers.forEach((layer, l) => {
    const z = new Float64Array(layer.outputs)
    for (let j = 0; j < layer.outputs; j++) {
      let s = layer.bias[j]!
      for (let i = 0; i < layer.inputs; i++) s += a[i]! * layer.weights[i * layer.outputs + j]!
      z[j] = s
    }
    if (l < layers.length - 1) for (let j = 0; j < z.length; j++) z[j] = Math.max(0, z[j]!)
    else softmaxInPlace(z)
    acts.push(z)
    a = z
  })
  return acts
}

function softmaxInPlace(z: Float64Array): void {
  let max = -Infinity
  for (const v of z) max = Math.max(max, v)
  let sum = 0
  for (let j = 0; j < z.length; j++) sum += z[j] = Math.exp(z[j]! - max)
  for (let j = 0; j < z.length; j++) z[j]! /= sum
}

function standardise(
  model: Pick<Mlp, 'mean' | 'std'>,
  features: Float32Array,
  row: number,
  width: number,
): Float64Array {
  const x = new Float64Array(width)
  for (let j = 0; j < width; j++) x[j] = (features[row * width + j]! - model.mean[j]!) / model.std[j]!
  return x
}

/** p(class 1) for every row. */
export function predict(model: Mlp, features: Float32Array, width: number): Float64Array {
  const rows = features.length / width
  const p = new Float64Array(rows)
  for (let i = 0; i < rows; i++) p[i] = forwardRow(model.layers, standardise(model, features, i, width)).at(-1)![1]!
  return p
}

/**
 * Trains on targets given as p(class 1) per row: hard labels (0/1) or soft
 * ones (a teacher's probabilities, for distillation).
 */
export function train(features: Float32Array, width: number, targets: ArrayLike<number>, options: TrainOptions): Mlp {
  const r = new Random(options.seed)
  const rows = features.length / width
  const { mean, std } = standardisation(features, width)
  const layers = initLayers([width, ...options.hidden, 2], r)
  const model: Mlp = { layers, mean, std }
  const xs = Array.from({ length: rows }, (_, i) => standardise(model, features, i, width))
  const adam = layers.map((l) => ({
    mw: new Float64Array(l.weights.length),
    vw: new Float64Array(l.weights.length),
    mb: new Float64Array(l.bias.length),
    vb: new Float64Array(l.bias.length),
  }))
  const beta1 = 0.9
  const beta2 = 0.999
  let step = 0
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const order = r.permutation(rows)
    for (let start = 0; start < rows; start += options.batchSize) {
      const grads = layers.map((l) => ({ w: new Float64Array(l.weights.length), b: new Float64Array(l.bias.length) }))
      const end = Math.min(rows, start + options.batchSize)
      for (let k = start; k < end; k++) {
        const i = order[k]!
        const acts = forwardRow(layers, xs[i]!)
        const t = targets[i]!
        // Softmax cross-entropy: dL/dz = p - y.
        let delta = Float64Array.of(acts.at(-1)![0]! - (1 - t), acts.at(-1)![1]! - t)
        for (let l = layers.length - 1; l >= 0; l--) {
          const layer = layers[l]!
          const input = acts[l]!
          const g = grads[l]!
          for (let i2 = 0; i2 < layer.inputs; i2++) {
            const a = input[i2]!
            if (a === 0) continue
            for (let j = 0; j < layer.outputs; j++) g.w[i2 * layer.outputs + j]! += a * delta[j]!
          }
          for (let j = 0; j < layer.outputs; j++) g.b[j]! += delta[j]!
          if (l === 0) break
          const back = new Float64Array(layer.inputs)
          for (let i2 = 0; i2 < layer.inputs; i2++) {
            if (input[i2]! <= 0) continue // ReLU gate
            let s = 0
            for (let j = 0; j < layer.outputs; j++) s += layer.weights[i2 * layer.outputs + j]! * delta[j]!
            back[i2] = s
          }
          delta = back
        }
      }
      step++
      const n = end - start
      const lr = (options.learningRate * Math.sqrt(1 - beta2 ** step)) / (1 - beta1 ** step)
      layers.forEach((layer, l) => {
        const s = adam[l]!
        const g = grads[l]!
        const update = (p: Float64Array, grad: Float64Array, m: Float64Array, v: Float64Array) => {
          for (let i2 = 0; i2 < p.length; i2++) {
            const gi = grad[i2]! / n
            m[i2] = beta1 * m[i2]! + (1 - beta1) * gi
            v[i2] = beta2 * v[i2]! + (1 - beta2) * gi * gi
            p[i2]! -= (lr * m[i2]!) / (Math.sqrt(v[i2]!) + 1e-8)
          }
        }
        update(layer.weights, g.w, s.mw, s.vw)
        update(layer.bias, g.b, s.mb, s.vb)
      })
    }
  }
  return model
}

/** Area under the ROC curve (rank statistic, ties counted half). */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!)
  let pos = 0
  let neg = 0
  let rankSum = 0
  for (let k = 0; k < idx.length; ) {
    let end = k
    while (end + 1 < idx.length && scores[idx[end + 1]!] === scores[idx[k]!]) end++
    const rank = (k + end) / 2 + 1
    for (let m = k; m <= end; m++) if (labels[idx[m]!]) (rankSum += rank), pos++
    k = end + 1
  }
  neg = idx.length - pos
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg)
}

export function accuracy(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let ok = 0
  for (let i = 0; i < scores.length; i++) if ((scores[i]! >= 0.5 ? 1 : 0) === labels[i]) ok++
  return ok / scores.length
}
