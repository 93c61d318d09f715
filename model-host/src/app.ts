/**
 * @module
 * The model host's HTTP application: Open Inference Protocol v2 routes on
 * Hono. Every error leaves as `{"error": "..."}` with its status.
 */
import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { Registry } from 'prom-client'
import { InferenceError } from './errors.ts'
import type { Logger } from '@model-mesh/contracts'
import type { ModelManager } from './model-manager.ts'
import { healthRoutes } from './routes/health.ts'
import { inferRoutes } from './routes/infer.ts'
import { metricsRoutes } from './routes/metrics.ts'
import { modelRoutes } from './routes/models.ts'
import { repositoryRoutes } from './routes/repository.ts'

export interface AppOptions {
  manager: ModelManager
  logger: Logger
  version: string
  /** Served at `GET /metrics` (see metrics.ts). */
  metrics: Registry
  /** See HostOptions.operatorToken. */
  operatorToken?: string
  /** Whether the host's HTTP path was warmed up (http-warm-up.ts): it is not ready before (default: it was). */
  warmedUp?: () => boolean
}

export function createApp({ manager, logger, version, metrics, operatorToken, warmedUp }: AppOptions): Hono {
  const app = new Hono()
  app.route('/', healthRoutes(manager, version, warmedUp))
  app.route('/', inferRoutes(manager))
  app.route('/', modelRoutes(manager))
  app.route('/', repositoryRoutes(manager, operatorToken))
  app.route('/', metricsRoutes(metrics))
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404))
  app.onError((err, c) => {
    // Hono's own refusals (the operator check) carry their response.
    if (err instanceof HTTPException) return err.getResponse()
    if (err instanceof InferenceError) {
      if (err.retryAfterSeconds !== undefined) c.header('retry-after', String(err.retryAfterSeconds))
      return c.json({ error: err.message }, err.status as 400)
    }
    logger.error({ err: err.message, stack: err.stack, path: c.req.path }, 'unhandled error')
    return c.json({ error: `internal error: ${err.message}` }, 500)
  })
  return app
}
