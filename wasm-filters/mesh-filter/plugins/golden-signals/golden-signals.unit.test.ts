/**
 * The mesh filter's golden-signals plugin (its `golden_signals` section) in
 * the TypeScript proxy-wasm host: labelled metric names (bounded by the
 * configuration, whatever callers send), latency records, the event it hands
 * to the exporter's queue, and the bounded queue (the `telemetry` section)
 * dropping (and counting) when the exporter is missing or behind.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TELEMETRY_VM_ID, type GoldenSignalEvent } from '@model-mesh/contracts'
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
  s.sendRequestHeaders(
    o.headers ?? {
      ':path': `/v2/models/${o.model ?? 'credit-risk'}/infer`,
      'x-request-id': o.requestId ?? 'rid-1',
      traceparent: '00-abc-def-01',
      'x-mesh-variant': o.variant ?? 'stable',
      'x-model-version': '1',
    },
  )
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
    const host = await load(golden({ models: ['credit-risk', 'credit-risk-fallback'], batch_events: 1 }), shared)
    request(host, { code: 200, model: 'credit-risk-fallback' })
    request(host, { code: 404, model: 'no-such-model' })
    request(host, { code: 404, model: 'another.one' })
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk-fallback.vs.1.vr.stable.rq.sc.2xx')?.value).toBe(1n)
    // Unknown models share one series, and the version a caller might claim for them is not a label.
    expect(host.metricByName('golden.rt.credit-risk.md.other.vs.none.vr.stable.rq.sc.4xx')?.value).toBe(2n)
    expect(
      [...host.metrics.values()].map((m) => m.name).filter((n) => n.includes('no-such') || n.includes('another')),
    ).toEqual([])
    const models = queue.items.map((m) => (JSON.parse(new TextDecoder().decode(m)) as GoldenSignalEvent).model)
    expect(models).toEqual(['credit-risk-fallback', 'no-such-model', 'another.one'])
  })

  it("reports the model of an OIP path only: /v2/models/{model}/..., up to the next '/' or '?'", async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ batch_events: 1 }), shared)
    for (const path of [
      '/v2/models/credit-risk/infer',
      '/v2/models/credit-risk/versions/3/infer',
      '/v2/models/m?x=1',
      '/v1/models/m:predict',
      '/health',
    ]) {
      request(host, { code: 200, headers: { ':path': path } })
    }
    const models = queue.items.map((m) => (JSON.parse(new TextDecoder().decode(m)) as GoldenSignalEvent).model)
    expect(models).toEqual(['credit-risk', 'credit-risk', 'm', '', ''])
  })

  it('labels every model "other" when the configuration lists none', async () => {
    const host = await load(golden({ models: [] }))
    request(host, { code: 200 })
    expect(host.metricByName('golden.rt.credit-risk.md.other.vs.none.vr.stable.rq.sc.2xx')?.value).toBe(1n)
  })

  it("takes the version from the host or the router, never from a caller's header", async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ batch_events: 1 }), shared)
    const versions = () =>
      queue.items.splice(0).map((m) => (JSON.parse(new TextDecoder().decode(m)) as GoldenSignalEvent).version)
    // No x-mesh-variant: the router did not route it (it removes a caller's), so x-model-version is the caller's.
    request(host, { code: 200, headers: { ':path': '/v2/models/credit-risk/infer', 'x-model-version': 'evil-1' } })
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk.vs.none.vr.none.rq.sc.2xx')?.value).toBe(1n)
    expect(versions()).toEqual([''])
    // A variant the router never sets is no label either.
    request(host, {
      code: 200,
      headers: { ':path': '/v2/models/credit-risk/infer', 'x-mesh-variant': 'evil', 'x-model-version': 'evil-2' },
    })
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk.vs.none.vr.none.rq.sc.2xx')?.value).toBe(2n)
    // The router's choice, then the host's answer.
    request(host, { code: 200, variant: 'canary' })
    request(host, { code: 200, variant: 'canary', answered: '3' })
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
    const host = await load(
      { canary, golden_signals: { models: ['credit-risk', 'unrouted'], batch_events: 1 } },
      shared,
    )
    expect(host.logText()).toContain('mesh-filter: configured canary, golden_signals')
    const events = () => queue.items.splice(0).map((m) => JSON.parse(new TextDecoder().decode(m)) as GoldenSignalEvent)
    // Weight 10000: every request to the routed model with a key to bucket goes to canary, whatever the caller claims.
    request(host, {
      code: 200,
      headers: {
        ':path': '/v2/models/credit-risk/infer',
        'x-request-id': 'rid-1',
        'x-mesh-variant': 'stable',
        'x-model-version': 'evil-1',
      },
    })
    expect(host.metricByName('golden.rt.credit-risk.md.credit-risk.vs.2.vr.canary.rq.sc.2xx')?.value).toBe(1n)
    // A model the plugin does not route has no variant, even when the caller sends both headers.
    request(host, {
      code: 200,
      headers: { ':path': '/v2/models/unrouted/infer', 'x-mesh-variant': 'canary', 'x-model-version': 'evil-2' },
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
    const host = await load(golden(), shared)
    // UH (no healthy upstream) is bit 0x2; a success with a stray flag reports none.
    request(host, { code: 503, flags: 0x2 })
    request(host, { code: 200, flags: 0x2 })
    host.tick()
    const events = new TextDecoder()
      .decode(queue.items[0])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as GoldenSignalEvent)
    expect(events.map((e) => [e.status, e.flags])).toEqual([
      [503, 2],
      [200, 0],
    ])
  })

  it('hands one event per request to the exporter queue, with the correlation ids', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ service: 'edge-gateway' }), shared)
    request(host, { code: 200, durationMs: 42, answered: '1', fallback: true })
    expect(queue.items).toHaveLength(0) // gathered in the worker until the batch fills or the tick
    expect(host.tickPeriodMs).toBe(200)
    host.tick()
    expect(queue.items).toHaveLength(1)
    const event = JSON.parse(new TextDecoder().decode(queue.items[0]).trim()) as GoldenSignalEvent
    expect(event).toMatchObject({
      v: 1,
      kind: 'request',
      service: 'edge-gateway',
      request_id: 'rid-1',
      traceparent: '00-abc-def-01',
      route: 'credit-risk',
      model: 'credit-risk',
      version: '1',
      variant: 'stable',
      cluster: 'stable',
      upstream: '127.0.0.1:8001',
      status: 200,
      flags: 0,
      fallback: true,
      duration_us: 42_000,
    })
    expect(host.metricByName('golden.events.enqueued')?.value).toBe(1n)
  })

  it('writes any text into the event as valid JSON that reads back the same', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ batch_events: 1 }), shared)
    // Quotes, backslashes, control characters, multi-byte and astral characters, lone surrogates.
    const ids = fc.sample(fc.string({ unit: 'binary', maxLength: 40 }), { numRuns: 300, seed: 7 })
    ids.push('"\\\n\t\u0001', 'é€😀', '\ud800x')
    for (const id of ids) {
      request(host, { code: 200, requestId: id })
      const line = new TextDecoder('utf-8', { fatal: true }).decode(queue.items.pop()!).trim()
      // The host hands the filter UTF-8, as Envoy does: what a lone surrogate becomes there is what must come back.
      expect((JSON.parse(line) as GoldenSignalEvent).request_id).toBe(
        new TextDecoder().decode(new TextEncoder().encode(id)),
      )
    }
  })

  it('sends one NDJSON message per batch_events requests', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ batch_events: 4 }), shared)
    for (let i = 0; i < 9; i++) request(host, { code: 200 })
    expect(queue.items.map((m) => new TextDecoder().decode(m).trim().split('\n').length)).toEqual([4, 4])
    host.tick()
    expect(queue.items).toHaveLength(3)
    expect(host.metricByName('golden.events.enqueued')?.value).toBe(9n)
  })

  it('drops and counts events while no exporter queue exists, then finds it lazily', async () => {
    const shared = new SharedState()
    const host = await load(golden(), shared)
    request(host, { code: 200 })
    request(host, { code: 200 })
    host.tick()
    expect(host.metricByName('golden.events.dropped_no_exporter')?.value).toBe(2n)
    const queue = exporterQueue(shared)
    request(host, { code: 200 })
    host.tick()
    expect(queue.items).toHaveLength(1)
  })

  it('checks the bound once per batch; once the queue is full, drops without writing until the next tick', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({ batch_events: 3 }, { max_pending_events: 2 }), shared)
    // The third request fills the batch: 2 of its 3 events fit under the bound.
    for (let i = 0; i < 3; i++) request(host, { code: 200 })
    expect(queue.items).toHaveLength(1)
    expect(new TextDecoder().decode(queue.items[0]).trim().split('\n')).toHaveLength(2)
    expect(host.metricByName('golden.events.dropped_queue_full')?.value).toBe(1n)
    // The exporter drains, but this worker learns it only at its next flush.
    shared.setData(TELEMETRY_VM_ID, 'mesh.telemetry.pending', '0')
    request(host, { code: 200 })
    expect(host.metricByName('golden.events.dropped_queue_full')?.value).toBe(2n)
    host.tick()
    expect(queue.items).toHaveLength(1)
    request(host, { code: 200 })
    host.tick()
    expect(queue.items).toHaveLength(2)
    expect(host.metricByName('golden.events.enqueued')?.value).toBe(3n)
    expect(shared.getData(TELEMETRY_VM_ID, 'mesh.telemetry.pending')).toBe('1')
  })

  it('bounds the queue: beyond max_pending_events it drops and counts', async () => {
    const shared = new SharedState()
    const queue = exporterQueue(shared)
    const host = await load(golden({}, { max_pending_events: 3 }), shared)
    for (let i = 0; i < 5; i++) request(host, { code: 200 })
    host.tick()
    expect(queue.items).toHaveLength(1)
    expect(new TextDecoder().decode(queue.items[0]).trim().split('\n')).toHaveLength(3)
    expect(host.metricByName('golden.events.dropped_queue_full')?.value).toBe(2n)
    expect(shared.getData(TELEMETRY_VM_ID, 'mesh.telemetry.pending')).toBe('3')
    // The exporter drains and lowers the pending count: after the next tick, events flow again.
    queue.items.length = 0
    shared.setData(TELEMETRY_VM_ID, 'mesh.telemetry.pending', '0')
    host.tick()
    request(host, { code: 200 })
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
