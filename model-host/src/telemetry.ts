/**
 * @module
 * The host's telemetry seam. The host reports what happened through one
 * `HostEmitter`; implementations must return at once and never throw, because
 * they are called on the inference path. Events are the wire contract's host
 * events (contracts/events.ts, version 2), built where they happen.
 */
import type { HostEvent } from '@model-mesh/contracts'

export interface HostEmitter {
  /** Must not block and must not throw. Dropping an event is allowed; the emitter counts drops. */
  emit(event: HostEvent): void
}

/** The emitter of a host with no telemetry agent (tests, standalone use): discards everything. */
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
