/**
 * @module
 * mesh.yaml → a prometheus.yml for teams that run their own Prometheus:
 * one scrape job each for Envoy's admin (`/stats/prometheus`: the filters'
 * golden signals and exporter counters), the telemetry agent, the telemetry
 * collector (the golden signals, host, drift, canary and pipeline metrics)
 * and the model hosts (one target per instance), with the rules file
 * `mesh rules` writes. Pure: the same config gives the same text. `mesh
 * prometheus` prints it; `promtool check config` checks it
 * (mesh-config/test/prometheus-config.test.ts), and a real Prometheus
 * scrapes the local mesh with it (telemetry-collector/test/grafana.test.ts).
 */
import { stringify } from 'yaml'
import { httpUrl, maxInstancesOf, type MeshConfig, nodeInstanceName } from './schema.ts'

/** The job label of each kind of target; the Grafana dashboard's "Scrape targets" panel selects `job=~"mesh-.*"`. */
export const PROMETHEUS_JOBS = {
  envoy: 'mesh-envoy',
  agent: 'mesh-telemetry-agent',
  collector: 'mesh-telemetry-collector',
  hosts: 'mesh-model-hosts',
} as const

export interface PrometheusOptions {
  /** The rules file as `rule_files` names it: relative to the folder of prometheus.yml, or absolute. */
  rulesFile: string
  /**
   * How often to scrape and evaluate the rules (default 15s). The
   * collector's counters are its stored totals by event time, so a slower
   * scrape loses nothing; it only smooths.
   */
  interval?: string
  /** The nodes when the mesh runs as several (their addresses, hosts, and which run a collector): every node's parts are scraped. */
  nodes?: readonly { name: string; address: string; hosts: readonly string[]; collector: boolean }[]
}

/** mesh.yaml cannot give a scrape config: the reason says which field and what to do. */
export class PrometheusConfigError extends Error {
  override name = 'PrometheusConfigError'
}

/** `address:port`, an IPv6 address in brackets, as a scrape target. */
const target = (address: string, port: number) => httpUrl(address, port).slice('http://'.length)

const job = (
  name: string,
  targets: { targets: string[]; labels?: Record<string, string> }[],
  extra: Record<string, unknown> = {},
) => ({
  job_name: name,
  ...extra,
  static_configs: targets,
})

/**
 * The same jobs over several nodes, each target labelled with its node:
 * every Envoy (its admin listens on its node's address), every agent,
 * every collector (each exports the models it consumes now, so their
 * series add up to the whole mesh), every host instance by the name it
 * gives itself there (`<node>-<instance>`).
 */
function nodeJobs(mesh: MeshConfig, nodes: NonNullable<PrometheusOptions['nodes']>) {
  const { gateway, telemetry } = mesh
  return [
    job(
      PROMETHEUS_JOBS.envoy,
      nodes.map((n) => ({
        targets: [target(n.address, gateway.admin_port)],
        labels: { service: gateway.service, node: n.name },
      })),
      { metrics_path: '/stats/prometheus' },
    ),
    job(
      PROMETHEUS_JOBS.agent,
      nodes.map((n) => ({ targets: [target(n.address, telemetry.agent.port)], labels: { node: n.name } })),
    ),
    job(
      PROMETHEUS_JOBS.collector,
      nodes
        .filter((n) => n.collector)
        .map((n) => ({ targets: [target(n.address, telemetry.collector.port)], labels: { node: n.name } })),
    ),
    job(
      PROMETHEUS_JOBS.hosts,
      nodes.flatMap((n) =>
        mesh.hosts
          .filter((h) => n.hosts.includes(h.name))
          .flatMap(maxInstancesOf)
          .map((i) => ({
            targets: [target(n.address, i.port)],
            labels: { host: nodeInstanceName(n.name, i.name), role: i.host.role, node: n.name },
          })),
      ),
    ),
  ]
}

export function prometheusConfig(mesh: MeshConfig, opts: PrometheusOptions): string {
  const { gateway, telemetry } = mesh
  // Port 0 is any free port, chosen anew at every Envoy start: Prometheus could not follow it.
  if (gateway.admin_port === 0)
    throw new PrometheusConfigError(
      "gateway.admin_port is 0 (any free port): give Envoy's admin a fixed port for Prometheus to scrape",
    )
  const interval = opts.interval ?? '15s'
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: [opts.rulesFile],
    scrape_configs: opts.nodes
      ? nodeJobs(mesh, opts.nodes)
      : [
          // Envoy's admin is always on loopback (render.ts): Prometheus runs on this node.
          job(
            PROMETHEUS_JOBS.envoy,
            [{ targets: [target('127.0.0.1', gateway.admin_port)], labels: { service: gateway.service } }],
            { metrics_path: '/stats/prometheus' },
          ),
          job(PROMETHEUS_JOBS.agent, [{ targets: [target(telemetry.agent.address, telemetry.agent.port)] }]),
          job(PROMETHEUS_JOBS.collector, [
            { targets: [target(telemetry.collector.address, telemetry.collector.port)] },
          ]),
          // `host` as the hosts name themselves in their telemetry (--name), so the collector's host series join these.
          job(
            PROMETHEUS_JOBS.hosts,
            mesh.hosts
              .flatMap(maxInstancesOf)
              .map((i) => ({ targets: [target(i.address, i.port)], labels: { host: i.name, role: i.host.role } })),
          ),
        ],
  }
  return `# Generated by \`npx mesh prometheus\` from mesh.yaml: edit mesh.yaml, not this file.\n# rule_files names ${opts.rulesFile} (relative to this file's folder): \`npx mesh rules --out <it>\` writes it.\n${stringify(config, { lineWidth: 0 })}`
}
