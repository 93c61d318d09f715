/**
 * golden-signals in real Envoy, behind canary-router: per-request counts by
 * status class and latency, as labelled metrics at /stats/prometheus, agree
 * with what the client saw.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TELEMETRY_VM_ID, envoyVersion, httpListener, prometheusSamples, startEnvoy, staticCluster, wasmHttpFilter, type RunningEnvoy } from '../../test/support/envoy.ts'
import { startUpstream, type Upstream } from '../../test/support/upstream.ts'
import { wasmPath } from '../build.ts'
import { GOLDEN_STATS_TAGS } from './stats-tags.ts'

const canaryConfig = { routes: [{ model: 'credit-risk', stable_version: '1', canary_version: '2', canary_weight_bp: 5000 }] }

const samples = prometheusSamples

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
      { name: 'credit-risk', match: { prefix: '/v2/models/credit-risk/', headers: [{ name: 'x-mesh-variant', string_match: { exact: 'canary' } }] }, route: { cluster: 'canary' } },
      { name: 'credit-risk', match: { prefix: '/v2/models/credit-risk/' }, route: { cluster: 'stable' } },
      { name: 'latency', match: { prefix: '/v2/models/latency-probe/' }, route: { cluster: 'stable' } },
    ]
    envoy = await startEnvoy({
      stats_config: { stats_tags: GOLDEN_STATS_TAGS },
      // Histograms reach /stats at each flush; flush often so the test need not wait.
      stats_flush_interval: '0.1s',
      static_resources: {
        listeners: [
          httpListener('gateway', routes, [
            wasmHttpFilter('canary-router', wasmPath('canary-router'), canaryConfig),
            wasmHttpFilter('golden-signals', wasmPath('golden-signals'), { service: 'gateway' }, { vmId: TELEMETRY_VM_ID }),
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
      const res = await fetch(`${gateway}/v2/models/credit-risk/infer`, { method: 'POST', headers: { 'x-user-id': `u${i}`, 'x-test-status': String(status) }, body: '{}' })
      const body = (await res.json()) as { upstream: 'stable' | 'canary' }
      expect(res.status).toBe(status)
      seen[body.upstream][status === 200 ? '2xx' : '5xx']++
    }
    const metrics = samples(await fetch(`${envoy.adminUrl}/stats/prometheus`).then((r) => r.text()))
    const count = (variant: string, status_class: string) =>
      metrics.find((s) => s.name === 'golden_rq' && s.labels.variant === variant && s.labels.status_class === status_class)?.value ?? 0
    for (const variant of ['stable', 'canary'] as const) {
      const labels = metrics.find((s) => s.name === 'golden_rq' && s.labels.variant === variant)?.labels
      expect(labels).toMatchObject({ route: 'credit-risk', model: 'credit-risk', version: variant === 'canary' ? '2' : '1' })
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
      await fetch(`${gateway}/v2/models/latency-probe/infer`, { method: 'POST', headers: { 'x-test-delay-ms': String(d) }, body: '{}' }).then((r) => r.text())
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

  it('counts events dropped while no exporter is running', async () => {
    await fetch(`${gateway}/v2/models/credit-risk/infer`, { method: 'POST', body: '{}' }).then((r) => r.text())
    const metrics = samples(await fetch(`${envoy.adminUrl}/stats/prometheus`).then((r) => r.text()))
    const dropped = metrics.find((s) => s.name === 'golden_events_dropped_no_exporter')
    expect(dropped?.value).toBeGreaterThan(0)
  })
})
