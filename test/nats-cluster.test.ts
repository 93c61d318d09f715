/**
 * The telemetry streams on a real three-node NATS JetStream cluster (one
 * nats-server per network namespace, as the multi-node mesh runs them):
 * created with three replicas, and writable while a member is SIGKILLed or
 * partitioned; a member that comes back catches up. Publishes carry message
 * ids and are retried as the agent retries them, so none lands twice.
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, headers, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_STREAM_LIMITS, ensureStreams, STREAMS, subjectOf } from '@model-mesh/contracts'
import { type RunningNatsCluster, startNatsCluster } from '@model-mesh/testkit/nats-cluster'

const REQUESTS = STREAMS.requests.name

/** Publishes `count` messages with ids `<run>-<i>`, each retried until acknowledged (a leader change fails a publish for a moment). */
async function publishAll(
  js: JetStreamClient,
  run: string,
  count: number,
  during?: (i: number) => Promise<void>,
): Promise<number> {
  let retries = 0
  for (let i = 0; i < count; i++) {
    await during?.(i)
    const h = headers()
    h.set('Nats-Msg-Id', `${run}-${i}`)
    for (;;) {
      try {
        await js.publish(subjectOf('requests', 'credit-risk'), `{"i":${i}}`, { headers: h, timeout: 2000 })
        break
      } catch {
        retries++
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }
  return retries
}

/** The requests stream as the cluster reports it: its messages, and whether `member` holds a current copy (the leader's, or a follower's with no lag). */
async function requestsStream(jsm: JetStreamManager, member: string): Promise<{ messages: number; current: boolean }> {
  const info = await jsm.streams.info(REQUESTS)
  const follower = info.cluster?.replicas?.find((r) => r.name === member)
  return {
    messages: info.state.messages,
    current: info.cluster?.leader === member || (follower?.current === true && !follower.lag),
  }
}

/** What requestsStream says once JetStream answers (a leader election after a member returns takes a moment). */
const settled = (jsm: JetStreamManager, member: string) =>
  requestsStream(jsm, member).catch((e: Error) => ({ error: e.message }))

describe('the telemetry streams on a three-node JetStream cluster', () => {
  let cluster: RunningNatsCluster
  let nc: NatsConnection
  let js: JetStreamClient
  let jsm: JetStreamManager
  let expected = 0

  beforeAll(async () => {
    cluster = await startNatsCluster()
    // Every client is given every server, and pings as the agent does: a server behind a partition sends no
    // reset, so only missed pings tell the client to move to another (nats.js' default would wait minutes).
    nc = await connect({
      servers: cluster.urls.split(','),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 2000,
      maxPingOut: 2,
    })
    js = jetstream(nc)
    jsm = await jetstreamManager(nc)
  }, 120_000)
  afterAll(async () => {
    await nc?.close()
    await cluster?.stop()
  })

  it('creates every stream with three replicas, each with a leader and two current followers', async () => {
    const outcomes = await ensureStreams(jsm, { ...DEFAULT_STREAM_LIMITS, replicas: 3 })
    expect(outcomes.map((o) => o.action)).toEqual(Object.values(STREAMS).map(() => 'created'))
    for (const spec of Object.values(STREAMS)) {
      const info = await jsm.streams.info(spec.name)
      expect(info.config.num_replicas).toBe(3)
      expect(info.cluster?.leader).toMatch(/-n[123]$/)
      expect(info.cluster?.replicas?.length).toBe(2)
    }
    expected += 100
    expect(await publishAll(js, 'steady', 100)).toBe(0)
    expect((await requestsStream(jsm, cluster.members[0]!.node.name)).messages).toBe(expected)
  }, 60_000)

  it("keeps accepting while the stream's leader is SIGKILLed; the member catches up when it returns", async () => {
    // The requests stream's leader: its loss forces an election while publishes go on.
    const leader = (await jsm.streams.info(REQUESTS)).cluster?.leader
    const second = cluster.members.find((m) => m.node.name === leader)
    expect(second).toBeDefined()
    const retries = await publishAll(js, 'kill', 300, async (i) => {
      if (i === 100) await second!.kill()
    })
    expected += 300
    expect(await requestsStream(jsm, second!.node.name)).toEqual({ messages: expected, current: false })
    await second!.restart()
    // Its copy catches up: current, with every message.
    await expect
      .poll(() => settled(jsm, second!.node.name), { timeout: 30_000, interval: 250 })
      .toEqual({ messages: expected, current: true })
    console.log(`[nats-cluster] one member SIGKILLed: ${retries} publishes retried, none lost, none twice`)
  }, 90_000)

  it('keeps accepting while the member its client uses is partitioned, and the healed member agrees on every message', async () => {
    // The member this client is connected to: only missed pings tell the client it is gone.
    const third = cluster.members.find((m) => m.node.name === nc.info?.server_name)!
    expect(third).toBeDefined()
    await third.partition()
    let retries = 0
    try {
      retries = await publishAll(js, 'partition', 300)
    } finally {
      await third.heal()
    }
    expected += 300
    await expect
      .poll(() => settled(jsm, third.node.name), { timeout: 30_000, interval: 250 })
      .toEqual({ messages: expected, current: true })
    // A republish of ids already stored (an agent replaying after a lost ack) adds nothing.
    await publishAll(js, 'partition', 50)
    expect((await requestsStream(jsm, third.node.name)).messages).toBe(expected)
    // Its copy current again once the replicas have exchanged those publishes (its lag is not 0 for a moment).
    await expect
      .poll(() => settled(jsm, third.node.name), { timeout: 30_000, interval: 250 })
      .toEqual({ messages: expected, current: true })
    console.log(`[nats-cluster] one member partitioned: ${retries} publishes retried, none lost, none twice`)
  }, 90_000)
})
