/**
 * @module
 * bench:mesh: the cost of the Wasm filters in Envoy. One Envoy proxy with three
 * listeners routing to the same upstream: `none` (router only), `native`
 * (Envoy doing as much of the filters' work as it can on its own: sticky
 * weighted clusters, route and cluster stats with tags, a JSON access log
 * line per request, a 5% sampled access log of headers; see
 * native-envoy.ts) and `filtered` (the mesh filter with its three plugins:
 * canary, sampling at 5% plus the confidence threshold, golden signals;
 * and the telemetry-exporter service draining to an agent). By default the upstream
 * is a second Envoy answering with direct_response, so the upstream costs
 * next to nothing and the comparison shows the filters' whole cost;
 * BENCH_UPSTREAM=host puts a real model host (credit-risk) behind both
 * listeners instead, the mesh as it runs. autocannon (its own process)
 * drives the three listeners in interleaved rounds; medians are reported
 * with the ratios (filtered/none, filtered/native, native/none). Then one
 * client sends requests one at a time (no queueing) to measure, in
 * microseconds, the latency each listener adds to a request over `none`,
 * and Envoy's CPU time per request.
 *
 * Prints a table and one JSON summary line. BENCH_SECONDS, BENCH_ROUNDS,
 * BENCH_CONCURRENCY, BENCH_PLUGINS (the mesh filter's, comma-separated;
 * empty: no mesh filter), BENCH_FIXTURES (fixture modules, comma-separated), BENCH_UPSTREAM
 * (envoy|host), BENCH_SEQUENTIAL (requests per listener), BENCH_PIN and
 * BENCH_NATIVE_LOG_DIR (write the native access logs there, not to
 * /dev/null) tune it. BENCH_PIN=1 gives the proxy a core of its own (taskset: the
 * proxy on CPU 0, everything else on CPU 1), as a sidecar or gateway with
 * reserved cores runs: the filters then cost throughput only when they
 * make the proxy the bottleneck.
 */
import { execFile, spawn } from 'node:child_process'
import { Agent, request as httpRequest } from 'node:http'
import { readdir, readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  envoyVersion,
  httpListener,
  ROOT,
  startEnvoy,
  staticCluster,
  TELEMETRY_VM_ID,
  wasmHttpFilter,
  wasmService,
} from '@model-mesh/testkit/envoy'
import {
  GOLDEN_STATS_TAGS,
  MESH_FILTER,
  meshFilterWasm,
  wasmPath,
  type MeshFilterConfig,
} from '@model-mesh/wasm-filters'
import { NATIVE_LISTENER, NATIVE_STATS_TAGS, nativeListener } from './native-envoy.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '16,64').split(',').filter(Boolean).map(Number)
/** Which plugins the `filtered` listener's mesh filter runs (all by default), to see each one's cost. */
const PLUGINS = (process.env.BENCH_PLUGINS ?? 'canary,sampling,golden_signals').split(',').filter(Boolean)
/**
 * Fixture modules after it, any number of times: `noop` prices being a Wasm filter at all,
 * `callbacks` every stream callback, `callbacks:H:P[:path]` with H header reads and P reads of a property on top.
 */
const FIXTURES = (process.env.BENCH_FIXTURES ?? '').split(',').filter(Boolean)
const UPSTREAM = process.env.BENCH_UPSTREAM ?? 'envoy'
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 3000)
const PIN = process.env.BENCH_PIN === '1'
const NATIVE_LOG_DIR = process.env.BENCH_NATIVE_LOG_DIR
/** The three listeners, in the order each round runs them. */
const LISTENERS = ['none', NATIVE_LISTENER, 'filtered'] as const
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!
const median = (xs: number[]) => quantile(xs, 0.5)

const body = JSON.stringify({
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: Array.from({ length: 16 }, (_, i) => i) }],
})

/** Moves a process, all its threads and their future children, onto the given CPUs. */
async function pin(pid: number, cpus: string) {
  await promisify(execFile)('taskset', ['--all-tasks', '--pid', '--cpu-list', cpus, String(pid)])
}

async function load(url: string, concurrency: number) {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      join(ROOT, 'node_modules/autocannon/autocannon.js'),
      '-c',
      String(concurrency),
      '-d',
      String(SECONDS),
      '-m',
      'POST',
      '-H',
      'content-type=application/json',
      '-H',
      'x-user-id=bench-user',
      '-b',
      body,
      '--json',
      url,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  )
  const r = JSON.parse(stdout)
  return {
    rps: r.requests.average as number,
    p50: r.latency.p50 as number,
    p99: r.latency.p99 as number,
    errors: (r.errors + r.non2xx) as number,
  }
}

/** Latencies (µs) of `n` requests sent one after another on one keep-alive connection. */
async function sequentialLatencies(url: string, n: number, agent: Agent): Promise<number[]> {
  const out: number[] = []
  const u = new URL(url)
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'x-user-id': `u${i % 100}`,
          },
        },
        (res) => {
          res.resume()
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))))
        },
      )
      req.on('error', reject)
      req.end(body)
    })
    out.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
  return out
}

/** CPU time a process's threads have run, in µs (/proc/<pid>/task/<tid>/schedstat, nanoseconds). */
async function cpuMicros(pid: number): Promise<number> {
  let ns = 0
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    ns += Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '0')).split(' ')[0])
  }
  return ns / 1000
}

/** A real model host serving the example models, as the mesh's upstream. */
async function startModelHost(): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin/model-host.mjs'), '--models', join(ROOT, 'models'), '--port', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } },
  )
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on(
      'line',
      (line) => line.includes('"msg":"ready"') && resolve(JSON.parse(line).port),
    )
    child.once('exit', (code) => reject(new Error(`model host exited (${code})`)))
  })
  return {
    port,
    pid: child.pid!,
    stop: () => new Promise((r) => (child.kill('SIGTERM'), child.once('exit', () => r()))),
  }
}

async function main() {
  process.stderr.write(
    `bench:mesh: Envoy ${await envoyVersion()}, upstream ${UPSTREAM}, ${ROUNDS} interleaved rounds of ${SECONDS}s, concurrency ${CONCURRENCIES.join(', ')}${PIN ? ', proxy pinned to CPU 0, the rest to CPU 1' : ''}\n`,
  )
  // The buffer filter reads the whole request before the direct response goes
  // out; answering a POST early makes Envoy close the connection after its
  // delayed-close timeout, which would dominate the measurement.
  const buffer = {
    name: 'envoy.filters.http.buffer',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer',
      max_request_bytes: 1_048_576,
    },
  }
  const response = JSON.stringify({
    model_name: 'credit-risk',
    model_version: '1',
    outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.9, 0.1] }],
  })
  const upstream = await startEnvoy(
    {
      static_resources: {
        listeners: [
          httpListener(
            'model',
            [
              {
                match: { prefix: '/' },
                direct_response: { status: 200, body: { inline_string: response } },
                response_headers_to_add: [{ header: { key: 'x-model-version', value: '1' } }],
              },
            ],
            [buffer],
          ),
          httpListener('agent', [{ match: { prefix: '/' }, direct_response: { status: 202 } }], [buffer]),
        ],
      },
    },
    { concurrency: 1 },
  )
  const host = UPSTREAM === 'host' ? await startModelHost() : undefined
  const port = (name: string) =>
    name === 'model' && host ? host.port : Number(new URL(upstream.listenerUrl(name)).port)
  const route = [{ name: 'credit-risk', match: { prefix: '/' }, route: { cluster: 'model' } }]
  // As mesh-config renders it: the canary router's x-mesh-variant picks the variant's cluster.
  const canaryRoutes = [
    {
      name: 'credit-risk',
      match: { prefix: '/', headers: [{ name: 'x-mesh-variant', string_match: { exact: 'canary' } }] },
      route: { cluster: 'model-canary' },
    },
    { name: 'credit-risk', match: { prefix: '/' }, route: { cluster: 'model-stable' } },
  ]
  const meshFilter: MeshFilterConfig = {
    ...(PLUGINS.includes('canary')
      ? {
          canary: {
            routes: [{ model: 'credit-risk', stable_version: '1', canary_version: '2', canary_weight_bp: 1000 }],
          },
        }
      : {}),
    ...(PLUGINS.includes('sampling')
      ? { sampling: { routes: [{ model: 'credit-risk', sample_rate_bp: 500, confidence_threshold: 0.5 }] } }
      : {}),
    ...(PLUGINS.includes('golden_signals') ? { golden_signals: { service: 'bench', models: ['credit-risk'] } } : {}),
  }
  const native = nativeListener({
    route: 'credit-risk',
    stable: { cluster: 'native-stable', version: '1' },
    canary: { cluster: 'native-canary', version: '2' },
    canaryWeightBp: 1000,
    stickyHeader: 'x-user-id',
    sampleRatePercent: 5,
    confidenceThreshold: 0.5,
    logDir: NATIVE_LOG_DIR,
  })
  const proxy = await startEnvoy(
    {
      stats_config: { stats_tags: [...GOLDEN_STATS_TAGS, ...NATIVE_STATS_TAGS] },
      bootstrap_extensions: [
        wasmService(
          'telemetry-exporter',
          wasmPath('telemetry-exporter'),
          { cluster: 'agent' },
          { vmId: TELEMETRY_VM_ID },
        ),
      ],
      static_resources: {
        listeners: [
          httpListener('none', route, []),
          native,
          httpListener('filtered', canaryRoutes, [
            ...(PLUGINS.length > 0
              ? [wasmHttpFilter(MESH_FILTER, meshFilterWasm(), meshFilter, { vmId: TELEMETRY_VM_ID })]
              : []),
            ...FIXTURES.flatMap((f, i) => {
              const [fixture, headers, properties, property] = f.split(':')
              const reads = {
                header_reads: Number(headers ?? 0),
                property_reads: Number(properties ?? 0),
                ...(property ? { property } : {}),
              }
              return fixture === 'noop' || fixture === 'callbacks'
                ? [wasmHttpFilter(`${fixture}-${i}`, wasmPath(`fixture-${fixture}`), reads)]
                : []
            }),
          ]),
        ],
        clusters: [
          ...['model', 'model-stable', 'model-canary', 'native-stable', 'native-canary'].map((c) =>
            staticCluster(c, port('model')),
          ),
          staticCluster('agent', port('agent')),
        ],
      },
    },
    { concurrency: 1 },
  )
  if (PIN) {
    await pin(proxy.child.pid!, '0')
    // This process too: the load generator and the one-at-a-time client are its children and itself.
    for (const pid of [process.pid, upstream.child.pid!, ...(host ? [host.pid] : [])]) await pin(pid, '1')
  }
  const url = (listener: string) => `${proxy.listenerUrl(listener)}/v2/models/credit-risk/infer`
  const rows: { target: string; concurrency: number; rps: number; p50Ms: number; p99Ms: number; errors: number }[] = []
  let sequential: Record<string, { p50Us: number; p99Us: number; envoyCpuUsPerRequest: number }> = {}
  const statValues = async (filter: string): Promise<Record<string, number>> => {
    const json = (await fetch(`${proxy.adminUrl}/stats?format=json&filter=${encodeURIComponent(filter)}`).then((r) =>
      r.json(),
    )) as { stats?: { name: string; value?: number }[] }
    return Object.fromEntries(
      (json.stats ?? []).filter((s) => typeof s.value === 'number').map((s) => [s.name, s.value!]),
    )
  }
  const VARIANT_STATS = '^cluster\\.(model|native)-(stable|canary)\\.upstream_rq_total$'
  try {
    for (const l of LISTENERS) await load(url(l), 8) // warm-up
    for (const c of CONCURRENCIES) {
      const samples: Record<string, Awaited<ReturnType<typeof load>>[]> = Object.fromEntries(
        LISTENERS.map((l) => [l, []]),
      )
      // Rounds alternate the order (a b c, c b a, ...) so no listener always runs after the same one.
      for (let round = 0; round < ROUNDS; round++)
        for (const l of round % 2 ? [...LISTENERS].reverse() : LISTENERS) samples[l]!.push(await load(url(l), c))
      for (const [target, xs] of Object.entries(samples)) {
        const row = {
          target,
          concurrency: c,
          rps: median(xs.map((x) => x.rps)),
          p50Ms: median(xs.map((x) => x.p50)),
          p99Ms: median(xs.map((x) => x.p99)),
          errors: xs.reduce((n, x) => n + x.errors, 0),
        }
        rows.push(row)
        process.stderr.write(`  ${target} c=${c}: ${row.rps.toFixed(0)} rps p50 ${row.p50Ms} ms p99 ${row.p99Ms} ms\n`)
      }
    }
    // One request at a time, interleaved in blocks: the latency each request pays, without queueing.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const latencies: Record<string, number[]> = Object.fromEntries(LISTENERS.map((l) => [l, []]))
    // Envoy's own CPU time per request: steadier than latency on a shared machine.
    const cpuUs: Record<string, number> = Object.fromEntries(LISTENERS.map((l) => [l, 0]))
    const variantsBefore = await statValues(VARIANT_STATS)
    for (let done = 0, block = 0; done < SEQUENTIAL; done += 100, block++) {
      for (const l of block % 2 ? [...LISTENERS].reverse() : LISTENERS) {
        const before = await cpuMicros(proxy.child.pid!)
        latencies[l]!.push(...(await sequentialLatencies(url(l), Math.min(100, SEQUENTIAL - done), agent)))
        cpuUs[l]! += (await cpuMicros(proxy.child.pid!)) - before
      }
    }
    agent.destroy()
    sequential = Object.fromEntries(
      Object.entries(latencies).map(([l, xs]) => [
        l,
        { p50Us: quantile(xs, 0.5), p99Us: quantile(xs, 0.99), envoyCpuUsPerRequest: cpuUs[l]! / xs.length },
      ]),
    )
    process.stderr.write(
      `  one at a time: ${Object.entries(sequential)
        .map(
          ([l, q]) =>
            `${l} p50 ${q.p50Us.toFixed(0)} µs p99 ${q.p99Us.toFixed(0)} µs, Envoy CPU ${q.envoyCpuUsPerRequest.toFixed(0)} µs/request`,
        )
        .join('; ')}\n`,
    )
    // The canary share over the one-at-a-time requests (100 sticky keys; the load phase sends one key, so one variant).
    const variantsAfter = await statValues(VARIANT_STATS)
    const sent = (prefix: string, variant: string) =>
      (variantsAfter[`cluster.${prefix}-${variant}.upstream_rq_total`] ?? 0) -
      (variantsBefore[`cluster.${prefix}-${variant}.upstream_rq_total`] ?? 0)
    const share = (prefix: string) =>
      sent(prefix, 'canary') / Math.max(1, sent(prefix, 'canary') + sent(prefix, 'stable'))
    process.stderr.write(
      `  canary share one at a time (target 10%): native ${(share('native') * 100).toFixed(1)}%, filtered ${(share('model') * 100).toFixed(1)}%${PLUGINS.includes('canary') ? '' : ' (no canary plugin)'}\n`,
    )
    const telemetry = await statValues('exporter|golden.events')
    process.stderr.write(`  telemetry: ${JSON.stringify(Object.entries(telemetry).map(([k, v]) => `${k}=${v}`))}\n`)
    const stats = await fetch(`${proxy.adminUrl}/stats/prometheus`).then((r) => r.text())
    const nativeSeries = stats
      .split('\n')
      .filter((l) =>
        /^envoy_(cluster_upstream_rq_xx\{.*variant=|vhost_route_upstream_rq_xx\{|vhost_vcluster_upstream_rq_xx\{.*"infer")/.test(
          l,
        ),
      )
    process.stderr.write(`  native stats: ${nativeSeries.join(' | ')}\n`)
  } finally {
    await proxy.stop()
    await upstream.stop()
    await host?.stop()
  }
  console.log(
    `\n${'listener'.padEnd(10)} ${'conc'.padStart(5)} ${'rps'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(7)}`,
  )
  for (const r of rows)
    console.log(
      `${r.target.padEnd(10)} ${String(r.concurrency).padStart(5)} ${r.rps.toFixed(0).padStart(9)} ${r.p50Ms.toFixed(2).padStart(8)} ${r.p99Ms.toFixed(2).padStart(8)} ${String(r.errors).padStart(7)}`,
    )
  console.log(
    `\n${'one at a time'.padEnd(14)} ${'p50 µs'.padStart(8)} ${'p99 µs'.padStart(8)} ${'added p50'.padStart(10)} ${'CPU µs/rq'.padStart(10)} ${'CPU ratio'.padStart(10)}`,
  )
  for (const [l, q] of Object.entries(sequential)) {
    const none = sequential.none!
    console.log(
      `${l.padEnd(14)} ${q.p50Us.toFixed(0).padStart(8)} ${q.p99Us.toFixed(0).padStart(8)} ${(q.p50Us - none.p50Us).toFixed(0).padStart(10)} ${q.envoyCpuUsPerRequest.toFixed(0).padStart(10)} ${(q.envoyCpuUsPerRequest / none.envoyCpuUsPerRequest).toFixed(2).padStart(10)}`,
    )
  }
  const at = (target: string, c: number) => rows.find((r) => r.target === target && r.concurrency === c)!
  const ratios: Record<string, number> = Object.fromEntries(
    CONCURRENCIES.flatMap((c) => [
      // filtered over none, under the names earlier runs used.
      [`throughput_ratio_c${c}`, at('filtered', c).rps / at('none', c).rps],
      [`throughput_filtered_over_native_c${c}`, at('filtered', c).rps / at(NATIVE_LISTENER, c).rps],
      [`throughput_native_over_none_c${c}`, at(NATIVE_LISTENER, c).rps / at('none', c).rps],
      [`p50_added_us_c${c}`, (at('filtered', c).p50Ms - at('none', c).p50Ms) * 1000],
      [`p50_native_added_us_c${c}`, (at(NATIVE_LISTENER, c).p50Ms - at('none', c).p50Ms) * 1000],
    ]),
  )
  const [none, nat, filtered] = LISTENERS.map((l) => sequential[l]!)
  ratios.p50_added_us_one_at_a_time = filtered!.p50Us - none!.p50Us
  ratios.p50_native_added_us_one_at_a_time = nat!.p50Us - none!.p50Us
  ratios.envoy_cpu_added_us_per_request = filtered!.envoyCpuUsPerRequest - none!.envoyCpuUsPerRequest
  ratios.envoy_cpu_native_added_us_per_request = nat!.envoyCpuUsPerRequest - none!.envoyCpuUsPerRequest
  ratios.envoy_cpu_ratio_filtered_over_none = filtered!.envoyCpuUsPerRequest / none!.envoyCpuUsPerRequest
  ratios.envoy_cpu_ratio_filtered_over_native = filtered!.envoyCpuUsPerRequest / nat!.envoyCpuUsPerRequest
  ratios.envoy_cpu_ratio_native_over_none = nat!.envoyCpuUsPerRequest / none!.envoyCpuUsPerRequest
  // Issue 10, section 3: throughput proxy-bound (direct-response upstream); 0.9 of none as deployed (model host, BENCH_PIN=1).
  const targets = {
    throughput_filtered_over_native_min: 0.9,
    throughput_filtered_over_none_min: UPSTREAM === 'host' && PIN ? 0.9 : 0.8,
    p50_added_us_one_at_a_time_max: 60,
  }
  console.log(
    '\nratios (medians of interleaved rounds):',
    Object.entries(ratios)
      .map(([k, v]) => `${k}=${(v as number).toFixed(2)}`)
      .join('  '),
  )
  console.log(
    JSON.stringify({
      bench: 'mesh',
      upstream: UPSTREAM,
      pinned: PIN,
      filters: [
        ...(PLUGINS.length > 0 ? [`${MESH_FILTER} (${PLUGINS.join(', ')})`] : []),
        ...FIXTURES,
        'telemetry-exporter (service)',
      ],
      native:
        'sticky weighted_clusters (use_hash_policy), route stat_prefix + virtual cluster + stats_tags, JSON access log per request, 5% sampled header access log',
      seconds: SECONDS,
      rounds: ROUNDS,
      ratios,
      targets,
      rows,
      sequential,
    }),
  )
}

await main()
