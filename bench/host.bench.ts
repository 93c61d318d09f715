/**
 * @module
 * bench:host: drives the model host over loopback with a real load generator
 * (autocannon, in its own process) and compares it with its ceilings, all in
 * one run so the ratios hold on a shared, noisy machine.
 *
 *   (a) HTTP ceiling: a bare Hono endpoint
 *   (b) compute ceiling: onnxruntime in-process on credit-risk-xl, batch 1 and max batch
 *   (c) host, credit-risk-xl, batching off (max_batch_size 1)
 *   (d) host, credit-risk-xl, dynamic batching
 *   (e) host, credit-risk, dynamic batching
 *
 * Prints a table and one JSON summary line. BENCH_SECONDS sets each run's length.
 */
import { execFile, spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import ort from 'onnxruntime-node'
import { sampleRows } from '../model-host/example-models/dataset.ts'
import { jsonInfer } from '../model-host/test/client.ts'
import { copyRepository, editConfig, EXAMPLE_MODELS, ROOT, spawnHost } from '../model-host/test/host-process.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '1,8,64,256').split(',').map(Number)
const XL = 'credit-risk-xl'
const XL_MAX_BATCH = 128

interface Row {
  target: string
  concurrency: number | string
  rowsPerSec: number
  p50Ms: number
  p99Ms: number
  errors?: number
}
const rows: Row[] = []

const body = JSON.stringify(jsonInfer(sampleRows(1, 5)))

/** One autocannon run in a child process (so the load generator never shares an event loop with a server). */
async function load(url: string, concurrency: number, seconds = SECONDS): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(ROOT, 'node_modules/autocannon/autocannon.js'), '-c', String(concurrency), '-d', String(seconds), '-m', 'POST', '-H', 'content-type=application/json', '-b', body, '--json', url],
    { maxBuffer: 64 * 1024 * 1024 },
  )
  const r = JSON.parse(stdout)
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx }
}

async function measureHttp(target: string, url: string) {
  await load(url, 8, 1) // warm-up: JIT, sessions, batch-time estimate
  for (const c of CONCURRENCIES) {
    const r = await load(url, c)
    rows.push({ target, concurrency: c, rowsPerSec: r.rps, p50Ms: r.p50, p99Ms: r.p99, errors: r.errors })
    process.stderr.write(`  ${target} c=${c}: ${r.rps.toFixed(0)} rows/s p50 ${r.p50} ms p99 ${r.p99} ms\n`)
  }
}

async function bareHono(): Promise<{ url: string; stop(): void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/bare-hono.ts')], { stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (l) => l.includes('"ready"') && resolve(JSON.parse(l).url))
  })
  return { url, stop: () => child.kill('SIGTERM') }
}

/** onnxruntime in-process, one thread, as the host's sessions run. */
async function computeCeiling(batch: number) {
  const session = await ort.InferenceSession.create(await readFile(join(EXAMPLE_MODELS, XL, '1', 'model.onnx')), { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' })
  const data = new Float32Array(sampleRows(batch, 9).flat())
  const feeds = { features: new ort.Tensor('float32', data, [batch, 16]) }
  for (let i = 0; i < 5; i++) await session.run(feeds)
  const times: number[] = []
  const end = performance.now() + SECONDS * 1000
  while (performance.now() < end) {
    const t0 = performance.now()
    await session.run(feeds)
    times.push(performance.now() - t0)
  }
  await session.release()
  times.sort((a, b) => a - b)
  const total = times.reduce((a, b) => a + b, 0)
  return { rowsPerSec: (times.length * batch) / (total / 1000), p50: times[Math.floor(times.length / 2)]!, p99: times[Math.floor(times.length * 0.99)]! }
}

async function withHost(target: string, models: string[], edit: (repo: string) => Promise<void>, model: string) {
  const repo = await copyRepository(models)
  await edit(repo.dir)
  const host = await spawnHost(repo.dir, { LOG_LEVEL: 'warn' })
  try {
    await measureHttp(target, `${host.url}/v2/models/${model}/infer`)
  } finally {
    await host.stop()
    await repo.remove()
  }
}

const pick = (target: string, c: number): Row => rows.find((r) => r.target === target && r.concurrency === c)!

async function main() {
  process.stderr.write(`bench:host: ${SECONDS}s per run, concurrency ${CONCURRENCIES.join(', ')}\n`)
  const bare = await bareHono()
  try {
    await measureHttp('a_http_ceiling', `${bare.url}/v2/models/credit-risk/infer`)
  } finally {
    bare.stop()
  }
  for (const batch of [1, XL_MAX_BATCH]) {
    const r = await computeCeiling(batch)
    rows.push({ target: `b_compute_ceiling_batch${batch}`, concurrency: '-', rowsPerSec: r.rowsPerSec, p50Ms: r.p50, p99Ms: r.p99 })
    process.stderr.write(`  compute batch ${batch}: ${r.rowsPerSec.toFixed(0)} rows/s\n`)
  }
  await withHost('c_host_xl_unbatched', [XL], (dir) => editConfig(dir, XL, (c) => {
    c.max_batch_size = 1
    c.dynamic_batching.preferred_batch_sizes = []
    c.dynamic_batching.max_queue_size = 4096
  }), XL)
  await withHost('d_host_xl_batched', [XL], (dir) => editConfig(dir, XL, (c) => (c.dynamic_batching.max_queue_size = 4096)), XL)
  await withHost('e_host_credit_risk_batched', ['credit-risk', 'credit-risk-fallback'], (dir) => editConfig(dir, 'credit-risk', (c) => (c.dynamic_batching.max_queue_size = 4096)), 'credit-risk')

  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(2))
  console.log(`\n${'target'.padEnd(30)} ${'conc'.padStart(5)} ${'rows/s'.padStart(10)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'errors'.padStart(7)}`)
  for (const r of rows) console.log(`${r.target.padEnd(30)} ${String(r.concurrency).padStart(5)} ${fmt(r.rowsPerSec).padStart(10)} ${fmt(r.p50Ms).padStart(9)} ${fmt(r.p99Ms).padStart(9)} ${String(r.errors ?? '-').padStart(7)}`)

  const c64 = CONCURRENCIES.includes(64) ? 64 : CONCURRENCIES.at(-1)!
  const bestOf = (t: string) => Math.max(...rows.filter((r) => r.target === t).map((r) => r.rowsPerSec))
  const d64 = pick('d_host_xl_batched', c64)
  const ratios = {
    d_over_c_at_64: d64.rowsPerSec / pick('c_host_xl_unbatched', c64).rowsPerSec,
    d_p99_ms_at_64: d64.p99Ms,
    d_best_over_b_max_batch: bestOf('d_host_xl_batched') / bestOf(`b_compute_ceiling_batch${XL_MAX_BATCH}`),
    e_over_a_at_64: pick('e_host_credit_risk_batched', c64).rowsPerSec / pick('a_http_ceiling', c64).rowsPerSec,
    e_best_over_a_best: bestOf('e_host_credit_risk_batched') / bestOf('a_http_ceiling'),
  }
  const targets = { d_over_c_at_64: 2.5, d_p99_ms_at_64_max: 200, d_best_over_b_max_batch: 0.7, e_over_a_at_64: 0.6 }
  console.log('\nratios:', Object.entries(ratios).map(([k, v]) => `${k}=${v.toFixed(2)}`).join('  '))
  console.log(JSON.stringify({ bench: 'host', seconds: SECONDS, ratios, targets, rows }))
}

await main()
