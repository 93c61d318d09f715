/**
 * @module
 * `model-host --models <dir> --port <port>`: serves a model repository over
 * the Open Inference Protocol. Logs are JSON lines on stdout.
 */
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { createLogger, readToken, serveUntilSignalled } from '@model-mesh/contracts'
import { startHost } from './server.ts'

const USAGE = `Usage: model-host --models <repository dir> [--port <port>] [--host <address>] [--role primary|fallback] [--only <model,...>]
                  [--telemetry-agent <url> --telemetry-token-file <file>] [--name <host name>]
                  [--operator-token-file <file>] [--grpc-port <port>]

Serves the models of a repository over the Open Inference Protocol (KServe v2 REST, and gRPC with --grpc-port).

Options:
  --models <dir>   model repository: <dir>/<model>/config.yaml and <dir>/<model>/<version>/
  --port <port>    port to listen on (default 8000; 0 picks a free one)
  --grpc-port <port>
                   serve the protocol's gRPC service (inference.GRPCInferenceService)
                   on this port too (0 picks a free one; default: none)
  --host <addr>    address to bind (default 127.0.0.1)
  --role <role>    primary (default), or fallback: answer every request with
                   the requested model's fallback (the mesh's fallback pool)
  --only <list>    load only these models (comma-separated; default: all)
  --telemetry-agent <url>
                   post host events (batches, fallbacks, saturation) to the
                   node's telemetry agent, e.g. http://127.0.0.1:4195
                   (default: none; events are discarded)
  --telemetry-token-file <file>
                   the node's telemetry credential (the local mesh's
                   <state_dir>/telemetry-token), which the agent requires
  --name <name>    this host's name in its events (default <address>:<port>)
  --operator-token-file <file>
                   the operator's bearer token (one line, mode 0600), which
                   repository load and unload need (default: none; they are
                   refused)
  -h, --help       show this help

Environment: LOG_LEVEL (default info).`

const isHttpUrl = (s: string): boolean => URL.canParse(s) && new URL(s).protocol === 'http:'

export async function main(argv: string[]): Promise<void> {
  let args
  try {
    args = parseArgs({
      args: argv,
      options: {
        models: { type: 'string' },
        port: { type: 'string', default: '8000' },
        'grpc-port': { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        role: { type: 'string', default: 'primary' },
        only: { type: 'string' },
        'telemetry-agent': { type: 'string' },
        'telemetry-token-file': { type: 'string' },
        name: { type: 'string' },
        'operator-token-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`)
    process.exit(2)
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  const port = Number(args.port)
  const grpcPort = args['grpc-port'] === undefined ? undefined : Number(args['grpc-port'])
  const problem = !args.models
    ? '--models is required'
    : !Number.isInteger(port) || port < 0 || port > 65535
      ? `--port must be 0-65535, got "${args.port}"`
      : grpcPort !== undefined && (!Number.isInteger(grpcPort) || grpcPort < 0 || grpcPort > 65535)
        ? `--grpc-port must be 0-65535, got "${args['grpc-port']}"`
        : args.role !== 'primary' && args.role !== 'fallback'
          ? `--role must be primary or fallback, got "${args.role}"`
          : args['telemetry-agent'] !== undefined && !isHttpUrl(args['telemetry-agent'])
            ? `--telemetry-agent must be an http:// URL, got "${args['telemetry-agent']}"`
            : args.name !== undefined && !/^[\x21-\x7e]+$/.test(args.name)
              ? `--name must be printable ASCII without spaces, got ${JSON.stringify(args.name)}`
              : undefined
  if (problem) {
    process.stderr.write(`${problem}\n\n${USAGE}\n`)
    process.exit(2)
  }
  const logger = createLogger('model-host')
  let host
  try {
    const operatorToken =
      args['operator-token-file'] === undefined ? undefined : await readToken(resolve(args['operator-token-file']))
    host = await startHost({
      models: resolve(args.models!),
      port,
      hostname: args.host,
      logger,
      role: args.role as 'primary' | 'fallback',
      only: args.only
        ?.split(',')
        .map((m) => m.trim())
        .filter(Boolean),
      telemetryAgent: args['telemetry-agent'],
      telemetryToken:
        args['telemetry-token-file'] === undefined ? undefined : await readToken(resolve(args['telemetry-token-file'])),
      name: args.name,
      operatorToken,
      grpcPort,
    })
  } catch (e) {
    logger.fatal({ err: (e as Error).message }, 'model host could not start')
    process.stderr.write(`model-host: ${(e as Error).message}\n`)
    process.exit(1)
  }
  serveUntilSignalled(
    { url: host.url, port: host.port, ...(host.grpcPort !== undefined ? { grpc_port: host.grpcPort } : {}) },
    host,
    logger,
  )
}
