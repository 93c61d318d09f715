/**
 * @module
 * Encodes an MLP as an ONNX model with onnx-proto: standardisation
 * (Sub, Div), then Gemm and Relu per layer, then Softmax. Input `features`
 * [batch, F] and output `probabilities` [batch, 2], the batch dimension symbolic.
 */
import onnxProto from 'onnx-proto'
import type { Mlp } from './mlp.ts'

const { onnx } = onnxProto
const FLOAT = onnx.TensorProto.DataType.FLOAT

export const INPUT_NAME = 'features'
export const OUTPUT_NAME = 'probabilities'

function initializer(name: string, dims: number[], values: ArrayLike<number>) {
  const data = Float32Array.from(values as ArrayLike<number>)
  return onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer) })
}

function batchOf(name: string, width: number) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } },
  })
}

export function encodeMlp(model: Mlp, graphName: string): Uint8Array {
  const width = model.mean.length
  const nodes = [
    onnx.NodeProto.create({ opType: 'Sub', input: [INPUT_NAME, 'mean'], output: ['centred'] }),
    onnx.NodeProto.create({ opType: 'Div', input: ['centred', 'std'], output: ['x0'] }),
  ]
  const initializers = [initializer('mean', [width], model.mean), initializer('std', [width], model.std)]
  model.layers.forEach((layer, l) => {
    const last = l === model.layers.length - 1
    initializers.push(
      initializer(`W${l}`, [layer.inputs, layer.outputs], layer.weights),
      initializer(`b${l}`, [layer.outputs], layer.bias),
    )
    nodes.push(
      onnx.NodeProto.create({
        opType: 'Gemm',
        input: [`x${l}`, `W${l}`, `b${l}`],
        output: [last ? 'logits' : `z${l}`],
      }),
    )
    if (!last) nodes.push(onnx.NodeProto.create({ opType: 'Relu', input: [`z${l}`], output: [`x${l + 1}`] }))
  })
  nodes.push(
    onnx.NodeProto.create({
      opType: 'Softmax',
      input: ['logits'],
      output: [OUTPUT_NAME],
      attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
    }),
  )
  const graph = onnx.GraphProto.create({
    name: graphName,
    node: nodes,
    initializer: initializers,
    input: [batchOf(INPUT_NAME, width)],
    output: [batchOf(OUTPUT_NAME, 2)],
  })
  const proto = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'model-mesh example-models',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  })
  return onnx.ModelProto.encode(proto).finish()
}
