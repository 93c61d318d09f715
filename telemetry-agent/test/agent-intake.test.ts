/**
 * What the real agent lets in, over real HTTP with a real nats-server:
 * only batches with the node's telemetry credential (forged ones get 401,
 * are counted and never reach NATS), and request bodies within one budget
 * across connections (the excess gets 503 and is counted, the process's
 * peak memory stays bounded, and a body that does not arrive by its deadline
 * loses its connection).
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { connect as natsConnect, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { request, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { startAgent, type AgentOptions, type RunningAgent } from '../agent.ts'
import { DEFAULT_STREAM_LIMITS, ensureStreams } from '@model-mesh/contracts'
import {
  AGENT_TEST_TOKEN,
  eventually,
  metrics,
  metricSum,
  ndjson,
  post,
  requestEvent,
} from '@model-mesh/testkit/events'

/** The process's peak resident memory so far (VmHWM), bytes: a peak no sampling can miss. */
async function peakRss(): Promise<number> {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(await readFile('/proc/self/status', 'utf8'))
  return Number(kb![1]) * 1024
}

describe('telemetry agent intake', () => {
  let nats: RunningNats
  let nc: NatsConnection
  let dir: string
  const agents: RunningAgent[] = []
  const start = async (o: Partial<AgentOptions> = {}) => {
    const agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: `intake-${agents.length}`,
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: ['credit-risk'],
      spool: { dir: join(dir, `spool-${agents.length}`), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
      ...o,
    })
    agents.push(agent)
    return agent
  }

  beforeAll(async () => {
    nats = await startNats()
    nc = await natsConnect({ servers: nats.url })
    await ensureStreams(await jetstreamManager(nc), DEFAULT_STREAM_LIMITS)
    dir = await mkdtemp(join(tmpdir(), 'agent-intake-'))
  })
  afterAll(async () => {
    for (const a of agents) await a.close()
    await nc?.close()
    await nats?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('refuses events without the node credential: 401, counted, nothing received or published', async () => {
    const agent = await start()
    const seen: string[] = []
    const sub: Subscription = nc.subscribe('mesh.>', { callback: (_e, m) => void seen.push(m.subject) })
    const forged = ndjson(
      Array.from({ length: 300 }, () => requestEvent({ variant: 'canary', version: '2', status: 503 })),
    )
    const answers = [
      await post(agent.url, forged, 'envoy:gateway', null),
      await post(agent.url, forged, 'envoy:gateway', 'not-the-token-0123456789abcdef'),
      await post(agent.url, forged, 'envoy:gateway', `${AGENT_TEST_TOKEN}x`),
      await fetch(`${agent.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`u:${AGENT_TEST_TOKEN}`).toString('base64')}` },
        body: forged,
      }),
    ]
    for (const res of answers) {
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
      expect(((await res.json()) as { error: string }).error).toMatch(/^authorization: /)
    }
    // The real credential still works, and only its one event is published.
    expect((await post(agent.url, ndjson([requestEvent()]))).status).toBe(202)
    const text = await eventually(
      () => metrics(agent.url),
      (t) => metricSum(t, 'mesh_agent_events_published_total') === 1,
    )
    expect(metricSum(text, 'mesh_agent_requests_refused_total', { reason: 'unauthorized' })).toBe(4)
    expect(metricSum(text, 'mesh_agent_events_received_total')).toBe(1)
    await nc.flush()
    sub.unsubscribe()
    expect(seen).toEqual(['mesh.requests.credit-risk'])
  })

  it('answers 503 to bodies beyond its budget across connections, counts them, and its memory stays bounded', async () => {
    // The defaults (8 MiB a body, 32 MiB held in all): 40 bodies just under 8 MiB, the issue's attack at today's limit.
    const agent = await start()
    const size = (8 << 20) - (64 << 10)
    const chunk = Buffer.alloc(1 << 20, 'x')
    const before = await peakRss()
    const statuses: number[] = []
    const sends = Array.from({ length: 40 }, () => {
      const req = request(`${agent.url}/v1/events`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${AGENT_TEST_TOKEN}`,
          'content-length': String(size),
          'x-event-count': '100',
        },
      })
      const answered = new Promise<number>((resolve, reject) => {
        req.once('response', (res: IncomingMessage) => {
          statuses.push(res.statusCode!)
          res.resume()
          res.once('end', () => resolve(res.statusCode!))
        })
        req.once('error', reject)
      })
      // Headers and the first MiB of every body, so all 40 are in flight together.
      req.flushHeaders()
      req.write(chunk)
      return { req, answered }
    })
    // Each body declares its length, so the agent refuses those that cannot fit at once, before reading them.
    await eventually(
      async () => statuses.length,
      (n) => n >= 36,
      30_000,
    )
    expect(statuses.every((s) => s === 503)).toBe(true)
    // Then every body is sent whole: the refused ones are read and thrown away, the others taken.
    for (const { req } of sends) {
      for (let sent = chunk.length; sent < size; sent += chunk.length)
        req.write(chunk.subarray(0, Math.min(chunk.length, size - sent)))
      req.end()
    }
    const final = await Promise.all(sends.map((s) => s.answered))
    const refused = final.filter((s) => s === 503).length
    expect(final.filter((s) => s === 202).length).toBe(40 - refused)
    expect(refused).toBeGreaterThanOrEqual(36)
    const text = await metrics(agent.url)
    expect(metricSum(text, 'mesh_agent_requests_refused_total', { reason: 'overloaded' })).toBe(refused)
    expect(metricSum(text, 'mesh_agent_events_dropped_total', { reason: 'overloaded' })).toBe(100 * refused)
    // Taken bodies are one malformed line each (x… is no JSON).
    expect(metricSum(text, 'mesh_agent_events_received_total')).toBe(40 - refused)
    // 40 bodies held at once would be 320 MiB and more; the budget holds 32 MiB (plus the copies of the ones taken).
    expect((await peakRss()) - before).toBeLessThan(200 << 20)
  })

  it('closes the connection of a body that has not arrived by its deadline, and counts it', async () => {
    const agent = await start({ bodyTimeoutMs: 500 })
    const socket = connect(agent.port, '127.0.0.1')
    let answer = ''
    socket.on('data', (d) => (answer += d))
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.write(
      `POST /v1/events HTTP/1.1\r\nhost: agent\r\nauthorization: Bearer ${AGENT_TEST_TOKEN}\r\ncontent-length: 100000\r\nx-event-count: 7\r\n\r\n{"v":1`,
    )
    // Node's own request timeout is 300 s: without the deadline this would wait for it.
    const outcome = await Promise.race([
      closed.then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('still open'), 15_000)),
    ])
    expect(outcome).toBe('closed')
    expect(answer).toBe('')
    const text = await metrics(agent.url)
    expect(metricSum(text, 'mesh_agent_requests_refused_total', { reason: 'body_timeout' })).toBe(1)
    expect(metricSum(text, 'mesh_agent_events_dropped_total', { reason: 'body_timeout' })).toBe(7)
    // The agent still serves.
    expect((await post(agent.url, ndjson([requestEvent()]))).status).toBe(202)
  })

  it("gives a body's share of the budget back at once when its sender goes away mid-body, without counting it as refused", async () => {
    const agent = await start({ maxBodiesInFlight: 1 })
    const socket = connect(agent.port, '127.0.0.1')
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    socket.write(
      `POST /v1/events HTTP/1.1\r\nhost: agent\r\nauthorization: Bearer ${AGENT_TEST_TOKEN}\r\ncontent-length: 100000\r\n\r\n{"v":1`,
    )
    // The one slot is taken while the body is awaited...
    await eventually(
      async () => (await post(agent.url, ndjson([requestEvent()]))).status,
      (s) => s === 503,
    )
    socket.destroy()
    // ...and free again once its sender has gone, long before the 10 s deadline.
    await eventually(
      async () => (await post(agent.url, ndjson([requestEvent()]))).status,
      (s) => s === 202,
      5000,
    )
    // Not a refusal: the sender left (it counts its own loss).
    const text = await metrics(agent.url)
    expect(metricSum(text, 'mesh_agent_requests_refused_total', { reason: 'body_timeout' })).toBe(0)
    expect(metricSum(text, 'mesh_agent_events_dropped_total', { reason: 'body_timeout' })).toBe(0)
  })

  it('answers 408 and closes a connection whose headers do not arrive in time', async () => {
    const agent = await start({ headersTimeoutMs: 1000 })
    const socket = connect(agent.port, '127.0.0.1')
    let answer = ''
    socket.on('data', (d) => (answer += d))
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.write(`POST /v1/events HTTP/1.1\r\nhost: agent\r\n`)
    // Node's default is 60 s.
    const outcome = await Promise.race([
      closed.then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('still open'), 15_000)),
    ])
    expect(outcome).toBe('closed')
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
  })
})
