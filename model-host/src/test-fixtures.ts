/**
 * @module
 * Configs shared by the model host's unit tests.
 */
import { parseModelConfig, type ModelConfig } from './config.ts'

export const creditRiskConfig = (over: Record<string, unknown> = {}): ModelConfig =>
  parseModelConfig(
    {
      name: 'credit-risk',
      max_batch_size: 64,
      fallback: 'credit-risk-fallback',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [16] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [2], classifier: true }],
      ...over,
    },
    'test/config.yaml',
  )
