/**
 * The mesh filter's golden-signals plugin (its `golden_signals` section) in
 * the TypeScript proxy-wasm host: labelled metric names (bounded by the
 * configuration, whatever callers send), latency records, the request_stats
 * records (exact counts and a latency sketch per label set and interval) and
 * the stories (a request's own event, only when worth one) it hands to the
 * exporter's queue, read with the contracts' decoder, and the bounded queue
 * (the `telemetry` section) dropping (and counting) when the exporter is
 * missing or behind.
 */
import type { DDSketch } from '@datadog/sketches-js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeLine,
  headers,
  newLatencySketch,
  TELEMETRY_VM_ID,
  type GoldenSignalEvent,
  type RequestStatsEvent,
} from '@model-mesh/contracts'
import { int64Property, ProxyWasmHost, SharedState } from '../../../test-host/proxy-wasm-host.ts'
import { type MeshFilterConfig, meshFilterWasm } from '../../config.ts'

/** The mesh filter (its telemetry producers) and the exporter share a VM id: Envoy scopes shared data and queues by it. */

type GoldenSection = NonNullable<MeshFilterConfig['golden_signals']>
type TelemetrySection = NonNullable<MeshFilterConfig['telemetry']>

/**
 * A mesh filter configuration with a golden_signals section (listing the
 * model the requests name unless it lists its own), and a telemetry section
 * when given. Fields of the wrong type pass through: the module must refuse them.
 */
const golden = (section: Record<string, unknown> = {}, telemetry?: Record<string, unknown>): MeshFilterConfig => ({
  ...(telemetry ? { telemetry: telemetry as TelemetrySection } : {}),
  golden_signals: { models: ['credit-risk'], ...section } as GoldenSection,
})

/** Loads the mesh filter with a configuration: text as it is, an object as JSON. */
const load = (config: MeshFilterConfig | string = golden(), shared = new SharedState(), vmId = TELEMETRY_VM_ID) =>
  ProxyWasmHost.load(
    meshFilterWasm(),
    { pluginConfiguration: typeof config === 'string' ? config : JSON.stringify(config), vmId },
    shared,
  )

/** What the filter handed to the queue, decoded as the collector decodes it: the records and the stories, and the queue emptied. */
function drain(queue: { items: Uint8Array[] }): { stats: RequestStatsEvent[]; stories: GoldenSignalEvent[] } {
  const events = queue.items
    .splice(0)
    .flatMap((m) => new TextDecoder().decode(m).trim().split('\n'))
    .map((line) => {
      const d = decodeLine(line)
      if (!d.ok) throw new Error(`${d.reason}: ${d.detail}: ${line.slice(0, 200)}`)
      return d.event
    })
  return {
    stats: events.filter((e) => e.kind === 'request_stats'),
    stories: events.filter((e) => e.kind === 'request'),
  }
}

/** A sketch's counts by key, and its zero count: equal for the same values, however the sketch was built. */
function binsOf(sketch: DDSketch): Record<string, number> {
  const bins: Record<string, number> = { zero: sketch.zeroCount }
  sketch.store.bins.forEach((n, i) => {
    if (n > 0) bins[i + sketch.store.offset] = n
  })
  return bins
}

/** A stats interval of 1 ms has passed: the next tick sends the records (a tick in the same millisecond would not). */
const intervalPassed = () => new Promise((resolve) => setTimeout(resolve, 2))

/** Every request on route credit-risk may ask for its story. */
const TRACEABLE = { routes: [{ name: 'credit-risk', trace_header: true }] }

/** Registers the exporter's queue the way the telemetry exporter will. */
function exporterQueue(shared: SharedState, name = 'mesh.telemetry') {
  const id = shared.nextQueueId++
  shared.queues.set(id, { vmId: TELEMETRY_VM_ID, name, items: [] })
  return shared.queues.get(id)!
}

/** One request through the filter; without `code` no response is sent (a reset before the response). */
function request(
  host: ProxyWasmHost,
  o: {
    code?: number
    flags?: number
    durationMs?: number
    variant?: string
    answered?: string
    fallback?: boolean
    route?: string
    requestId?: string
    model?: string
    /** Sends x-mesh-trace: 1. */
    traced?: boolean
    headers?: Record<string, string>
  } = {},
) {
  const s = host.newStream()
  s.setProperty('xds.route_name', o.route ?? 'credit-risk')
    .setProperty('xds.cluster_name', 'stable')
    .setProperty('upstream.address', '127.0.0.1:8001')
    .setProperty('request.duration', int64Property(BigInt(o.durationMs ?? 12) * 1_000_000n))
    .setProperty('response.flags', int64Property(o.flags ?? 0))
  if (o.code !== undefined) s.setProperty('response.code', int64Property(o.code))
  s.sendRequestHeaders({
    ...(o.headers ?? {
      ':path': `/v2/models/${o.model ?? 'credit-risk'}/infer`,
      'x-request-id': o.requestId ?? 'rid-1',
      traceparent: '00-abc-def-01',
      'x-mesh-variant': o.variant ?? 'stable',
      'x-model-version': '1',
    }),
    ...(o.traced ? { [headers.MESH_TRACE]: '1' } : {}),
  })
  if (o.code !== undefined) {
    const response: Record<string, string> = { ':status': String(o.code) }
    if (o.answered) response['x-model-version'] = o.answered
    if (o.fallback) response['x-model-fallback'] = 'true'
    s.sendResponseHeaders(response)
  }
  s.complete()
}

describe('golden-signals (TypeScript host)', () => {
  it('counts requests by status class and records latency under labelled names', async () => {
    const host = await load()
    expect(host.logText()).toContain('mesh-filter: configured golden_signals')
    request(host, { code: 200, durationMs: 12 })
    request(host, { code: 200, durationMs: 30 })
    request(host, { code: 503, durationMs: 5 })
    request(host, { code: 200, variant: 'canary', answered: '2' })
    const base = 'golden.rt.credit-risk.md.credit-risk.vs.1.vr.stable'
    expect(host.metricByName(`${base}.rq.sc.2xx`)?.value).toBe(2n)
    expect(host.metricByName(`${base}.rq.sc.5xx`)?.value).toBe(1n)
    expect(host.metricByName(`${base}.latency_ms`)?.samples).toEqual([12n, 30n, 5n])
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk.vs.2.vr.canary.rq.sc.2xx')?.value).toBe(1n)
  })

  it('labels a request that got no response as status class none', async () => {
    const host = await load()
    request(host, {})
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk.vs.1.vr.stable.rq.sc.none')?.value).toBe(1n)
  })

  it('labels only the models the configuration lists: any other is "other", while the event keeps the path\'s model', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ models: ['credit-risk', 'credit-risk-fallback'], stats_interval_ms: 1 }), shared)
    request(host, { code: 200, model: 'credit-risk-fallback' })
    request(host, { code: 404, model: 'no-such-model' })
    request(host, { code: 404, model: 'another.one' })
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk-fallback.vs.1.vr.stable.rq.sc.2xx')?.value).toBe(1n)
    // Unknown models share one series, and the version a caller might claim for them is not a label.
    expect(host.metricByName('golden.rt.credit-risk.md.other.vs.none.vr.stable.rq.sc.4xx')?.value).toBe(2n)
    expect(
      [...host.metrics.values()].map((m) => m.name).filter((n) => n.includes('no-such') || n.includes('another')),
    ).toEqual([])
    await intervalPassed()
    host.tick()
    // The records count under the labels; the stories (both failed) keep the path's model.
    const { stats, stories } = drain(queue)
    expect(stats.map((e) => [e.model, e.version, e.requests])).toEqual([
      ['credit-risk-fallback', '1', 1],
      ['other', '', 2],
    ])
    expect(stories.map((e) => e.model)).toEqual(['no-such-model', 'another.one'])
  })

  it("reports the model of an OIP path only: /v2/models/{model}/..., up to the next '/' or '?'", async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden(TRACEABLE), shared)
    for (const path of [
      '/v2/models/credit-risk/infer',
      '/v2/models/credit-risk/versions/3/infer',
      '/v2/models/m?x=1',
      '/v1/models/m:predict',
      '/health',
    ]) {
      request(host, { code: 200, headers: { ':path': path }, traced: true })
    }
    host.tick()
    expect(drain(queue).stories.map((e) => e.model)).toEqual(['credit-risk', 'credit-risk', 'm', '', ''])
  })

  it('labels every model "other" when the configuration lists none', async () => {
    const host = await load(golden({ models: [] }))
    request(host, { code: 200 })
    expect(host.metricByName('golden.rt.credit-risk.md.other.vs.none.vr.stable.rq.sc.2xx')?.value).toBe(1n)
  })

  it("takes the version from the host or the router, never from a caller's header", async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden(TRACEABLE), shared)
    const versions = () => {
      host.tick()
      return drain(queue).stories.map((e) => e.version)
    }
    // No x-mesh-variant: the router did not route it (it removes a caller's), so x-model-version is the caller's.
    request(host, {
      code: 200,
      headers: { ':path': '/v2/models/credit-risk/infer', 'x-model-version': 'evil-1' },
      traced: true,
    })
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk.vs.none.vr.none.rq.sc.2xx')?.value).toBe(1n)
    expect(versions()).toEqual([''])
    // A variant the router never sets is no label either.
    request(host, {
      code: 200,
      headers: { ':path': '/v2/models/credit-risk/infer', 'x-mesh-variant': 'evil', 'x-model-version': 'evil-2' },
      traced: true,
    })
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk.vs.none.vr.none.rq.sc.2xx')?.value).toBe(2n)
    // The router's choice, then the host's answer.
    request(host, { code: 200, variant: 'canary', traced: true })
    request(host, { code: 200, variant: 'canary', answered: '3', traced: true })
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk.vs.1.vr.canary.rq.sc.2xx')?.value).toBe(1n)
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk.vs.3.vr.canary.rq.sc.2xx')?.value).toBe(1n)
    expect(versions()).toEqual(['', '1', '3'])
    expect([...host.metrics.values()].some((m) => m.name.includes('evil'))).toBe(false)
  })

  it("with the canary plugin in the chain, labels the variant and version it chose, never a caller's", async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const canary = {
      routes: [{ model: 'credit-risk', stable_version: '1', canary_version: '2', canary_weight_bp: 10_000 }],
    }
    const host = await load({ canary, golden_signals: { models: ['credit-risk', 'unrouted'], ...TRACEABLE } }, shared)
    expect(host.logText()).toContain('mesh-filter: configured canary, golden_signals')
    const events = () => {
      host.tick()
      return drain(queue).stories
    }
    // Weight 10000: every request to the routed model with a key to bucket goes to canary, whatever the caller claims.
    request(host, {
      code: 200,
      headers: {
        ':path': '/v2/models/credit-risk/infer',
        'x-request-id': 'rid-1',
        'x-mesh-variant': 'stable',
        'x-model-version': 'evil-1',
      },
      traced: true,
    })
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk.vs.2.vr.canary.rq.sc.2xx')?.value).toBe(1n)
    // A model the plugin does not route has no variant, even when the caller sends both headers.
    request(host, {
      code: 200,
      headers: { ':path': '/v2/models/unrouted/infer', 'x-mesh-variant': 'canary', 'x-model-version': 'evil-2' },
      traced: true,
    })
    expect(host.metricByName('golden.rt.credit-risk.md.unrouted.vs.none.vr.none.rq.sc.2xx')?.value).toBe(1n)
    expect(events().map((e) => [e.model, e.variant, e.version])).toEqual([
      ['credit-risk', 'canary', '2'],
      ['unrouted', '', ''],
    ])
    expect([...host.metrics.values()].some((m) => m.name.includes('evil'))).toBe(false)
  })

  it('1,000 requests to random model names define a bounded number of metrics', async () => {
    const host = await load()
    const series = () => [...host.metrics.values()].filter((m) => m.name.startsWith('golden.rt.')).length
    request(host, { code: 200 })
    const before = series()
    for (let i = 0; i < 1000; i++)
      request(host, { code: 404, model: `m-${Math.random().toString(36).slice(2)}`, variant: i % 2 ? 'stable' : 'x' })
    // One new series per variant label (stable, none): a counter and a histogram each.
    expect(series() - before).toBe(4)
  })

  it('past 4,096 label sets (callers setting variant and version with no router in front), counts under one overflow series', async () => {
    const host = await load()
    for (let i = 0; i < 5000; i++)
      request(host, {
        code: 200,
        headers: { ':path': '/v2/models/credit-risk/infer', 'x-mesh-variant': 'stable', 'x-model-version': `v${i}` },
      })
    const names = [...host.metrics.values()].map((m) => m.name).filter((n) => n.startsWith('golden.rt.'))
    expect(names.length).toBeLessThanOrEqual(2 * 4096 + 2)
    expect(host.metricByName('golden.rt.other.md.other.vs.other.vr.other.rq.sc.2xx')?.value).toBe(BigInt(5000 - 4096))
  })

  it("reports Envoy's response flags for failures, and none for successes", async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ stats_interval_ms: 1 }), shared)
    // UH (no healthy upstream) is bit 0x2; a success with a stray flag reports none.
    request(host, { code: 503, flags: 0x2 })
    request(host, { code: 503, flags: 0x20 })
    request(host, { code: 503, flags: 0x2 })
    request(host, { code: 200, flags: 0x2 })
    await intervalPassed()
    host.tick()
    const { stats, stories } = drain(queue)
    expect(stories.map((e) => [e.status, e.flags])).toEqual([
      [503, 2],
      [503, 0x20],
      [503, 2],
    ])
    // A record per set of flags: the series' requests split by what went wrong.
    expect(stats.map((e) => [e.code_class, e.flags, e.requests])).toEqual([
      ['5xx', 2, 2],
      ['5xx', 0x20, 1],
      ['2xx', 0, 1],
    ])
  })

  it("counts every request in its label set's record each stats interval; a fast success has no story of its own", async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ service: 'edge-gateway', stats_interval_ms: 1 }), shared)
    const durations = [42, 7, 7, 1250, 3, 0]
    for (const [i, ms] of durations.entries())
      request(host, { code: 200, durationMs: ms, answered: '1', fallback: i === 0 })
    expect(queue.items).toHaveLength(0) // gathered in the worker until the tick
    expect(host.tickPeriodMs).toBe(1)
    await intervalPassed()
    host.tick()
    const { stats, stories } = drain(queue)
    expect(stories).toEqual([])
    expect(stats).toHaveLength(1)
    const [record] = stats
    expect(record).toMatchObject({
      v: 1,
      kind: 'request_stats',
      service: 'edge-gateway',
      route: 'credit-risk',
      model: 'credit-risk',
      version: '1',
      variant: 'stable',
      code_class: '2xx',
      flags: 0,
      requests: 6,
      fallbacks: 1,
      duration_us_sum: 1_309_000,
    })
    // The sketch is the one sketches-js builds of the same durations.
    const expected = newLatencySketch()
    for (const ms of durations) expected.accept(ms)
    expect(binsOf(record!.latency)).toEqual(binsOf(expected))
    expect(record!.latency.zeroCount).toBe(1)
    // The next interval starts empty: nothing new, no record.
    await intervalPassed()
    host.tick()
    expect(drain(queue).stats).toEqual([])
    request(host, { code: 200, durationMs: 9 })
    await intervalPassed()
    host.tick()
    expect(drain(queue).stats.map((e) => e.requests)).toEqual([1])
  })

  it('a request that began before a live update and ends after it is counted at once, by the configuration it began under', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ service: 'old', stats_interval_ms: 60_000 }), shared)
    const s = host.newStream()
    s.setProperty('xds.route_name', 'credit-risk').setProperty('request.duration', int64Property(3_000_000n))
    s.sendRequestHeaders({ ':path': '/v2/models/credit-risk/infer', 'x-request-id': 'across-update' })
    expect(host.replaceRoot(JSON.stringify(golden({ service: 'new', stats_interval_ms: 60_000 })))).toBe(true)
    expect(drain(queue).stats).toEqual([])
    // No tick will come for the replaced configuration: its record leaves with the request.
    s.sendResponseHeaders({ ':status': '200' })
    s.complete()
    expect(drain(queue).stats.map((e) => [e.service, e.requests])).toEqual([['old', 1]])
  })

  it('sends at most stories_per_interval stories an interval, counts the rest as suppressed, and every request in the records', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ stories_per_interval: 2, stats_interval_ms: 1 }), shared)
    for (let i = 0; i < 5; i++) request(host, { code: 503, requestId: `outage-${i}` })
    await intervalPassed()
    host.tick()
    const { stats, stories } = drain(queue)
    expect(stories.map((e) => e.request_id)).toEqual(['outage-0', 'outage-1'])
    expect(host.metricByName('golden.stories.suppressed')?.value).toBe(3n)
    expect(stats.map((e) => [e.code_class, e.requests])).toEqual([['5xx', 5]])
    // A new interval: stories again.
    request(host, { code: 503, requestId: 'after' })
    await intervalPassed()
    host.tick()
    expect(drain(queue).stories.map((e) => e.request_id)).toEqual(['after'])
  })

  it('a day-long request (a broken clock) is counted as a day, and its record is not refused', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ stats_interval_ms: 1 }), shared)
    request(host, { code: 200, durationMs: 3 })
    request(host, { code: 200, durationMs: 5 * 86_400_000 })
    await intervalPassed()
    host.tick()
    const { stats } = drain(queue)
    expect(stats.map((e) => [e.requests, e.duration_us_sum])).toEqual([[2, 3_000 + 86_400_000_000]])
  })

  it("hands a failed request's story to the exporter queue, with the correlation ids", async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ service: 'edge-gateway' }), shared)
    request(host, { code: 503, durationMs: 42, answered: '1', fallback: true })
    expect(host.tickPeriodMs).toBe(200)
    await intervalPassed()
    host.tick()
    const { stories } = drain(queue)
    expect(stories).toHaveLength(1)
    expect(stories[0]).toEqual({
      v: 2,
      kind: 'request',
      ts: expect.any(Number),
      service: 'edge-gateway',
      request_id: 'rid-1',
      traceparent: '00-abc-def-01',
      route: 'credit-risk',
      model: 'credit-risk',
      version: '1',
      variant: 'stable',
      cluster: 'stable',
      upstream: '127.0.0.1:8001',
      status: 503,
      flags: 0,
      fallback: true,
      duration_us: 42_000,
      kept: ['failed'],
    })
    expect(host.metricByName('golden.events.enqueued')?.value).toBe(1n)
  })

  it('keeps the story of a failed, a slow, and a traced request where the route allows it; a sampled one with the sampler', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const section = { routes: [{ name: 'credit-risk', slow_ms: 100, trace_header: true }], stats_interval_ms: 1 }
    const host = await load(
      {
        ...golden(section),
        sampling: { routes: [{ model: 'credit-risk', sample_rate_bp: 0, confidence_threshold: 0.6 }] },
      },
      shared,
    )
    const kept = () => {
      host.tick()
      return drain(queue).stories.map((e) => [e.request_id, e.kept])
    }
    request(host, { code: 200, durationMs: 99, requestId: 'fast' })
    request(host, { code: 200, durationMs: 101, requestId: 'slow' })
    request(host, { code: 429, durationMs: 150, requestId: 'failed-slow' })
    request(host, { code: 200, durationMs: 5, requestId: 'traced', traced: true })
    request(host, { code: 200, durationMs: 5, requestId: 'elsewhere', traced: true, route: 'other-route' })
    expect(kept()).toEqual([
      ['slow', ['slow']],
      ['failed-slow', ['failed', 'slow']],
      ['traced', ['traced']],
    ])
    // A low-confidence answer: the sampler's sample and the story both.
    const s = host.newStream()
    s.setProperty('xds.route_name', 'credit-risk').setProperty('request.duration', int64Property(5_000_000n))
    s.sendRequestHeaders({ ':path': '/v2/models/credit-risk/infer', 'x-request-id': 'unsure' })
    s.sendResponseHeaders({ ':status': '200', 'x-model-confidence': '0.4' })
    s.complete()
    host.tick()
    const { stories } = drain(queue)
    expect(stories.map((e) => [e.request_id, e.kept])).toEqual([['unsure', ['low_confidence']]])
  })

  it('writes any text into the event as valid JSON that reads back the same', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ batch_events: 1 }), shared)
    // Failed requests, so each has its story. Quotes, backslashes, control characters, multi-byte and astral characters, lone surrogates.
    const ids = fc.sample(fc.string({ unit: 'binary', maxLength: 40 }), { numRuns: 300, seed: 7 })
    ids.push('"\\\n\t\u0001', 'é€😀', '\ud800x')
    for (const id of ids) {
      request(host, { code: 500, requestId: id })
      const line = new TextDecoder('utf-8', { fatal: true }).decode(queue.items.pop()!).trim()
      // The host hands the filter UTF-8, as Envoy does: what a lone surrogate becomes there is what must come back.
      expect((JSON.parse(line) as GoldenSignalEvent).request_id).toBe(
        new TextDecoder().decode(new TextEncoder().encode(id)),
      )
    }
  })

  it('sends one NDJSON message per batch_events stories', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ batch_events: 4, stats_interval_ms: 60_000 }), shared)
    for (let i = 0; i < 9; i++) request(host, { code: 503 })
    expect(queue.items.map((m) => new TextDecoder().decode(m).trim().split('\n').length)).toEqual([4, 4])
    host.tick()
    expect(queue.items).toHaveLength(3)
    expect(host.metricByName('golden.events.enqueued')?.value).toBe(9n)
  })

  it('drops and counts events while no exporter queue exists, then finds it lazily', async () => {
    const shared = new SharedState()
    const host = await load(golden({ stats_interval_ms: 60_000 }), shared)
    request(host, { code: 503 })
    request(host, { code: 503 })
    host.tick()
    expect(host.metricByName('golden.events.dropped_no_exporter')?.value).toBe(2n)
    const queue = exporterQueue(shared)
    request(host, { code: 503 })
    host.tick()
    expect(queue.items).toHaveLength(1)
  })

  it('checks the bound once per batch; once the queue is full, drops without writing until the next tick', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ batch_events: 3, stats_interval_ms: 60_000 }, { max_pending_events: 2 }), shared)
    // The third request fills the batch: 2 of its 3 events fit under the bound.
    for (let i = 0; i < 3; i++) request(host, { code: 503 })
    expect(queue.items).toHaveLength(1)
    expect(new TextDecoder().decode(queue.items[0]).trim().split('\n')).toHaveLength(2)
    expect(host.metricByName('golden.events.dropped_queue_full')?.value).toBe(1n)
    // The exporter drains, but this worker learns it only at its next flush.
    shared.setData(TELEMETRY_VM_ID, 'mesh.telemetry.pending', '0')
    request(host, { code: 503 })
    expect(host.metricByName('golden.events.dropped_queue_full')?.value).toBe(2n)
    host.tick()
    expect(queue.items).toHaveLength(1)
    request(host, { code: 503 })
    host.tick()
    expect(queue.items).toHaveLength(2)
    expect(host.metricByName('golden.events.enqueued')?.value).toBe(3n)
    expect(shared.getData(TELEMETRY_VM_ID, 'mesh.telemetry.pending')).toBe('1')
  })

  it('bounds the queue: beyond max_pending_events it drops and counts', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ stats_interval_ms: 60_000 }, { max_pending_events: 3 }), shared)
    for (let i = 0; i < 5; i++) request(host, { code: 503 })
    host.tick()
    expect(queue.items).toHaveLength(1)
    expect(new TextDecoder().decode(queue.items[0]).trim().split('\n')).toHaveLength(3)
    expect(host.metricByName('golden.events.dropped_queue_full')?.value).toBe(2n)
    expect(shared.getData(TELEMETRY_VM_ID, 'mesh.telemetry.pending')).toBe('3')
    // The exporter drains and lowers the pending count: after the next tick, events flow again.
    queue.items.length = 0
    shared.setData(TELEMETRY_VM_ID, 'mesh.telemetry.pending', '0')
    host.tick()
    request(host, { code: 503 })
    host.tick()
    expect(queue.items).toHaveLength(1)
  })

  it.each([
    [golden({}, { max_pending_events: 0 }), 'telemetry.max_pending_events: must be an integer from 1 to 10000000'],
    [golden({}, { max_pending: 10 }), 'telemetry.max_pending: unknown field'],
    [golden({ service: '' }), 'golden_signals.service: must be a non-empty string'],
    [golden({ sevrice: 'x' }), 'golden_signals.sevrice: unknown field'],
    [golden({ batch_events: 0 }), 'golden_signals.batch_events: must be an integer from 1 to 60000'],
    [golden({ models: 'credit-risk' }), 'golden_signals.models: must be an array of model names'],
    [golden({ models: ['a', ''] }), 'golden_signals.models[1]: must be a non-empty string'],
    [golden({ models: ['other'] }), 'golden_signals.models[0]: "other" is the label of the models not listed'],
    [golden({ stats_interval_ms: 0 }), 'golden_signals.stats_interval_ms: must be an integer from 1 to 60000'],
    [golden({ stories_per_interval: -1 }), 'golden_signals.stories_per_interval: must be an integer from 0 to 1000000'],
    [golden({ routes: {} }), 'golden_signals.routes: must be an array of routes'],
    [golden({ routes: [{ slow_ms: 5 }] }), 'golden_signals.routes[0].name: required, a non-empty string'],
    [golden({ routes: [{ name: 'a' }, { name: 'a' }] }), 'golden_signals.routes[1].name: duplicate route "a"'],
    [
      golden({ routes: [{ name: 'a', slow_ms: -1 }] }),
      'golden_signals.routes[0].slow_ms: must be an integer from 0 to 86400000',
    ],
    [
      golden({ routes: [{ name: 'a', trace_header: 'yes' }] }),
      'golden_signals.routes[0].trace_header: must be true or false',
    ],
    [golden({ routes: [{ name: 'a', slo: 5 }] }), 'golden_signals.routes[0].slo: unknown field'],
    ['[1', '(configuration): invalid JSON'],
  ])('refuses configuration %#, naming the field', async (bad, message) => {
    const host = await load(bad)
    expect(host.configured).toBe(false)
    expect(host.logText()).toContain(`mesh-filter: invalid configuration: ${message}`)
  })

  it("refuses to run under a VM id other than the exporter's, naming telemetry.exporter_vm_id", async () => {
    // Envoy scopes shared data by VM id: the exporter would never count these events out of the bound.
    const host = await load(golden(), new SharedState(), 'golden-signals')
    expect(host.configured).toBe(false)
    expect(host.logText()).toContain(
      'mesh-filter: invalid configuration: telemetry.exporter_vm_id: is "mesh-telemetry" but this plugin runs with vm_config.vm_id "golden-signals"',
    )
    expect(
      (await load(golden({}, { exporter_vm_id: 'telemetry-b' }), new SharedState(), 'telemetry-b')).configured,
    ).toBe(true)
    // An empty section takes every default, the exporter's VM id included.
    expect((await load({ golden_signals: {} }, new SharedState(), 'other-vm')).configured).toBe(false)
    expect((await load({ golden_signals: {} })).configured).toBe(true)
  })
})
