/**
 * @module
 * The model host's front door for the other components: reading a model
 * repository and its config.yaml files (mesh-config checks mesh.yaml against
 * them) and the example models' synthetic applicants (demo traffic, tests).
 * The host process itself starts through `@model-mesh/model-host/cli`.
 */
export { formatPath, readModelConfig } from './src/config.ts'
export type { ModelConfig, TensorSpec } from './src/config.ts'
export { listModels, listVersions, readEntryConfig } from './src/repository/repository.ts'
export type { ModelEntry } from './src/repository/repository.ts'
export {
  defaultProbability,
  FEATURE_COUNT,
  FEATURE_NAMES,
  generateApplicants,
  sampleRows,
} from './example-models/dataset.ts'
export type { Dataset } from './example-models/dataset.ts'
