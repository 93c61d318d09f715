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
 *   (f) the same host as (e), over gRPC (ModelInfer, one HTTP/2 connection), driven by ghz on one core
 *
 * Prints a table and one JSON summary line. BENCH_SECONDS sets each run's length.
 */
import { execFile, spawn } from 'node:child_process'
import { access, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import ort from 'onnxruntime-node'
import protobuf from 'protobufjs'
import { sampleRows } from '@model-mesh/model-host'
import { jsonInfer } from '@model-mesh/testkit/client'
import { copyRepository, editConfig, EXAMPLE_MODELS, ROOT, spawnHost } from '@model-mesh/testkit/host-process'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '1,8,64,256').split(',').map(Number)
const XL = 'credit-risk-xl'
const XL_MAX_BATCH = 128

interface Row {
  target: string
  concurrency: number | '-'
  rowsPerSec: number
  p50Ms: number
  p99Ms: number
  errors?: number
}

const body = JSON.stringify(jsonInfer(sampleRows(1, 5)))
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** One autocannon run in a child process (so the load generator never shares an event loop with a server). */
async function load(
  url: string,
  concurrency: number,
  seconds = SECONDS,
): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      join(ROOT, 'node_modules/autocannon/autocannon.js'),
      '-c',
      String(concurrency),
      '-d',
      String(seconds),
      '-m',
      'POST',
      '-H',
      'content-type=application/json',
      '-b',
      body,
      '--json',
      url,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  )
  const r = JSON.parse(stdout)
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx }
}

/** ghz, gRPC's load generator (Go), built into .local/bin from the Go module proxy when missing. */
const GHZ = join(ROOT, '.local/bin/ghz')
const GHZ_VERSION = 'v0.120.0'
async function ensureGhz(): Promise<void> {
  if (
    await access(GHZ).then(
      () => true,
      () => false,
    )
  )
    return
  process.stderr.write(`bench:host: building ghz ${GHZ_VERSION} into .local/bin (go install)\n`)
  await promisify(execFile)('go', ['install', `github.com/bojand/ghz/cmd/ghz@${GHZ_VERSION}`], {
    env: { ...process.env, GOBIN: join(ROOT, '.local/bin') },
  })
}

/**
 * The same request as `body`, as a ModelInfer message (typed contents),
 * serialized once into a file: ghz then sends its bytes as they are instead
 * of building each message from JSON, which took more CPU than the host.
 */
async function grpcBodyFile(): Promise<string> {
  const root = new protobuf.Root().loadSync(join(ROOT, 'model-host/src/grpc/inference.proto'), { keepCase: true })
  const type = root.lookupType('inference.ModelInferRequest')
  const message = type.fromObject({
    model_name: 'credit-risk',
    inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], contents: { fp32_contents: sampleRows(1, 5)[0] } }],
  })
  const file = join(await mkdtemp(join(tmpdir(), 'bench-grpc-')), 'model-infer.bin')
  await writeFile(file, type.encode(message).finish())
  return file
}
let grpcBody = ''

/** One ghz run (its own process): `concurrency` calls in flight over one HTTP/2 connection, as a gRPC client keeps one. */
async function loadGrpc(address: string, concurrency: number, seconds = SECONDS): Promise<Sample> {
  const { stdout } = await promisify(execFile)(
    GHZ,
    [
      '--insecure',
      '--proto',
      join(ROOT, 'model-host/src/grpc/inference.proto'),
      '--call',
      'inference.GRPCInferenceService/ModelInfer',
      '-B',
      grpcBody,
      // One core, as autocannon (one thread) has for the REST rows: the rest is the host's.
      '--cpus',
      '1',
      '-c',
      String(concurrency),
      '-z',
      `${seconds}s`,
      '--format',
      'json',
      address,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  )
  const r = JSON.parse(stdout) as {
    rps: number
    latencyDistribution: { percentage: number; latency: number }[] | null
    errorDistribution?: Record<string, number>
  }
  const pct = (p: number) => (r.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? 0) / 1e6
  // ghz ends a timed run by closing its connection under the calls still in flight: those are not the host's errors.
  const errors = Object.entries(r.errorDistribution ?? {})
    .filter(([message]) => !message.includes('use of closed network connection'))
    .reduce((n, [, k]) => n + k, 0)
  return { rps: r.rps, p50: pct(50), p99: pct(99), errors }
}

async function bareHono(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/bare-hono.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise<string>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (l) => l.includes('"ready"') && resolve(JSON.parse(l).url))
  })
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    },
  }
}

/** onnxruntime in-process, one thread, as the host's sessions run: one timed pass. */
async function computePass(session: ort.InferenceSession, batch: number, seconds: number) {
  const feeds = { features: new ort.Tensor('float32', new Float32Array(sampleRows(batch, 9).flat()), [batch, 16]) }
  for (let i = 0; i < 3; i++) await session.run(feeds)
  const times: number[] = []
  const end = performance.now() + seconds * 1000
  while (performance.now() < end) {
    const t0 = performance.now()
    await session.run(feeds)
    times.push(performance.now() - t0)
  }
  times.sort((a, b) => a - b)
  const total = times.reduce((a, b) => a + b, 0)
  return {
    rps: (times.length * batch) / (total / 1000),
    p50: times[Math.floor(times.length / 2)]!,
    p99: times[Math.floor(times.length * 0.99)]!,
    errors: 0,
  }
}

async function hostWith(models: string[], model: string, edit: (c: Record<string, any>) => void) {
  const repo = await copyRepository(models)
  await editConfig(repo.dir, model, edit)
  const host = await spawnHost(repo.dir, { LOG_LEVEL: 'warn' }, ['--grpc-port', '0'])
  const ready = JSON.parse(host.logs.find((l) => l.includes('"msg":"ready"'))!) as { grpc_port: number }
  return {
    url: `${host.url}/v2/models/${model}/infer`,
    grpc: `127.0.0.1:${ready.grpc_port}`,
    stop: async () => {
      await host.stop()
      await repo.remove()
    },
  }
}

type Sample = { rps: number; p50: number; p99: number; errors: number }

function summarise(target: string, concurrency: number | '-', samples: Sample[]): Row {
  return {
    target,
    concurrency,
    rowsPerSec: median(samples.map((s) => s.rps)),
    p50Ms: median(samples.map((s) => s.p50)),
    p99Ms: median(samples.map((s) => s.p99)),
    errors: samples.reduce((n, s) => n + s.errors, 0),
  }
}

async function main() {
  process.stderr.write(
    `bench:host: ${ROUNDS} interleaved rounds of ${SECONDS}s per target and concurrency (${CONCURRENCIES.join(', ')})\n`,
  )
  const queue = { max_queue_size: 4096 }
  const servers = {
    a_http_ceiling: await bareHono(),
    c_host_xl_unbatched: await hostWith([XL], XL, (c) => {
      c.max_batch_size = 1
      c.dynamic_batching = { ...c.dynamic_batching, ...queue, preferred_batch_sizes: [] }
    }),
    d_host_xl_batched: await hostWith([XL], XL, (c) => (c.dynamic_batching = { ...c.dynamic_batching, ...queue })),
    e_host_credit_risk_batched: await hostWith(
      ['credit-risk', 'credit-risk-fallback'],
      'credit-risk',
      (c) => (c.dynamic_batching = { ...c.dynamic_batching, ...queue }),
    ),
  }
  const session = await ort.InferenceSession.create(await readFile(join(EXAMPLE_MODELS, XL, '1', 'model.onnx')), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  })
  await ensureGhz()
  grpcBody = await grpcBodyFile()
  const rows: Row[] = []
  try {
    for (const s of Object.values(servers)) if ('url' in s && s.url.includes('/v2/')) await load(s.url, 8, 1) // warm-up
    await loadGrpc(servers.e_host_credit_risk_batched.grpc, 8, 1)
    await load(`${servers.a_http_ceiling.url}/v2/models/credit-risk/infer`, 8, 1)
    // Rounds interleave the targets (the compute ceiling included), so a slow
    // spell of the shared machine hits them all alike.
    const compute: Record<number, Sample[]> = { 1: [], [XL_MAX_BATCH]: [] }
    for (const c of CONCURRENCIES) {
      const samples: Record<string, Sample[]> = {}
      for (let round = 0; round < ROUNDS; round++) {
        for (const batch of [1, XL_MAX_BATCH]) compute[batch]!.push(await computePass(session, batch, SECONDS / 3))
        for (const [target, s] of Object.entries(servers)) {
          const url = target === 'a_http_ceiling' ? `${s.url}/v2/models/credit-risk/infer` : s.url
          ;(samples[target] ??= []).push(await load(url, c))
        }
        ;(samples.f_host_credit_risk_grpc ??= []).push(await loadGrpc(servers.e_host_credit_risk_batched.grpc, c))
      }
      for (const [target, xs] of Object.entries(samples)) {
        const row = summarise(target, c, xs)
        rows.push(row)
        process.stderr.write(
          `  ${target} c=${c}: ${row.rowsPerSec.toFixed(0)} rows/s p50 ${row.p50Ms} ms p99 ${row.p99Ms} ms\n`,
        )
      }
    }
    for (const batch of [XL_MAX_BATCH, 1])
      rows.unshift(summarise(`b_compute_ceiling_batch${batch}`, '-', compute[batch]!))
  } finally {
    await session.release()
    for (const s of Object.values(servers)) await s.stop()
  }

  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(2))
  console.log(
    `\n${'target'.padEnd(30)} ${'conc'.padStart(5)} ${'rows/s'.padStart(10)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'errors'.padStart(7)}`,
  )
  for (const r of rows)
    console.log(
      `${r.target.padEnd(30)} ${String(r.concurrency).padStart(5)} ${fmt(r.rowsPerSec).padStart(10)} ${fmt(r.p50Ms).padStart(9)} ${fmt(r.p99Ms).padStart(9)} ${String(r.errors ?? '-').padStart(7)}`,
    )

  const at = (target: string, c: number | '-') => rows.find((r) => r.target === target && r.concurrency === c)!
  const best = (target: string) => Math.max(...rows.filter((r) => r.target === target).map((r) => r.rowsPerSec))
  const c64 = CONCURRENCIES.includes(64) ? 64 : CONCURRENCIES.at(-1)!
  const ratios = {
    d_over_c_at_64: at('d_host_xl_batched', c64).rowsPerSec / at('c_host_xl_unbatched', c64).rowsPerSec,
    d_p99_ms_at_64: at('d_host_xl_batched', c64).p99Ms,
    d_best_over_b_max_batch: best('d_host_xl_batched') / at(`b_compute_ceiling_batch${XL_MAX_BATCH}`, '-').rowsPerSec,
    e_over_a_at_64: at('e_host_credit_risk_batched', c64).rowsPerSec / at('a_http_ceiling', c64).rowsPerSec,
    e_best_over_a_best: best('e_host_credit_risk_batched') / best('a_http_ceiling'),
    f_grpc_over_e_rest_at_64:
      at('f_host_credit_risk_grpc', c64).rowsPerSec / at('e_host_credit_risk_batched', c64).rowsPerSec,
    f_grpc_p99_over_e_rest_at_64:
      at('f_host_credit_risk_grpc', c64).p99Ms / at('e_host_credit_risk_batched', c64).p99Ms,
  }
  const targets = {
    d_over_c_at_64: 2.5,
    d_p99_ms_at_64_max: 200,
    d_best_over_b_max_batch: 0.7,
    e_over_a_at_64: 0.6,
    f_grpc_over_e_rest_at_64: 1,
    f_grpc_p99_over_e_rest_at_64_max: 1,
  }
  console.log(
    '\nratios (medians of interleaved rounds):',
    Object.entries(ratios)
      .map(([k, v]) => `${k}=${v.toFixed(2)}`)
      .join('  '),
  )
  console.log(JSON.stringify({ bench: 'host', seconds: SECONDS, rounds: ROUNDS, ratios, targets, rows }))
}

await main()
