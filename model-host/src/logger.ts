/**
 * @module
 * Structured JSON logs on stdout (pino), one logger per process.
 */
import { pino, type Logger } from 'pino'

export type { Logger }

export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { component: 'model-host', pid: process.pid } })
}
