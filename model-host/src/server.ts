/**
 * @module
 * Starts a model host: loads the repository, serves the app on a port, and
 * closes cleanly (stop accepting, let in-flight requests finish, free sessions,
 * hand the last telemetry events to the agent).
 */
import { createServer } from 'node:http'
import { readFileSync } from 'node:fs'
import { serve, type ServerType } from '@hono/node-server'
import { createApp } from './app.ts'
import { createLogger, type Logger } from '@model-mesh/contracts'
import { hostMetrics } from './metrics.ts'
import { ModelManager } from './model-manager.ts'
import { HostStats, noReports } from './host-stats.ts'
import { newWarmUpPrefix, warmUpHttp, withoutWarmUp } from './http-warm-up.ts'
import type { Server } from '@grpc/grpc-js'
import { startGrpcServer } from './grpc/service.ts'
import { reportSaturation } from './saturation.ts'
import { AgentEmitter } from './telemetry-agent-emitter.ts'
import { noopEmitter, safeEmitter, type HostEmitter } from './telemetry.ts'

export interface HostOptions {
  models: string
  port: number
  hostname?: string
  /** The node's telemetry agent (e.g. http://127.0.0.1:4195): host events are posted there. */
  telemetryAgent?: string
  /** The node's telemetry credential, which the agent requires (Authorization: Bearer). */
  telemetryToken?: string
  /** Host events go here instead of to `telemetryAgent` (in-process tests). Default: the agent's emitter, else none. */
  emitter?: HostEmitter
  /** The host's name in events (`host`) and in the agent's x-mesh-source; default `<address>:<port>`. */
  name?: string
  /** How often each loaded version reports its saturation, in ms (default 1000). */
  saturationIntervalMs?: number
  logger?: Logger
  /** See ManagerDeps.role. */
  role?: 'primary' | 'fallback'
  /** Load only these models of the repository (default: all). */
  only?: string[]
  /** The operator's bearer token, which the repository's writes (load, unload) need; none: they are refused. */
  operatorToken?: string
  /** Serve the gRPC service (grpc/service.ts) on this port too (0: any free one); none: HTTP only. */
  grpcPort?: number
}

export interface RunningHost {
  url: string
  port: number
  /** The gRPC service's port, when it serves one. */
  grpcPort?: number
  /** The name events carry in `host`. */
  name: string
  manager: ModelManager
  close(): Promise<void>
}

const packageVersion = (): string => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export async function startHost(options: HostOptions): Promise<RunningHost> {
  const logger = options.logger ?? createLogger('model-host')
  const hostname = options.hostname ?? '127.0.0.1'
  // Set once listening when not given: with port 0 the port is known only then. Nothing emits before.
  let name = options.name ?? ''
  const hostName = () => name
  const agent =
    options.telemetryAgent && !options.emitter
      ? new AgentEmitter({ url: options.telemetryAgent, token: options.telemetryToken, hostName, logger })
      : undefined
  const emitter = options.emitter ?? agent ?? noopEmitter
  const guarded = safeEmitter(emitter)
  // Batches and fallbacks are counted per interval; only their stories go out one by one.
  const stats = new HostStats(guarded)
  // The host's requests to itself before it is ready are not its callers': left out of what it reports.
  const warmUpPrefix = newWarmUpPrefix()
  const reporter = emitter === noopEmitter ? noReports : withoutWarmUp(stats, warmUpPrefix)
  const manager = new ModelManager(options.models, { reporter, logger, role: options.role, hostName })
  await manager.loadAll(options.only)
  const metrics = hostMetrics(
    agent ? () => agent.counters : undefined,
    () => manager.models(),
    () => stats.storiesSuppressed,
  )
  let warmedUp = false
  const app = createApp({
    manager,
    logger,
    version: packageVersion(),
    metrics,
    operatorToken: options.operatorToken,
    warmedUp: () => warmedUp,
  })
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname, createServer }, () => resolve(s))
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  // An IPv6 address is bracketed in a URL and in gRPC's bind address.
  const authority = (p: number) => (hostname.includes(':') ? `[${hostname}]:${p}` : `${hostname}:${p}`)
  const url = `http://${authority(port)}`
  name ||= authority(port)
  const grpc =
    options.grpcPort === undefined
      ? undefined
      : await startGrpcServer({
          manager,
          version: packageVersion(),
          operatorToken: options.operatorToken,
          warmedUp: () => warmedUp,
          address: authority(options.grpcPort),
          logger,
        })
  const warm = await warmUpHttp(url, servedVersions(manager, options.role), warmUpPrefix)
  warmedUp = true
  if (warm.failed.length > 0) logger.warn({ failed: warm.failed }, 'HTTP warm-up requests failed; ready anyway')
  logger.debug({ ms: Math.round(warm.ms) }, 'HTTP path warmed up')
  const saturation =
    emitter === noopEmitter
      ? undefined
      : reportSaturation(manager, guarded, stats, hostName, options.saturationIntervalMs ?? 1000)
  logger.info(
    {
      url,
      ...(grpc ? { grpc: authority(grpc.port) } : {}),
      name,
      role: options.role ?? 'primary',
      telemetryAgent: agent ? options.telemetryAgent : undefined,
      models: manager.models().map((m) => ({ name: m.name, state: m.state, live: m.live, reason: m.reason })),
    },
    'model host listening',
  )
  return {
    url,
    port,
    grpcPort: grpc?.port,
    name,
    manager,
    async close() {
      // Both stop taking calls at once; a gRPC call still running after the grace period is cut off.
      await Promise.all([
        new Promise<void>((r) => server.close(() => r())),
        grpc ? shutDownGrpc(grpc.server, GRPC_SHUTDOWN_GRACE_MS) : undefined,
      ])
      await manager.close()
      // What the last interval counted goes out with the rest.
      saturation?.stop()
      // Last: the batches that finished while closing are among what it sends.
      await agent?.close()
    },
  }
}

/** How long closing waits for gRPC calls in flight before it cuts them off. */
const GRPC_SHUTDOWN_GRACE_MS = 10_000

function shutDownGrpc(server: Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown()
      resolve()
    }, graceMs)
    server.tryShutdown(() => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/**
 * The versions the HTTP warm-up asks, each as its callers will: every one a
 * host serves; on a fallback-pool host, those whose requests its fallback
 * answers (what reaches that host), since it answers nothing else.
 */
function servedVersions(manager: ModelManager, role: HostOptions['role']) {
  return manager
    .models()
    .flatMap((m) =>
      m.state !== 'READY'
        ? []
        : [...m.versions.values()]
            .filter((v) => role !== 'fallback' || manager.fallbackFor(v) !== undefined)
            .map((v) => ({ model: m.name, version: v.version, config: v.config })),
    )
}
