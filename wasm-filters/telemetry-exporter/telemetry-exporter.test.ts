/**
 * telemetry-exporter as a singleton Wasm service in real Envoy, fed by the
 * mesh filter's golden-signals plugin: batches of events reach a loopback
 * receiver, while the receiver is down requests are unaffected and the lost
 * events are counted, and the queue bound holds across repeated live (ECDS)
 * updates of the producer's configuration.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EnvoyAdmin, fileText, type GoldenSignalEvent, headers, writeAtomic } from '@model-mesh/contracts'
import { TELEMETRY_TOKEN_ENV, xdsFile } from '@model-mesh/mesh-config'
import {
  EnvoyExitError,
  TELEMETRY_VM_ID,
  envoyVersion,
  httpListener,
  promValue,
  startEnvoy,
  staticCluster,
  wasmHttpFilter,
  wasmService,
  type RunningEnvoy,
} from '@model-mesh/testkit/envoy'
import { startUpstream, type Upstream } from '@model-mesh/testkit/upstream'
import { wasmPath } from '../modules.ts'
import { MESH_FILTER, type MeshFilterConfig, meshFilterWasm } from '../mesh-filter/config.ts'

/** The node credential Envoy's environment holds for the exporter; the stand-in agent refuses calls without it, as the agent does. */
const TOKEN = 'exporter-test-credential-0123456789'

/** The exporter as the local mesh renders it: the credential named by an environment variable, never in its configuration. */
const exporter = (config: Record<string, unknown>) =>
  wasmService(
    'telemetry-exporter',
    wasmPath('telemetry-exporter'),
    { cluster: 'telemetry-agent', token_env: TELEMETRY_TOKEN_ENV, ...config },
    { vmId: TELEMETRY_VM_ID, hostEnvKeys: [TELEMETRY_TOKEN_ENV] },
  )
const tokenEnv = { [TELEMETRY_TOKEN_ENV]: TOKEN }

/** A loopback stand-in for the telemetry agent: collects NDJSON batches that carry the credential. */
async function startReceiver(port = 0) {
  const batches: Received[][] = []
  const server: Server = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      req.resume()
      res.writeHead(401).end()
      return
    }
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      batches.push(
        body
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)),
      )
      res.writeHead(202).end()
    })
  })
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
  return {
    batches,
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

/** Every request below asks for its story (x-mesh-trace: 1, which the route allows): one event each, beside the records. */
const TRACED = [{ name: 'models', trace_header: true }]
const TRACE = { [headers.MESH_TRACE]: '1' }

/** What the receiver gets: stories, and request_stats records as the filter writes them (the sketch as text). */
type Received = GoldenSignalEvent | { kind: 'request_stats'; service: string; requests: number }

/** The stories among what the receiver got (the rest are request_stats records). */
const storiesIn = (events: Received[]) => events.filter((e): e is GoldenSignalEvent => e.kind === 'request')

async function until(check: () => Promise<boolean> | boolean, ms = 5000) {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 50))
  }
  return true
}

describe('telemetry-exporter in Envoy', () => {
  let upstream: Upstream
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  let envoy: RunningEnvoy
  let gateway: string

  beforeAll(async () => {
    console.log(`Envoy ${await envoyVersion()}`)
    upstream = await startUpstream('stable')
    receiver = await startReceiver()
    envoy = await startEnvoy(
      {
        bootstrap_extensions: [exporter({ flush_interval_ms: 100, max_batch_events: 50 })],
        static_resources: {
          listeners: [
            httpListener(
              'gateway',
              [{ name: 'models', match: { prefix: '/' }, route: { cluster: 'stable' } }],
              [
                wasmHttpFilter(
                  MESH_FILTER,
                  meshFilterWasm(),
                  {
                    telemetry: { max_pending_events: 100 },
                    golden_signals: { service: 'gateway', batch_events: 8, routes: TRACED },
                  } satisfies MeshFilterConfig,
                  { vmId: TELEMETRY_VM_ID },
                ),
              ],
            ),
          ],
          clusters: [staticCluster('stable', upstream.port), staticCluster('telemetry-agent', receiver.port)],
        },
      },
      { env: tokenEnv },
    )
    gateway = envoy.listenerUrl('gateway')
  })
  afterAll(async () => {
    await envoy?.stop()
    await upstream?.close()
    await receiver?.close().catch(() => {})
  })

  it("delivers each traced request's story, in batches, with the request ids, and the records that count them", async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `exp-${i}`)
    await Promise.all(
      ids.map((id) =>
        fetch(`${gateway}/v2/models/credit-risk/infer`, {
          method: 'POST',
          headers: { 'x-request-id': id, ...TRACE },
          body: '{}',
        }).then((r) => r.text()),
      ),
    )
    const counted = () =>
      receiver.batches
        .flat()
        .filter((e) => e.kind === 'request_stats')
        .reduce((n, e) => n + e.requests, 0)
    // The records come each second (stats_interval_ms): every request counted once, whichever worker took it.
    expect(await until(() => storiesIn(receiver.batches.flat()).length >= ids.length && counted() >= ids.length)).toBe(
      true,
    )
    const stories = storiesIn(receiver.batches.flat())
    expect(stories.map((e) => e.request_id).sort()).toEqual([...ids].sort())
    expect(
      stories.every(
        (e) =>
          e.v === 2 &&
          e.status === 200 &&
          e.model === 'credit-risk' &&
          e.service === 'gateway' &&
          e.kept.join() === 'traced',
      ),
    ).toBe(true)
    expect(counted()).toBe(ids.length)
    expect(await until(async () => (await promValue(envoy, 'exporter_events_sent')) >= ids.length)).toBe(true)
  })

  it("sends the credential from Envoy's environment, which its admin interface never shows: /config_dump names only the variable", async () => {
    // Delivered past a receiver that answers 401 without the credential.
    await fetch(`${gateway}/v2/models/credit-risk/infer`, {
      method: 'POST',
      headers: { 'x-request-id': 'credential-1', ...TRACE },
      body: '{}',
    }).then((r) => r.text())
    expect(await until(() => storiesIn(receiver.batches.flat()).some((e) => e.request_id === 'credential-1'))).toBe(
      true,
    )
    expect(await promValue(envoy, 'exporter_batches_failed')).toBe(0)
    const dump = await fetch(`${envoy.adminUrl}/config_dump?include_eds`).then((r) => r.text())
    expect(dump).toContain(TELEMETRY_TOKEN_ENV)
    expect(dump).not.toContain(TOKEN)
  })

  it('passes x-request-id and traceparent through to the upstream and into the event', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const res = await fetch(`${gateway}/v2/models/credit-risk/infer`, {
      method: 'POST',
      headers: { 'x-request-id': 'corr-1', traceparent, ...TRACE },
      body: '{}',
    })
    const seen = (await res.json()) as { headers: Record<string, string> }
    expect(seen.headers['x-request-id']).toBe('corr-1')
    expect(seen.headers.traceparent).toBe(traceparent)
    expect(await until(() => storiesIn(receiver.batches.flat()).some((e) => e.request_id === 'corr-1'))).toBe(true)
    expect(storiesIn(receiver.batches.flat()).find((e) => e.request_id === 'corr-1')).toMatchObject({ traceparent })
  })

  it('releases the queue bound as it drains: far more events than max_pending_events (100) flow over time', async () => {
    const before = storiesIn(receiver.batches.flat()).length
    for (let wave = 0; wave < 5; wave++) {
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          fetch(`${gateway}/v2/models/credit-risk/infer`, {
            method: 'POST',
            headers: { 'x-request-id': `wave-${wave}-${i}`, ...TRACE },
            body: '{}',
          }).then((r) => r.text()),
        ),
      )
      expect(await until(() => storiesIn(receiver.batches.flat()).length - before >= (wave + 1) * 30)).toBe(true)
    }
    expect(await promValue(envoy, 'golden_events_dropped_queue_full')).toBe(0)
  })

  it('while the agent is down, requests still succeed and the lost events are counted', async () => {
    await receiver.close()
    const droppedBefore = await promValue(envoy, 'exporter_events_dropped')
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch(`${gateway}/v2/models/credit-risk/infer`, {
          method: 'POST',
          headers: { 'x-request-id': `down-${i}`, ...TRACE },
          body: '{}',
        }).then((r) => r.status),
      ),
    )
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(await until(async () => (await promValue(envoy, 'exporter_events_dropped')) - droppedBefore >= 20)).toBe(
      true,
    )
  })
})

describe('telemetry-exporter in Envoy, configured to need a credential its environment lacks', () => {
  it.each([
    ['not set', {}],
    ['empty', { [TELEMETRY_TOKEN_ENV]: '' }],
  ])('refuses its configuration loudly when the variable is %s, and Envoy does not start', async (_, env) => {
    const bootstrap = {
      bootstrap_extensions: [exporter({})],
      static_resources: { clusters: [staticCluster('telemetry-agent', 9)] },
    }
    const error = await startEnvoy(bootstrap, { env }).then(
      (e) => e.stop().then(() => null),
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(EnvoyExitError)
    expect((error as EnvoyExitError).output).toContain(
      `telemetry-exporter: invalid configuration: token_env: environment variable ${TELEMETRY_TOKEN_ENV} is not set or empty`,
    )
  })
})

describe('telemetry-exporter in Envoy, with the producer replaced by live updates', () => {
  let upstream: Upstream
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  let envoy: RunningEnvoy
  let gateway: string
  let dir: string
  const ecds = () => join(dir, `ecds-${MESH_FILTER}.json`)
  const prefix = `extension_config_discovery.http_filter.${MESH_FILTER}`

  /** Serves the mesh filter's configuration by ECDS, as mesh-config's live apply does, and waits until Envoy runs it. */
  async function configure(config: MeshFilterConfig) {
    const filter = wasmHttpFilter(MESH_FILTER, meshFilterWasm(), config, { vmId: TELEMETRY_VM_ID })
    const file = xdsFile(`ecds-${MESH_FILTER}.json`, 'extension', prefix, [
      {
        '@type': 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig',
        name: MESH_FILTER,
        typed_config: filter.typed_config,
      },
    ])
    await writeAtomic(ecds(), fileText(file))
    if (!envoy) return
    const admin = new EnvoyAdmin(envoy.adminUrl)
    const taken = await admin.waitForVersion(prefix, file.response.version_info, await admin.subscriptions(), 10_000)
    expect(taken).toEqual({ ok: true })
  }

  beforeAll(async () => {
    upstream = await startUpstream('stable')
    receiver = await startReceiver()
    dir = await mkdtemp(join(tmpdir(), 'exporter-ecds-'))
    await configure(generation(0))
    const listener = httpListener(
      'gateway',
      [{ name: 'models', match: { prefix: '/' }, route: { cluster: 'stable' } }],
      [
        {
          name: MESH_FILTER,
          config_discovery: {
            config_source: { resource_api_version: 'V3', path_config_source: { path: ecds() } },
            type_urls: ['type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm'],
          },
        },
      ],
    )
    envoy = await startEnvoy(
      {
        node: { id: 'exporter-ecds-test', cluster: 'exporter-ecds-test' },
        bootstrap_extensions: [exporter({ flush_interval_ms: 50, max_batch_events: 50 })],
        static_resources: {
          listeners: [listener],
          clusters: [staticCluster('stable', upstream.port), staticCluster('telemetry-agent', receiver.port)],
        },
      },
      { env: tokenEnv },
    )
    gateway = envoy.listenerUrl('gateway')
  })
  afterAll(async () => {
    await envoy?.stop()
    await upstream?.close()
    await receiver?.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  /**
   * A configuration whose events never leave the worker on their own
   * (batch_events 1000, a tick a minute): they reach the exporter only when
   * the root context that gathered them is deleted.
   */
  const generation = (g: number): MeshFilterConfig => ({
    telemetry: { max_pending_events: 50 },
    golden_signals: {
      service: `gen-${g}`,
      batch_events: 1000,
      flush_interval_ms: 60_000,
      stats_interval_ms: 60_000,
      routes: TRACED,
    },
  })
  const send = (n: number, id: (i: number) => string) =>
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        fetch(`${gateway}/v2/models/credit-risk/infer`, {
          method: 'POST',
          headers: { 'x-request-id': id(i), ...TRACE },
          body: '{}',
        }).then((r) => r.status),
      ),
    )

  it('20 updates with traffic between them: each old root flushes its events, nothing stays counted, the queue takes events after', async () => {
    const received = () => storiesIn(receiver.batches.flat())
    for (let g = 1; g <= 20; g++) {
      expect(await send(10, (i) => `g${g - 1}-${i}`)).toEqual(Array(10).fill(200))
      await configure(generation(g))
      // Envoy 1.40 calls proxy_on_done and proxy_on_delete on the old root contexts: their batches arrive.
      expect(await until(() => received().length >= g * 10), `after update ${g}: ${received().length} events`).toBe(
        true,
      )
    }
    const events = received()
    expect(events.every((e) => e.request_id.startsWith(`g${e.service.slice('gen-'.length)}-`))).toBe(true)
    // Each old root's records came with its stories: every request counted once.
    const counted = () =>
      receiver.batches
        .flat()
        .filter((e) => e.kind === 'request_stats')
        .reduce((n, e) => n + e.requests, 0)
    expect(counted()).toBe(200)
    // Then a configuration that flushes on its own: 90 events through a bound of 50, in waves the exporter drains.
    await configure({
      telemetry: { max_pending_events: 50 },
      golden_signals: { service: 'final', batch_events: 8, flush_interval_ms: 50, routes: TRACED },
    })
    for (let wave = 0; wave < 3; wave++) {
      expect(await send(30, (i) => `final-${wave}-${i}`)).toEqual(Array(30).fill(200))
      expect(await until(() => received().length >= 200 + (wave + 1) * 30)).toBe(true)
    }
    expect(received()).toHaveLength(290)
    expect(await until(() => counted() === 290)).toBe(true)
    const all = receiver.batches.flat().length
    expect(await until(async () => (await promValue(envoy, 'exporter_events_sent')) === all)).toBe(true)
    expect(await promValue(envoy, 'golden_events_enqueued')).toBe(all)
    expect(await promValue(envoy, 'golden_events_dropped_queue_full')).toBe(0)
    expect(await promValue(envoy, 'golden_events_dropped_no_exporter')).toBe(0)
  }, 120_000)
})
