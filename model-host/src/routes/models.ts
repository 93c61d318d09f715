/**
 * @module
 * Model metadata, readiness, Triton-style config and statistics:
 * `/v2/models/{m}[/versions/{v}]`, `.../ready`, `/v2/models/{m}/config`, `.../stats`.
 */
import { Hono } from 'hono'
import type { TensorSpec } from '../config.ts'
import { InferenceError } from '../errors.ts'
import type { LoadedVersion } from '../loaded-version.ts'
import type { ModelManager } from '../model-manager.ts'

const tensorMetadata = (t: TensorSpec) => ({ name: t.name, datatype: t.datatype, shape: [-1, ...t.shape] })

export function modelRoutes(manager: ModelManager): Hono {
  const app = new Hono()

  const metadata = (v: LoadedVersion) => {
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
  app.get('/v2/models/:model', (c) => c.json(metadata(manager.resolve(c.req.param('model')))))
  app.get('/v2/models/:model/versions/:version', (c) =>
    c.json(metadata(manager.resolve(c.req.param('model'), c.req.param('version')))),
  )

  const ready = (model: string, version?: string) => {
    const m = manager.get(model)
    if (!m) throw new InferenceError(`unknown model "${model}"`, 404)
    const isReady = m.state === 'READY' && m.versions.has(version ?? m.live!)
    return {
      body: { name: model, ...(version ? { version } : {}), ready: isReady },
      status: isReady ? (200 as const) : (503 as const),
    }
  }
  app.get('/v2/models/:model/ready', (c) => {
    const r = ready(c.req.param('model'))
    return c.json(r.body, r.status)
  })
  app.get('/v2/models/:model/versions/:version/ready', (c) => {
    const r = ready(c.req.param('model'), c.req.param('version'))
    return c.json(r.body, r.status)
  })

  // Triton's model configuration, as perf_analyzer and tritonclient read it.
  app.get('/v2/models/:model/config', (c) => {
    const v = manager.resolve(c.req.param('model'))
    const cfg = v.config
    const tensor = (t: TensorSpec) => ({
      name: t.name,
      data_type: `TYPE_${t.datatype === 'BYTES' ? 'STRING' : t.datatype}`,
      dims: t.shape,
    })
    return c.json({
      name: cfg.name,
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      version_policy: cfg.versions
        ? { specific: { versions: cfg.versions } }
        : { latest: { num_versions: cfg.retained_versions } },
      max_batch_size: cfg.max_batch_size,
      input: cfg.inputs.map(tensor),
      output: cfg.outputs.map(tensor),
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
    })
  })

  app.get('/v2/models/:model/stats', (c) => {
    const name = c.req.param('model')
    manager.resolve(name)
    const m = manager.get(name)!
    const counters = manager.counters.get(name)
    return c.json({
      model_stats: [...m.versions.values()].map((v) => ({
        name,
        version: v.version,
        inference_count: v.stats.inference_count,
        execution_count: v.stats.execution_count,
        failed_executions: v.stats.failed_executions,
        queue_depth: v.batcher.queueDepth,
        queue_ms_total: v.stats.queue_ms_total,
        compute_ms_total: v.stats.compute_ms_total,
        batch_stats: [...v.stats.batch_stats]
          .sort((a, b) => a[0] - b[0])
          .map(([batch_size, count]) => ({ batch_size, count })),
      })),
      fallback: counters?.fallback ?? {},
      refused: counters?.refused ?? {},
    })
  })
  return app
}
