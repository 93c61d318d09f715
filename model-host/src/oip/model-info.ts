/**
 * @module
 * What the host says about a model version: its metadata (the protocol's)
 * and its configuration in Triton's form, as perf_analyzer and tritonclient
 * read it. One builder for the REST routes and the gRPC service.
 */
import type { TensorSpec } from '../config.ts'
import type { LoadedVersion } from '../loaded-version.ts'
import type { ModelManager } from '../model-manager.ts'

const tensorMetadata = (t: TensorSpec) => ({ name: t.name, datatype: t.datatype, shape: [-1, ...t.shape] })

export function modelMetadata(manager: ModelManager, v: LoadedVersion) {
  const m = manager.get(v.model)!
  return {
    name: v.model,
    versions: [...m.versions.keys()],
    platform: 'onnxruntime_onnx',
    inputs: v.config.inputs.map(tensorMetadata),
    outputs: v.config.outputs.map(tensorMetadata),
    parameters: { live_version: m.live, fallback: m.config?.fallback ?? null, device: v.device },
  }
}

const tritonTensor = (t: TensorSpec) => ({
  name: t.name,
  data_type: `TYPE_${t.datatype === 'BYTES' ? 'STRING' : t.datatype}`,
  dims: t.shape,
})

export function tritonModelConfig(manager: ModelManager, v: LoadedVersion) {
  const cfg = v.config
  return {
    name: cfg.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    version_policy: cfg.versions
      ? { specific: { versions: cfg.versions } }
      : { latest: { num_versions: cfg.retained_versions } },
    max_batch_size: cfg.max_batch_size,
    input: cfg.inputs.map(tritonTensor),
    output: cfg.outputs.map(tritonTensor),
    instance_group: [{ count: cfg.instance_count, kind: v.device === 'cuda' ? 'KIND_GPU' : 'KIND_CPU' }],
    dynamic_batching: {
      preferred_batch_size: cfg.dynamic_batching.preferred_batch_sizes,
      max_queue_delay_microseconds: Math.round(cfg.dynamic_batching.max_queue_delay_ms * 1000),
      priority_levels: cfg.dynamic_batching.priority_levels,
      default_priority_level: cfg.dynamic_batching.default_priority_level,
      default_queue_policy: {
        max_queue_size: cfg.dynamic_batching.max_queue_size,
        default_timeout_microseconds: cfg.dynamic_batching.default_timeout_ms * 1000,
        allow_timeout_override: cfg.dynamic_batching.allow_timeout_override,
      },
    },
    parameters: {
      live_version: { string_value: manager.get(cfg.name)?.live ?? '' },
      fallback: { string_value: cfg.fallback ?? '' },
    },
  }
}
