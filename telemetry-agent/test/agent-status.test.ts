/**
 * The agent's GET /status against its own /metrics, with a real agent and
 * a real nats-server: events spool while NATS is down (spooled, waiting,
 * an oldest age), drops count by reason, and once NATS is back the spool
 * drains (published, replayed). And contracts' agentStatus client (the collector's):
 * an answer, an agent that is not there, one that does not answer in time.
 */
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { createServer, type Server } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { freePorts } from '@model-mesh/testkit/ports'
import { startAgent, type RunningAgent } from '../agent.ts'
import { agentStatus, DEFAULT_STREAM_LIMITS, ensureStreams, type AgentStatus } from '@model-mesh/contracts'
import {
  AGENT_TEST_TOKEN,
  eventually,
  metrics,
  metricSum,
  ndjson,
  post,
  requestEvent,
} from '@model-mesh/testkit/events'

const status = async (url: string) => (await (await fetch(`${url}/status`)).json()) as AgentStatus

/** Every /status field against the /metrics sample it reports. */
function expectMatchesMetrics(s: AgentStatus, text: string): void {
  expect(s.nats_connected).toBe(metricSum(text, 'mesh_agent_nats_connected') === 1)
  expect(s.received).toBe(metricSum(text, 'mesh_agent_events_received_total'))
  expect(s.published).toBe(metricSum(text, 'mesh_agent_events_published_total'))
  expect(s.spooled).toBe(metricSum(text, 'mesh_agent_events_spooled_total'))
  expect(s.replayed).toBe(metricSum(text, 'mesh_agent_events_replayed_total'))
  for (const reason of [
    'spool_full',
    'too_large',
    'body_too_large',
    'overloaded',
    'body_timeout',
    'malformed',
    'unknown_kind',
  ])
    expect(s.dropped[reason]).toBe(metricSum(text, 'mesh_agent_events_dropped_total', { reason }))
  expect(s.spool_events).toBe(metricSum(text, 'mesh_agent_spool_events'))
  expect(s.spool_bytes).toEqual({
    memory: metricSum(text, 'mesh_agent_spool_bytes', { tier: 'memory' }),
    disk: metricSum(text, 'mesh_agent_spool_bytes', { tier: 'disk' }),
  })
  // A gauge of time: read a moment apart.
  expect(
    Math.abs(s.oldest_unpublished_age_s - metricSum(text, 'mesh_agent_oldest_unpublished_age_seconds')),
  ).toBeLessThan(1)
}

describe('agent GET /status', () => {
  let nats: RunningNats
  let agent: RunningAgent
  let dir: string
  beforeAll(async () => {
    nats = await startNats()
    const nc = await connect({ servers: nats.url })
    await ensureStreams(await jetstreamManager(nc), DEFAULT_STREAM_LIMITS)
    await nc.close()
    dir = await mkdtemp(join(tmpdir(), 'agent-status-'))
    agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'status-test',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: ['credit-risk'],
      spool: { dir: join(dir, 'spool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
  })
  afterAll(async () => {
    await agent?.close()
    await nats?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('reports what /metrics does: published while NATS is up, spooled while it is down, replayed once it is back', async () => {
    await eventually(
      () => status(agent.url),
      (s) => s.nats_connected,
    )
    expect(
      (
        await post(
          agent.url,
          ndjson([...Array.from({ length: 20 }, () => requestEvent()), 'not json', { kind: 'nope' }]),
        )
      ).status,
    ).toBe(202)
    const up = await eventually(
      () => status(agent.url),
      (s) => s.published === 20,
    )
    expect(up).toMatchObject({
      id: 'status-test',
      nats_connected: true,
      received: 22,
      spooled: 0,
      spool_events: 0,
      oldest_unpublished_age_s: 0,
    })
    expect(up.dropped).toEqual({
      spool_full: 0,
      too_large: 0,
      body_too_large: 0,
      overloaded: 0,
      body_timeout: 0,
      malformed: 1,
      unknown_kind: 1,
    })
    expectMatchesMetrics(up, await metrics(agent.url))

    await nats.kill()
    await eventually(
      () => status(agent.url),
      (s) => !s.nats_connected,
    )
    expect((await post(agent.url, ndjson(Array.from({ length: 30 }, () => requestEvent())))).status).toBe(202)
    await new Promise((r) => setTimeout(r, 1100))
    const down = await status(agent.url)
    expect(down).toMatchObject({ nats_connected: false, received: 52, published: 20, spooled: 30, spool_events: 30 })
    expect(down.spool_bytes.disk).toBeGreaterThan(0)
    expect(down.spool_bytes.memory).toBeGreaterThan(0)
    expect(down.oldest_unpublished_age_s).toBeGreaterThan(1)
    expectMatchesMetrics(down, await metrics(agent.url))

    await nats.restart()
    const back = await eventually(
      () => status(agent.url),
      (s) => s.spool_events === 0 && s.published === 50,
      30_000,
    )
    expect(back).toMatchObject({ nats_connected: true, spooled: 30, replayed: 30, oldest_unpublished_age_s: 0 })
    // Memory lets go at once; the open segment file stays on disk until the spool rotates it.
    expect(back.spool_bytes.memory).toBe(0)
    expectMatchesMetrics(back, await metrics(agent.url))
  }, 60_000)

  it("is what the collector's agentStatus returns, with the URL; an agent not there or too slow is an error, not a throw", async () => {
    const s = await agentStatus(agent.url)
    expect(s).toMatchObject({ url: agent.url, id: 'status-test', received: 52 })
    const [port] = await freePorts(1)
    const gone = await agentStatus(`http://127.0.0.1:${port}`)
    expect(gone).toEqual({ url: `http://127.0.0.1:${port}`, error: expect.stringMatching(/ECONNREFUSED/) })
    // A server that takes the connection and never answers.
    const silent: Server = createServer(() => {})
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`
    const started = Date.now()
    expect(await agentStatus(url, 200)).toEqual({ url, error: 'no answer within 200 ms' })
    expect(Date.now() - started).toBeLessThan(2000)
    silent.closeAllConnections()
    await new Promise<void>((r) => silent.close(() => r()))
    // Something else answering: not taken for an agent.
    const other: Server = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
    )
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r))
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`
    expect(await agentStatus(otherUrl)).toEqual({ url: otherUrl, error: "/status: not a telemetry agent's status" })
    await new Promise<void>((r) => other.close(() => r()))
  })
})
