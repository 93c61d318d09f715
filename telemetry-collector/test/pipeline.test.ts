import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNats, type RunningNats } from '../../test/support/nats.ts'
import { startAgent, type RunningAgent } from '../agent/agent.ts'
import { startCollector, type RunningCollector } from '../src/collector.ts'
import { DEFAULT_STREAM_LIMITS } from '../src/streams.ts'
import { batchEvent, eventually, metrics, metricSum, ndjson, post, requestEvent } from './events.ts'

const MODELS = ['credit-risk', 'credit-risk-fallback']

describe('agent → JetStream → collector', () => {
  let nats: RunningNats
  let agent: RunningAgent
  let collector: RunningCollector
  let dir: string

  beforeAll(async () => {
    nats = await startNats()
    dir = await mkdtemp(join(tmpdir(), 'pipeline-'))
    collector = await startCollector({ address: '127.0.0.1', port: 0, natsUrl: nats.url, storeDir: join(dir, 'store'), models: MODELS, streams: DEFAULT_STREAM_LIMITS, log: () => {} })
    await collector.ready
    agent = await startAgent({ id: 'test', address: '127.0.0.1', port: 0, natsUrl: nats.url, models: MODELS, spool: { dir: join(dir, 'spool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 }, log: () => {} })
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
    const text = await eventually(() => metrics(collector.url), (t) => metricSum(t, 'mesh_requests_total') === events.length)
    expect(metricSum(text, 'mesh_requests_total', { variant: 'stable', code_class: '2xx' })).toBe(30)
    expect(metricSum(text, 'mesh_requests_total', { variant: 'canary', version: '2', code_class: '5xx' })).toBe(7)
    expect(metricSum(text, 'mesh_requests_total', { variant: '', code_class: '4xx' })).toBe(5)
    expect(metricSum(text, 'mesh_requests_total', { code_class: 'none' })).toBe(1)
    expect(metricSum(text, 'mesh_request_duration_seconds_count')).toBe(events.length)
  })

  it('labels models mesh.yaml does not name as other', async () => {
    await post(agent.url, ndjson([requestEvent({ model: 'no-such-model', route: '', status: 404 })]))
    const text = await eventually(() => metrics(collector.url), (t) => metricSum(t, 'mesh_requests_total', { model: 'other' }) === 1)
    expect(text).not.toContain('no-such-model')
  })

  it('skips and counts a bad line without losing its batch-mates', async () => {
    const before = metricSum(await metrics(collector.url), 'mesh_requests_total')
    const good = Array.from({ length: 4 }, () => requestEvent())
    await post(agent.url, ndjson([good[0], '{"v":1,"kind":"request",', good[1], { ...requestEvent(), v: 9 }, good[2], { ...requestEvent(), status: 'x' }, good[3]]))
    const text = await eventually(() => metrics(collector.url), (t) => metricSum(t, 'mesh_requests_total') === before + 4)
    expect(metricSum(text, 'mesh_collector_events_refused_total', { reason: 'unknown_version' })).toBe(1)
    expect(metricSum(text, 'mesh_collector_events_refused_total', { reason: 'invalid' })).toBe(1)
    expect(metricSum(await metrics(agent.url), 'mesh_agent_events_dropped_total', { reason: 'malformed' })).toBe(1)
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
    const stable = w.series.find((s: { labels: { variant: string; route: string } }) => s.labels.variant === 'stable' && s.labels.route === 'credit-risk')
    expect(stable.requests).toBeGreaterThanOrEqual(30)
    expect(stable.latency_ms.p50).toBeCloseTo(1.5, 1)
    expect((await fetch(`${collector.url}/api/v1/windows?window=2m`)).status).toBe(400)
  })
})
