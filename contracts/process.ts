/**
 * @module
 * How each process of the mesh tells its parent it serves and how it stops:
 * one JSON line `{"msg":"ready", ...}` on stdout once it listens (the local
 * mesh and the tests read the bound URL from it), and on SIGINT or SIGTERM
 * one close, then exit 0 (1 if closing failed).
 */
import type { Logger } from './logger.ts'

/** Writes the ready line, then closes `server` on the first SIGINT or SIGTERM and exits. */
export function serveUntilSignalled(
  ready: Record<string, unknown>,
  server: { close(): Promise<void> },
  logger?: Logger,
): void {
  process.stdout.write(`${JSON.stringify({ msg: 'ready', ...ready })}\n`)
  let closing = false
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return
    closing = true
    logger?.info({ signal }, 'shutting down')
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
}
