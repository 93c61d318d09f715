/**
 * @module
 * The host's telemetry seam. The host reports what happened through one
 * `HostEmitter`; implementations must return at once and never throw, because
 * they are called on the inference path.
 */

/** One executed batch. */
export interface BatchEvent {
  kind: 'batch'
  model: string
  version: string
  batchId: string
  requestIds: string[]
  rows: number
  requests: number
  queueWaitMs: number
  executionMs: number
  queueDepth: number
  device: string
  ok: boolean
}

/** One request served by a fallback model, or refused. */
export interface FallbackEvent {
  kind: 'fallback'
  model: string
  version: string
  fallbackModel: string | null
  requestId: string
  reason: string
}

export type HostEvent = BatchEvent | FallbackEvent

export interface HostEmitter {
  /** Must not block and must not throw. Dropping an event is allowed; the emitter counts drops. */
  emit(event: HostEvent): void
}

/** The emitter this issue ships: discards everything. The telemetry issue connects NATS here. */
export const noopEmitter: HostEmitter = { emit() {} }

/** Guards the request path from an emitter that breaks its contract. */
export function safeEmitter(inner: HostEmitter): HostEmitter & { readonly failures: number } {
  let failures = 0
  return {
    get failures() {
      return failures
    },
    emit(event) {
      try {
        inner.emit(event)
      } catch {
        failures++
      }
    },
  }
}
