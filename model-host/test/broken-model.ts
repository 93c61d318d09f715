/**
 * @module
 * A deliberately fragile model for fallback tests: it takes the credit-risk
 * inputs and outputs, runs fine on one row, and fails at run time on any
 * batch of two or more rows (a Reshape to the fixed shape [1, 2]).
 */
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto

function modelBytes(): Uint8Array {
  const f32 = (name: string, dims: number[], values: number[]) =>
    onnx.TensorProto.create({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(new Float32Array(values).buffer),
    })
  const io = (name: string, width: number) =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] },
        },
      },
    })
  const graph = onnx.GraphProto.create({
    name: 'fragile',
    node: [
      onnx.NodeProto.create({ opType: 'Gemm', input: ['features', 'W', 'B'], output: ['logits'] }),
      onnx.NodeProto.create({ opType: 'Reshape', input: ['logits', 'one_row'], output: ['one'] }),
      onnx.NodeProto.create({
        opType: 'Softmax',
        input: ['one'],
        output: ['probabilities'],
        attribute: [{ name: 'axis', i: 1, type: onnx.AttributeProto.AttributeType.INT }],
      }),
    ],
    initializer: [
      f32(
        'W',
        [16, 2],
        Array.from({ length: 32 }, (_, i) => ((i % 5) - 2) / 10),
      ),
      f32('B', [2], [0, 0]),
      onnx.TensorProto.create({
        name: 'one_row',
        dims: [2],
        dataType: onnx.TensorProto.DataType.INT64,
        int64Data: [1, 2],
      }),
    ],
    input: [io('features', 16)],
    output: [io('probabilities', 2)],
  })
  const model = onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph })
  return onnx.ModelProto.encode(model).finish()
}

/** Writes the model into `<repo>/<name>/1/` with its manifest and a config whose fallback is `fallback`. */
export async function writeFragileModel(repo: string, name: string, fallback: string): Promise<void> {
  const dir = join(repo, name, '1')
  await mkdir(dir, { recursive: true })
  const bytes = modelBytes()
  await writeFile(join(dir, 'model.onnx'), bytes)
  const sha = createHash('sha256').update(bytes).digest('hex')
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify({ model: name, version: '1', files: { 'model.onnx': sha } }),
  )
  await writeFile(
    join(repo, name, 'config.yaml'),
    [
      `name: ${name}`,
      `fallback: ${fallback}`,
      'max_batch_size: 64',
      'inputs: [{ name: features, datatype: FP32, shape: [16] }]',
      'outputs: [{ name: probabilities, datatype: FP32, shape: [2], classifier: true }]',
      'dynamic_batching: { max_queue_delay_ms: 50 }',
      '',
    ].join('\n'),
  )
}
