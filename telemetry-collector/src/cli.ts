/**
 * @module
 * `telemetry-collector --config mesh.yaml` and `telemetry-agent --config
 * mesh.yaml`: the two processes of the telemetry pipeline, configured from
 * mesh.yaml; flags override single settings (tests run several on one
 * machine). Logs are pino's JSON lines on stderr (LOG_LEVEL: the threshold,
 * default info); stdout has only the `ready` line.
 */
import { constants, setPriority } from 'node:os'
import { parseArgs } from 'node:util'
import { createLogger, ensureToken, logTo } from '@model-mesh/contracts'
import { credentialFiles, natsCredential, telemetryPaths } from '@model-mesh/mesh-config'
import { agentOptionsOf, collectorOptionsOf, loadMeshOrExit } from './mesh-settings.ts'

const COMMON = `  --config <file>   mesh.yaml (default: mesh.yaml)
  --port <port>     listen here instead of mesh.yaml's port (0: any free port)
  --nats <url>      NATS server instead of mesh.yaml's telemetry.nats_url
  -h, --help        show this help

Environment: LOG_LEVEL (default info).`

export const USAGE = {
  agent: `Usage: telemetry-agent [--config mesh.yaml] [--port N] [--nats URL] [--spool-dir DIR] [--id ID]

Takes event batches from Envoy's telemetry exporter and the model hosts
(POST /v1/events, NDJSON) and publishes them to NATS JetStream, spooling to
memory and disk while NATS cannot take them. Serves /metrics and /healthz.

${COMMON}
  --spool-dir <dir> the disk spool instead of mesh.yaml's
  --id <id>         this agent's id in message ids (default: host name and service)`,
  collector: `Usage: telemetry-collector [--config mesh.yaml] [--port N] [--nats URL] [--store DIR] [--models a,b] [--name NAME] [--dashboard-port N]

Creates the JetStream streams, consumes them, keeps golden signals in an
embedded store (DuckDB) and serves /metrics, /api/v1/... and /healthz.

${COMMON}
  --store <dir>     the store folder instead of mesh.yaml's
  --models <list>   consume only these models' events (_other: models mesh.yaml
                    does not name); collectors sharing the work own disjoint lists
  --name <name>     prefix of its durable consumers (default: collector); a
                    collector with another name reads everything again
  --dashboard-port <port>  the dashboard's port instead of mesh.yaml's (0: any free port)`,
}

/** Every flag either process accepts (each ignores the other's); the collector README's table lists them. */
export const OPTIONS = {
  config: { type: 'string', default: 'mesh.yaml' },
  port: { type: 'string' },
  nats: { type: 'string' },
  'spool-dir': { type: 'string' },
  id: { type: 'string' },
  store: { type: 'string' },
  models: { type: 'string' },
  name: { type: 'string' },
  'dashboard-port': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/**
 * Scheduling priorities (nice values). The agent answers Envoy and the hosts
 * and must keep up, so it is only a little below them; the collector can
 * fall behind for a while (JetStream holds the backlog) and catch up.
 */
const NICE = { agent: 5, collector: constants.priority.PRIORITY_LOW }

export async function main(which: 'agent' | 'collector', argv: string[]): Promise<void> {
  let args
  try {
    args = parseArgs({ args: argv, options: OPTIONS }).values
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE[which]}\n`)
    process.exit(2)
  }
  if (args.help) {
    process.stdout.write(`${USAGE[which]}\n`)
    return
  }
  const port = args.port === undefined ? undefined : Number(args.port)
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    process.stderr.write(`--port must be 0-65535, got "${args.port}"\n`)
    process.exit(2)
  }
  // Telemetry yields the CPU to the data plane it watches: where cores are short, a request waits for no commit.
  setPriority(which === 'agent' ? NICE.agent : NICE.collector)
  const logger = createLogger(`telemetry-${which}`, { to: 'stderr' })
  const log = logTo(logger)
  const mesh = await loadMeshOrExit(args.config!)
  let running: { url: string; dashboardUrl?: string; close(): Promise<void> }
  try {
    // Imported here, each only where it runs: the agent beside Envoy never loads the collector's DuckDB.
    if (which === 'agent') {
      const { startAgent } = await import('../agent/agent.ts')
      const o = agentOptionsOf(mesh)
      // The credential Envoy's exporter and the hosts show: created here if start has not yet.
      const token = await ensureToken(credentialFiles(mesh.stateDir).telemetryToken)
      const natsAuth = await natsCredential(mesh.stateDir, 'agent')
      running = await startAgent({ ...o, log, token, natsAuth, port: port ?? o.port, natsUrl: args.nats ?? o.natsUrl, id: args.id ?? o.id, spool: { ...o.spool, dir: args['spool-dir'] ?? o.spool.dir } })
    } else {
      const { startCollector } = await import('./collector.ts')
      const o = collectorOptionsOf(mesh)
      const owns = args.models?.split(',').map((m) => m.trim()).filter(Boolean)
      const { operatorToken } = await import('./operator.ts')
      // The token file is created when missing only where mesh.yaml did not name one: a named file is the operator's to provide.
      const tokenFile = telemetryPaths(mesh).tokenFile
      const token = await operatorToken(tokenFile, mesh.config.telemetry.collector.dashboard.token_file === undefined)
      if (!token) logger.warn({ token_file: tokenFile }, 'no operator token: the dashboard and API are read-only')
      const dashboard = o.dashboard && { ...o.dashboard, port: args['dashboard-port'] === undefined ? o.dashboard.port : Number(args['dashboard-port']) }
      const natsAuth = await natsCredential(mesh.stateDir, 'collector')
      const collector = await startCollector({ ...o, log, natsAuth, port: port ?? o.port, natsUrl: args.nats ?? o.natsUrl, storeDir: args.store ?? o.storeDir, owns, name: args.name, operatorToken: token, dashboard })
      // A stream JetStream cannot change is a configuration problem: the collector logged it; exit rather than serve nothing.
      collector.ready.catch(() => process.exit(1))
      running = collector
    }
  } catch (e) {
    logger.fatal({ err: e }, 'could not start')
    process.exit(1)
  }
  // Parent processes (tests, the local mesh) read the bound URL from this line.
  process.stdout.write(`${JSON.stringify({ msg: 'ready', url: running.url, ...(running.dashboardUrl ? { dashboard_url: running.dashboardUrl } : {}) })}\n`)
  let closing = false
  const shutdown = () => {
    if (closing) return
    closing = true
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
}
