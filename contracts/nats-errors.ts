/**
 * @module
 * What the collector and the agent branch on when NATS or JetStream says no,
 * decided by the error's class and JetStream's API error code (err_code),
 * never by its message; and the one error of their own that stops the
 * collector: a stream it cannot make as the mesh wants.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream'
import { errors } from '@nats-io/transport-node'

/**
 * JetStream API error codes the pipeline branches on that nats.js has no
 * constant for (nats-server's server/errors.json names them).
 */
export const API_CODES = {
  /** JSConsumerWQConsumerNotUniqueErr: a work queue already has a consumer for that filter. */
  ConsumerWorkQueueNotUnique: 10100,
  /** JSConsumerWQMultipleUnfilteredErr: a work queue already has a consumer without a filter. */
  ConsumerWorkQueueMultipleUnfiltered: 10099,
  /** JSClusterNotAvailErr: "JetStream system temporarily unavailable". */
  JetStreamTemporarilyUnavailable: 10008,
  /** JSClusterNoPeersErr: "no suitable peers for placement": a cluster still forming, or fewer servers than replicas. */
  ClusterNoPeers: 10005,
} as const

/** A stream JetStream cannot make as the mesh wants: a configuration problem that retrying does not fix. */
export class StreamConfigError extends Error {
  constructor(
    readonly stream: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = 'StreamConfigError'
  }
}

/** JetStream's API error with one of `codes` as its err_code. */
export function isApiError(e: unknown, ...codes: number[]): e is JetStreamApiError {
  return e instanceof JetStreamApiError && codes.includes(e.code)
}

export function isStreamNotFound(e: unknown): boolean {
  return isApiError(e, JetStreamApiCodes.StreamNotFound)
}

/** A work queue's consumer that another collector (another name) already holds. */
export function isWorkQueueTaken(e: unknown): boolean {
  return isApiError(e, API_CODES.ConsumerWorkQueueNotUnique, API_CODES.ConsumerWorkQueueMultipleUnfiltered)
}

/**
 * A failure that may pass if the same request is made again: no answer in
 * time, nobody answering yet (JetStream starting), the connection down or
 * closed, JetStream saying it is temporarily unavailable, or a cluster that
 * cannot place a stream's replicas yet (its servers still joining). Any
 * other answer from JetStream that refuses the request is not: asking again
 * gets the same no.
 * nats.js wraps some of these (NoRespondersError inside a RequestError
 * inside JetStreamNotEnabled), so the cause chain is looked at too.
 */
export function isTransient(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) {
    if (c instanceof errors.TimeoutError || c instanceof errors.NoRespondersError) return true
    if (c instanceof errors.ClosedConnectionError || c instanceof errors.ConnectionError) return true
    if (c instanceof JetStreamApiError)
      return (
        c.status === 503 ||
        c.code === API_CODES.JetStreamTemporarilyUnavailable ||
        // A cluster whose servers have not all joined yet: given a few seconds, the stream can be placed.
        c.code === API_CODES.ClusterNoPeers
      )
  }
  return false
}

/**
 * A message nats.js will never publish as it is (today: larger than the
 * server's max_payload). nats.js checks the message itself before sending
 * and throws InvalidArgumentError; nothing about the connection changes that.
 */
export function isUnpublishable(e: unknown): boolean {
  return e instanceof errors.InvalidArgumentError || e instanceof errors.InvalidSubjectError
}
