/**
 * @module
 * Model metadata, readiness, Triton-style config and statistics:
 * `/v2/models/{m}[/versions/{v}]`, `.../ready`, `/v2/models/{m}/config`, `.../stats`.
 */
import { Hono } from 'hono'
import { InferenceError } from '../errors.ts'
import type { LoadedVersion } from '../loaded-version.ts'
import type { ModelManager } from '../model-manager.ts'
import { modelMetadata, tritonModelConfig } from '../oip/model-info.ts'

export function modelRoutes(manager: ModelManager): Hono {
  const app = new Hono()

  const metadata = (v: LoadedVersion) => modelMetadata(manager, v)
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
    return c.json(tritonModelConfig(manager, v))
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
