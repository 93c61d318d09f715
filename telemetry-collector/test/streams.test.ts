/**
 * @module
 * The pipeline's JetStream streams against a real nats-server: created with
 * the contract's settings, left alone when current, updated in place when
 * they can be, refused with what to do when they cannot; the agent's check
 * for missing ones; JetStream's dedupe by message id, which replays rely on,
 * and the collector's own past JetStream's window; and the collector coming
 * up through a stream update that fails for a moment.
 */
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream'
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import {
  DEFAULT_STREAM_LIMITS,
  ensureStreams,
  messageId,
  missingStreams,
  streamConfig,
  STREAMS,
  subjectOf,
  type StreamLimits,
} from '@model-mesh/contracts'
import { startCollector } from '../collector.ts'
import { eventually, metricSum, ndjson, requestEvent } from '@model-mesh/testkit/events'

const MiB = 1024 * 1024
const DAY_NS = 86_400 * 1e9
const NAMES = Object.values(STREAMS).map((s) => s.name)

const limits = (o: Partial<StreamLimits> = {}): StreamLimits => ({
  duplicateWindowS: 60,
  maxBytes: { requests: 64 * MiB, payloads: 32 * MiB, host: 16 * MiB, review: 8 * MiB },
  ...o,
})

describe('streamConfig', () => {
  it('derives each stream from the contract and the limits', () => {
    const c = streamConfig(STREAMS.review, limits())
    expect(c).toMatchObject({
      name: 'MESH_REVIEW',
      subjects: ['mesh.review.*'],
      retention: 'workqueue',
      storage: 'file',
      discard: 'old',
      max_age: 30 * DAY_NS,
      max_bytes: 8 * MiB,
      duplicate_window: 60e9,
      num_replicas: 1,
    })
    expect(streamConfig(STREAMS.payloads, limits())).toMatchObject({
      retention: 'limits',
      max_age: 14 * DAY_NS,
      max_bytes: 32 * MiB,
    })
  })

  it('the default limits are the sizes they say, positive and exact', () => {
    expect(DEFAULT_STREAM_LIMITS.maxBytes).toEqual({
      requests: 4096 * MiB,
      payloads: 2048 * MiB,
      host: 2048 * MiB,
      review: 512 * MiB,
    })
    for (const spec of Object.values(STREAMS))
      expect(streamConfig(spec, DEFAULT_STREAM_LIMITS).max_bytes).toBeGreaterThan(0)
  })
})

describe('ensureStreams against nats-server', () => {
  let nats: RunningNats
  let nc: NatsConnection
  let jsm: JetStreamManager

  beforeAll(async () => {
    nats = await startNats()
    nc = await connect({ servers: nats.url })
    jsm = await jetstreamManager(nc)
  })
  afterAll(async () => {
    await nc?.close()
    await nats?.stop()
  })
  beforeEach(async () => {
    for await (const name of jsm.streams.names()) await jsm.streams.delete(name)
  })
  afterEach(async () => {
    for await (const name of jsm.streams.names()) await jsm.streams.delete(name)
  })

  it('creates the four streams with the contract’s settings', async () => {
    const l = limits()
    const out = await ensureStreams(jsm, l)
    expect(out).toEqual(NAMES.map((name) => ({ name, action: 'created', changed: [] })))
    for (const spec of Object.values(STREAMS)) {
      const { config } = await jsm.streams.info(spec.name)
      expect(config.subjects).toEqual([`${spec.prefix}.*`])
      expect(config.retention).toBe(spec.retention)
      expect(config.storage).toBe('file')
      expect(config.discard).toBe('old')
      expect(config.max_age).toBe(spec.maxAgeDays * DAY_NS)
      expect(config.max_bytes).toBe(l.maxBytes[spec.key])
      expect(config.duplicate_window).toBe(nanos(60_000))
      expect(config.num_replicas).toBe(1)
    }
    expect((await jsm.streams.info('MESH_REVIEW')).config.retention).toBe('workqueue')
  })

  it('reports a second call as unchanged', async () => {
    await ensureStreams(jsm, limits())
    expect(await ensureStreams(jsm, limits())).toEqual(
      NAMES.map((name) => ({ name, action: 'unchanged', changed: [] })),
    )
  })

  it('creates the default limits as they are, and then leaves them alone', async () => {
    await ensureStreams(jsm, DEFAULT_STREAM_LIMITS)
    for (const spec of Object.values(STREAMS))
      expect((await jsm.streams.info(spec.name)).config.max_bytes).toBe(DEFAULT_STREAM_LIMITS.maxBytes[spec.key])
    expect((await ensureStreams(jsm, DEFAULT_STREAM_LIMITS)).map((o) => o.action)).toEqual([
      'unchanged',
      'unchanged',
      'unchanged',
      'unchanged',
    ])
  })

  it('updates max_bytes and the duplicate window in place, keeping the messages', async () => {
    await ensureStreams(jsm, limits())
    const js = jetstream(nc)
    await js.publish(subjectOf('requests', 'credit-risk'), new TextEncoder().encode('{}'), { msgID: 'keep-me' })
    const l = limits({ duplicateWindowS: 30, maxBytes: { ...limits().maxBytes, requests: 128 * MiB } })
    const out = await ensureStreams(jsm, l)
    expect(out).toEqual([
      { name: 'MESH_REQUESTS', action: 'updated', changed: ['max_bytes', 'duplicate_window'] },
      { name: 'MESH_PAYLOADS', action: 'updated', changed: ['duplicate_window'] },
      { name: 'MESH_HOST', action: 'updated', changed: ['duplicate_window'] },
      { name: 'MESH_REVIEW', action: 'updated', changed: ['duplicate_window'] },
    ])
    const requests = await jsm.streams.info('MESH_REQUESTS')
    expect(requests.config.max_bytes).toBe(128 * MiB)
    expect(requests.config.duplicate_window).toBe(30e9)
    expect(requests.state.messages).toBe(1)
    expect((await jsm.streams.info('MESH_HOST')).config).toMatchObject({ max_bytes: 16 * MiB, duplicate_window: 30e9 })
    expect((await ensureStreams(jsm, l)).every((o) => o.action === 'unchanged')).toBe(true)
  })

  it('refuses a stream with a retention JetStream cannot change, naming the stream, the field and what to do', async () => {
    await jsm.streams.add({ ...streamConfig(STREAMS.review, limits()), retention: RetentionPolicy.Limits })
    const err = await ensureStreams(jsm, limits()).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(Error)
    const message = (err as Error).message
    expect(message).toContain('MESH_REVIEW')
    expect(message).toContain('retention=limits')
    expect(message).toContain('retention=workqueue')
    expect(message).toContain('nats stream rm MESH_REVIEW')
    // Left as it was.
    expect((await jsm.streams.info('MESH_REVIEW')).config.retention).toBe('limits')
  })

  it('refuses a stream with another storage the same way', async () => {
    await jsm.streams.add({ ...streamConfig(STREAMS.host, limits()), storage: StorageType.Memory })
    await expect(ensureStreams(jsm, limits())).rejects.toThrow(
      /stream MESH_HOST exists with storage=memory, but the mesh wants storage=file.*nats stream rm MESH_HOST/,
    )
  })

  it('missingStreams lists exactly the missing ones', async () => {
    expect(await missingStreams(jsm)).toEqual(NAMES)
    await ensureStreams(jsm, limits())
    expect(await missingStreams(jsm)).toEqual([])
    await jsm.streams.delete('MESH_PAYLOADS')
    await jsm.streams.delete('MESH_REVIEW')
    expect(await missingStreams(jsm)).toEqual(['MESH_PAYLOADS', 'MESH_REVIEW'])
    const out = await ensureStreams(jsm, limits())
    expect(out.map((o) => [o.name, o.action])).toEqual([
      ['MESH_REQUESTS', 'unchanged'],
      ['MESH_PAYLOADS', 'created'],
      ['MESH_HOST', 'unchanged'],
      ['MESH_REVIEW', 'created'],
    ])
  })

  it('stores a message published twice with the same id within the window once', async () => {
    await ensureStreams(jsm, limits())
    const js = jetstream(nc)
    const subject = subjectOf('host', 'credit-risk')
    const data = new TextEncoder().encode('{"kind":"host_saturation"}')
    const first = await js.publish(subject, data, { msgID: 'agent.boot.1' })
    const again = await js.publish(subject, data, { msgID: 'agent.boot.1' })
    const other = await js.publish(subject, data, { msgID: 'agent.boot.2' })
    expect(first.duplicate).toBe(false)
    expect(again.duplicate).toBe(true)
    expect(again.seq).toBe(first.seq)
    expect(other.duplicate).toBe(false)
    expect((await jsm.streams.info('MESH_HOST')).state.messages).toBe(2)
  })
})

/**
 * A TCP relay to nats-server that drops the first client connection that
 * sends a stream update request, before the request reaches the server: the
 * update fails as it does when NATS restarts under it (no answer, then a
 * reconnect), and only that once.
 */
async function relayCuttingFirstUpdate(
  natsPort: number,
): Promise<{ url: string; cuts: () => number; close: () => Promise<void> }> {
  let cuts = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = createConnection(natsPort, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s)).on('error', () => {})
    }
    upstream.pipe(client)
    client.on('data', (chunk: Buffer) => {
      if (cuts === 0 && chunk.includes('$JS.API.STREAM.UPDATE.')) {
        cuts++
        client.destroy()
        upstream.destroy()
        return
      }
      upstream.write(chunk)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `nats://127.0.0.1:${(server.address() as { port: number }).port}`,
    cuts: () => cuts,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((r) => server.close(r))
    },
  }
}

describe('the collector starting its ingest against nats-server', () => {
  let nats: RunningNats
  let dir: string
  beforeAll(async () => {
    nats = await startNats()
    dir = await mkdtemp(join(tmpdir(), 'streams-'))
  })
  afterAll(async () => {
    await nats?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('tries the update again and comes up, rather than stopping as if JetStream had refused it', async () => {
    const nc = await connect({ servers: nats.url })
    const jsm = await jetstreamManager(nc)
    await ensureStreams(jsm, limits())
    const relay = await relayCuttingFirstUpdate(nats.port)
    const logs: string[] = []
    const wanted = limits({ maxBytes: { ...limits().maxBytes, requests: 96 * MiB } })
    const collector = await startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: relay.url,
      storeDir: join(dir, 'store'),
      models: ['credit-risk'],
      streams: wanted,
      log: (level, msg, fields) => logs.push(`${level} ${msg} ${JSON.stringify(fields?.changed ?? [])}`),
    })
    try {
      await collector.ready
      expect(relay.cuts()).toBe(1)
      expect((await jsm.streams.info('MESH_REQUESTS')).config.max_bytes).toBe(96 * MiB)
      expect(logs.filter((l) => l.startsWith('error'))).toEqual([])
      expect(logs).toContain('info stream MESH_REQUESTS updated ["max_bytes"]')
    } finally {
      await collector.close()
      await relay.close()
      await nc.close()
    }
  })

  it('a second collector (another name) on the same model comes up, leaving the review work queue to the first', async () => {
    const logs: Record<string, string[]> = { first: [], second: [] }
    const start = (name: string) =>
      startCollector({
        name,
        address: '127.0.0.1',
        port: 0,
        natsUrl: nats.url,
        storeDir: join(dir, `store-${name}`),
        models: ['credit-risk'],
        streams: limits(),
        log: (level, msg, fields) => logs[name]!.push(`${level} ${msg} ${String(fields?.filter ?? '')}`),
      })
    const first = await start('first')
    await first.ready
    const second = await start('second')
    try {
      await second.ready
      // JetStream's answer (err_code 10100, a filtered consumer not unique on a work queue) is what the collector recognises.
      expect(
        logs.second!.filter(
          (l) =>
            l ===
            'warn review queue read by another collector: this one lists none of its items mesh.review.credit-risk',
        ),
      ).toHaveLength(1)
    } finally {
      await second.close()
      await first.close()
    }
  })
})

describe('a batch an agent publishes again past the duplicate window', () => {
  let nats: RunningNats
  let dir: string
  beforeAll(async () => {
    nats = await startNats()
    dir = await mkdtemp(join(tmpdir(), 'exactly-once-'))
  })
  afterAll(async () => {
    await nats?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('is stored again by JetStream, and counted once by the collector, across its restart', async () => {
    const nc = await connect({ servers: nats.url })
    const jsm = await jetstreamManager(nc)
    const js = jetstream(nc)
    // A one-second window: what a long partition is to the default two minutes.
    const streams = limits({ duplicateWindowS: 1 })
    const start = () =>
      startCollector({
        address: '127.0.0.1',
        port: 0,
        natsUrl: nats.url,
        storeDir: join(dir, 'store'),
        models: ['credit-risk'],
        streams,
        log: () => {},
      })
    const counted = async (url: string) =>
      metricSum(await (await fetch(`${url}/metrics`)).text(), 'mesh_requests_total', { route: 'credit-risk' })
    const subject = subjectOf('requests', 'credit-risk')
    const batch = (n: number) => new TextEncoder().encode(ndjson(Array.from({ length: n }, () => requestEvent())))

    let collector = await start()
    try {
      await collector.ready
      await js.publish(subject, batch(3), { msgID: messageId('agent-n3', 'k1', 1) })
      await eventually(
        () => counted(collector.url),
        (n) => n === 3,
      )
    } finally {
      await collector.close()
    }
    // The agent's spool, replayed after the window: JetStream takes the batch again, beside a new one.
    await new Promise((r) => setTimeout(r, 1500))
    const again = await js.publish(subject, batch(3), { msgID: messageId('agent-n3', 'k1', 1) })
    expect(again.duplicate).toBe(false)
    await js.publish(subject, batch(2), { msgID: messageId('agent-n3', 'k1', 2) })
    // Another start of the same agent counts from 1 again: its own.
    await js.publish(subject, batch(1), { msgID: messageId('agent-n3', 'k2', 1) })
    expect((await jsm.streams.info('MESH_REQUESTS')).state.messages).toBe(4)

    collector = await start()
    try {
      await collector.ready
      await eventually(
        () => counted(collector.url),
        (n) => n === 6,
      )
      await new Promise((r) => setTimeout(r, 1500))
      expect(await counted(collector.url)).toBe(6)
      expect(
        metricSum(await (await fetch(`${collector.url}/metrics`)).text(), 'mesh_collector_messages_skipped_total'),
      ).toBe(1)
    } finally {
      await collector.close()
      await nc.close()
    }
  })
})
