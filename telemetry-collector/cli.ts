/**
 * @module
 * `telemetry-collector --config mesh.yaml`: the collector, configured from
 * mesh.yaml; flags override single settings (tests run several on one
 * machine). Logs are pino's JSON lines on stderr (LOG_LEVEL: the threshold,
 * default info); stdout has only the `ready` line. The node agent has a CLI
 * of its own (`@model-mesh/telemetry-agent/cli`).
 */
import { constants, setPriority } from 'node:os'
import { parseArgs } from 'node:util'
import { createLogger, logTo, serveUntilSignalled } from '@model-mesh/contracts'
import { natsCredential, nodesOf, telemetryPaths } from '@model-mesh/mesh-config'
import { startCollector } from './collector.ts'
import { collectorOptionsOf, loadMeshOrExit } from './settings.ts'
import { operatorToken } from './serve/operator.ts'

export const USAGE = `Usage: telemetry-collector [--config mesh.yaml] [--port N] [--nats URL] [--store DIR] [--models a,b] [--name NAME] [--dashboard-port N]

Creates the JetStream streams, consumes them, keeps golden signals in an
embedded store (DuckDB) and serves /metrics, /api/v1/... and /healthz.

  --config <file>   mesh.yaml (default: mesh.yaml)
  --port <port>     listen here instead of mesh.yaml's port (0: any free port)
  --nats <url>      NATS server instead of mesh.yaml's telemetry.nats_url
  --store <dir>     the store folder instead of mesh.yaml's
  --models <list>   consume only these models' events (_other: models mesh.yaml
                    does not name); collectors sharing the work own disjoint lists
  --name <name>     prefix of its durable consumers (default: collector); a
                    collector with another name reads everything again
  --dashboard-port <port>  the dashboard's port instead of mesh.yaml's (0: any free port)
  --address <ip>    where the API and the dashboard listen instead of mesh.yaml's
  --nodes <n>       the node count npm start --nodes gave, when mesh.yaml has no nodes:
                    streams keep min(3, n) replicas, hosts are labelled <node>-<instance>
  --agents <urls>   the agents whose /status the dashboard shows (comma-separated)
  --collectors <urls>  every collector's API when several share the work (comma-separated):
                    a question about a model another consumes is asked of it
  --advertise <url> the URL the others reach this one at, where it is not its listen
                    address (Kubernetes: its pod's DNS name); one of --collectors
  --host-names <list>  names its API and dashboard answer to besides their addresses
                    (comma-separated: its Services' DNS names)
  -h, --help        show this help

Environment: LOG_LEVEL (default info).`

/** Its flags; the collector README's table lists them. */
export const OPTIONS = {
  config: { type: 'string', default: 'mesh.yaml' },
  port: { type: 'string' },
  nats: { type: 'string' },
  store: { type: 'string' },
  models: { type: 'string' },
  name: { type: 'string' },
  'dashboard-port': { type: 'string' },
  address: { type: 'string' },
  nodes: { type: 'string' },
  agents: { type: 'string' },
  collectors: { type: 'string' },
  advertise: { type: 'string' },
  'host-names': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

export async function main(argv: string[]): Promise<void> {
  let args
  try {
    args = parseArgs({ args: argv, options: OPTIONS }).values
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`)
    process.exit(2)
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (args.nodes !== undefined && !/^[1-9]$/.test(args.nodes)) {
    process.stderr.write(`--nodes must be 1-9, got "${args.nodes}"\n`)
    process.exit(2)
  }
  if (args.advertise !== undefined && !/^https?:\/\/[^/]+$/.test(args.advertise)) {
    process.stderr.write(
      `--advertise must be a URL such as http://collector-0.collector:4196, got "${args.advertise}"\n`,
    )
    process.exit(2)
  }
  const port = args.port === undefined ? undefined : Number(args.port)
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    process.stderr.write(`--port must be 0-65535, got "${args.port}"\n`)
    process.exit(2)
  }
  // Telemetry yields the CPU to the data plane it watches: the collector can fall behind for a while (JetStream holds the backlog) and catch up.
  setPriority(constants.priority.PRIORITY_LOW)
  const logger = createLogger('telemetry-collector', { to: 'stderr' })
  const log = logTo(logger)
  const mesh = await loadMeshOrExit(args.config!)
  let running: { url: string; dashboardUrl?: string; close(): Promise<void> }
  try {
    const nodes = nodesOf(mesh.config, args.nodes === undefined ? undefined : Number(args.nodes))
    const o = collectorOptionsOf(mesh, {
      nodes,
      address: args.address,
      agents: args.agents?.split(',').map((u) => u.trim()),
      collectors: args.collectors?.split(',').map((u) => u.trim()),
    })
    const owns = args.models
      ?.split(',')
      .map((m) => m.trim())
      .filter(Boolean)
    // The token file is created when missing only where mesh.yaml did not name one: a named file is the operator's to provide.
    const tokenFile = telemetryPaths(mesh).tokenFile
    const token = await operatorToken(tokenFile, mesh.config.telemetry.collector.dashboard.token_file === undefined)
    if (!token) logger.warn({ token_file: tokenFile }, 'no operator token: the dashboard and API are read-only')
    const dashboard = o.dashboard && {
      ...o.dashboard,
      port: args['dashboard-port'] === undefined ? o.dashboard.port : Number(args['dashboard-port']),
    }
    const natsAuth = await natsCredential(mesh.stateDir, 'collector')
    const collector = await startCollector({
      ...o,
      log,
      natsAuth,
      port: port ?? o.port,
      natsUrl: args.nats ?? o.natsUrl,
      ...(args.advertise ? { advertise: args.advertise } : {}),
      ...(args['host-names']
        ? {
            hostNames: args['host-names']
              .split(',')
              .map((n) => n.trim())
              .filter(Boolean),
          }
        : {}),
      storeDir: args.store ?? o.storeDir,
      owns,
      name: args.name,
      operatorToken: token,
      dashboard,
    })
    // A stream JetStream cannot change is a configuration problem: the collector logged it; exit rather than serve nothing.
    collector.ready.catch(() => process.exit(1))
    running = collector
  } catch (e) {
    logger.fatal({ err: e }, 'could not start')
    process.exit(1)
  }
  serveUntilSignalled(
    { url: running.url, ...(running.dashboardUrl ? { dashboard_url: running.dashboardUrl } : {}) },
    running,
  )
}
