/**
 * @module
 * Named errors of the model host. Each carries what a caller needs to answer
 * or log it: an HTTP status for request errors, file and field for config errors.
 */
import type { FallbackReason } from '@model-mesh/contracts'

/** A request the host refuses: becomes `{"error": message}` with `status`. */
export class InferenceError extends Error {
  override name = 'InferenceError'
  constructor(
    message: string,
    readonly status: 400 | 404 | 413 | 415 | 422 | 429 | 499 | 500 | 503 | 504 = 400,
    readonly retryAfterSeconds?: number,
    /** Set when the model's queue was full: gRPC says RESOURCE_EXHAUSTED where REST says 503. */
    readonly queueFull = false,
  ) {
    super(message)
  }
}

/** A model configuration that cannot be used: names the file, the field and the reason. */
export class ConfigError extends Error {
  override name = 'ConfigError'
  constructor(
    readonly file: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${file}: ${field || '(root)'}: ${reason}`)
  }
}

/** A model version whose bytes differ from its manifest, or that lacks one. */
export class IntegrityError extends Error {
  override name = 'IntegrityError'
  constructor(
    readonly dir: string,
    readonly reason: string,
  ) {
    super(`${dir}: ${reason}`)
  }
}

/** Why a batcher gave a request back without running it. */
/** Why a request left its model's batcher unanswered, or (`fallback_role`) never went to it: the host_fallback event's reason (contracts). */
export type RejectReason = FallbackReason

/** A request that left the batcher without a result. */
export class BatchRejection extends Error {
  override name = 'BatchRejection'
  constructor(
    readonly reason: RejectReason,
    options?: { cause?: unknown },
  ) {
    super(`request not served: ${reason}`, options)
  }
}
