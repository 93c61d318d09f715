/**
 * @module
 * Operator writes: who may change anything (the bearer token), and the
 * canary changes the dashboard makes, which are the CLI's edits through
 * mesh-config's validated path (validated, applied live, written back only
 * once applied). The server refuses a write without the token; the page
 * hiding its buttons is only a courtesy.
 */
import type { MiddlewareHandler } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { operatorCheck } from '@model-mesh/contracts'
import {
  applyMeshText,
  EditError,
  loadMeshFile,
  parseWeight,
  promoteCanary,
  rollbackCanary,
  setCanaryWeight,
} from '@model-mesh/mesh-config'

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** The operator token and its check are the mesh's shared bearer credentials (contracts/credentials.ts). */
export { bearerMatches as isOperator, tokenFromFile as operatorToken } from '@model-mesh/contracts'

const NO_TOKEN = 'this collector has no operator token, so it is read-only (telemetry.collector.dashboard.token_file)'

/** Reads pass; a write needs `Authorization: Bearer <token>`, and with no token configured every write is refused. */
export function operatorOnly(token: string | undefined): MiddlewareHandler {
  const check = operatorCheck(token, NO_TOKEN)
  return async (c, next) => (READ_METHODS.has(c.req.method) ? next() : check(c, next))
}

/** Every call needs the token, reads too (what hands out whole sampled payloads, such as the review export). */
export function operatorRequired(token: string | undefined): MiddlewareHandler {
  return operatorCheck(token, NO_TOKEN)
}

export const CANARY_ACTIONS = ['weight', 'promote', 'rollback'] as const
export type CanaryAction = (typeof CANARY_ACTIONS)[number]

interface ActionAnswer {
  status: ContentfulStatusCode
  body: Record<string, unknown>
}

/**
 * One canary change of `route`: `weight` (body.weight: basis points, or a
 * percentage such as "25%"), `promote` or `rollback`; body.by says who.
 */
export async function canaryAction(
  meshFile: string,
  route: string,
  action: CanaryAction,
  body: Record<string, unknown>,
): Promise<ActionAnswer> {
  const loaded = await loadMeshFile(meshFile)
  if (!loaded.ok)
    return {
      status: 503,
      body: {
        error: `mesh.yaml: ${loaded.issues.length} problems already (npx mesh validate lists them); fix them first`,
        issues: loaded.issues,
      },
    }
  if (!loaded.mesh.config.routes.some((r) => r.name === route))
    return { status: 404, body: { error: `route: no route ${route} in mesh.yaml` } }
  if (body.by !== undefined && (typeof body.by !== 'string' || body.by.trim() === ''))
    return { status: 400, body: { error: 'by: must be a non-empty string, who made the change' } }
  const by = typeof body.by === 'string' ? `dashboard: ${body.by.trim()}` : 'dashboard'
  let text: string
  let what: string
  let weight = 0
  if (action === 'weight') {
    if (typeof body.weight !== 'number' && typeof body.weight !== 'string')
      return { status: 400, body: { error: 'weight: required, basis points (0-10000) or a percentage such as "25%"' } }
    try {
      weight = parseWeight(String(body.weight))
    } catch (e) {
      if (e instanceof EditError) return { status: 400, body: { error: `weight: ${e.message}` } }
      throw e
    }
  }
  try {
    if (action === 'weight') {
      text = setCanaryWeight(loaded.mesh.text, route, weight)
      what = `canary set ${route} ${weight}`
    } else if (action === 'promote') {
      text = promoteCanary(loaded.mesh.text, route).text
      what = `canary promote ${route}`
    } else {
      text = rollbackCanary(loaded.mesh.text, route)
      what = `canary rollback ${route}`
    }
  } catch (e) {
    // The route is not as the edit needs it (no canary to set or promote).
    if (e instanceof EditError) return { status: 409, body: { error: `route: ${e.message}` } }
    throw e
  }
  // Made from the text read above: a change someone else applied meanwhile (the CLI, a walk, another page) wins, and this one is refused.
  const outcome = await applyMeshText(meshFile, text, what, by, loaded.mesh.text)
  if (outcome.status === 'invalid')
    return {
      status: 422,
      body: { error: `mesh.yaml as "${what}" would leave it is not valid`, issues: outcome.issues },
    }
  if (outcome.status === 'conflict')
    return { status: 409, body: { error: `conflict: ${outcome.reason}; look again and retry` } }
  if (outcome.result.status === 'refused') return { status: 409, body: { error: `refused: ${outcome.result.reason}` } }
  const after = await loadMeshFile(meshFile)
  const r = after.ok ? after.mesh.config.routes.find((x) => x.name === route) : undefined
  return {
    status: 200,
    body: {
      status: outcome.status,
      action: what,
      by,
      route,
      stable: r?.stable.version ?? null,
      canary: r?.canary ? { version: r.canary.version, weight: r.canary.weight } : null,
    },
  }
}
