/**
 * @module
 * bench:encoding: what the telemetry wire encoding costs in bytes kept by
 * JetStream and in CPU on both sides of it. Envoy's exporter POSTs NDJSON
 * batches to the node agent; the agent parses every line (it must, to find
 * the event's kind and model), groups them into one message per kind and
 * model (contracts/subjects.ts) and encodes each group; the collector
 * decodes each message into objects. Compared, per event:
 *
 *   ndjson               the lines as received, joined
 *   msgpack              msgpackr, objects as maps
 *   msgpack-records      msgpackr's record extension, record definitions inline
 *                        in each message (no shared structures: a message kept for
 *                        30 days must decode without state from the agent that wrote it)
 *   deflate-1, deflate-6 NDJSON through zlib deflateRaw per message
 *   brotli-1, brotli-4   NDJSON through brotli per message (Node 20's zlib has no zstd)
 *   records+deflate-1    msgpack-records through deflateRaw level 1: fewer bytes to compress and to inflate
 *
 * on two sets of events: golden-signal `request` events only, and the same
 * with 5% `sample` events carrying 1-2 KiB bodies (published as their own
 * messages, as the contract has it), each in POST batches of 100 and 500.
 * CPU is process.cpuUsage (user + system, so GC threads count) over at least
 * BENCH_CELL_MS per cell; cells interleave in BENCH_ROUNDS rounds and the
 * medians are reported.
 *
 * Prints a table and one JSON summary line.
 */
import { deepStrictEqual } from 'node:assert'
import { randomBytes, randomUUID } from 'node:crypto'
import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, inflateRawSync } from 'node:zlib'
import { Packr, Unpackr } from 'msgpackr'
import { decodeEvent, type GoldenSignalEvent, type PayloadSampleEvent } from '@model-mesh/contracts'

// A median of fewer than five rounds is one noisy sample away from any value.
const ROUNDS = Math.max(5, Number(process.env.BENCH_ROUNDS ?? 7))
const CELL_MS = Number(process.env.BENCH_CELL_MS ?? 100)
const BATCHES = [100, 500]
/** Events per set and batch size: enough distinct batches that no one message stays hot in a cache. */
const EVENTS = 20_000
/** For the retention column: 30 days of MESH_REQUESTS at 10,000 events/s. */
const RETAINED_EVENTS = 10_000 * 86_400 * 30
/** The collector's whole budget per event (50,000 events/s on one core). */
const COLLECTOR_BUDGET_US = 20

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)]!
const traceparent = () => `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`
/** Log-normal around `median`, as service latencies are. */
const logNormal = (median: number, sigma: number) =>
  median * Math.exp(sigma * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random()))

const MODELS = ['credit-risk', 'credit-risk-xl', 'fraud-score', 'churn-propensity'] as const
const UPSTREAMS = ['10.42.3.17:8001', '10.42.5.9:8001', '10.42.7.102:8002']

function requestEvent(model: string, ts: number): GoldenSignalEvent {
  const r = Math.random()
  // Mostly 200; 3% client errors, 2% server errors (503/504 with Envoy's UH, UT or UF flag: ENVOY_RESPONSE_FLAGS bits 1, 2, 5).
  const status = r < 0.95 ? 200 : r < 0.98 ? pick([400, 404, 422, 429]) : pick([500, 503, 504])
  const canary = Math.random() < 0.1
  return {
    v: 2,
    kind: 'request',
    ts,
    service: 'gateway',
    request_id: randomUUID(),
    traceparent: traceparent(),
    route: model,
    model,
    version: canary ? '2' : '1',
    variant: canary ? 'canary' : 'stable',
    cluster: `${model}-${canary ? 'canary' : 'stable'}`,
    upstream: pick(UPSTREAMS),
    status,
    flags: status >= 503 ? pick([0x2, 0x4, 0x20]) : 0,
    fallback: status === 200 && Math.random() < 0.01,
    duration_us: Math.round(logNormal(4_000, 0.6)),
    kept: ['every_request'],
  }
}

/** An OIP inference request and response as the sampler captures them: JSON full of numbers, PII masked. */
function sampleEvent(base: GoldenSignalEvent): PayloadSampleEvent {
  const rows = 4 + Math.floor(Math.random() * 6) // 1-2 KiB of request and response together
  const features = Array.from({ length: rows * 16 }, (_, i) =>
    i % 4 === 0 ? Math.floor(Math.random() * 90_000) : Math.round(Math.random() * 1e6) / 1e6,
  )
  const probabilities = Array.from({ length: rows }, () => Math.fround(Math.random())).flatMap((p) => [
    p,
    Math.fround(1 - p),
  ])
  const request = JSON.stringify({
    id: base.request_id,
    parameters: { customer: { full_name: '[REDACTED]', email: '[REDACTED]', segment: 'retail' } },
    inputs: [{ name: 'features', datatype: 'FP32', shape: [rows, 16], data: features }],
  })
  const response = JSON.stringify({
    model_name: base.model,
    model_version: base.version,
    id: base.request_id,
    outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [rows, 2], data: probabilities }],
  })
  const confidence = Math.round(Math.random() * 1e7) / 1e7
  return {
    v: 1,
    kind: 'sample',
    ts: base.ts,
    request_id: base.request_id,
    traceparent: base.traceparent,
    model: base.model,
    version: base.version,
    variant: base.variant,
    reason: confidence < 0.6 ? 'rate+low_confidence' : 'rate',
    confidence,
    status: base.status,
    request,
    request_truncated: false,
    response,
    response_truncated: false,
  }
}

/** POST bodies of `size` events each, one model per body (a sidecar's traffic), `samples` of them sample events. */
function bodies(size: number, samples: number): Buffer[] {
  let ts = Date.now()
  return Array.from({ length: EVENTS / size }, () => {
    const model = pick(MODELS)
    const events = Array.from({ length: size }, () => {
      const e = requestEvent(model, (ts += Math.random() < 0.1 ? 1 : 0))
      return Math.random() < samples ? sampleEvent(e) : e
    })
    return Buffer.from(events.map((e) => JSON.stringify(e)).join('\n'))
  })
}

interface Group {
  lines: string[]
  events: object[]
}

/** The agent's work for every encoding: parse each line, group by kind and model. */
function split(body: Buffer): Group[] {
  const groups = new Map<string, Group>()
  for (const line of body.toString('utf8').split('\n')) {
    const e = JSON.parse(line) as { kind: string; model: string }
    const key = `${e.kind}.${e.model}`
    const g = groups.get(key) ?? groups.set(key, { lines: [], events: [] }).get(key)!
    g.lines.push(line)
    g.events.push(e)
  }
  return [...groups.values()]
}

const ndjson = (g: Group) => Buffer.from(g.lines.join('\n'))
const parseNdjson = (b: Buffer) =>
  b
    .toString('utf8')
    .split('\n')
    .map((l) => JSON.parse(l))
const brotli = (quality: number) => (b: Buffer) =>
  brotliCompressSync(b, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: quality,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: b.length,
    },
  })
// Separate instances for each side, as the agent and collector are separate processes.
const maps = { out: new Packr({ useRecords: false }), in: new Unpackr({ useRecords: false }) }
const records = { out: new Packr({ useRecords: true }), in: new Unpackr({ useRecords: true }) }

const ENCODINGS: { name: string; encode(g: Group): Buffer; decode(b: Buffer): unknown[] }[] = [
  { name: 'ndjson', encode: ndjson, decode: parseNdjson },
  { name: 'msgpack', encode: (g) => maps.out.pack(g.events), decode: (b) => maps.in.unpack(b) },
  { name: 'msgpack-records', encode: (g) => records.out.pack(g.events), decode: (b) => records.in.unpack(b) },
  {
    name: 'deflate-1',
    encode: (g) => deflateRawSync(ndjson(g), { level: 1 }),
    decode: (b) => parseNdjson(inflateRawSync(b)),
  },
  {
    name: 'deflate-6',
    encode: (g) => deflateRawSync(ndjson(g), { level: 6 }),
    decode: (b) => parseNdjson(inflateRawSync(b)),
  },
  { name: 'brotli-1', encode: (g) => brotli(1)(ndjson(g)), decode: (b) => parseNdjson(brotliDecompressSync(b)) },
  { name: 'brotli-4', encode: (g) => brotli(4)(ndjson(g)), decode: (b) => parseNdjson(brotliDecompressSync(b)) },
  {
    name: 'records+deflate-1',
    encode: (g) => deflateRawSync(records.out.pack(g.events), { level: 1 }),
    decode: (b) => records.in.unpack(inflateRawSync(b)),
  },
]

/** CPU µs per event of `step(i)` (which returns the events it handled), cycling i over `n` inputs for at least CELL_MS. */
function cpuPerEvent(n: number, step: (i: number) => number): number {
  const t0 = process.cpuUsage()
  let events = 0
  let us = 0
  for (let i = 0; us < CELL_MS * 1000; i = (i + 1) % n) {
    events += step(i)
    const d = process.cpuUsage(t0)
    us = d.user + d.system
  }
  return us / events
}

interface Cell {
  set: string
  batch: number
  encoding: (typeof ENCODINGS)[number]
  input: Buffer[]
  messages: Buffer[][]
  events: number[]
  agent: number[]
  collector: number[]
}

function main() {
  process.stderr.write(
    `bench:encoding: ${ROUNDS} interleaved rounds, ≥ ${CELL_MS} ms of CPU per cell, ${EVENTS} events per set and batch size\n`,
  )
  const cells: Cell[] = []
  for (const [set, samples] of [
    ['request', 0],
    ['request+5%sample', 0.05],
  ] as const) {
    for (const batch of BATCHES) {
      const input = bodies(batch, samples)
      const groups = input.map(split)
      for (const encoding of ENCODINGS) {
        const messages = groups.map((gs) => gs.map((g) => encoding.encode(g)))
        // Every encoding must give the collector back exactly what the filters wrote.
        deepStrictEqual(
          messages[0]!.flatMap((m) => encoding.decode(m)),
          groups[0]!.flatMap((g) => g.events),
        )
        cells.push({
          set,
          batch,
          encoding,
          input,
          messages,
          events: groups.map((gs) => gs.reduce((n, g) => n + g.events.length, 0)),
          agent: [],
          collector: [],
        })
      }
    }
  }
  const agentStep = (c: Cell) => (i: number) => (split(c.input[i]!).forEach((g) => c.encoding.encode(g)), c.events[i]!)
  const collectorStep = (c: Cell) => (i: number) => (c.messages[i]!.forEach((m) => c.encoding.decode(m)), c.events[i]!)
  for (const c of cells) cpuPerEvent(c.input.length, agentStep(c)), cpuPerEvent(c.input.length, collectorStep(c)) // warm-up
  // What the collector does after decoding whatever the encoding: the same for all, the yardstick for the budget.
  const decoded = cells[0]!.messages.flatMap((ms) => ms.flatMap((m) => cells[0]!.encoding.decode(m)))
  const validate: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    // Rotating the start spreads any drift of the shared machine over every cell alike.
    for (let k = 0; k < cells.length; k++) {
      const c = cells[(k + round * 5) % cells.length]!
      c.agent.push(cpuPerEvent(c.input.length, agentStep(c)))
      c.collector.push(cpuPerEvent(c.input.length, collectorStep(c)))
    }
    validate.push(
      cpuPerEvent(decoded.length / 100, (i) => {
        for (let j = i * 100; j < i * 100 + 100; j++) decodeEvent(decoded[j])
        return 100
      }),
    )
    process.stderr.write(`  round ${round + 1}/${ROUNDS} done\n`)
  }

  const rows = cells.map((c) => {
    const bytes = c.messages.flat().reduce((n, m) => n + m.length, 0)
    const events = c.events.reduce((a, b) => a + b, 0)
    return {
      set: c.set,
      batch: c.batch,
      encoding: c.encoding.name,
      messages: c.messages.flat().length,
      bytesPerEvent: bytes / events,
      agentUsPerEvent: median(c.agent),
      collectorUsPerEvent: median(c.collector),
      tbPer30Days: (RETAINED_EVENTS * bytes) / events / 1e12,
    }
  })
  const ndjsonRow = (r: (typeof rows)[number]) =>
    rows.find((x) => x.set === r.set && x.batch === r.batch && x.encoding === 'ndjson')!
  console.log(
    `\n${'set'.padEnd(17)} ${'batch'.padStart(5)} ${'encoding'.padEnd(18)} ${'B/event'.padStart(8)} ${'vs ndjson'.padStart(9)} ${'agent µs'.padStart(9)} ${'coll. µs'.padStart(9)} ${'TB/30d'.padStart(7)}`,
  )
  for (const r of rows) {
    console.log(
      `${r.set.padEnd(17)} ${String(r.batch).padStart(5)} ${r.encoding.padEnd(18)} ${r.bytesPerEvent.toFixed(1).padStart(8)} ${(r.bytesPerEvent / ndjsonRow(r).bytesPerEvent).toFixed(3).padStart(9)} ${r.agentUsPerEvent.toFixed(2).padStart(9)} ${r.collectorUsPerEvent.toFixed(2).padStart(9)} ${r.tbPer30Days.toFixed(2).padStart(7)}`,
    )
  }
  const validateUs = median(validate)
  console.log(
    `\nper event, CPU medians of ${ROUNDS} interleaved rounds; TB/30d at 10,000 events/s; collector validation (decodeEvent, any encoding): ${validateUs.toFixed(2)} µs of the ${COLLECTOR_BUDGET_US} µs budget`,
  )
  console.log(
    JSON.stringify({
      bench: 'encoding',
      rounds: ROUNDS,
      cellMs: CELL_MS,
      validateUsPerEvent: validateUs,
      targets: { collector_us_per_event_total: COLLECTOR_BUDGET_US },
      rows,
    }),
  )
}

main()
