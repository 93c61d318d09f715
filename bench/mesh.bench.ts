/**
 * @module
 * bench:mesh: the cost of the Wasm filters in Envoy. One Envoy proxy with two
 * listeners routing to the same upstream: `plain` (router only) and
 * `filtered` (canary-router, payload-sampler at 5%, golden-signals, and the
 * telemetry-exporter service draining to an agent). By default the upstream
 * is a second Envoy answering with direct_response, so the upstream costs
 * next to nothing and the comparison shows the filters' whole cost;
 * BENCH_UPSTREAM=host puts a real model host (credit-risk) behind both
 * listeners instead, the mesh as it runs. autocannon (its own process)
 * drives both listeners in interleaved rounds; medians are reported with
 * the ratios. Then one client sends requests one at a time (no queueing)
 * to measure, in microseconds, the latency the filters add to a request.
 *
 * Prints a table and one JSON summary line. BENCH_SECONDS, BENCH_ROUNDS,
 * BENCH_CONCURRENCY, BENCH_FILTERS (comma-separated), BENCH_UPSTREAM
 * (envoy|host), BENCH_SEQUENTIAL (requests per listener) and BENCH_PIN
 * tune it. BENCH_PIN=1 gives the proxy a core of its own (taskset: the
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
import { TELEMETRY_VM_ID, envoyVersion, httpListener, ROOT, startEnvoy, staticCluster, wasmHttpFilter, wasmService } from '../test/support/envoy.ts'
import { wasmPath } from '../wasm-filters/build.ts'
import { GOLDEN_STATS_TAGS } from '../wasm-filters/golden-signals/stats-tags.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '16,64').split(',').filter(Boolean).map(Number)
/** Which filters the `filtered` listener runs (all by default), to see each one's cost. */
const FILTERS = (process.env.BENCH_FILTERS ?? 'canary-router,payload-sampler,golden-signals').split(',').filter(Boolean)
const UPSTREAM = process.env.BENCH_UPSTREAM ?? 'envoy'
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 3000)
const PIN = process.env.BENCH_PIN === '1'
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!
const median = (xs: number[]) => quantile(xs, 0.5)

const body = JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: Array.from({ length: 16 }, (_, i) => i) }] })

/** Moves a process, all its threads and their future children, onto the given CPUs. */
async function pin(pid: number, cpus: string) {
  await promisify(execFile)('taskset', ['--all-tasks', '--pid', '--cpu-list', cpus, String(pid)])
}

async function load(url: string, concurrency: number) {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(ROOT, 'node_modules/autocannon/autocannon.js'), '-c', String(concurrency), '-d', String(SECONDS), '-m', 'POST', '-H', 'content-type=application/json', '-H', 'x-user-id=bench-user', '-b', body, '--json', url],
    { maxBuffer: 64 * 1024 * 1024 },
  )
  const r = JSON.parse(stdout)
  return { rps: r.requests.average as number, p50: r.latency.p50 as number, p99: r.latency.p99 as number, errors: (r.errors + r.non2xx) as number }
}

/** Latencies (µs) of `n` requests sent one after another on one keep-alive connection. */
async function sequentialLatencies(url: string, n: number, agent: Agent): Promise<number[]> {
  const out: number[] = []
  const u = new URL(url)
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-user-id': `u${i % 100}` } }, (res) => {
        res.resume()
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))))
      })
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
  const child = spawn(process.execPath, [join(ROOT, 'bin/model-host.mjs'), '--models', join(ROOT, 'models'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } })
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => line.includes('"msg":"ready"') && resolve(JSON.parse(line).port))
    child.once('exit', (code) => reject(new Error(`model host exited (${code})`)))
  })
  return { port, pid: child.pid!, stop: () => new Promise((r) => (child.kill('SIGTERM'), child.once('exit', () => r()))) }
}

async function main() {
  process.stderr.write(`bench:mesh: Envoy ${await envoyVersion()}, upstream ${UPSTREAM}, ${ROUNDS} interleaved rounds of ${SECONDS}s, concurrency ${CONCURRENCIES.join(', ')}${PIN ? ', proxy pinned to CPU 0, the rest to CPU 1' : ''}\n`)
  // The buffer filter reads the whole request before the direct response goes
  // out; answering a POST early makes Envoy close the connection after its
  // delayed-close timeout, which would dominate the measurement.
  const buffer = { name: 'envoy.filters.http.buffer', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer', max_request_bytes: 1_048_576 } }
  const response = JSON.stringify({ model_name: 'credit-risk', model_version: '1', outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.9, 0.1] }] })
  const upstream = await startEnvoy(
    {
      static_resources: {
        listeners: [
          httpListener('model', [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: response } }, response_headers_to_add: [{ header: { key: 'x-model-version', value: '1' } }] }], [buffer]),
          httpListener('agent', [{ match: { prefix: '/' }, direct_response: { status: 202 } }], [buffer]),
        ],
      },
    },
    { concurrency: 1 },
  )
  const host = UPSTREAM === 'host' ? await startModelHost() : undefined
  const port = (name: string) => (name === 'model' && host ? host.port : Number(new URL(upstream.listenerUrl(name)).port))
  const route = [{ name: 'credit-risk', match: { prefix: '/' }, route: { cluster: 'model' } }]
  const canary = { routes: [{ model: 'credit-risk', stable_version: '1', canary_version: '2', canary_weight_bp: 1000 }] }
  const proxy = await startEnvoy(
    {
      stats_config: { stats_tags: GOLDEN_STATS_TAGS },
      bootstrap_extensions: [wasmService('telemetry-exporter', wasmPath('telemetry-exporter'), { cluster: 'agent' }, { vmId: TELEMETRY_VM_ID })],
      static_resources: {
        listeners: [
          httpListener('plain', route, []),
          httpListener('filtered', route, [
            ...(FILTERS.includes('canary-router') ? [wasmHttpFilter('canary-router', wasmPath('canary-router'), canary)] : []),
            ...(FILTERS.includes('payload-sampler') ? [wasmHttpFilter('payload-sampler', wasmPath('payload-sampler'), { routes: [{ model: 'credit-risk', sample_rate_bp: 500, confidence_threshold: 0.5 }] }, { vmId: TELEMETRY_VM_ID })] : []),
            ...(FILTERS.includes('golden-signals') ? [wasmHttpFilter('golden-signals', wasmPath('golden-signals'), { service: 'bench', models: ['credit-risk'] }, { vmId: TELEMETRY_VM_ID })] : []),
            // Fixtures, any number of times: `noop` prices being a Wasm filter at all,
            // `callbacks` every stream callback, `callbacks:H:P[:path]` with H header reads and P reads of a property on top.
            ...FILTERS.flatMap((f, i) => {
              const [fixture, headers, properties, property] = f.split(':')
              const reads = { header_reads: Number(headers ?? 0), property_reads: Number(properties ?? 0), ...(property ? { property } : {}) }
              return fixture === 'noop' || fixture === 'callbacks' ? [wasmHttpFilter(`${fixture}-${i}`, wasmPath(`fixture-${fixture}`), reads)] : []
            }),
          ]),
        ],
        clusters: [staticCluster('model', port('model')), staticCluster('agent', port('agent'))],
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
  try {
    for (const l of ['plain', 'filtered']) await load(url(l), 8) // warm-up
    for (const c of CONCURRENCIES) {
      const samples: Record<string, Awaited<ReturnType<typeof load>>[]> = { plain: [], filtered: [] }
      for (let round = 0; round < ROUNDS; round++) for (const l of ['plain', 'filtered']) samples[l]!.push(await load(url(l), c))
      for (const [target, xs] of Object.entries(samples)) {
        const row = { target, concurrency: c, rps: median(xs.map((x) => x.rps)), p50Ms: median(xs.map((x) => x.p50)), p99Ms: median(xs.map((x) => x.p99)), errors: xs.reduce((n, x) => n + x.errors, 0) }
        rows.push(row)
        process.stderr.write(`  ${target} c=${c}: ${row.rps.toFixed(0)} rps p50 ${row.p50Ms} ms p99 ${row.p99Ms} ms\n`)
      }
    }
    // One request at a time, interleaved in blocks: the latency each request pays, without queueing.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const latencies: Record<string, number[]> = { plain: [], filtered: [] }
    // Envoy's own CPU time per request: steadier than latency on a shared machine.
    const cpuUs: Record<string, number> = { plain: 0, filtered: 0 }
    for (let done = 0; done < SEQUENTIAL; done += 100) {
      for (const l of ['plain', 'filtered']) {
        const before = await cpuMicros(proxy.child.pid!)
        latencies[l]!.push(...(await sequentialLatencies(url(l), Math.min(100, SEQUENTIAL - done), agent)))
        cpuUs[l]! += (await cpuMicros(proxy.child.pid!)) - before
      }
    }
    agent.destroy()
    sequential = Object.fromEntries(Object.entries(latencies).map(([l, xs]) => [l, { p50Us: quantile(xs, 0.5), p99Us: quantile(xs, 0.99), envoyCpuUsPerRequest: cpuUs[l]! / xs.length }]))
    process.stderr.write(`  one at a time: ${Object.entries(sequential).map(([l, q]) => `${l} p50 ${q.p50Us.toFixed(0)} µs p99 ${q.p99Us.toFixed(0)} µs, Envoy CPU ${q.envoyCpuUsPerRequest.toFixed(0)} µs/request`).join('; ')}\n`)
    const sent = await fetch(`${proxy.adminUrl}/stats?filter=exporter|golden.events&format=json`).then((r) => r.json())
    process.stderr.write(`  telemetry: ${JSON.stringify(sent.stats?.map((s: { name: string; value: number }) => `${s.name}=${s.value}`))}\n`)
  } finally {
    await proxy.stop()
    await upstream.stop()
    await host?.stop()
  }
  console.log(`\n${'listener'.padEnd(10)} ${'conc'.padStart(5)} ${'rps'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(7)}`)
  for (const r of rows) console.log(`${r.target.padEnd(10)} ${String(r.concurrency).padStart(5)} ${r.rps.toFixed(0).padStart(9)} ${r.p50Ms.toFixed(2).padStart(8)} ${r.p99Ms.toFixed(2).padStart(8)} ${String(r.errors).padStart(7)}`)
  const ratios: Record<string, number> = Object.fromEntries(
    CONCURRENCIES.flatMap((c) => {
      const plain = rows.find((r) => r.target === 'plain' && r.concurrency === c)!
      const filtered = rows.find((r) => r.target === 'filtered' && r.concurrency === c)!
      return [
        [`throughput_ratio_c${c}`, filtered.rps / plain.rps],
        [`p50_added_us_c${c}`, (filtered.p50Ms - plain.p50Ms) * 1000],
      ]
    }),
  )
  ratios.p50_added_us_one_at_a_time = sequential.filtered!.p50Us - sequential.plain!.p50Us
  ratios.envoy_cpu_added_us_per_request = sequential.filtered!.envoyCpuUsPerRequest - sequential.plain!.envoyCpuUsPerRequest
  const targets = { throughput_ratio_min: 0.9, p50_added_us_max: 100 }
  console.log('\nratios (medians of interleaved rounds):', Object.entries(ratios).map(([k, v]) => `${k}=${(v as number).toFixed(2)}`).join('  '))
  console.log(JSON.stringify({ bench: 'mesh', upstream: UPSTREAM, pinned: PIN, filters: [...FILTERS, 'telemetry-exporter (service)'], seconds: SECONDS, rounds: ROUNDS, ratios, targets, rows, sequential }))
}

await main()
