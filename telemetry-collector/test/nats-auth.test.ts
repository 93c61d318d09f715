/**
 * NATS with the mesh's users and permissions (mesh-config/src/nats-auth.ts),
 * a real nats-server run from the rendered config: nobody connects without
 * a credential; the agent's identity publishes telemetry and nothing else
 * (no stream changes, no reading); the collector's keeps its streams and
 * consumers but publishes no telemetry and deletes or purges no stream;
 * the operator's may. And the real agent and collector, each with its own
 * identity, still carry events end to end.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, errors, type NatsConnection } from '@nats-io/transport-node'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_STREAM_LIMITS, ensureStreams, streamConfig, STREAMS } from '@model-mesh/contracts'
import { NATS_ROLES, natsFiles, type NatsRole } from '@model-mesh/mesh-config'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { startAgent, type RunningAgent } from '@model-mesh/telemetry-agent'
import { startCollector, type RunningCollector } from '../collector.ts'
import {
  AGENT_TEST_TOKEN,
  eventually,
  metrics,
  metricSum,
  ndjson,
  post,
  requestEvent,
} from '@model-mesh/testkit/events'

const REQUESTS = STREAMS.requests.name
const SUBJECT = 'mesh.requests.credit-risk'

/** Refused by the server's permissions (nats.js reports a request's as the cause of a RequestError), not a timeout or any other failure. */
const deniedByPermissions = (e: unknown) =>
  e instanceof errors.PermissionViolationError ||
  (e instanceof Error && e.cause instanceof errors.PermissionViolationError)

describe('NATS users and permissions', () => {
  let nats: RunningNats
  const conns: NatsConnection[] = []
  const as = async (role: NatsRole) => {
    const nc = await connect({ servers: nats.url, ...nats.credentials![role], timeout: 2000 })
    conns.push(nc)
    return nc
  }
  const manager = (nc: NatsConnection) => jetstreamManager(nc, { timeout: 2000, checkAPI: false })
  /** Messages in a stream and its config, as the operator sees them. */
  let operator: JetStreamManager
  const requestsState = async () => {
    const info = await operator.streams.info(REQUESTS)
    return { messages: info.state.messages, maxBytes: info.config.max_bytes }
  }

  beforeAll(async () => {
    nats = await startNats({ auth: true })
    operator = await manager(await as('operator'))
  })
  afterAll(async () => {
    for (const nc of conns) await nc.close().catch(() => {})
    await nats?.stop()
  })

  it('keeps each password and the server config in 0600 files', async () => {
    const files = natsFiles(join(nats.storeDir, 'state'))
    for (const f of [files.config, ...NATS_ROLES.map((r) => files.password(r))])
      expect((await stat(f)).mode & 0o777).toBe(0o600)
    const config = await readFile(files.config, 'utf8')
    for (const role of NATS_ROLES) expect(config).toContain(nats.credentials![role].pass)
  })

  it('refuses a connection without a credential or with a wrong one', async () => {
    await expect(connect({ servers: nats.url, timeout: 2000, reconnect: false })).rejects.toBeInstanceOf(
      errors.AuthorizationError,
    )
    await expect(
      connect({
        servers: nats.url,
        user: 'mesh-agent',
        pass: 'not-the-password-0123456789',
        timeout: 2000,
        reconnect: false,
      }),
    ).rejects.toBeInstanceOf(errors.AuthorizationError)
  })

  it('lets the collector create the streams and the agent publish telemetry', async () => {
    const outcomes = await ensureStreams(await manager(await as('collector')), DEFAULT_STREAM_LIMITS)
    expect(outcomes.map((o) => o.action)).toEqual(Object.values(STREAMS).map(() => 'created'))
    const ack = await jetstream(await as('agent'), { timeout: 2000 }).publish(SUBJECT, 'x')
    expect(ack.stream).toBe(REQUESTS)
    expect(await requestsState()).toMatchObject({ messages: 1 })
  })

  it('refuses the agent any stream change or read: delete, update, purge, create, consumers', async () => {
    const before = await requestsState()
    const agent = await as('agent')
    const jsm = await manager(agent)
    await expect(jsm.streams.delete(REQUESTS)).rejects.toSatisfy(deniedByPermissions)
    await expect(jsm.streams.purge(REQUESTS)).rejects.toSatisfy(deniedByPermissions)
    await expect(
      jsm.streams.update(REQUESTS, { ...streamConfig(STREAMS.requests, DEFAULT_STREAM_LIMITS), max_bytes: 1024 }),
    ).rejects.toSatisfy(deniedByPermissions)
    await expect(jsm.streams.add({ name: 'EVIL', subjects: ['evil.>'] })).rejects.toSatisfy(deniedByPermissions)
    await expect(
      jsm.consumers.add(REQUESTS, { durable_name: 'peek', ack_policy: 'explicit' as never }),
    ).rejects.toSatisfy(deniedByPermissions)
    // The raw API subjects, whatever a client library sends.
    for (const subject of [
      `$JS.API.STREAM.DELETE.${REQUESTS}`,
      `$JS.API.STREAM.UPDATE.${REQUESTS}`,
      `$JS.API.STREAM.PURGE.${REQUESTS}`,
    ]) {
      await expect(agent.request(subject, '{}', { timeout: 1000 })).rejects.toSatisfy(deniedByPermissions)
    }
    expect(await requestsState()).toEqual(before)
    expect((await operator.streams.names().next()).includes('EVIL')).toBe(false)
  })

  it('refuses the collector telemetry publishes and stream deletes or purges', async () => {
    const before = await requestsState()
    const collector = await as('collector')
    await expect(jetstream(collector, { timeout: 1000 }).publish(SUBJECT, 'forged')).rejects.toSatisfy(
      deniedByPermissions,
    )
    const jsm = await manager(collector)
    await expect(jsm.streams.delete(REQUESTS)).rejects.toSatisfy(deniedByPermissions)
    await expect(jsm.streams.purge(REQUESTS)).rejects.toSatisfy(deniedByPermissions)
    await expect(collector.request(`$JS.API.STREAM.DELETE.${REQUESTS}`, '{}', { timeout: 1000 })).rejects.toSatisfy(
      deniedByPermissions,
    )
    expect(await requestsState()).toEqual(before)
  })

  it('lets the operator delete a stream', async () => {
    expect(await operator.streams.delete(STREAMS.review.name)).toBe(true)
    await ensureStreams(await manager(await as('collector')), DEFAULT_STREAM_LIMITS)
  })

  describe('the real agent and collector, each with its identity', () => {
    let dir: string
    let agent: RunningAgent
    let collector: RunningCollector
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'nats-auth-'))
      collector = await startCollector({
        address: '127.0.0.1',
        port: 0,
        natsUrl: nats.url,
        natsAuth: nats.credentials!.collector,
        storeDir: join(dir, 'store'),
        models: ['credit-risk'],
        streams: DEFAULT_STREAM_LIMITS,
        log: () => {},
      })
      await collector.ready
      agent = await startAgent({
        token: AGENT_TEST_TOKEN,
        id: 'auth',
        address: '127.0.0.1',
        port: 0,
        natsUrl: nats.url,
        natsAuth: nats.credentials!.agent,
        models: ['credit-risk'],
        spool: { dir: join(dir, 'spool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
        log: () => {},
      })
    })
    afterAll(async () => {
      await agent?.close()
      await collector?.close()
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    it('carry events from the agent to the collector', async () => {
      expect((await post(agent.url, ndjson(Array.from({ length: 5 }, () => requestEvent())))).status).toBe(202)
      await eventually(
        () => metrics(collector.url),
        (t) => metricSum(t, 'mesh_requests_total') === 5,
      )
      expect(metricSum(await metrics(agent.url), 'mesh_agent_publish_failures_total')).toBe(0)
    })
  })
})
