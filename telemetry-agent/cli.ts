/**
 * @module
 * `telemetry-agent --settings <file>`: the node's telemetry agent, set up by
 * its settings file (contracts' AgentSettings; the local mesh writes
 * `<state_dir>/telemetry-agent.json` from mesh.yaml); flags override single
 * settings (tests run several on one machine). Logs are pino's JSON lines
 * on stderr (LOG_LEVEL: the threshold, default info); stdout has only the
 * `ready` line.
 */
import { setPriority } from 'node:os'
import { parseArgs } from 'node:util'
import { createLogger, logTo, serveUntilSignalled } from '@model-mesh/contracts'
import { startAgent } from './agent.ts'
import { loadAgentOptions } from './settings.ts'

export const USAGE = `Usage: telemetry-agent --settings <file> [--port N] [--nats URL] [--spool-dir DIR] [--id ID]

Takes event batches from Envoy's telemetry exporter and the model hosts
(POST /v1/events, NDJSON) and publishes them to NATS JetStream, spooling to
memory and disk while NATS cannot take them. Serves /metrics, /status and /healthz.

  --settings <file>  its settings (JSON; the local mesh writes <state_dir>/telemetry-agent.json)
  --port <port>      listen here instead of the settings' port (0: any free port)
  --nats <url>       NATS server(s), comma-separated, instead of the settings'
  --spool-dir <dir>  the disk spool instead of the settings'
  --id <id>          this agent's id in message ids instead of the settings'
  -h, --help         show this help

Environment: LOG_LEVEL (default info).`

export const OPTIONS = {
  settings: { type: 'string' },
  port: { type: 'string' },
  nats: { type: 'string' },
  'spool-dir': { type: 'string' },
  id: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/**
 * The agent answers Envoy and the hosts and must keep up, so it runs only a
 * little below them (nice 5); the collector, which may fall behind, runs lowest.
 */
const NICE = 5

export async function main(argv: string[]): Promise<void> {
  let args
  try {
    args = parseArgs({ args: argv, options: OPTIONS }).values
  } catch (e) {
    return usageError((e as Error).message)
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (args.settings === undefined) return usageError('--settings is required')
  const port = args.port === undefined ? undefined : Number(args.port)
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
    return usageError(`--port must be 0-65535, got "${args.port}"`)
  setPriority(NICE)
  const logger = createLogger('telemetry-agent', { to: 'stderr' })
  let running
  try {
    const options = await loadAgentOptions(args.settings, {
      port,
      natsUrl: args.nats,
      spoolDir: args['spool-dir'],
      id: args.id,
    })
    running = await startAgent({ ...options, log: logTo(logger) })
  } catch (e) {
    logger.fatal({ err: e }, 'could not start')
    process.exit(1)
  }
  serveUntilSignalled({ url: running.url }, running)
}

function usageError(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`)
  process.exit(2)
}
