/**
 * The mesh filter's golden-signals plugin in real Envoy, after the canary
 * plugin in the same filter: per-request counts by status class and latency,
 * as labelled metrics at /stats/prometheus, agree with what the client saw;
 * callers cannot add stats by inventing model names or versions; a producer
 * under the wrong VM id is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  TELEMETRY_VM_ID,
  envoyVersion,
  EnvoyExitError,
  httpListener,
  prometheusSamples,
  startEnvoy,
  staticCluster,
  wasmHttpFilter,
  type RunningEnvoy,
} from '@model-mesh/testkit/envoy'
import { startUpstream, type Upstream } from '@model-mesh/testkit/upstream'
import { MESH_FILTER, type MeshFilterConfig, meshFilterWasm } from '../../config.ts'
import { GOLDEN_STATS_TAGS } from './stats-tags.ts'

const canaryConfig = {
  routes: [{ model: 'credit-risk', stable_version: '1', canary_version: '2', canary_weight_bp: 5000 }],
}

const samples = prometheusSamples
const goldenConfig = { service: 'gateway', models: ['credit-risk', 'latency-probe'] }
/** One filter: the canary plugin chooses the variant, the golden-signals plugin reports it. */
const meshConfig: MeshFilterConfig = { canary: canaryConfig, golden_signals: goldenConfig }

describe('golden-signals in Envoy', () => {
  let stable: Upstream
  let canary: Upstream
  let envoy: RunningEnvoy
  let gateway: string

  beforeAll(async () => {
    console.log(`Envoy ${await envoyVersion()}`)
    stable = await startUpstream('stable')
    canary = await startUpstream('canary')
    const routes = [
      {
        name: 'credit-risk',
        match: {
          prefix: '/v2/models/credit-risk/',
          headers: [{ name: 'x-mesh-variant', string_match: { exact: 'canary' } }],
        },
        route: { cluster: 'canary' },
      },
      { name: 'credit-risk', match: { prefix: '/v2/models/credit-risk/' }, route: { cluster: 'stable' } },
      { name: 'latency', match: { prefix: '/v2/models/latency-probe/' }, route: { cluster: 'stable' } },
      { name: 'any', match: { prefix: '/v2/models/' }, route: { cluster: 'stable' } },
    ]
    envoy = await startEnvoy({
      stats_config: { stats_tags: GOLDEN_STATS_TAGS },
      // Histograms reach /stats at each flush; flush often so the test need not wait.
      stats_flush_interval: '0.1s',
      static_resources: {
        listeners: [
          httpListener('gateway', routes, [
            wasmHttpFilter(MESH_FILTER, meshFilterWasm(), meshConfig, { vmId: TELEMETRY_VM_ID }),
          ]),
        ],
        clusters: [staticCluster('stable', stable.port), staticCluster('canary', canary.port)],
      },
    })
    gateway = envoy.listenerUrl('gateway')
  })
  afterAll(async () => {
    await envoy?.stop()
    await stable?.close()
    await canary?.close()
  })

  it('exports requests by route, model, version, variant and status class, matching what the client saw', async () => {
    const seen = { stable: { '2xx': 0, '5xx': 0 }, canary: { '2xx': 0, '5xx': 0 } }
    for (let i = 0; i < 120; i++) {
      const status = i % 4 === 0 ? 503 : 200
      const res = await fetch(`${gateway}/v2/models/credit-risk/infer`, {
        method: 'POST',
        headers: { 'x-user-id': `u${i}`, 'x-test-status': String(status) },
        body: '{}',
      })
      const body = (await res.json()) as { upstream: 'stable' | 'canary' }
      expect(res.status).toBe(status)
      seen[body.upstream][status === 200 ? '2xx' : '5xx']++
    }
    const metrics = samples(await fetch(`${envoy.adminUrl}/stats/prometheus`).then((r) => r.text()))
    const count = (variant: string, status_class: string) =>
      metrics.find(
        (s) => s.name === 'golden_rq' && s.labels.variant === variant && s.labels.status_class === status_class,
      )?.value ?? 0
    for (const variant of ['stable', 'canary'] as const) {
      const labels = metrics.find((s) => s.name === 'golden_rq' && s.labels.variant === variant)?.labels
      expect(labels).toMatchObject({
        route: 'credit-risk',
        model: 'credit-risk',
        version: variant === 'canary' ? '2' : '1',
      })
      expect(count(variant, '2xx')).toBe(seen[variant]['2xx'])
      expect(count(variant, '5xx')).toBe(seen[variant]['5xx'])
    }
  })

  it('records latencies that match what the client observed', async () => {
    // A route of its own, so the series holds exactly these requests.
    const delays = [20, 60, 120]
    let observed = 0
    for (const d of delays) {
      const t0 = performance.now()
      await fetch(`${gateway}/v2/models/latency-probe/infer`, {
        method: 'POST',
        headers: { 'x-test-delay-ms': String(d) },
        body: '{}',
      }).then((r) => r.text())
      observed += performance.now() - t0
    }
    const latency = async () => {
      const metrics = samples(await fetch(`${envoy.adminUrl}/stats/prometheus`).then((r) => r.text()))
      const pick = (name: string) => metrics.find((s) => s.name === name && s.labels.route === 'latency')?.value ?? 0
      return { count: pick('golden_latency_ms_count'), sum: pick('golden_latency_ms_sum') }
    }
    const before = Date.now()
    let h = await latency()
    while (h.count < delays.length && Date.now() - before < 5000) {
      await new Promise((r) => setTimeout(r, 100))
      h = await latency()
    }
    expect(h.count).toBe(delays.length)
    // Each record is Envoy's duration in whole ms: at least the upstream's delay, at most what the client waited.
    // Envoy's histograms keep two significant digits and sum their bins' midpoints, so the sum may
    // overstate each record by up to half a bin: 5% of it.
    expect(h.sum).toBeGreaterThanOrEqual(delays.reduce((a, b) => a + b, 0))
    expect(h.sum).toBeLessThanOrEqual(observed * 1.05)
  })

  it('1,000 requests to random model names, with made-up variants and versions, define a bounded number of Envoy stats', async () => {
    const stats = async () =>
      (await fetch(`${envoy.adminUrl}/stats?filter=^wasmcustom\\.golden\\.rt\\.`).then((r) => r.text()))
        .split('\n')
        .filter(Boolean)
    const before = await stats()
    const statuses: number[] = []
    for (let wave = 0; wave < 20; wave++) {
      const sent = Array.from({ length: 50 }, (_, k) => {
        const i = wave * 50 + k
        const headers = { 'x-mesh-variant': `v${i}`, 'x-model-version': `${i}` }
        return fetch(`${gateway}/v2/models/m-${i}-${Math.random().toString(36).slice(2)}/infer`, {
          method: 'POST',
          headers,
          body: '{}',
        }).then((r) => (r.body?.cancel(), r.status))
      })
      statuses.push(...(await Promise.all(sent)))
    }
    expect(statuses.filter((s) => s !== 200)).toEqual([])
    const names = (lines: string[]) => lines.map((l) => l.slice(0, l.indexOf(':')))
    const added = names(await stats()).filter((n) => !names(before).includes(n))
    // The one series of unknown models on that route (a counter and a histogram): no version, no variant.
    expect(added.sort()).toEqual([
      'wasmcustom.golden.rt.any.md.other.vs.none.vr.none.latency_ms',
      'wasmcustom.golden.rt.any.md.other.vs.none.vr.none.rq.sc.2xx',
    ])
    const metrics = samples(await fetch(`${envoy.adminUrl}/stats/prometheus`).then((r) => r.text()))
    expect(metrics.find((s) => s.name === 'golden_rq' && s.labels.route === 'any')).toMatchObject({
      labels: { model: 'other', version: 'none', variant: 'none', status_class: '2xx' },
      value: 1000,
    })
  })

  it("refuses to start a producer whose VM id is not the exporter's, naming telemetry.exporter_vm_id", async () => {
    // No vmId: the filter's VM id defaults to its name, mesh-filter.
    const err = await startEnvoy({
      static_resources: {
        listeners: [
          httpListener(
            'gateway',
            [{ match: { prefix: '/' }, route: { cluster: 'stable' } }],
            [wasmHttpFilter(MESH_FILTER, meshFilterWasm(), meshConfig)],
          ),
        ],
        clusters: [staticCluster('stable', stable.port)],
      },
    }).then(
      async (e) => (await e.stop(), undefined),
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(EnvoyExitError)
    // Envoy 1.40 gives an ABI 0.2.1 module its vm_config.vm_id as the plugin_vm_id property.
    expect((err as EnvoyExitError).output).toContain(
      'mesh-filter: invalid configuration: telemetry.exporter_vm_id: is "mesh-telemetry" but this plugin runs with vm_config.vm_id "mesh-filter"',
    )
  })

  it('counts events dropped while no exporter is running', async () => {
    await fetch(`${gateway}/v2/models/credit-risk/infer`, { method: 'POST', body: '{}' }).then((r) => r.text())
    const metrics = samples(await fetch(`${envoy.adminUrl}/stats/prometheus`).then((r) => r.text()))
    const dropped = metrics.find((s) => s.name === 'golden_events_dropped_no_exporter')
    expect(dropped?.value).toBeGreaterThan(0)
  })
})
