/**
 * @module
 * `npm run models:build [-- --out <dir>]`: trains the example models on the
 * synthetic dataset and writes the model repository (default `models/`).
 * Seeded throughout: building twice gives byte-identical files.
 */
import { parseArgs } from 'node:util'
import ort from 'onnxruntime-node'
import { resolve } from 'node:path'
import { buildBaseline } from './baseline.ts'
import { FEATURE_COUNT, FEATURE_NAMES, generateApplicants, type Dataset } from './dataset.ts'
import { accuracy, auc, initLayers, predict, standardisation, train, type Mlp } from './mlp.ts'
import { encodeMlp, INPUT_NAME, OUTPUT_NAME } from './onnx-graph.ts'
import { Random } from './random.ts'
import { writeConfig, writeVersion } from './repository-writer.ts'

const TRAIN_ROWS = 10_000
const TEST_ROWS = 3_000

function config(o: {
  name: string
  fallback?: string
  maxBatch: number
  preferred: number[]
  queue: number
  timeoutMs: number
  thread: 'main' | 'worker'
  note: string
}): string {
  return `# ${o.note}
# Read by the model host; every field is described in model-host/README.md.
name: ${o.name}
platform: onnxruntime
live_version: "1"
${o.fallback ? `fallback: ${o.fallback}\n` : ''}max_batch_size: ${o.maxBatch}
instance_count: 1
# ${o.thread === 'main' ? 'A batch runs in microseconds: a thread hop would cost more than the run.' : 'Batches take milliseconds: run them off the event loop.'}
session_thread: ${o.thread}
intra_op_threads: 1
execution_providers: [cuda, cpu]
inputs:
  - { name: ${INPUT_NAME}, datatype: FP32, shape: [${FEATURE_COUNT}] }   # per row; the batch dimension is implicit
outputs:
  - { name: ${OUTPUT_NAME}, datatype: FP32, shape: [2], classifier: true }
dynamic_batching:
  max_queue_delay_ms: 2
  preferred_batch_sizes: [${o.preferred.join(', ')}]
  max_queue_size: ${o.queue}
  default_timeout_ms: ${o.timeoutMs}
  allow_timeout_override: true
  priority_levels: 2
  default_priority_level: 2
retained_versions: 10
`
}

/** p(default) per row as the served model computes it: onnxruntime, one thread. */
async function servedPredictions(onnxBytes: Uint8Array, data: Dataset): Promise<Float64Array> {
  const session = await ort.InferenceSession.create(onnxBytes, { intraOpNumThreads: 1, interOpNumThreads: 1 })
  const out = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', data.features, [data.rows, FEATURE_COUNT]) })
  await session.release()
  const probabilities = out[OUTPUT_NAME]!.data as Float32Array
  return Float64Array.from({ length: data.rows }, (_, i) => probabilities[2 * i + 1]!)
}

async function writeModelVersion(repo: string, name: string, version: string, model: Mlp, data: Dataset, note: string) {
  const onnxBytes = encodeMlp(model, `${name}-v${version}`)
  const predictions = await servedPredictions(onnxBytes, data)
  await writeVersion(repo, name, version, {
    'model.onnx': onnxBytes,
    'preprocessing.json': {
      input: INPUT_NAME,
      features: FEATURE_NAMES.map((feature, j) => ({ name: feature, mean: model.mean[j], std: model.std[j] })),
      normalisation: 'zscore',
      applied_in_graph: true,
      note,
    },
    'baseline.json': buildBaseline(FEATURE_NAMES, data.features, predictions, OUTPUT_NAME),
  })
}

/** A copy of `m` whose output layer favours class 1 (default) by `by` in the logits. */
function shiftedDefault(m: Mlp, by: number): Mlp {
  const layers = m.layers.map((l) => ({ ...l, weights: Float64Array.from(l.weights), bias: Float64Array.from(l.bias) }))
  const out = layers[layers.length - 1]!
  out.bias[1]! += by / 2
  out.bias[0]! -= by / 2
  return { ...m, layers }
}

export async function buildModels(repo: string, log: (line: string) => void = console.log): Promise<void> {
  const data = generateApplicants(TRAIN_ROWS, 20261101)
  const test = generateApplicants(TEST_ROWS, 20261102)
  const report = (label: string, model: Mlp) => {
    const p = predict(model, test.features, FEATURE_COUNT)
    log(
      `${label.padEnd(28)} held-out AUC ${auc(p, test.labels).toFixed(3)}  accuracy ${accuracy(p, test.labels).toFixed(3)}`,
    )
  }

  const v1 = train(data.features, FEATURE_COUNT, data.labels, {
    hidden: [32, 16],
    epochs: 12,
    batchSize: 64,
    learningRate: 0.003,
    seed: 1,
  })
  await writeModelVersion(repo, 'credit-risk', '1', v1, data, 'MLP 16-32-16-2, the stable version')
  report('credit-risk v1 (MLP)', v1)

  const v2 = train(data.features, FEATURE_COUNT, data.labels, {
    hidden: [48, 24],
    epochs: 16,
    batchSize: 64,
    learningRate: 0.002,
    seed: 2,
  })
  await writeModelVersion(repo, 'credit-risk', '2', v2, data, 'MLP 16-48-24-2, retrained: the canary')
  report('credit-risk v2 (MLP)', v2)
  // v1 with the default logit raised: the same ranking, every probability of default higher. A canary to roll back.
  const v3 = shiftedDefault(v1, 1.5)
  await writeModelVersion(
    repo,
    'credit-risk',
    '3',
    v3,
    data,
    'v1 with its default logit raised by 1.5: a deliberately worse canary, for the canary tests',
  )
  report('credit-risk v3 (shifted v1)', v3)
  await writeConfig(
    repo,
    'credit-risk',
    config({
      name: 'credit-risk',
      fallback: 'credit-risk-fallback',
      maxBatch: 64,
      preferred: [16, 32, 64],
      queue: 512,
      timeoutMs: 1000,
      thread: 'main',
      note: 'Credit-risk classifier: p(default) for a loan applicant.',
    }),
  )

  // Distilled: a logistic regression trained on v1's probabilities as soft targets.
  const fallback = train(data.features, FEATURE_COUNT, predict(v1, data.features, FEATURE_COUNT), {
    hidden: [],
    epochs: 10,
    batchSize: 64,
    learningRate: 0.01,
    seed: 3,
  })
  await writeModelVersion(
    repo,
    'credit-risk-fallback',
    '1',
    fallback,
    data,
    'logistic regression distilled from credit-risk v1',
  )
  await writeConfig(
    repo,
    'credit-risk-fallback',
    config({
      name: 'credit-risk-fallback',
      maxBatch: 256,
      preferred: [64, 128, 256],
      queue: 2048,
      timeoutMs: 1000,
      thread: 'main',
      note: 'Fallback for credit-risk: small, fast, always available.',
    }),
  )
  report('credit-risk-fallback v1 (LR)', fallback)

  // Heavy model for batching benchmarks: seeded random weights, not trained.
  const xl: Mlp = {
    layers: initLayers([FEATURE_COUNT, 2048, 2048, 2], new Random(4)),
    ...standardisation(data.features, FEATURE_COUNT),
  }
  await writeModelVersion(
    repo,
    'credit-risk-xl',
    '1',
    xl,
    data,
    'MLP 16-2048-2048-2 with random weights, for batching benchmarks',
  )
  await writeConfig(
    repo,
    'credit-risk-xl',
    config({
      name: 'credit-risk-xl',
      maxBatch: 128,
      preferred: [32, 64, 128],
      queue: 1024,
      timeoutMs: 5000,
      thread: 'worker',
      note: 'Heavy MLP (about 4.2M multiply-adds a row) to make batching effects visible.',
    }),
  )
  log('credit-risk-xl v1 (16-2048-2048-2, random weights)')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: 'models' } } })
  const out = resolve(values.out!)
  const started = performance.now()
  await buildModels(out)
  console.log(`model repository written to ${out} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}
