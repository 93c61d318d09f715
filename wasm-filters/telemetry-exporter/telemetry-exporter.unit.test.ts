/**
 * telemetry-exporter with the mesh filter's golden-signals plugin as the
 * producer, in the TypeScript proxy-wasm host: events flow from the filter's
 * queue into NDJSON batches, the pending
 * bound counts exactly the events in the queue (also across producers that
 * are replaced or go away, and under contention), and failures drop and
 * count rather than retry.
 */
import { describe, expect, it } from 'vitest'
import { TELEMETRY_VM_ID, type GoldenSignalEvent } from '@model-mesh/contracts'
import { wasmPath } from '../modules.ts'
import { int64Property, ProxyWasmHost, SharedState } from '../test-host/proxy-wasm-host.ts'
import { type MeshFilterConfig, meshFilterWasm } from '../mesh-filter/config.ts'

const exporterConfig = {
  cluster: 'telemetry-agent',
  path: '/v1/events',
  max_batch_events: 3,
  flush_interval_ms: 200,
  max_in_flight: 1,
}

/** A mesh filter producing golden signals: its golden_signals section, and its telemetry section when given. */
function producerConfig(
  golden: MeshFilterConfig['golden_signals'] = {},
  telemetry?: MeshFilterConfig['telemetry'],
): string {
  const config: MeshFilterConfig = { ...(telemetry ? { telemetry } : {}), golden_signals: golden }
  return JSON.stringify(config)
}

const loadProducer = (shared: SharedState, config: string) =>
  ProxyWasmHost.load(meshFilterWasm(), { pluginConfiguration: config, vmId: TELEMETRY_VM_ID }, shared)

async function mesh(
  options: {
    dispatchFails?: boolean
    exporter?: object
    env?: Record<string, string>
    golden?: MeshFilterConfig['golden_signals']
    telemetry?: MeshFilterConfig['telemetry']
  } = {},
) {
  const shared = new SharedState()
  const exporter = await ProxyWasmHost.load(
    wasmPath('telemetry-exporter'),
    {
      pluginConfiguration: JSON.stringify({ ...exporterConfig, ...options.exporter }),
      vmId: TELEMETRY_VM_ID,
      dispatchFails: options.dispatchFails,
      env: options.env,
    },
    shared,
  )
  // One event per message, so each request reaches the queue at once.
  const golden = await loadProducer(shared, producerConfig({ batch_events: 1, ...options.golden }, options.telemetry))
  let n = 0
  const request = () => requestThrough(golden, `rid-${n++}`)
  const pending = () => Number(shared.getData(TELEMETRY_VM_ID, 'mesh.telemetry.pending') ?? 0)
  /** Ticks the exporter and answers its calls until the queue is empty. */
  const drain = () => {
    for (;;) {
      const calls = exporter.httpCalls.length
      exporter.tick()
      if (exporter.httpCalls.length === calls) return
      for (const call of exporter.httpCalls.slice(calls)) exporter.respondToHttpCall(call.token, [[':status', '202']])
    }
  }
  const sent = () => exporter.metricByName('exporter.events_sent')?.value ?? 0n
  return { shared, exporter, golden, request, pending, drain, sent }
}

/** One request through a mesh filter host running the golden-signals plugin. */
function requestThrough(golden: ProxyWasmHost, id: string) {
  const s = golden.newStream()
  s.setProperty('response.code', int64Property(200)).setProperty('request.duration', int64Property(1_000_000))
  s.sendRequestHeaders({ ':path': '/v2/models/credit-risk/infer', 'x-request-id': id })
  s.complete()
}

const events = (body: Uint8Array) =>
  new TextDecoder()
    .decode(body)
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as GoldenSignalEvent)

describe('telemetry-exporter (TypeScript host)', () => {
  it('registers its queue and its tick on configure', async () => {
    const { exporter } = await mesh()
    expect(exporter.configured).toBe(true)
    expect(exporter.tickPeriodMs).toBe(200)
    expect(exporter.logText()).toContain('telemetry-exporter: draining mesh.telemetry to cluster telemetry-agent')
  })

  it('posts what gathered on the tick, at most max_batch_events a call, and early once 16 messages wait', async () => {
    const { exporter, request, pending } = await mesh()
    for (let i = 0; i < 4; i++) request()
    expect(exporter.httpCalls).toHaveLength(0)
    exporter.tick() // 3 events go (max_batch_events), max_in_flight 1 holds the rest
    expect(exporter.httpCalls).toHaveLength(1)
    const call = exporter.httpCalls[0]!
    expect(call.cluster).toBe('telemetry-agent')
    expect(call.headers).toEqual(
      expect.arrayContaining([
        [':method', 'POST'],
        [':path', '/v1/events'],
        ['content-type', 'application/x-ndjson'],
        ['x-event-count', '3'],
      ]),
    )
    expect(events(call.body).map((e) => e.request_id)).toEqual(['rid-0', 'rid-1', 'rid-2'])
    // The bound counts the events in the queue: 4 enqueued, 3 drained.
    expect(pending()).toBe(1)
    exporter.respondToHttpCall(call.token, [[':status', '202']])
    exporter.tick()
    expect(events(exporter.httpCalls[1]!.body).map((e) => e.request_id)).toEqual(['rid-3'])
    exporter.respondToHttpCall(exporter.httpCalls[1]!.token, [[':status', '202']])
    expect(exporter.metricByName('exporter.events_sent')?.value).toBe(4n)
    expect(exporter.metricByName('exporter.batches_sent')?.value).toBe(2n)
    for (let i = 0; i < 16; i++) request()
    expect(exporter.httpCalls).toHaveLength(3) // flushed without waiting for the tick
  })

  it('sends the node credential from the environment variable token_env names as a bearer token on every call, and none without token_env', async () => {
    const env = { MESH_TELEMETRY_TOKEN: 'node-telemetry-credential-1234', OTHER: 'x' }
    const { exporter, request } = await mesh({ exporter: { token_env: 'MESH_TELEMETRY_TOKEN' }, env })
    request()
    exporter.tick()
    exporter.respondToHttpCall(exporter.httpCalls[0]!.token, [[':status', '202']])
    request()
    exporter.tick()
    for (const call of exporter.httpCalls)
      expect(call.headers).toEqual(
        expect.arrayContaining([
          ['authorization', 'Bearer node-telemetry-credential-1234'],
          ['x-event-count', '1'],
        ]),
      )
    // Never in its log.
    expect(exporter.logText()).not.toContain('node-telemetry-credential-1234')
    const plain = await mesh({ env })
    plain.request()
    plain.exporter.tick()
    expect(plain.exporter.httpCalls[0]!.headers.map(([name]) => name)).not.toContain('authorization')
  })

  it('ends a POST once its body reaches max_batch_bytes, whatever max_batch_events allows', async () => {
    const { exporter, request } = await mesh({
      exporter: { max_batch_events: 500, max_batch_bytes: 1024, max_in_flight: 10 },
    })
    // 15 messages: under the 16 that flush early, so the tick drains them all at once.
    for (let i = 0; i < 15; i++) request()
    exporter.tick()
    expect(exporter.httpCalls.length).toBeGreaterThan(1)
    // Each body (one event per message here) stops at the first message that takes it to 1024 characters or more.
    for (const call of exporter.httpCalls.slice(0, -1)) {
      const lines = new TextDecoder().decode(call.body).trim().split('\n')
      expect(lines.join('\n').length + 1).toBeGreaterThanOrEqual(1024)
      expect(lines.slice(0, -1).join('\n').length + 1).toBeLessThan(1024)
    }
    expect(exporter.httpCalls.flatMap((c) => events(c.body)).length).toBe(15)
  })

  it('keeps at most max_in_flight calls; later events wait in the bounded queue', async () => {
    const { exporter, golden, request } = await mesh({ telemetry: { max_pending_events: 5 } })
    for (let i = 0; i < 3; i++) request()
    exporter.tick()
    for (let i = 0; i < 9; i++) request()
    exporter.tick()
    expect(exporter.httpCalls).toHaveLength(1) // one in flight, nothing more sent
    expect(golden.metricByName('golden.events.dropped_queue_full')?.value).toBe(4n) // 3 sent + 5 waiting of 12
    exporter.respondToHttpCall(exporter.httpCalls[0]!.token, [[':status', '200']])
    exporter.tick()
    expect(exporter.httpCalls).toHaveLength(2)
  })

  it('drops and counts a batch the agent refuses, without retrying it', async () => {
    const { exporter, request } = await mesh()
    for (let i = 0; i < 3; i++) request()
    exporter.tick()
    exporter.respondToHttpCall(exporter.httpCalls[0]!.token, [[':status', '503']])
    exporter.tick()
    expect(exporter.httpCalls).toHaveLength(1)
    expect(exporter.metricByName('exporter.batches_failed')?.value).toBe(1n)
    expect(exporter.metricByName('exporter.events_dropped')?.value).toBe(3n)
  })

  it('drops and counts when the call fails at once (no healthy host), and keeps draining', async () => {
    const { exporter, request, pending } = await mesh({ dispatchFails: true })
    for (let i = 0; i < 7; i++) request()
    exporter.tick()
    expect(exporter.metricByName('exporter.batches_dropped')?.value).toBe(3n)
    expect(exporter.metricByName('exporter.events_dropped')?.value).toBe(7n)
    expect(pending()).toBe(0)
  })

  it('keeps the bound across live updates that replace the producer root context: what it gathered is flushed, nothing stays counted', async () => {
    const section = (generation: number) => ({ service: `gen-${generation}`, batch_events: 100 })
    const telemetry = { max_pending_events: 20 }
    const config = (generation: number) => producerConfig(section(generation), telemetry)
    const { exporter, golden, request, pending, drain, sent } = await mesh({ golden: section(0), telemetry })
    for (let generation = 1; generation <= 10; generation++) {
      for (let i = 0; i < 5; i++) request()
      // batch_events 100 and no tick: the 5 stories (no response: failed) and their record are still in the old root.
      expect(golden.replaceRoot(config(generation))).toBe(true)
      drain()
      expect(pending()).toBe(0)
      expect(sent()).toBe(BigInt(generation * 6))
    }
    expect(exporter.metricByName('exporter.events_dropped')).toBeUndefined()
    expect(golden.metricByName('golden.events.dropped_queue_full')).toBeUndefined()
    // The services of the events say which root gathered them.
    const services = exporter.httpCalls.flatMap((c) => events(c.body).map((e) => e.service))
    expect(new Set(services)).toEqual(new Set(Array.from({ length: 10 }, (_, g) => `gen-${g}`)))
  })

  it('keeps the bound across producer VMs that go away without a word: nothing they held stays counted', async () => {
    const { shared, pending, drain, sent } = await mesh()
    const producer = () => loadProducer(shared, producerConfig({ batch_events: 1 }, { max_pending_events: 100 }))
    for (let generation = 0; generation < 5; generation++) {
      requestThrough(await producer(), `vm-${generation}`)
      drain()
      expect(pending()).toBe(0)
    }
    const last = await producer()
    for (let i = 0; i < 10; i++) requestThrough(last, `last-${i}`)
    drain()
    expect(last.metricByName('golden.events.dropped_queue_full')).toBeUndefined()
    expect(sent()).toBe(15n)
  })

  it('under contention, a reservation is counted before its event is enqueued', async () => {
    const { shared, request, pending } = await mesh()
    shared.setData(TELEMETRY_VM_ID, 'mesh.telemetry.pending', '0')
    // The next 20 CAS writes fail, as when other workers keep writing first.
    shared.casMismatches = 20
    request()
    expect(shared.queues.get(1)!.items).toHaveLength(1)
    expect(pending()).toBe(1)
  })

  it('under contention, a release is never lost', async () => {
    const { shared, request, pending, drain } = await mesh()
    for (let i = 0; i < 3; i++) request()
    const before = pending()
    shared.casMismatches = 20
    drain()
    expect(shared.casMismatches).toBe(0)
    expect(pending()).toBe(before - 3)
  })

  it.each([
    [{}, 'cluster: required'],
    [{ cluster: 'a', path: 'v1' }, 'path: must start with /'],
    [{ cluster: 'a', max_batch_events: 0 }, 'max_batch_events: must be an integer from 1 to 600000'],
    [{ cluster: 'a', colour: 1 }, 'colour: unknown field'],
    [{ cluster: 'a', token_env: '' }, 'token_env: must be a non-empty string'],
    // The credential itself never goes in the configuration, which Envoy's admin shows to any local process.
    [{ cluster: 'a', token: 'node-telemetry-credential-1234' }, 'token: unknown field'],
    [{ cluster: 'a', max_batch_bytes: 100 }, 'max_batch_bytes: must be an integer from 1024 to 4194304'],
  ])('refuses configuration %#, naming the field', async (bad, message) => {
    const host = await ProxyWasmHost.load(wasmPath('telemetry-exporter'), {
      pluginConfiguration: JSON.stringify(bad),
      vmId: TELEMETRY_VM_ID,
    })
    expect(host.configured).toBe(false)
    expect(host.logText()).toContain(`telemetry-exporter: invalid configuration: ${message}`)
  })

  it.each([
    ['missing', {}, 'is not set or empty'],
    ['empty', { MESH_TELEMETRY_TOKEN: '' }, 'is not set or empty'],
    ['not a bearer token', { MESH_TELEMETRY_TOKEN: 'two words\r\nx-forged: 1' }, 'must hold a bearer token'],
  ])(
    'refuses to start when token_env names a variable that is %s, naming it (never its value)',
    async (_, env, reason) => {
      const config = { cluster: 'telemetry-agent', token_env: 'MESH_TELEMETRY_TOKEN' }
      const host = await ProxyWasmHost.load(wasmPath('telemetry-exporter'), {
        pluginConfiguration: JSON.stringify(config),
        vmId: TELEMETRY_VM_ID,
        env,
      })
      expect(host.configured).toBe(false)
      expect(host.logText()).toContain(
        `telemetry-exporter: invalid configuration: token_env: environment variable MESH_TELEMETRY_TOKEN ${reason}`,
      )
      expect(host.logText()).not.toContain('two words')
    },
  )
})
