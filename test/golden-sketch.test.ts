/**
 * Golden signals aggregated in the proxy, end to end on real parts: two
 * Envoys with two workers each run the mesh filter and the exporter, each
 * posting to its own agent; both agents publish to one nats-server and one
 * collector merges every worker's request_stats records. Mixed statuses and
 * latencies from a client give exactly the client's counts, split as it saw
 * them, and the p50, p95 and p99 the collector reports are within the
 * sketch's 1% of the exact percentiles of the durations Envoy itself wrote
 * in an access log for the same requests. Every failed request has its
 * story at the collector; an ordinary success is only counted.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeClass, DEFAULT_STREAM_LIMITS, LATENCY_SKETCH_ACCURACY } from '@model-mesh/contracts'
import { TELEMETRY_TOKEN_ENV } from '@model-mesh/mesh-config'
import { startAgent, type RunningAgent } from '@model-mesh/telemetry-agent'
import { startCollector, type RunningCollector } from '@model-mesh/telemetry-collector'
import {
  httpListener,
  startEnvoy,
  staticCluster,
  TELEMETRY_VM_ID,
  wasmHttpFilter,
  wasmService,
  type RunningEnvoy,
} from '@model-mesh/testkit/envoy'
import { eventually, metrics, metricSum } from '@model-mesh/testkit/events'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { startUpstream, type Upstream } from '@model-mesh/testkit/upstream'
import { MESH_FILTER, meshFilterWasm, wasmPath } from '@model-mesh/wasm-filters'

/** Milliseconds of a duration as CEL prints one (Go's form: "9.491107ms", "950µs", "1.2s", "1m2.5s"). */
function durationMs(text: string): number {
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 }
  const parts = [...text.matchAll(/([\d.]+)(h|ms|m|s|us|µs|ns)/g)]
  if (parts.map((p) => p[0]).join('') !== text) throw new Error(`not a duration: ${text}`)
  return parts.reduce((ms, [, n, u]) => ms + Number(n) * unit[u!]!, 0)
}

const TOKEN = 'golden-sketch-test-token-0123456789'
const ROUTE = 'credit-risk'
const REQUESTS = 600

describe('golden signals aggregated in the proxy: two Envoys of two workers, two agents, one collector', () => {
  let nats: RunningNats
  let collector: RunningCollector
  let upstream: Upstream
  let dir = ''
  const agents: RunningAgent[] = []
  const envoys: RunningEnvoy[] = []
  const logs: string[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'golden-sketch-'))
    nats = await startNats()
    collector = await startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      storeDir: join(dir, 'store'),
      models: [ROUTE],
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
    })
    await collector.ready
    upstream = await startUpstream('stable')
    for (const i of [0, 1]) {
      const agent = await startAgent({
        token: TOKEN,
        id: `sketch-${i}`,
        address: '127.0.0.1',
        port: 0,
        natsUrl: nats.url,
        models: [ROUTE],
        spool: { dir: join(dir, `spool-${i}`), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
        log: () => {},
      })
      agents.push(agent)
      const log = join(dir, `access-${i}.log`)
      logs.push(log)
      // Envoy's own account of each request: its id, status and duration (the same request.duration the filter reads).
      const accessLog = {
        access_log: [
          {
            name: 'envoy.access_loggers.file',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
              path: log,
              log_format: {
                text_format_source: {
                  inline_string: '%REQ(X-REQUEST-ID)% %RESPONSE_CODE% %CEL(request.duration)%\n',
                },
                formatters: [
                  {
                    name: 'envoy.formatter.cel',
                    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.formatter.cel.v3.Cel' },
                  },
                ],
              },
            },
          },
        ],
      }
      envoys.push(
        await startEnvoy(
          {
            bootstrap_extensions: [
              wasmService(
                'telemetry-exporter',
                wasmPath('telemetry-exporter'),
                { cluster: 'telemetry-agent', token_env: TELEMETRY_TOKEN_ENV, flush_interval_ms: 100 },
                { vmId: TELEMETRY_VM_ID, hostEnvKeys: [TELEMETRY_TOKEN_ENV] },
              ),
            ],
            static_resources: {
              listeners: [
                httpListener(
                  'gateway',
                  [{ name: ROUTE, match: { prefix: '/' }, route: { cluster: 'stable' } }],
                  [
                    wasmHttpFilter(
                      MESH_FILTER,
                      meshFilterWasm(),
                      { golden_signals: { models: [ROUTE], stats_interval_ms: 500 } },
                      { vmId: TELEMETRY_VM_ID },
                    ),
                  ],
                  accessLog,
                ),
              ],
              clusters: [staticCluster('stable', upstream.port), staticCluster('telemetry-agent', agent.port)],
            },
          },
          { concurrency: 2, env: { [TELEMETRY_TOKEN_ENV]: TOKEN } },
        ),
      )
    }
  })
  afterAll(async () => {
    for (const e of envoys) await e.stop()
    for (const a of agents) await a.close()
    await collector?.close()
    await upstream?.close()
    await nats?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it("counts exactly what the client saw, and the collector's percentiles are within 1% of Envoy's own log", async () => {
    // Mixed statuses and latencies (0 to 60 ms), over both gateways and several connections each.
    const statusOf = (i: number) => (i % 10 === 7 ? 404 : i % 20 === 3 ? 503 : 200)
    const seen = new Map<string, number>()
    let next = 0
    const caller = async () => {
      while (next < REQUESTS) {
        const i = next++
        const gateway = envoys[i % 2]!.listenerUrl('gateway')
        const res = await fetch(`${gateway}/v2/models/${ROUTE}/infer`, {
          method: 'POST',
          headers: {
            'x-request-id': `sketch-${i}`,
            'x-test-status': String(statusOf(i)),
            'x-test-delay-ms': String((i * 37) % 61),
          },
          body: '{}',
        })
        await res.arrayBuffer()
        seen.set(codeClass(res.status), (seen.get(codeClass(res.status)) ?? 0) + 1)
      }
    }
    await Promise.all(Array.from({ length: 8 }, caller))
    const failedIds = Array.from({ length: REQUESTS }, (_, i) => i)
      .filter((i) => statusOf(i) !== 200)
      .map((i) => `sketch-${i}`)

    const text = await eventually(
      () => metrics(collector.url),
      (t) => metricSum(t, 'mesh_requests_total', { route: ROUTE }) >= REQUESTS,
      30_000,
    )
    expect(metricSum(text, 'mesh_requests_total', { route: ROUTE })).toBe(REQUESTS)
    for (const [cls, n] of seen) expect(metricSum(text, 'mesh_requests_total', { code_class: cls }), cls).toBe(n)

    // Envoy's access logs are the reference: every request, its duration to the nanosecond (Envoy writes them within a second or so).
    const logged = await eventually(
      async () => (await Promise.all(logs.map((l) => readFile(l, 'utf8')))).flatMap((t) => t.trim().split('\n')),
      (lines) => lines.length >= REQUESTS,
      15_000,
    )
    expect(logged).toHaveLength(REQUESTS)
    const durations = logged.map((line) => durationMs(line.split(' ')[2]!)).sort((a, b) => a - b)
    const window = (await (await fetch(`${collector.url}/api/v1/windows?window=5m`)).json()) as {
      series: { labels: { route: string }; requests: number; latency_ms: Record<string, number> }[]
    }
    const series = window.series.filter((s) => s.labels.route === ROUTE)
    expect(series).toHaveLength(1)
    for (const [q, p] of [
      [0.5, 'p50'],
      [0.95, 'p95'],
      [0.99, 'p99'],
    ] as const) {
      const exact = durations[Math.floor(q * (durations.length - 1))]!
      // The sketch's accuracy, and the API's rounding to the microsecond.
      expect(
        Math.abs(series[0]!.latency_ms[p]! - exact),
        `${p}: ${series[0]!.latency_ms[p]} vs ${exact}`,
      ).toBeLessThanOrEqual(exact * LATENCY_SKETCH_ACCURACY + 0.001)
    }

    // Every failed request has its story; an ordinary fast success is only counted, and the API says so.
    const story = (id: string) => fetch(`${collector.url}/api/v1/requests/${id}`)
    const stories = await eventually(
      async () => (await Promise.all(failedIds.map(async (id) => (await story(id)).status))).filter((s) => s === 200),
      (found) => found.length === failedIds.length,
    )
    expect(stories).toHaveLength(failedIds.length)
    const ordinary = await story('sketch-1')
    expect(ordinary.status).toBe(404)
    expect(((await ordinary.json()) as { detail: string }).detail).toMatch(/counted in its route's signals only/)
  }, 60_000)
})
