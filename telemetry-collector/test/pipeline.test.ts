import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, headers } from '@nats-io/transport-node'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDeflateRaw } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_STREAM_LIMITS, DEFLATE, ENCODING_HEADER, EVENT_COUNT_HEADER } from '@model-mesh/contracts'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { startAgent, type RunningAgent } from '@model-mesh/telemetry-agent'
import { startCollector, type RunningCollector } from '../collector.ts'
import { promtool } from '@model-mesh/testkit/prometheus'
import {
  AGENT_TEST_TOKEN,
  batchEvent,
  eventually,
  fallbackEvent,
  metrics,
  metricSum,
  ndjson,
  post,
  requestEvent,
  requestStats,
  sampleEvent,
} from '@model-mesh/testkit/events'

/** `bytes` zeros, raw-deflated as the agent does, without holding them in memory. */
async function deflatedZeros(bytes: number): Promise<Buffer> {
  const d = createDeflateRaw({ level: 9 })
  const out: Buffer[] = []
  d.on('data', (b: Buffer) => out.push(b))
  const done = new Promise((r) => d.on('end', r))
  const chunk = Buffer.alloc(1 << 20)
  for (let n = 0; n < bytes; n += chunk.length) if (!d.write(chunk)) await new Promise((r) => d.once('drain', r))
  d.end()
  await done
  return Buffer.concat(out)
}

const MODELS = ['credit-risk', 'credit-risk-fallback']

describe('agent → JetStream → collector', () => {
  let nats: RunningNats
  let agent: RunningAgent
  let collector: RunningCollector
  let dir: string

  beforeAll(async () => {
    nats = await startNats()
    dir = await mkdtemp(join(tmpdir(), 'pipeline-'))
    collector = await startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      storeDir: join(dir, 'store'),
      models: MODELS,
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
    })
    await collector.ready
    agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'test',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      spool: { dir: join(dir, 'spool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
  })
  afterAll(async () => {
    await agent?.close()
    await collector?.close()
    await nats?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('counts every request by route, model, version, variant and status class', async () => {
    const events = [
      ...Array.from({ length: 30 }, () => requestEvent()),
      ...Array.from({ length: 7 }, () => requestEvent({ variant: 'canary', version: '2', status: 503, flags: 2 })),
      ...Array.from({ length: 5 }, () => requestEvent({ status: 429, flags: 1 << 11, variant: '', version: '' })),
      requestEvent({ status: 0, flags: 1 << 14 }),
    ]
    const res = await post(agent.url, ndjson(events))
    expect(res.status).toBe(202)
    const text = await eventually(
      () => metrics(collector.url),
      (t) => metricSum(t, 'mesh_requests_total') === events.length,
    )
    expect(metricSum(text, 'mesh_requests_total', { variant: 'stable', code_class: '2xx' })).toBe(30)
    expect(metricSum(text, 'mesh_requests_total', { variant: 'canary', version: '2', code_class: '5xx' })).toBe(7)
    expect(metricSum(text, 'mesh_requests_total', { variant: '', code_class: '4xx' })).toBe(5)
    expect(metricSum(text, 'mesh_requests_total', { code_class: 'none' })).toBe(1)
    expect(metricSum(text, 'mesh_request_duration_seconds_count')).toBe(events.length)
  })

  it("merges request_stats records of several workers; a story counts once, an old producer's event counts", async () => {
    const route = 'stats-route'
    const durations = (n: number, seed: number) => Array.from({ length: n }, (_, i) => 0.5 + ((i * seed) % 97) * 3.7)
    const [a, b] = [durations(40, 7), durations(60, 13)]
    const failedId = 'story-failed-1'
    await post(
      agent.url,
      ndjson([
        requestStats(a, { route }),
        requestStats([5, 900, 2.5], { route, code_class: '5xx', flags: 2 }),
        // The failed request's story: already counted in the record above.
        requestEvent({ route, request_id: failedId, status: 503, flags: 2, duration_us: 900_000, kept: ['failed'] }),
      ]),
    )
    // Another worker's record, and a version 1 producer's event (an event per request, no records).
    const { kept: _, ...v1 } = requestEvent({ route, duration_us: 4000 })
    await post(agent.url, ndjson([requestStats(b, { route, fallbacks: 2 }), { ...v1, v: 1 }]))
    const text = await eventually(
      () => metrics(collector.url),
      (t) => metricSum(t, 'mesh_requests_total', { route }) === 104,
    )
    expect(metricSum(text, 'mesh_requests_total', { route, code_class: '2xx' })).toBe(101)
    expect(metricSum(text, 'mesh_requests_total', { route, code_class: '5xx' })).toBe(3)
    expect(metricSum(text, 'mesh_request_duration_seconds_count', { route })).toBe(104)
    expect(metricSum(text, 'mesh_fallbacks_total', { route })).toBe(2)

    // The window's quantiles (of the series: every status class) are the merged sketch's: within 1% of the exact ones.
    const w = await (await fetch(`${collector.url}/api/v1/windows?window=1m`)).json()
    const series = w.series.find((s: { labels: { route: string } }) => s.labels.route === route)
    expect(series.codes).toMatchObject({ '2xx': 101, '5xx': 3 })
    const all = [...a, ...b, 4, 5, 900, 2.5].sort((x, y) => x - y)
    for (const [q, p] of [
      [0.5, 'p50'],
      [0.95, 'p95'],
      [0.99, 'p99'],
    ] as const) {
      const exact = all[Math.floor(q * (all.length - 1))]!
      expect(Math.abs(series.latency_ms[p] - exact) / exact).toBeLessThanOrEqual(0.0101)
    }

    // The story is in the store once its commit is (the counts above are read from memory, before it).
    const story = await eventually(
      () => fetch(`${collector.url}/api/v1/requests/${failedId}`).then((r) => r.json()),
      (s: { request?: unknown[] }) => s.request?.length === 1,
    )
    expect(story.request?.[0]).toMatchObject({ status: 503, kept: ['failed'] })
    const counted = await fetch(`${collector.url}/api/v1/requests/only-counted-1`)
    expect(counted.status).toBe(404)
    expect(await counted.json()).toMatchObject({ error: 'request_id: no story for only-counted-1' })
  })

  it('labels models mesh.yaml does not name as other', async () => {
    await post(agent.url, ndjson([requestEvent({ model: 'no-such-model', route: '', status: 404 })]))
    const text = await eventually(
      () => metrics(collector.url),
      (t) => metricSum(t, 'mesh_requests_total', { model: 'other' }) === 1,
    )
    expect(text).not.toContain('no-such-model')
  })

  it('skips and counts a bad line without losing its batch-mates', async () => {
    const before = metricSum(await metrics(collector.url), 'mesh_requests_total')
    const good = Array.from({ length: 4 }, () => requestEvent())
    await post(
      agent.url,
      ndjson([
        good[0],
        '{"v":1,"kind":"request",',
        good[1],
        { ...requestEvent(), v: 9 },
        good[2],
        { ...requestEvent(), status: 'x' },
        good[3],
      ]),
    )
    const text = await eventually(
      () => metrics(collector.url),
      (t) => metricSum(t, 'mesh_requests_total') === before + 4,
    )
    expect(metricSum(text, 'mesh_collector_events_refused_total', { reason: 'unknown_version' })).toBe(1)
    expect(metricSum(text, 'mesh_collector_events_refused_total', { reason: 'invalid' })).toBe(1)
    expect(metricSum(await metrics(agent.url), 'mesh_agent_events_dropped_total', { reason: 'malformed' })).toBe(1)
  })

  it('outside strings named like Object.prototype keys (constructor, __proto__, toString) give sane /metrics', async () => {
    const names = ['constructor', '__proto__', 'toString']
    const before = await metrics(collector.url)
    const fallbacks = names.map((reason) => fallbackEvent({ reason }))
    const refusals = names.map((reason) => fallbackEvent({ reason, fallback_model: null }))
    await post(agent.url, ndjson([...fallbacks, ...refusals]), 'host:stable')
    await post(
      agent.url,
      ndjson(names.flatMap((n) => [requestEvent({ route: n }), requestEvent({ model: n, version: n, variant: n })])),
    )
    const text = await eventually(
      () => metrics(collector.url),
      (t) =>
        metricSum(t, 'mesh_host_refusals_total') === metricSum(before, 'mesh_host_refusals_total') + 3 &&
        metricSum(t, 'mesh_requests_total') === metricSum(before, 'mesh_requests_total') + 6,
    )
    expect(metricSum(text, 'mesh_host_fallbacks_total')).toBe(metricSum(before, 'mesh_host_fallbacks_total') + 3)
    // Every sample a number: a reason `constructor` once made a counter a string, read as +Inf.
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#')))
      expect(Number.isFinite(Number(line.split(' ').at(-1))), line).toBe(true)
    const r = promtool(['check', 'metrics'], text)
    expect(r.output).toBe('')
  })

  it("tells one request's story: its event and the host batch it ran in", async () => {
    const e = requestEvent()
    const mates = [e.request_id, 'mate-1', 'mate-2']
    await post(agent.url, ndjson([e]))
    await post(agent.url, ndjson([batchEvent({ request_ids: mates, rows: 3 })]), 'host:stable')
    const story = await eventually(
      () => fetch(`${collector.url}/api/v1/requests/${e.request_id}`).then((r) => r.json()),
      (s: { request: unknown[]; batches: unknown[] }) => s.request?.length === 1 && s.batches?.length === 1,
    )
    expect(story.batches[0]).toMatchObject({ rows: 3, batch_mates: 2, model: 'credit-risk' })
    expect(story.request[0]).toMatchObject({ request_id: e.request_id, status: 200 })
  })

  it('serves windows with latency quantiles', async () => {
    const w = await (await fetch(`${collector.url}/api/v1/windows?window=1m`)).json()
    const stable = w.series.find(
      (s: { labels: { variant: string; route: string } }) =>
        s.labels.variant === 'stable' && s.labels.route === 'credit-risk',
    )
    expect(stable.requests).toBeGreaterThanOrEqual(30)
    expect(stable.latency_ms.p50).toBeCloseTo(1.5, 1)
    expect((await fetch(`${collector.url}/api/v1/windows?window=2m`)).status).toBe(400)
  })

  it('answers a range from the stored minute rollups, and names a bad parameter', async () => {
    const text = await metrics(collector.url)
    const now = Date.now()
    const r = await (
      await fetch(`${collector.url}/api/v1/rollups?from=${now - 3_600_000}&to=${now + 60_000}&step=1h`)
    ).json()
    const stored = r.steps
      .flatMap((s: { series: { requests: number }[] }) => s.series)
      .reduce((a: number, s: { requests: number }) => a + s.requests, 0)
    expect(stored).toBe(metricSum(text, 'mesh_requests_total'))
    const bad = await fetch(`${collector.url}/api/v1/rollups?from=yesterday`)
    expect(bad.status).toBe(400)
    expect((await bad.json()).error).toMatch(/^from: /)
  })

  it('a collector restarted on its store reports the same totals (counters do not reset)', async () => {
    const before = await metrics(collector.url)
    await collector.close()
    collector = await startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      storeDir: join(dir, 'store'),
      models: MODELS,
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
    })
    await collector.ready
    const after = await metrics(collector.url)
    for (const name of [
      'mesh_requests_total',
      'mesh_request_duration_seconds_count',
      'mesh_host_batch_rows_total',
      'mesh_collector_events_applied_total',
    ]) {
      expect(metricSum(after, name), name).toBe(metricSum(before, name))
    }
    expect(metricSum(after, 'mesh_requests_total')).toBeGreaterThan(0)
  })
})

describe('one bad message never stops the consumer (agent → JetStream → collector)', () => {
  let nats: RunningNats
  let agent: RunningAgent
  let collector: RunningCollector
  let dir: string
  const fatal: Error[] = []

  beforeAll(async () => {
    nats = await startNats()
    dir = await mkdtemp(join(tmpdir(), 'pipeline-crash-loop-'))
    // Its own NATS: the review queue is a work queue, read by one collector only.
    collector = await startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      storeDir: join(dir, 'store'),
      models: MODELS,
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
      onFatal: (e) => fatal.push(e),
    })
    await collector.ready
    agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'crash-loop',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      reviewThresholds: { 'credit-risk': 0.6 },
      spool: { dir: join(dir, 'spool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
  })
  afterAll(async () => {
    await agent?.close()
    await collector?.close()
    await nats?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('the crash-loop event (a review item with confidence -9.3e18) through the real agent is counted; the collector stays up and applies what follows', async () => {
    const c = collector
    // The agent copies the sample to the review queue (its confidence is under 0.6): both copies reach the collector.
    expect((await post(agent.url, ndjson([sampleEvent([[1, 2]], { confidence: -9.3e18 })]))).status).toBe(202)
    await eventually(
      async () => metricSum(await metrics(agent.url), 'mesh_agent_review_items_total'),
      (n) => n === 1,
    )
    await post(agent.url, ndjson(Array.from({ length: 3 }, () => requestEvent())))
    const text = await eventually(
      () => metrics(c.url),
      (t) =>
        metricSum(t, 'mesh_requests_total') === 3 &&
        metricSum(t, 'mesh_collector_events_refused_total', { reason: 'invalid' }) === 2,
    )
    expect(fatal).toEqual([])
    expect(metricSum(text, 'mesh_collector_events_applied_total', { kind: 'review' })).toBe(0)
    // Everything was acknowledged: nothing waits to be delivered again.
    await eventually(
      async () =>
        Object.values((await (await fetch(`${c.url}/api/v1/pipeline`)).json()).lag_messages as Record<string, number>),
      (lag) => lag.length > 0 && lag.every((n) => n === 0),
    )
    await post(agent.url, ndjson([requestEvent()]))
    await eventually(
      async () => metricSum(await metrics(c.url), 'mesh_requests_total'),
      (n) => n === 4,
    )
    expect(fatal).toEqual([])
  })
})

describe('faults and sharing, in process', () => {
  let nats: RunningNats
  let dir: string
  const closers: (() => Promise<void>)[] = []
  /** Its total once it has caught up with what the stream already holds (earlier tests' events). */
  const caughtUp = async (c: RunningCollector) => {
    const lagZero = async () => {
      const lag = Object.values(
        (await (await fetch(`${c.url}/api/v1/pipeline`)).json()).lag_messages as Record<string, number>,
      )
      return lag.length > 0 && lag.every((n) => n === 0)
    }
    await eventually(lagZero, (ok) => ok)
    return metricSum(await metrics(c.url), 'mesh_requests_total')
  }
  /** A collector with its own store; `consumers` names its durables (collectors sharing the work share it). */
  const collectorOn = async (owns: string[] | undefined, name: string, consumers = name) => {
    const c = await startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      storeDir: join(dir, name),
      models: MODELS,
      owns,
      name: consumers,
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
    })
    closers.push(() => c.close())
    await c.ready
    return c
  }

  beforeAll(async () => {
    nats = await startNats()
    dir = await mkdtemp(join(tmpdir(), 'pipeline-faults-'))
  })
  afterAll(async () => {
    for (const close of closers.reverse()) await close()
    await nats?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('two collectors owning disjoint models give exact merged totals', async () => {
    const a = await collectorOn(['credit-risk'], 'a', 'shared')
    const b = await collectorOn(['credit-risk-fallback', '_other'], 'b', 'shared')
    const agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'share',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      spool: { dir: join(dir, 'spool-share'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
    closers.push(() => agent.close())
    const events = [
      ...Array.from({ length: 50 }, () => requestEvent()),
      ...Array.from({ length: 20 }, () => requestEvent({ model: 'credit-risk-fallback', route: 'fallback-direct' })),
      ...Array.from({ length: 5 }, () => requestEvent({ model: 'typo-model', route: '' })),
    ]
    for (let i = 0; i < events.length; i += 10) await post(agent.url, ndjson(events.slice(i, i + 10)))
    const total = async () =>
      metricSum(await metrics(a.url), 'mesh_requests_total') + metricSum(await metrics(b.url), 'mesh_requests_total')
    await eventually(total, (n) => n === events.length)
    const [ta, tb] = [await metrics(a.url), await metrics(b.url)]
    expect(metricSum(ta, 'mesh_requests_total', { model: 'credit-risk' })).toBe(50)
    expect(metricSum(ta, 'mesh_requests_total')).toBe(50)
    expect(metricSum(tb, 'mesh_requests_total', { model: 'credit-risk-fallback' })).toBe(20)
    expect(metricSum(tb, 'mesh_requests_total', { model: 'other' })).toBe(5)
  })

  it('past the spool bound the oldest are dropped and counted: applied plus dropped equals sent', async () => {
    const c = await collectorOn(['credit-risk'], 'bound')
    const before = await caughtUp(c)
    const agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'bound',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      spool: { dir: join(dir, 'spool-bound'), memoryBytes: 8000, diskBytes: 20_000, segmentBytes: 4000 },
      log: () => {},
    })
    closers.push(() => agent.close())
    nats.pause()
    let sent = 0
    try {
      for (let i = 0; i < 150; i++) {
        const res = await post(agent.url, ndjson(Array.from({ length: 20 }, () => requestEvent())))
        expect(res.status).toBe(202)
        sent += 20
      }
    } finally {
      nats.resume()
    }
    const dropped = async () =>
      metricSum(await metrics(agent.url), 'mesh_agent_events_dropped_total', { reason: 'spool_full' })
    await eventually(
      async () => metricSum(await metrics(c.url), 'mesh_requests_total') - before + (await dropped()),
      (n) => n === sent,
      30_000,
    )
    expect(await dropped()).toBeGreaterThan(0)
    expect(metricSum(await metrics(agent.url), 'mesh_agent_spool_bytes', { tier: 'disk' })).toBeLessThanOrEqual(20_000)
  })

  it('a message that cannot be read, or has a bad line, is counted and skipped; the consumer goes on', async () => {
    const c = await collectorOn(['credit-risk'], 'poison')
    const before = await caughtUp(c)
    const nc = await connect({ servers: nats.url })
    try {
      const js = jetstream(nc)
      const h = headers()
      h.set(ENCODING_HEADER, DEFLATE)
      h.set(EVENT_COUNT_HEADER, '3')
      await js.publish('mesh.requests.credit-risk', new TextEncoder().encode('not deflate at all'), { headers: h })
      await js.publish(
        'mesh.requests.credit-risk',
        new TextEncoder().encode(
          ndjson([requestEvent(), '\u0000garbage', requestEvent({ kind: 'telepathy' } as never)]),
        ),
      )
      await js.publish('mesh.requests.credit-risk', new TextEncoder().encode(ndjson([requestEvent()])))
    } finally {
      await nc.close()
    }
    const text = await eventually(
      () => metrics(c.url),
      (t) => metricSum(t, 'mesh_requests_total') === before + 2,
    )
    expect(metricSum(text, 'mesh_collector_events_refused_total', { reason: 'malformed' })).toBe(4)
    expect(metricSum(text, 'mesh_collector_events_refused_total', { reason: 'unknown_kind' })).toBe(1)
  })

  it('a decompression bomb (1 GiB of zeros deflated to under 1 MiB) is counted and skipped without inflating it; what follows is applied', async () => {
    const c = await collectorOn(['credit-risk'], 'bomb')
    const before = await caughtUp(c)
    const bomb = await deflatedZeros(1 << 30)
    expect(bomb.length).toBeLessThan(1 << 20)
    const rssBefore = process.memoryUsage().rss
    const nc = await connect({ servers: nats.url })
    try {
      const js = jetstream(nc)
      const h = headers()
      h.set(ENCODING_HEADER, DEFLATE)
      await js.publish('mesh.requests.credit-risk', bomb, { headers: h })
      await js.publish('mesh.requests.credit-risk', new TextEncoder().encode(ndjson([requestEvent(), requestEvent()])))
    } finally {
      await nc.close()
    }
    const text = await eventually(
      () => metrics(c.url),
      (t) => metricSum(t, 'mesh_requests_total') === before + 2,
    )
    expect(metricSum(text, 'mesh_collector_events_refused_total', { reason: 'too_large' })).toBe(1)
    // Inflated, it would have taken a gigabyte; bounded, it takes at most MAX_INFLATED_MESSAGE_BYTES.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 << 20)
  })

  it('a flood of 2,000 distinct routes, hosts, versions and reasons leaves /metrics small: every label is one mesh.yaml names, or other', async () => {
    const c = await startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      storeDir: join(dir, 'label-policy'),
      models: MODELS,
      name: 'label-policy',
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
      labels: {
        routes: ['credit-risk', 'fallback-direct'],
        hosts: ['stable', 'canary', 'fallback', '127.0.0.1:8001'],
        versions: () => new Set(['1', '2']),
      },
    })
    closers.push(() => c.close())
    await c.ready
    await caughtUp(c)
    const before = await metrics(c.url)
    const agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'flood',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      spool: { dir: join(dir, 'spool-flood'), memoryBytes: 4 << 20, diskBytes: 64 << 20 },
      log: () => {},
    })
    closers.push(() => agent.close())
    const n = 2000
    const flood = (i: number) => `flood-${i}-${'x'.repeat(40)}`
    const requests = Array.from({ length: n }, (_, i) => requestEvent({ route: flood(i), version: String(100 + i) }))
    const hostEvents = Array.from({ length: n }, (_, i) => [
      {
        v: 2,
        kind: 'host_saturation',
        ts: Date.now(),
        host: flood(i),
        model: 'credit-risk',
        version: String(100 + i),
        queue_depth: 1,
        busy_instances: 1,
        instances: 2,
      },
      fallbackEvent({ reason: flood(i) }),
      fallbackEvent({ reason: `refused-${i}`, fallback_model: null }),
    ]).flat()
    expect((await post(agent.url, ndjson(requests))).status).toBe(202)
    expect((await post(agent.url, ndjson(hostEvents), 'host:stable')).status).toBe(202)
    const text = await eventually(
      () => metrics(c.url),
      (t) =>
        metricSum(t, 'mesh_requests_total') === metricSum(before, 'mesh_requests_total') + n &&
        metricSum(t, 'mesh_host_refusals_total') === metricSum(before, 'mesh_host_refusals_total') + n,
    )
    expect(
      text
        .split('\n')
        .filter((l) => l.includes('flood-'))
        .slice(0, 3),
    ).toEqual([])
    expect(text).not.toContain('refused-')
    expect(metricSum(text, 'mesh_requests_total', { route: 'other', version: 'other' })).toBe(n)
    expect(
      metricSum(text, 'mesh_host_fallbacks_total', { reason: 'other' }) -
        metricSum(before, 'mesh_host_fallbacks_total', { reason: 'other' }),
    ).toBe(n)
    expect(metricSum(text, 'mesh_host_instances', { host: 'other', version: 'other' })).toBe(2)
    // A few series more than before, not thousands (the flood took it from 16 KB to 8.7 MB).
    expect(text.length - before.length).toBeLessThan(16_000)
  })

  it('a consumer deleted under a running collector is created again from the store, and nothing is lost', async () => {
    const c = await collectorOn(['credit-risk'], 'deleted')
    const before = await caughtUp(c)
    const agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'deleted',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      spool: { dir: join(dir, 'spool-deleted'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
    closers.push(() => agent.close())
    await post(agent.url, ndjson(Array.from({ length: 5 }, () => requestEvent())))
    await eventually(
      async () => metricSum(await metrics(c.url), 'mesh_requests_total'),
      (n) => n === before + 5,
    )
    const nc = await connect({ servers: nats.url })
    await (await jetstreamManager(nc)).consumers.delete('MESH_REQUESTS', 'deleted-requests-credit-risk')
    await nc.close()
    await post(agent.url, ndjson(Array.from({ length: 6 }, () => requestEvent())))
    await eventually(
      async () => metricSum(await metrics(c.url), 'mesh_requests_total'),
      (n) => n === before + 11,
    )
  })

  it('an event too large for NATS is dropped and counted, and does not hold up those behind it', async () => {
    const c = await collectorOn(['credit-risk'], 'large')
    const before = await caughtUp(c)
    const agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'large',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      spool: { dir: join(dir, 'spool-large'), memoryBytes: 1 << 20, diskBytes: 64 << 20 },
      log: () => {},
    })
    closers.push(() => agent.close())
    // Random bytes as hex do not deflate below NATS' 1 MiB max_payload.
    const huge = requestEvent({ traceparent: randomBytes(1_500_000).toString('hex') })
    expect((await post(agent.url, ndjson([huge]))).status).toBe(202)
    await post(agent.url, ndjson(Array.from({ length: 4 }, () => requestEvent())))
    await eventually(
      async () => metricSum(await metrics(c.url), 'mesh_requests_total'),
      (n) => n === before + 4,
    )
    expect(metricSum(await metrics(agent.url), 'mesh_agent_events_dropped_total', { reason: 'too_large' })).toBe(1)
  })

  it('a stream deleted and created again is read from its start, not skipped by the stored position', async () => {
    const first = await collectorOn(['credit-risk'], 'recreated')
    await caughtUp(first)
    const agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'recreated',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      spool: { dir: join(dir, 'spool-recreated'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
    closers.push(() => agent.close())
    await first.close()
    const nc = await connect({ servers: nats.url })
    await (await jetstreamManager(nc)).streams.delete('MESH_REQUESTS')
    await nc.close()
    const again = await collectorOn(['credit-risk'], 'recreated')
    const before = metricSum(await metrics(again.url), 'mesh_requests_total')
    await post(agent.url, ndjson(Array.from({ length: 3 }, () => requestEvent())))
    await eventually(
      async () => metricSum(await metrics(again.url), 'mesh_requests_total'),
      (n) => n === before + 3,
    )
  })

  it('/metrics of the collector and the agent pass promtool check metrics', async () => {
    const c = await collectorOn(['credit-risk'], 'promtool')
    const agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'promtool',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      spool: { dir: join(dir, 'spool-promtool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
    closers.push(() => agent.close())
    await post(agent.url, ndjson([requestEvent(), requestEvent({ status: 503, flags: 2 }), batchEvent()]))
    await eventually(
      () => metrics(c.url),
      (t) => metricSum(t, 'mesh_requests_total') >= 2,
    )
    for (const url of [c.url, agent.url]) {
      const text = await metrics(url)
      const r = promtool(['check', 'metrics'], text)
      expect(r.output, url).toBe('')
      expect(r.code).toBe(0)
    }
  })
})
