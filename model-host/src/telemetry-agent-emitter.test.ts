/**
 * AgentEmitter against a real HTTP receiver on loopback (a stand-in for the
 * telemetry agent, which is tested on its own): the wire format, batching,
 * one POST at a time, the buffer bound, and every way a POST can fail.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeLine, HOST_EVENT_VERSION, type HostEvent, type HostFallbackEvent } from '@model-mesh/contracts'
import { AgentEmitter, encodeBatch, type AgentEmitterOptions } from './telemetry-agent-emitter.ts'

interface Post {
  path: string
  headers: IncomingHttpHeaders
  lines: string[]
}

type Mode = 'ok' | 'refuse' | 'hold'

/** A receiver that records each POST and answers 204, 500, or only when the test releases it. */
async function receiver(mode: Mode = 'ok') {
  const posts: Post[] = []
  const held: ServerResponse[] = []
  let inFlight = 0
  let maxInFlight = 0
  const server: Server = createServer((req, res) => {
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    res.once('close', () => inFlight--)
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      posts.push({ path: req.url!, headers: req.headers, lines: body.split('\n').filter(Boolean) })
      if (r.mode === 'hold') held.push(res)
      else res.writeHead(r.mode === 'ok' ? 204 : 500).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const r = {
    mode,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    get maxInFlight() {
      return maxInFlight
    },
    /** Answers the oldest held POST with 204. */
    release() {
      held.shift()?.writeHead(204).end()
    },
    events: () => posts.flatMap((p) => p.lines.map((l) => JSON.parse(l) as HostEvent)),
    close: () => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return r
}

const fallback = (i: number): HostFallbackEvent => ({
  v: HOST_EVENT_VERSION,
  kind: 'host_fallback',
  ts: 1_700_000_000_000 + i,
  host: 'h1',
  model: 'credit-risk',
  version: '1',
  request_id: `r${i}`,
  traceparent: '',
  fallback_model: 'credit-risk-fallback',
  reason: 'queue_full',
  kept: ['fallback'],
})

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const until = performance.now() + ms
  while (!check()) {
    if (performance.now() > until) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})
async function setup(mode: Mode, options: Partial<AgentEmitterOptions> = {}) {
  const agent = await receiver(mode)
  const emitter = new AgentEmitter({ url: agent.url, hostName: () => 'h1', ...options })
  // The receiver goes first, so closing an emitter stuck on it does not wait out its bound.
  cleanups.push(
    () => emitter.close(),
    () => agent.close(),
  )
  return { agent, emitter }
}

describe('AgentEmitter', () => {
  it('posts v3 events as NDJSON that the contract decoder accepts, with the source and count headers', async () => {
    const { agent, emitter } = await setup('ok', { flushIntervalMs: 10 })
    const events: HostEvent[] = [
      {
        v: HOST_EVENT_VERSION,
        kind: 'host_batch',
        ts: 1,
        host: 'h1',
        model: 'm',
        version: '1',
        batch_id: 'm/1/1',
        request_ids: ['a', 'b'],
        traceparents: ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', ''],
        rows: 3,
        max_batch_rows: 8,
        queue_wait_ms: 0.5,
        execution_ms: 1.25,
        queue_depth: 0,
        device: 'cpu',
        ok: false,
        kept: ['failed'],
      },
      fallback(1),
      {
        v: HOST_EVENT_VERSION,
        kind: 'host_saturation',
        ts: 2,
        host: 'h1',
        model: 'm',
        version: '1',
        queue_depth: 4,
        busy_instances: 1,
        instances: 2,
      },
    ]
    for (const e of events) emitter.emit(e)
    await waitFor(() => emitter.counters.sent === 3)
    expect(agent.posts).toHaveLength(1)
    const post = agent.posts[0]!
    expect(post.path).toBe('/v1/events')
    expect(post.headers).toMatchObject({
      'content-type': 'application/x-ndjson',
      'x-mesh-source': 'host:h1',
      'x-event-count': '3',
    })
    expect(post.lines.map((l) => decodeLine(l))).toEqual(events.map((event) => ({ ok: true, event })))
    expect(emitter.counters).toEqual({
      emitted: 3,
      sent: 3,
      dropped: { buffer_full: 0, agent_unreachable: 0, agent_refused: 0, timeout: 0 },
      buffered: 0,
      inFlight: 0,
    })
  })

  it('shows the node credential to the agent as a bearer token when given one, and none otherwise', async () => {
    const { agent, emitter } = await setup('ok', { flushIntervalMs: 10, token: 'node-telemetry-credential-1234' })
    emitter.emit(fallback(1))
    await waitFor(() => emitter.counters.sent === 1)
    expect(agent.posts[0]!.headers.authorization).toBe('Bearer node-telemetry-credential-1234')
    const plain = await setup('ok', { flushIntervalMs: 10 })
    plain.emitter.emit(fallback(2))
    await waitFor(() => plain.emitter.counters.sent === 1)
    expect(plain.agent.posts[0]!.headers.authorization).toBeUndefined()
  })

  it('sends a full batch at once, without waiting for the timer', async () => {
    const { agent, emitter } = await setup('ok', { maxBatchEvents: 10, flushIntervalMs: 60_000 })
    for (let i = 0; i < 25; i++) emitter.emit(fallback(i))
    await waitFor(() => emitter.counters.sent === 20)
    await sleep(50)
    expect(agent.posts.map((p) => p.headers['x-event-count'])).toEqual(['10', '10'])
    expect(emitter.counters).toMatchObject({ sent: 20, buffered: 5 })
    // close sends the rest
    await emitter.close()
    expect(agent.posts.map((p) => p.lines.length)).toEqual([10, 10, 5])
    expect(agent.events().map((e) => (e as HostFallbackEvent).request_id)).toEqual(
      Array.from({ length: 25 }, (_, i) => `r${i}`),
    )
  })

  it('sends a partial batch when the timer fires', async () => {
    const { agent, emitter } = await setup('ok', { maxBatchEvents: 500, flushIntervalMs: 150 })
    const t0 = performance.now()
    for (let i = 0; i < 3; i++) emitter.emit(fallback(i))
    await sleep(50)
    expect(agent.posts).toHaveLength(0)
    await waitFor(() => emitter.counters.sent === 3)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(100)
    expect(agent.posts.map((p) => p.lines.length)).toEqual([3])
  })

  it('keeps at most one POST in flight; later events wait in the buffer', async () => {
    const { agent, emitter } = await setup('hold', { maxBatchEvents: 5, flushIntervalMs: 10 })
    for (let i = 0; i < 20; i++) emitter.emit(fallback(i))
    await waitFor(() => agent.posts.length === 1)
    await sleep(100) // many timer ticks: none may start a second POST
    expect(agent.posts).toHaveLength(1)
    expect(emitter.counters).toMatchObject({ sent: 0, inFlight: 5, buffered: 15 })
    for (let n = 1; n <= 4; n++) {
      await waitFor(() => agent.posts.length === n)
      agent.release()
    }
    await waitFor(() => emitter.counters.sent === 20)
    expect(agent.maxInFlight).toBe(1)
    expect(agent.posts.map((p) => p.lines.length)).toEqual([5, 5, 5, 5])
  })

  it('drops the newest events past the buffer bound and counts them as buffer_full', async () => {
    const { agent, emitter } = await setup('hold', {
      maxBufferedEvents: 100,
      maxBatchEvents: 1000,
      flushIntervalMs: 10,
    })
    for (let i = 0; i < 150; i++) emitter.emit(fallback(i))
    expect(emitter.counters).toMatchObject({ emitted: 150, buffered: 100, dropped: { buffer_full: 50 } })
    await waitFor(() => agent.posts.length === 1)
    agent.release()
    await waitFor(() => emitter.counters.sent === 100)
    // The oldest 100 went out; the 50 that arrived on a full buffer did not.
    expect(agent.events().map((e) => (e as HostFallbackEvent).request_id)).toEqual(
      Array.from({ length: 100 }, (_, i) => `r${i}`),
    )
  })

  it('drops a batch the agent cannot be reached for, counting agent_unreachable, and never retries', async () => {
    const closed = await receiver()
    await closed.close() // nothing listens on its port any more
    const emitter = new AgentEmitter({ url: closed.url, hostName: () => 'h1', flushIntervalMs: 10 })
    cleanups.push(() => emitter.close())
    for (let i = 0; i < 7; i++) emitter.emit(fallback(i))
    await waitFor(() => emitter.counters.dropped.agent_unreachable === 7)
    await sleep(50)
    expect(emitter.counters).toMatchObject({
      emitted: 7,
      sent: 0,
      buffered: 0,
      inFlight: 0,
      dropped: { agent_unreachable: 7 },
    })
  })

  it('drops a batch Node cannot even send (a host name unfit for a header), and keeps going', async () => {
    const { agent, emitter } = await setup('ok', { flushIntervalMs: 10, hostName: () => 'bad\nname' })
    emitter.emit(fallback(0))
    await waitFor(() => emitter.counters.dropped.agent_unreachable === 1)
    emitter.emit(fallback(1))
    await waitFor(() => emitter.counters.dropped.agent_unreachable === 2)
    expect(agent.posts).toHaveLength(0)
  })

  it('drops a batch the agent answers with 500, counting agent_refused', async () => {
    const { agent, emitter } = await setup('refuse', { flushIntervalMs: 10 })
    for (let i = 0; i < 4; i++) emitter.emit(fallback(i))
    await waitFor(() => emitter.counters.dropped.agent_refused === 4)
    await sleep(50)
    expect(agent.posts).toHaveLength(1) // not retried
    expect(emitter.counters).toMatchObject({ sent: 0, buffered: 0 })
  })

  it('abandons a POST the agent never answers after the timeout, counting timeout', async () => {
    const { agent, emitter } = await setup('hold', { flushIntervalMs: 10, timeoutMs: 200 })
    emitter.emit(fallback(0))
    emitter.emit(fallback(1))
    await waitFor(() => agent.posts.length === 1)
    const t0 = performance.now()
    await waitFor(() => emitter.counters.dropped.timeout === 2)
    expect(performance.now() - t0).toBeGreaterThan(100)
    // The next batch goes out on a new POST.
    emitter.emit(fallback(2))
    await waitFor(() => agent.posts.length === 2)
  })

  it('returns from emit at once and never throws, even with the agent stalled', async () => {
    const { emitter } = await setup('hold', { flushIntervalMs: 10 })
    const event = fallback(0)
    const t0 = performance.now()
    for (let i = 0; i < 100_000; i++) emitter.emit(event)
    const ms = performance.now() - t0
    expect(ms).toBeLessThan(100)
    expect(emitter.counters).toMatchObject({ emitted: 100_000, buffered: 10_000, dropped: { buffer_full: 90_000 } })
  })

  it('on close, gives what is buffered one bounded try', async () => {
    const { agent, emitter } = await setup('hold', { flushIntervalMs: 60_000, closeTimeoutMs: 300 })
    for (let i = 0; i < 3; i++) emitter.emit(fallback(i))
    const t0 = performance.now()
    await emitter.close()
    const ms = performance.now() - t0
    expect(agent.posts.map((p) => p.lines.length)).toEqual([3])
    expect(ms).toBeGreaterThanOrEqual(250)
    expect(ms).toBeLessThan(1000)
  })

  it('encodes one event per line, each ending in a newline', () => {
    expect(encodeBatch([fallback(0), fallback(1)]).split('\n')).toEqual([
      JSON.stringify(fallback(0)),
      JSON.stringify(fallback(1)),
      '',
    ])
    expect(encodeBatch([])).toBe('')
  })
})
