/**
 * @module
 * The classification of NATS and JetStream failures, fed the error objects
 * nats.js constructs (its own classes, the shapes a real nats-server gave in
 * telemetry-collector/test/streams.test.ts), and ensureStreams' retry of an
 * update that fails for a moment, against a manager that fails as nats.js does.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream'
// StreamNotFoundError and JetStreamNotEnabled, the classes nats.js throws here, are exported only from its internal entry.
import { jserrors } from '@nats-io/jetstream/internal'
import { errors } from '@nats-io/transport-node'
import { describe, expect, it } from 'vitest'
import { STREAMS } from '@model-mesh/contracts'
import {
  API_CODES,
  isStreamNotFound,
  isTransient,
  isUnpublishable,
  isWorkQueueTaken,
  StreamConfigError,
} from './nats-errors.ts'
import { ensureStreams, streamConfig, type StreamLimits } from './streams.ts'

/** As nats.js builds it from a JetStream API answer. */
const apiError = (code: number, err_code: number, description: string) =>
  new JetStreamApiError({ code, err_code, description })
/** What jsm.streams.info throws for a stream that is not there. */
const notFound = new jserrors.StreamNotFoundError({
  code: 404,
  err_code: JetStreamApiCodes.StreamNotFound,
  description: 'stream not found',
})
const cannotChange = apiError(500, 10052, 'stream configuration update can not change retention policy')
const notUnique = apiError(
  400,
  API_CODES.ConsumerWorkQueueNotUnique,
  'filtered consumer not unique on workqueue stream',
)
/** What a request to a JetStream nobody answers yet becomes (nats.js wraps it twice). */
const noResponders = new jserrors.JetStreamNotEnabled('jetstream is not enabled', {
  cause: new errors.RequestError('no responders', { cause: new errors.NoRespondersError('$JS.API.STREAM.UPDATE.X') }),
})

describe('classifying NATS failures by class and err_code', () => {
  it('a missing stream is the StreamNotFound code, whatever the message says', () => {
    expect(isStreamNotFound(notFound)).toBe(true)
    expect(isStreamNotFound(apiError(404, JetStreamApiCodes.StreamNotFound, 'something else entirely'))).toBe(true)
    expect(isStreamNotFound(apiError(404, JetStreamApiCodes.ConsumerNotFound, 'consumer not found'))).toBe(false)
    expect(isStreamNotFound(new Error('stream not found'))).toBe(false)
  })

  it('a work queue held by another consumer is its own codes, not any "unique" in a message', () => {
    expect(isWorkQueueTaken(notUnique)).toBe(true)
    expect(
      isWorkQueueTaken(
        apiError(
          400,
          API_CODES.ConsumerWorkQueueMultipleUnfiltered,
          'multiple non-filtered consumers not allowed on workqueue stream',
        ),
      ),
    ).toBe(true)
    expect(isWorkQueueTaken(apiError(400, 10148, 'consumer name must be unique'))).toBe(false)
    expect(isWorkQueueTaken(new Error('filtered consumer not unique on workqueue stream'))).toBe(false)
  })

  it('no answer, nobody answering, a lost or closed connection, JetStream unavailable for now, or a cluster not yet able to place replicas are transient', () => {
    expect(isTransient(new errors.TimeoutError())).toBe(true)
    expect(isTransient(noResponders)).toBe(true)
    expect(isTransient(new errors.ClosedConnectionError())).toBe(true)
    expect(isTransient(new errors.ConnectionError('connection refused'))).toBe(true)
    expect(
      isTransient(apiError(503, API_CODES.JetStreamTemporarilyUnavailable, 'JetStream system temporarily unavailable')),
    ).toBe(true)
    // What a three-server cluster answered while its third server was still joining (test/nats-cluster.test.ts).
    expect(isTransient(apiError(500, API_CODES.ClusterNoPeers, 'no suitable peers for placement'))).toBe(true)
  })

  it('a refusal from JetStream, a permission or authorization error, or a plain error are not', () => {
    expect(isTransient(cannotChange)).toBe(false)
    expect(isTransient(notFound)).toBe(false)
    expect(
      isTransient(
        new errors.PermissionViolationError(
          'Permissions Violation for Publish to "$JS.API.STREAM.UPDATE.X"',
          'publish',
          '$JS.API.STREAM.UPDATE.X',
        ),
      ),
    ).toBe(false)
    expect(isTransient(new errors.AuthorizationError('Authorization Violation'))).toBe(false)
    expect(isTransient(new Error('timeout'))).toBe(false)
  })

  it('a message over max_payload is unpublishable; a timeout is not', () => {
    expect(isUnpublishable(errors.InvalidArgumentError.format('payload', 'max_payload size exceeded'))).toBe(true)
    expect(isUnpublishable(new errors.TimeoutError())).toBe(false)
    expect(isUnpublishable(new Error('maximum payload exceeded'))).toBe(false)
  })
})

const LIMITS: StreamLimits = {
  duplicateWindowS: 60,
  maxBytes: { requests: 1 << 20, payloads: 1 << 20, host: 1 << 20, review: 1 << 20 },
}

/** A manager whose streams all exist with a smaller max_bytes (so each needs an update), failing updates with `failures` in turn. */
function managerFailing(failures: Error[]): { jsm: JetStreamManager; updates: string[] } {
  const updates: string[] = []
  const info = (name: string) => {
    const spec = Object.values(STREAMS).find((s) => s.name === name)!
    return { config: { ...streamConfig(spec, LIMITS), max_bytes: 1024 } } as unknown as StreamInfo
  }
  const jsm = {
    streams: {
      info: async (name: string) => info(name),
      update: async (name: string) => {
        updates.push(name)
        const failure = failures.shift()
        if (failure) throw failure
        return info(name)
      },
    },
  } as unknown as JetStreamManager
  return { jsm, updates }
}

describe('ensureStreams when a creation fails', () => {
  it('tries a stream the cluster cannot place yet again, and creates every stream', async () => {
    const failures: Error[] = [apiError(500, API_CODES.ClusterNoPeers, 'no suitable peers for placement')]
    const added: string[] = []
    const jsm = {
      streams: {
        info: async () => {
          throw notFound
        },
        add: async (config: { name: string }) => {
          added.push(config.name)
          const failure = failures.shift()
          if (failure) throw failure
          return {}
        },
      },
    } as unknown as JetStreamManager
    const out = await ensureStreams(jsm, { ...LIMITS, replicas: 3 }, { attempts: 3, firstDelayMs: 1 })
    expect(out.map((o) => o.action)).toEqual(['created', 'created', 'created', 'created'])
    expect(added).toEqual(['MESH_REQUESTS', 'MESH_REQUESTS', 'MESH_PAYLOADS', 'MESH_HOST', 'MESH_REVIEW'])
  })
})

describe('ensureStreams when an update fails', () => {
  it('tries a transiently failed update again, with a wait, and updates every stream', async () => {
    const { jsm, updates } = managerFailing([new errors.TimeoutError(), noResponders])
    const out = await ensureStreams(jsm, LIMITS, { attempts: 3, firstDelayMs: 1 })
    expect(out.map((o) => o.action)).toEqual(['updated', 'updated', 'updated', 'updated'])
    expect(updates).toEqual([
      'MESH_REQUESTS',
      'MESH_REQUESTS',
      'MESH_REQUESTS',
      'MESH_PAYLOADS',
      'MESH_HOST',
      'MESH_REVIEW',
    ])
  })

  it('gives up after the attempts allowed, throwing the transient error itself (the collector reconnects and starts again)', async () => {
    const timeouts = Array.from({ length: 3 }, () => new errors.TimeoutError())
    const { jsm, updates } = managerFailing([...timeouts])
    const err = await ensureStreams(jsm, LIMITS, { attempts: 3, firstDelayMs: 1 }).catch((e: unknown) => e)
    expect(err).toBe(timeouts[2])
    expect(err).not.toBeInstanceOf(StreamConfigError)
    expect(updates).toEqual(['MESH_REQUESTS', 'MESH_REQUESTS', 'MESH_REQUESTS'])
  })

  it('refuses a change JetStream says no to at once, as a StreamConfigError naming the stream and keeping the cause', async () => {
    const { jsm, updates } = managerFailing([cannotChange])
    const err = await ensureStreams(jsm, LIMITS, { attempts: 3, firstDelayMs: 1 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StreamConfigError)
    expect((err as StreamConfigError).stream).toBe('MESH_REQUESTS')
    expect((err as Error).message).toBe(
      'stream MESH_REQUESTS: JetStream refused to update max_bytes: stream configuration update can not change retention policy',
    )
    expect((err as Error).cause).toBe(cannotChange)
    expect(updates).toEqual(['MESH_REQUESTS'])
  })
})
