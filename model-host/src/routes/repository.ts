/**
 * @module
 * Model repository extension: `POST /v2/repository/index`,
 * `/v2/repository/models/{m}/load` (re-reads the model's config and versions
 * from disk, so editing `live_version` and loading switches versions live) and
 * `/v2/repository/models/{m}/unload`.
 *
 * Load and unload change what the host serves, so they need the operator's
 * bearer token (Triton restricts this API category the same way); a host
 * started without one refuses them. The gateway never routes here.
 */
import { Hono } from 'hono'
import { operatorCheck } from '@model-mesh/contracts'
import type { ModelManager } from '../model-manager.ts'
import { repositoryIndex } from '../repository/index-rows.ts'

export function repositoryRoutes(manager: ModelManager, operatorToken: string | undefined): Hono {
  const operator = operatorCheck(
    operatorToken,
    'this host has no operator token (--operator-token-file), so its repository cannot be changed',
  )
  return new Hono()
    .post('/v2/repository/index', async (c) => c.json(await repositoryIndex(manager)))
    .post('/v2/repository/models/:model/load', operator, async (c) => {
      await manager.load(c.req.param('model'))
      return c.json({})
    })
    .post('/v2/repository/models/:model/unload', operator, async (c) => {
      await manager.unload(c.req.param('model'))
      return c.json({})
    })
}
