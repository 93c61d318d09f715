/**
 * @module
 * Starts a model host: loads the repository, serves the app on a port, and
 * closes cleanly (stop accepting, let in-flight requests finish, free sessions).
 */
import { createServer } from 'node:http'
import { readFileSync } from 'node:fs'
import { serve, type ServerType } from '@hono/node-server'
import { createApp } from './app.ts'
import { createLogger, type Logger } from './logger.ts'
import { ModelManager } from './model-manager.ts'
import { noopEmitter, safeEmitter, type HostEmitter } from './telemetry.ts'

export interface HostOptions {
  models: string
  port: number
  hostname?: string
  emitter?: HostEmitter
  logger?: Logger
  /** See ManagerDeps.role. */
  role?: 'primary' | 'fallback'
  /** Load only these models of the repository (default: all). */
  only?: string[]
}

export interface RunningHost {
  url: string
  port: number
  manager: ModelManager
  close(): Promise<void>
}

const packageVersion = (): string => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export async function startHost(options: HostOptions): Promise<RunningHost> {
  const logger = options.logger ?? createLogger()
  const manager = new ModelManager(options.models, { emitter: safeEmitter(options.emitter ?? noopEmitter), logger, role: options.role })
  await manager.loadAll(options.only)
  const app = createApp({ manager, logger, version: packageVersion() })
  const hostname = options.hostname ?? '127.0.0.1'
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname, createServer }, () => resolve(s))
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  const url = `http://${hostname}:${port}`
  logger.info({ url, role: options.role ?? 'primary', models: manager.models().map((m) => ({ name: m.name, state: m.state, live: m.live, reason: m.reason })) }, 'model host listening')
  return {
    url,
    port,
    manager,
    async close() {
      await new Promise<void>((r) => server.close(() => r()))
      await manager.close()
    },
  }
}
