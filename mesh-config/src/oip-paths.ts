/**
 * @module
 * The paths a route serves through the gateway, whatever its match: its
 * model's Open Inference Protocol metadata, readiness and inference,
 * unversioned or at a version the route names. Nothing else of a host (its
 * repository, config, stats and metrics APIs, other models, other versions)
 * is reachable through the gateway.
 */
import type { Route } from './schema.ts'

const ENDPOINTS = ['', '/ready', '/infer'] as const

/** The versions a route names: stable, and the canary's when it has one. */
const versionsOf = (r: Route): string[] => [r.stable.version, ...(r.canary ? [r.canary.version] : [])]

/** Every path the route serves, spelled out (a handful: 3 endpoints, unversioned or at each version). */
export function servedPaths(r: Route): string[] {
  const bases = [`/v2/models/${r.model}`, ...versionsOf(r).map((v) => `/v2/models/${r.model}/versions/${v}`)]
  return bases.flatMap((base) => ENDPOINTS.map((e) => base + e))
}

/** The same paths as one anchored RE2 pattern, for Envoy's route match. */
export function servedPathPattern(r: Route): string {
  return `^/v2/models/${escapeRegex(r.model)}(?:/versions/(?:${versionsOf(r).map(escapeRegex).join('|')}))?(?:/ready|/infer)?$`
}

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
