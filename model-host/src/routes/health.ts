/**
 * @module
 * Server metadata and health (`/v2`, `/v2/health/live`, `/v2/health/ready`).
 * Answers come from the model manager alone: never from telemetry.
 */
import { Hono } from 'hono'
import type { ModelManager } from '../model-manager.ts'

export const SERVER_EXTENSIONS = ['model_repository', 'binary_tensor_data', 'schedule_policy', 'statistics']

export function healthRoutes(manager: ModelManager, serverVersion: string, warmedUp = () => true): Hono {
  return new Hono()
    .get('/v2', (c) => c.json({ name: 'model-host', version: serverVersion, extensions: SERVER_EXTENSIONS }))
    .get('/v2/health/live', (c) => c.json({ live: true }))
    .get('/v2/health/ready', (c) => {
      // Not before its HTTP path was warmed up: its first callers would pay for it.
      const ready = manager.ready() && warmedUp()
      return c.json({ ready }, ready ? 200 : 503)
    })
}
