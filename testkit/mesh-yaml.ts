/**
 * @module
 * mesh.yaml for tests and benchmarks that run the local mesh on free ports:
 * the example repository, stable, canary and fallback hosts, and the
 * telemetry pipeline; each caller writes its own routes (and anything else
 * at the top level).
 */
import { join } from 'node:path'
import { ROOT } from '@model-mesh/mesh-config'

export interface LocalMeshPorts {
  gateway: number
  stable: number
  canary: number
  fallback: number
  nats: number
  agent: number
  collector: number
  /** The SRE dashboard's port; none: the dashboard is off (tests run side by side, and its default port is one). */
  dashboard?: number
}

/** The seven ports in that order, as freePorts(7) gives them. */
export function portsOf(p: number[]): LocalMeshPorts {
  const [gateway, stable, canary, fallback, nats, agent, collector] = p as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  return { gateway, stable, canary, fallback, nats, agent, collector }
}

/** `routes` is the YAML of the routes list's items; `extra` more top-level YAML; `agent` more of telemetry.agent. */
export function localMeshYaml(
  p: LocalMeshPorts,
  routes: string,
  options: { extra?: string; agent?: string } = {},
): string {
  return `version: 1
gateway: { port: ${p.gateway}, admin_port: 0, workers: 2 }
repository: ${join(ROOT, 'models')}
state_dir: state
hosts:
  - { name: stable, port: ${p.stable} }
  - { name: canary, port: ${p.canary} }
  - { name: fallback, port: ${p.fallback}, role: fallback }
routes:
${routes}${options.extra ?? ''}telemetry:
  nats_url: nats://127.0.0.1:${p.nats}
  agent: { port: ${p.agent}${options.agent ? `, ${options.agent}` : ''} }
  collector: { port: ${p.collector}, dashboard: ${p.dashboard ? `{ port: ${p.dashboard}, refresh_ms: 500 }` : '{ enabled: false }'} }
`
}

/**
 * The route the canary tests run: credit-risk, stable v1, canary v2 at
 * `weight` with its `analysis`, the fallback model behind both, retries on
 * connection failures, and every request sampled.
 */
export function canaryRouteYaml(weight: number, analysis: string): string {
  return `  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    canary:
      version: 2
      weight: ${weight}
      hosts: [canary]
      analysis: { ${analysis} }
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
    retries: { attempts: 2, retry_on: [connect-failure, reset, gateway-error] }
    sampling: { rate_bp: 10000 }
`
}
