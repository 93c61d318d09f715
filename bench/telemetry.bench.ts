/**
 * @module
 * bench:telemetry: what the telemetry pipeline costs the mesh, and what the
 * collector can take.
 *
 *   1. Inference through Envoy to real model hosts (credit-risk, OIP JSON,
 *      sticky x-user-id from a pool of users), autocannon at fixed
 *      concurrency, in interleaved rounds (order a b c, then c b a, ...):
 *        (a) the pipeline up: agent, collector, NATS;
 *        (b) agent and collector stopped (the exporter and the hosts drop and count):
 *            the mesh is `npm start`'s (startLocalMesh), and its supervisor
 *            stops the two (SIGTERM, drained) and starts them again while
 *            NATS, the hosts and Envoy keep running;
 *        (c) NATS paused (SIGSTOP from 10% to 90% of each round): the agent spools.
 *      Throughput and p99 of (a) over (b); failed inferences in (c). Each
 *      round also offers a fixed rate (BENCH_RATE_FRACTION of the warm-up's
 *      best throughput, open loop): a closed loop at saturation only shows
 *      the throughput ratio again in its p99 (Little's law); at a rate the
 *      mesh can serve, the p99 shows what the pipeline does to latency.
 *   2. The pipeline's fixed cost (its CPU a second with no load), then CPU
 *      per event of the agent and the collector during (a): utime+stime
 *      from /proc/<pid>/stat against the events their /metrics counted; and
 *      the pipeline's CPU per request next to Envoy's and the hosts'.
 *   3. The collector's ingest on one core: a fresh nats-server whose
 *      MESH_REQUESTS stream holds a minute of BENCH_REQUESTS requests of mesh
 *      traffic as the proxies report it (deflated NDJSON, as the agent
 *      publishes it): a request_stats record a second per worker and label
 *      set, from BENCH_WORKERS workers, and a story for every failed
 *      request; then a collector process, pinned to one CPU, timed until
 *      JetStream has every message acknowledged: requests counted per CPU
 *      second. BENCH_PROFILE=1 runs it under --cpu-prof and prints where the
 *      time goes.
 *
 * Prints a table and one JSON summary line. Knobs: BENCH_SECONDS,
 * BENCH_ROUNDS, BENCH_CONCURRENCY (empty: skip 1 and 2), BENCH_USERS,
 * BENCH_RATE_FRACTION (0: no fixed rate), BENCH_REQUESTS (0: skip 3),
 * BENCH_WORKERS, BENCH_MESSAGE_EVENTS, BENCH_PROFILE, BENCH_PIN, BENCH_IDLE_SECONDS; KEEP=1
 * keeps the temporary folder (the children's logs are in state/logs).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { deflateRawSync } from 'node:zlib'
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { ensureStreams, STREAMS, subjectOf, subjectToken } from '@model-mesh/contracts'
import { messageHeaders } from '@model-mesh/telemetry-agent'
import { CONSUMED_STREAMS, consumerSpecs, streamLimitsOf } from '@model-mesh/telemetry-collector'
import { instancesOf, natsCredential, requireMesh, ROOT, startLocalMesh } from '@model-mesh/mesh-config'
import { localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { metrics, metricSum, requestEvent, requestStats } from '@model-mesh/testkit/events'
import { startNats } from '@model-mesh/testkit/nats'
import { freePorts } from '@model-mesh/testkit/ports'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '16,64').split(',').filter(Boolean).map(Number)
const USERS = Number(process.env.BENCH_USERS ?? 100)
const RATE_FRACTION = Number(process.env.BENCH_RATE_FRACTION ?? 0.5)
/** Connections for the fixed-rate load: enough that none waits for another's answer at the rate. */
const RATE_CONNECTIONS = 64
/** Requests of mesh traffic the ingest part's stream reports (a minute of it). */
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 6_000_000)
/** Proxy workers reporting them (nodes × Envoy workers). */
const WORKERS = Number(process.env.BENCH_WORKERS ?? 16)
const MESSAGE_EVENTS = Number(process.env.BENCH_MESSAGE_EVENTS ?? 500)
const PROFILE = process.env.BENCH_PROFILE === '1'
/** Seconds the pipeline's CPU is measured with no load: its fixed cost. */
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 5)
/** The pipeline's processes, as the local mesh's supervisor names them. */
const PIPELINE = ['telemetry-agent', 'telemetry-collector', 'nats']
/**
 * BENCH_PIN=1: the node as deployed, on a 2-core machine: CPU 0 holds the
 * data plane (Envoy, the hosts) and the agent beside it; CPU 1 holds what a
 * deployment runs elsewhere (nats-server, the collector) and the client.
 */
const PIN = process.env.BENCH_PIN === '1'
const NODE_CPU = '0'
const ELSEWHERE_CPU = '1'
/** Read once: pinning this process for part 3 narrows what availableParallelism() says. */
const CPUS = availableParallelism()
/** Issue 20's targets: the pipeline costs the node almost nothing, and one collector keeps up with a busy mesh. */
const TARGETS = {
  throughput_ratio_min: 0.95,
  p99_ratio_max: 1.1,
  pipeline_cpu_over_request_path_max: 0.05,
  failed_inferences_nats_paused: 0,
  ingest_requests_per_cpu_s_min: 100_000,
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const log = (line: string) => process.stderr.write(`  ${line}\n`)

/** CPU seconds a process has run, all its threads (utime + stime, fields 14 and 15 of /proc/<pid>/stat). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may hold spaces: count fields from after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

function meshYaml(ports: number[]): string {
  // The shipped mesh.yaml's route, without its rate limit (2,000 rps would answer 429 here).
  return localMeshYaml(
    portsOf(ports),
    `  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    canary: { version: 2, weight: 1000, hosts: [canary], sticky_header: x-user-id, when_missing: request_id }
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
    timeout_ms: 1000
    retries: { attempts: 1, retry_on: [connect-failure, reset, gateway-error], budget_percent: 20 }
    outlier_detection: { consecutive_5xx: 5, interval_ms: 5000, base_ejection_ms: 30000 }
    sampling: { rate_bp: 500, confidence_threshold: 0.6 }
`,
  )
}

interface Load {
  rps: number
  p50: number
  p99: number
  failed: number
  requests: number
}

/**
 * One autocannon run from a pool of users, in its own process
 * (bench/users-load.ts); `onStart` runs once the load is on, so faults can
 * be timed from it rather than from the child's start-up.
 */
function load(url: string, shape: Shape, seconds = SECONDS, onStart: () => void = () => {}): Promise<Load> {
  const node = [
    '--import',
    'tsx',
    join(ROOT, 'bench/users-load.ts'),
    JSON.stringify({ url, connections: shape.connections, rate: shape.rate, seconds, users: USERS }),
  ]
  const [command, args] = PIN
    ? ['taskset', ['--cpu-list', ELSEWHERE_CPU, process.execPath, ...node]]
    : [process.execPath, node]
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line)
      if (msg.started) onStart()
      else resolve(msg)
    })
    child.once('exit', (code) => code !== 0 && reject(new Error(`load generator exited (${code})`)))
  })
}

/** A load: `connections` as fast as answers come (rate 0), or `rate` requests a second between them. */
interface Shape {
  connections: number
  rate: number
}
const shapeLabel = (s: Shape) => (s.rate > 0 ? `r=${s.rate}` : `c=${s.connections}`)

type Condition = 'a' | 'b' | 'c'
const CONDITIONS: Condition[] = ['a', 'b', 'c']
const LABEL: Record<Condition, string> = { a: 'a pipeline up', b: 'b agent+collector stopped', c: 'c NATS paused' }

interface Row extends Load {
  condition: Condition
  shape: string
  /** Events the agent had to spool. */
  spooled: number
  /** Telemetry events Envoy dropped (its exporter, or golden-signals' full queue). */
  dropped: number
  /** Seconds after the load until the pipeline had published and applied the round's events. */
  catchUpS: number
}

/** CPU over one (a) round (through its catch-up), against the events each counted and the requests served. */
interface CpuSample {
  shape: string
  agentUs: number
  collectorUs: number
  agentEvents: number
  requests: number
  /** agent + collector + nats-server, per request. */
  pipelineUsPerRequest: number
  /** Envoy + the model hosts, per request: what the telemetry competes with for the cores. */
  requestPathUsPerRequest: number
}

/** Parts 1 and 2: the mesh under load in the three conditions. */
async function meshRounds(dir: string): Promise<{ rows: Row[]; cpu: CpuSample[]; idle: Record<string, number> }> {
  const file = join(dir, 'mesh.yaml')
  await writeFile(file, meshYaml(await freePorts(7)))
  const loaded = await requireMesh(file)
  const mesh = await startLocalMesh(loaded, { by: 'bench:telemetry' })
  const { supervisor } = mesh
  const pid = (name: string) => {
    const p = supervisor.pid(name)
    if (!p) throw new Error(`${name} is not running`)
    return p
  }
  // Stopped newest first, as the mesh stops (the agent checkpoints its spool before the collector goes); started in the mesh's order.
  const stopTelemetry = async () => {
    await supervisor.stopChild('telemetry-agent')
    await supervisor.stopChild('telemetry-collector')
  }
  const pin = (names: string[], cpu: string) => {
    if (!PIN) return
    for (const name of names)
      execFileSync('taskset', ['--all-tasks', '--pid', '--cpu-list', cpu, String(pid(name))], { stdio: 'ignore' })
  }
  const pinAll = () => {
    pin(
      ['envoy', ...loaded.config.hosts.flatMap(instancesOf).map((i) => `host-${i.name}`), 'telemetry-agent'],
      NODE_CPU,
    )
    pin(['nats', 'telemetry-collector'], ELSEWHERE_CPU)
  }
  const startTelemetry = async () => {
    await supervisor.startChild('telemetry-collector')
    await supervisor.startChild('telemetry-agent')
    pinAll()
  }
  pinAll()
  const url = `${mesh.gatewayUrl}/v2/models/credit-risk/infer`
  const agentSum = async (name: string) => metricSum(await metrics(mesh.agentUrl), name)
  const applied = async () => metricSum(await metrics(mesh.collectorUrl), 'mesh_collector_events_applied_total')
  const envoyDropped = async () => {
    const { stats } = (await (
      await fetch(`${mesh.adminUrl}/stats?format=json&filter=exporter\\.events_dropped|golden\\.events\\.dropped`)
    ).json()) as { stats: { name: string; value?: number }[] }
    return stats.reduce((n, s) => n + (s.value ?? 0), 0)
  }
  // The bench's own look at JetStream: what the collector's consumers have been delivered and acknowledged (exact, and free for the collector).
  const nc = await connect({
    servers: loaded.config.telemetry.nats_url,
    ...(await natsCredential(loaded.stateDir, 'operator')),
    maxReconnectAttempts: -1,
  }).catch(async (e) => {
    await mesh.stop()
    throw e
  })
  const jsm = await jetstreamManager(nc)
  const consumers = async () => {
    const cs = []
    for (const key of CONSUMED_STREAMS) for await (const c of jsm.consumers.list(STREAMS[key].name)) cs.push(c)
    return cs
  }
  /**
   * Until every event produced so far is published and applied: nothing in
   * the agent's spool and nothing left to deliver to the collector, twice in
   * a row (the exporter flushes every 500 ms, the hosts every 500 ms); then
   * until the collector has acknowledged (committed) what it had been
   * delivered by then. Not "nothing unacknowledged": the hosts report
   * saturation every second and the collector commits on a timer (once a
   * second), so even an idle mesh has messages awaiting their commit most
   * of the time.
   * Returns the seconds it took.
   */
  const settle = async () => {
    const t0 = performance.now()
    const check = () => {
      if (performance.now() - t0 > 120_000) throw new Error('the pipeline did not catch up within 120 s')
    }
    await sleep(600)
    let delivered = new Map<string, number>()
    for (let calm = 0; calm < 2; ) {
      const cs = await consumers()
      calm = (await agentSum('mesh_agent_spool_events')) === 0 && cs.every((c) => c.num_pending === 0) ? calm + 1 : 0
      delivered = new Map(cs.map((c) => [c.name, c.delivered.stream_seq]))
      if (calm < 2) await sleep(250)
      check()
    }
    // Acknowledgements are in order of the stream's sequence: the floor past a mark means everything up to it is committed.
    while (
      !(await consumers()).every(
        (c) => c.num_ack_pending === 0 || c.ack_floor.stream_seq >= (delivered.get(c.name) ?? 0),
      )
    ) {
      await sleep(50)
      check()
    }
    return (performance.now() - t0) / 1000
  }
  const rows: Row[] = []
  const cpu: CpuSample[] = []
  const idle: Record<string, number> = {}
  const requestPath = ['envoy', ...loaded.config.hosts.flatMap(instancesOf).map((i) => `host-${i.name}`)]
  const cpuOf = async (names: string[]) =>
    (await Promise.all(names.map((n) => cpuSeconds(pid(n))))).reduce((a, b) => a + b, 0)

  const round = async (condition: Condition, shape: Shape): Promise<Row> => {
    const up = condition !== 'b'
    if (up) await settle()
    const before = {
      dropped: await envoyDropped(),
      spooled: up ? await agentSum('mesh_agent_events_spooled_total') : 0,
      received: up ? await agentSum('mesh_agent_events_received_total') : 0,
      applied: up ? await applied() : 0,
      agentCpu: up ? await cpuSeconds(pid('telemetry-agent')) : 0,
      collectorCpu: up ? await cpuSeconds(pid('telemetry-collector')) : 0,
      natsCpu: await cpuSeconds(pid('nats')),
      pathCpu: await cpuOf(requestPath),
    }
    const nats = pid('nats')
    const timers: NodeJS.Timeout[] = []
    let r: Load
    try {
      r = await load(url, shape, SECONDS, () => {
        if (condition !== 'c') return
        // Paused and resumed under load: both transitions are part of the fault.
        timers.push(setTimeout(() => process.kill(nats, 'SIGSTOP'), SECONDS * 100))
        timers.push(setTimeout(() => process.kill(nats, 'SIGCONT'), SECONDS * 900))
      })
    } finally {
      for (const t of timers) clearTimeout(t)
      if (condition === 'c') process.kill(nats, 'SIGCONT')
    }
    // The round's own events all through before anything is read, so CPU and counts cover the same work.
    const catchUpS = up ? await settle() : 0
    const row: Row = {
      condition,
      shape: shapeLabel(shape),
      ...r,
      catchUpS,
      dropped: (await envoyDropped()) - before.dropped,
      spooled: up ? (await agentSum('mesh_agent_events_spooled_total')) - before.spooled : 0,
    }
    if (condition === 'a') {
      const agentCpu = (await cpuSeconds(pid('telemetry-agent'))) - before.agentCpu
      const collectorCpu = (await cpuSeconds(pid('telemetry-collector'))) - before.collectorCpu
      const natsCpu = (await cpuSeconds(pid('nats'))) - before.natsCpu
      const pathCpu = (await cpuOf(requestPath)) - before.pathCpu
      const agentEvents = (await agentSum('mesh_agent_events_received_total')) - before.received
      const collectorEvents = (await applied()) - before.applied
      cpu.push({
        shape: shapeLabel(shape),
        agentUs: (agentCpu * 1e6) / agentEvents,
        collectorUs: (collectorCpu * 1e6) / collectorEvents,
        agentEvents,
        requests: r.requests,
        pipelineUsPerRequest: ((agentCpu + collectorCpu + natsCpu) * 1e6) / r.requests,
        requestPathUsPerRequest: (pathCpu * 1e6) / r.requests,
      })
    }
    log(
      `${LABEL[condition]} ${shapeLabel(shape)}: ${r.rps.toFixed(0)} rps, p99 ${r.p99} ms, failed ${r.failed}, spooled ${row.spooled}, Envoy dropped ${row.dropped}, caught up ${catchUpS.toFixed(1)} s after`,
    )
    return row
  }

  let telemetryUp = true
  try {
    // Warm-up: connections, JIT, the hosts' batchers, the collector's store.
    let best = 0
    for (const c of CONCURRENCIES) best = Math.max(best, (await load(url, { connections: c, rate: 0 }, SECONDS)).rps)
    const shapes: Shape[] = CONCURRENCIES.map((c) => ({ connections: c, rate: 0 }))
    if (RATE_FRACTION > 0)
      shapes.push({ connections: RATE_CONNECTIONS, rate: Math.round((best * RATE_FRACTION) / 50) * 50 })
    // The pipeline's fixed cost: what it burns a second with no requests (heartbeats, timers, the hosts' saturation reports).
    await settle()
    const idleBefore = await Promise.all(PIPELINE.map((n) => cpuSeconds(pid(n))))
    await sleep(IDLE_SECONDS * 1000)
    const idleAfter = await Promise.all(PIPELINE.map((n) => cpuSeconds(pid(n))))
    for (const [i, name] of PIPELINE.entries()) idle[name] = ((idleAfter[i]! - idleBefore[i]!) * 1000) / IDLE_SECONDS
    log(`idle: ${PIPELINE.map((n) => `${n} ${idle[n]!.toFixed(1)} ms CPU/s`).join(', ')}`)
    for (let i = 0; i < ROUNDS; i++) {
      for (const condition of i % 2 === 0 ? CONDITIONS : [...CONDITIONS].reverse()) {
        if (condition === 'b' && telemetryUp) await stopTelemetry()
        if (condition !== 'b' && !telemetryUp) await startTelemetry()
        telemetryUp = condition !== 'b'
        for (const shape of shapes) rows.push(await round(condition, shape))
      }
    }
  } finally {
    await nc.close()
    await mesh.stop()
  }
  return { rows, cpu, idle }
}

/** The label sets a worker reports each second, with their share of its requests and what they are. */
const LABEL_SETS = [
  { share: 0.885, variant: 'stable', version: '1', code_class: '2xx', flags: 0, status: 200 },
  { share: 0.1, variant: 'canary', version: '2', code_class: '2xx', flags: 0, status: 200 },
  { share: 0.01, variant: 'stable', version: '1', code_class: '4xx', flags: 0, status: 400 },
  { share: 0.005, variant: 'stable', version: '1', code_class: '5xx', flags: 0x2, status: 503 },
] as const

/**
 * A minute of `requests` requests as golden-signals reports them: each
 * second, each worker's request_stats record per label set (realistic
 * durations in its sketch), and a story for every failed request.
 */
function meshTrafficLines(requests: number, now: number): { lines: string[]; requests: number } {
  const lines: string[] = []
  let counted = 0
  const perWorkerSecond = requests / 60 / WORKERS
  const duration = () => 0.8 + Math.random() ** 3 * 20
  for (let second = 0; second < 60; second++) {
    const ts = now - 60_000 + second * 1000
    for (let w = 0; w < WORKERS; w++) {
      for (const l of LABEL_SETS) {
        const n = Math.round(perWorkerSecond * l.share)
        if (n === 0) continue
        const durations = Array.from({ length: n }, duration)
        lines.push(
          JSON.stringify(
            requestStats(durations, {
              ts,
              version: l.version,
              variant: l.variant,
              code_class: l.code_class,
              flags: l.flags,
            }),
          ),
        )
        counted += n
        if (l.code_class === '2xx') continue
        for (const ms of durations)
          lines.push(
            JSON.stringify(
              requestEvent({
                ts,
                traceparent: `00-${randomUUID().replace(/-/g, '')}-${randomUUID().slice(0, 18).replace(/-/g, '')}-01`,
                version: l.version,
                variant: l.variant,
                cluster: `credit-risk-${l.variant}`,
                status: l.status,
                flags: l.flags,
                duration_us: Math.round(ms * 1000),
                kept: ['failed'],
              }),
            ),
          )
      }
    }
  }
  return { lines, requests: counted }
}

/** Publishes `lines` to MESH_REQUESTS exactly as the agent does: NDJSON deflated at level 1, the same headers, a message id each. */
async function preload(js: JetStreamClient, lines: string[]): Promise<{ messages: number; bytes: number }> {
  const subject = subjectOf('requests', subjectToken('credit-risk'))
  const messages = Array.from({ length: Math.ceil(lines.length / MESSAGE_EVENTS) }, (_, i) =>
    lines.slice(i * MESSAGE_EVENTS, (i + 1) * MESSAGE_EVENTS),
  )
  let bytes = 0
  // 32 in flight: loopback round trips would otherwise make the preload the slow part.
  for (let i = 0; i < messages.length; i += 32) {
    await Promise.all(
      messages.slice(i, i + 32).map((batch, j) => {
        const h = messageHeaders('bench', batch.length)
        const data = deflateRawSync(batch.join('\n'), { level: 1 })
        bytes += data.length
        return js.publish(subject, data, { msgID: `bench.${i + j}`, headers: h })
      }),
    )
  }
  return { messages: messages.length, bytes }
}

/** Part 3: a collector process alone against a stream that already holds a minute of REQUESTS requests' records and stories. */
async function ingest(dir: string) {
  // The collector gets the last CPU to itself; nats-server (which inherits this process's CPUs) and this process the others.
  const core = CPUS >= 2 && hasTaskset() ? String(CPUS - 1) : undefined
  if (core)
    execFileSync('taskset', ['--all-tasks', '--pid', '--cpu-list', `0-${CPUS - 2}`, String(process.pid)], {
      stdio: 'ignore',
    })
  const nats = await startNats()
  const file = join(dir, 'ingest.yaml')
  await writeFile(file, meshYaml(await freePorts(7)).replace(/nats_url: .*/, `nats_url: ${nats.url}`))
  const mesh = await requireMesh(file)
  const nc = await connect({ servers: nats.url })
  let child: ChildProcess | undefined
  let stderr = ''
  try {
    const jsm = await jetstreamManager(nc)
    await ensureStreams(jsm, streamLimitsOf(mesh))
    const t0 = performance.now()
    const traffic = meshTrafficLines(REQUESTS, Date.now())
    const events = traffic.lines.length
    const { messages, bytes } = await preload(jetstream(nc), traffic.lines)
    const lastSeq = (await jsm.streams.info(STREAMS.requests.name)).state.last_seq
    log(
      `preloaded ${traffic.requests} requests as ${events} records and stories in ${messages} messages (${(bytes / 1e6).toFixed(1)} MB deflated) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    )

    const profileDir = join(dir, 'profile')
    const node = [
      ...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
      join(ROOT, 'bin/telemetry-collector.mjs'),
      '--config',
      file,
      '--port',
      '0',
      '--nats',
      nats.url,
      '--store',
      join(dir, 'ingest-store'),
    ]
    const [command, args] = core
      ? ['taskset', ['--cpu-list', core, process.execPath, ...node]]
      : [process.execPath, node]
    child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stderr!.on('data', (d) => (stderr += d))
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child!.stdout! }).on('line', (l) => l.includes('"ready"') && resolve(JSON.parse(l).url))
      child!.once('exit', (code) => reject(new Error(`collector exited (${code})`)))
    })
    // From the moment it serves: connecting, creating its consumers and applying are all the ingest's.
    const start = { wall: performance.now(), cpu: await cpuSeconds(child.pid!) }
    // Done once JetStream has every message acknowledged: the collector acknowledges only after its store
    // committed them (its applied counter moves before the commit). Asking NATS costs the collector nothing.
    const durable = consumerSpecs('collector', [subjectToken('credit-risk')]).find((c) => c.key === 'requests')!.durable
    const acked = () =>
      jsm.consumers.info(STREAMS.requests.name, durable).then(
        (i) => i.ack_floor.stream_seq,
        () => 0,
      )
    while ((await acked()) < lastSeq) await sleep(20)
    const end = performance.now()
    const wallS = (end - start.wall) / 1000
    const cpuS = (await cpuSeconds(child.pid!)) - start.cpu
    const text = await metrics(url)
    const done = metricSum(text, 'mesh_collector_events_applied_total')
    if (done !== events) throw new Error(`the collector applied ${done} events, not ${events}`)
    const counted = metricSum(text, 'mesh_requests_total')
    if (counted !== traffic.requests)
      throw new Error(`the collector counted ${counted} requests, not ${traffic.requests}`)
    const result = {
      requests: counted,
      events: done,
      workers: WORKERS,
      messageEvents: MESSAGE_EVENTS,
      wallS,
      cpuS,
      eventsPerS: done / wallS,
      requestsPerS: counted / wallS,
      requestsPerCpuS: counted / cpuS,
      pinnedCpu: core ?? null,
    }
    log(
      `collector applied and committed ${done} records and stories (${counted} requests) in ${wallS.toFixed(2)} s (${cpuS.toFixed(2)} CPU s): ${result.requestsPerCpuS.toFixed(0)} requests per CPU second`,
    )
    const exited = new Promise((r) => child!.once('exit', r))
    child.kill('SIGTERM')
    await exited
    child = undefined
    const top = PROFILE
      ? await topFunctions(profileDir, { from: start.wall, to: end, exitedAt: performance.now() })
      : undefined
    return { ...result, ...(top ? { profileTop: top } : {}) }
  } catch (e) {
    if (stderr) process.stderr.write(stderr)
    throw e
  } finally {
    child?.kill('SIGKILL')
    await nc.close()
    await nats.stop()
  }
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string } }[]
  samples: number[]
  timeDeltas: number[]
  endTime: number
}

/**
 * The functions the collector spent its own time in (self time), from the
 * V8 CPU profile it wrote on exit, counting only the samples taken in
 * [from, to] (performance.now() ms here; the profile ended at `exitedAt`),
 * so start-up and the store's close stay out.
 */
async function topFunctions(
  profileDir: string,
  window: { from: number; to: number; exitedAt: number },
  n = 15,
): Promise<{ fn: string; selfPct: number }[]> {
  const [name] = (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'))
  if (!name) return []
  const profile = JSON.parse(await readFile(join(profileDir, name), 'utf8')) as CpuProfile
  const toProfileUs = (ms: number) => profile.endTime - (window.exitedAt - ms) * 1000
  const [from, to] = [toProfileUs(window.from), toProfileUs(window.to)]
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const self = new Map<string, number>()
  let total = 0
  // Sample times are the profile's start plus the running sum of the deltas; the last delta ends at endTime.
  let t = profile.endTime - profile.timeDeltas.reduce((a, d) => a + d, 0)
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i]!
    const frame = frames.get(id)!
    if (t < from || t > to || frame.functionName === '(idle)') return
    // Line numbers are those of tsx's output, not of the sources: the file says enough.
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(?=telemetry-collector|contracts|mesh-config)/, '')}`
    self.set(key, (self.get(key) ?? 0) + 1)
    total++
  })
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([fn, hits]) => ({ fn, selfPct: Math.round((hits / total) * 1000) / 10 }))
}

/** Medians over the rounds of one load shape; failed, spooled and dropped summed. */
function summarize(rows: Row[], cpu: CpuSample[], shape: string) {
  const of = (condition: Condition) => {
    const xs = rows.filter((r) => r.condition === condition)
    const sum = (k: 'failed' | 'spooled' | 'dropped') => xs.reduce((n, r) => n + r[k], 0)
    const med = (k: 'rps' | 'p50' | 'p99' | 'catchUpS') => median(xs.map((r) => r[k]))
    return {
      rps: med('rps'),
      p50: med('p50'),
      p99: med('p99'),
      catchUpS: med('catchUpS'),
      failed: sum('failed'),
      spooled: sum('spooled'),
      dropped: sum('dropped'),
    }
  }
  return {
    shape,
    a: of('a'),
    b: of('b'),
    c: of('c'),
    agentCpuUsPerEvent: median(cpu.map((x) => x.agentUs)),
    collectorCpuUsPerEvent: median(cpu.map((x) => x.collectorUs)),
    pipelineCpuUsPerRequest: median(cpu.map((x) => x.pipelineUsPerRequest)),
    requestPathCpuUsPerRequest: median(cpu.map((x) => x.requestPathUsPerRequest)),
    eventsPerRequest: median(cpu.map((x) => x.agentEvents / x.requests)),
  }
}

async function main() {
  process.stderr.write(
    `bench:telemetry: ${ROUNDS} interleaved rounds of ${SECONDS} s at concurrency ${CONCURRENCIES.join(', ') || '-'}, ${USERS} users; ingest of a minute of ${REQUESTS} requests from ${WORKERS} workers in messages of ${MESSAGE_EVENTS} lines; ${CPUS} CPUs\n`,
  )
  const dir = await mkdtemp(join(tmpdir(), 'bench-telemetry-'))
  try {
    const { rows, cpu, idle } = CONCURRENCIES.length > 0 ? await meshRounds(dir) : { rows: [], cpu: [], idle: {} }
    const ingested = REQUESTS > 0 ? await ingest(dir) : undefined

    const shapes = [...new Set(rows.map((r) => r.shape))]
    const summary = shapes.map((s) =>
      summarize(
        rows.filter((r) => r.shape === s),
        cpu.filter((x) => x.shape === s),
        s,
      ),
    )
    if (summary.length > 0) {
      console.log(
        `\n${'condition'.padEnd(27)} ${'load'.padStart(7)} ${'rps'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'failed'.padStart(7)} ${'spooled'.padStart(8)} ${'dropped'.padStart(8)} ${'catch-up s'.padStart(10)}`,
      )
      for (const s of summary) {
        for (const k of CONDITIONS) {
          const x = s[k]
          console.log(
            `${LABEL[k].padEnd(27)} ${s.shape.padStart(7)} ${x.rps.toFixed(0).padStart(8)} ${x.p50.toFixed(1).padStart(7)} ${x.p99.toFixed(1).padStart(7)} ${String(x.failed).padStart(7)} ${String(x.spooled).padStart(8)} ${String(x.dropped).padStart(8)} ${x.catchUpS.toFixed(1).padStart(10)}`,
          )
        }
      }
      console.log(
        `\n(medians of ${ROUNDS} rounds; failed inferences, events spooled by the agent and telemetry events Envoy dropped summed over them;`,
      )
      console.log(' catch-up: seconds after the load until every event was published and applied)')
      for (const s of summary) {
        console.log(
          `${s.shape}: throughput a/b ${(s.a.rps / s.b.rps).toFixed(3)}, p99 a/b ${(s.a.p99 / s.b.p99).toFixed(3)}, failed in c ${s.c.failed}; ` +
            `CPU per event in a: agent ${s.agentCpuUsPerEvent.toFixed(1)} µs, collector ${s.collectorCpuUsPerEvent.toFixed(1)} µs (${s.eventsPerRequest.toFixed(3)} events per request); ` +
            `per request: pipeline (agent, collector, NATS) ${s.pipelineCpuUsPerRequest.toFixed(0)} µs, request path (Envoy, hosts) ${s.requestPathCpuUsPerRequest.toFixed(0)} µs`,
        )
      }
    }
    if (Object.keys(idle).length > 0)
      console.log(
        `idle (no load, ${IDLE_SECONDS} s): ${Object.entries(idle)
          .map(([n, ms]) => `${n} ${ms.toFixed(1)}`)
          .join(', ')} ms CPU per second`,
      )
    if (ingested) {
      console.log(
        `collector ingest: ${ingested.requests} requests (${ingested.events} records and stories) in ${ingested.wallS.toFixed(2)} s, ${ingested.requestsPerS.toFixed(0)} requests/s wall, ${ingested.requestsPerCpuS.toFixed(0)} requests per CPU second${ingested.pinnedCpu ? ` (pinned to CPU ${ingested.pinnedCpu})` : ''}`,
      )
      for (const f of ingested.profileTop ?? []) console.log(`  ${f.selfPct.toFixed(1).padStart(5)}%  ${f.fn}`)
    }

    const ratios: Record<string, number> = {}
    for (const s of summary) {
      // c16, c64, or rate for the fixed-rate load (its rate is in the summary).
      const key = s.shape.startsWith('r=') ? 'rate' : s.shape.replace('=', '')
      ratios[`throughput_a_over_b_${key}`] = s.a.rps / s.b.rps
      ratios[`p99_a_over_b_${key}`] = s.a.p99 / s.b.p99
      ratios[`failed_inferences_c_${key}`] = s.c.failed
      ratios[`agent_cpu_us_per_event_${key}`] = s.agentCpuUsPerEvent
      ratios[`collector_cpu_us_per_event_${key}`] = s.collectorCpuUsPerEvent
      ratios[`pipeline_cpu_over_request_path_${key}`] = s.pipelineCpuUsPerRequest / s.requestPathCpuUsPerRequest
    }
    if (Object.keys(idle).length > 0) ratios.pipeline_idle_cpu_ms_per_s = Object.values(idle).reduce((a, b) => a + b, 0)
    if (ingested) {
      ratios.ingest_events_per_s = ingested.eventsPerS
      ratios.ingest_requests_per_cpu_s = ingested.requestsPerCpuS
    }
    console.log(
      JSON.stringify({
        bench: 'telemetry',
        seconds: SECONDS,
        rounds: ROUNDS,
        users: USERS,
        cpus: CPUS,
        pinned: PIN,
        ratios,
        targets: TARGETS,
        summary,
        ingest: ingested ?? null,
      }),
    )
  } finally {
    if (!process.env.KEEP) await rm(dir, { recursive: true, force: true })
    else process.stderr.write(`kept ${dir}\n`)
  }
}

await main()
