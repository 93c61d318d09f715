/**
 * @module
 * The one logger of every process (pino): JSON lines with `time`, a numeric
 * `level`, the process's `component` and `pid`, and `msg`; an error goes in
 * `err`, which pino writes with its type, message and stack. LOG_LEVEL sets
 * the threshold (default info).
 *
 * @example
 * const logger = createLogger('telemetry-agent', { to: 'stderr' })
 * logger.warn({ err, nats: url }, 'NATS unreachable')
 */
import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * `component` names the process in every line; `to` is where the lines go
 * (default stdout). pino flushes what it holds when the process exits, so a
 * line logged just before process.exit is not lost.
 */
export function createLogger(component: string, options: { level?: string; to?: 'stdout' | 'stderr' } = {}): Logger {
  const settings = { level: options.level ?? process.env.LOG_LEVEL ?? 'info', base: { component, pid: process.pid } }
  return options.to === 'stderr' ? pino(settings, pino.destination(2)) : pino(settings)
}

/**
 * A log call, for code that takes a function rather than the logger (tests
 * pass `() => {}`): `fields` go beside the message, an Error as `err`.
 */
export type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void

/** The Log that writes to `logger`. */
export const logTo =
  (logger: Logger): Log =>
  (level, msg, fields) =>
    logger[level](fields ?? {}, msg)
