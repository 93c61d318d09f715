/**
 * @module
 * `GET /metrics`: the host's own metrics in Prometheus text format.
 */
import { Hono } from 'hono'
import type { Registry } from 'prom-client'

export function metricsRoutes(registry: Registry): Hono {
  return new Hono().get('/metrics', async (c) =>
    c.body(await registry.metrics(), 200, { 'content-type': registry.contentType }),
  )
}
