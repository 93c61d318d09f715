/**
 * The payload sink: sample events posted to the agent, through a real
 * nats-server to the collector, written as zstd Parquet files partitioned
 * by model, date and hour, and read back with pyarrow (which the collector
 * does not use): every sample once, enriched, its OIP features decoded.
 * Then the retention, on a real store.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FEATURE_NAMES } from '@model-mesh/model-host'
import { EXAMPLE_MODELS } from '@model-mesh/testkit/host-process'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { python } from '@model-mesh/testkit/pyarrow'
import { startAgent, type RunningAgent } from '@model-mesh/telemetry-agent'
import { startCollector, type RunningCollector } from '../collector.ts'
import { PayloadSink, traceIdOf } from '../sinks/payload-sink.ts'
import { Store } from '../store/store.ts'
import { DEFAULT_STREAM_LIMITS } from '@model-mesh/contracts'
import { AGENT_TEST_TOKEN, applicantRows, eventually, ndjson, post, sampleEvent } from '@model-mesh/testkit/events'

const MODELS = ['credit-risk', 'credit-risk-fallback']

const READ = `
import json, sys, pathlib
import pyarrow.dataset as ds, pyarrow.parquet as pq
root = sys.argv[1]
files = sorted(str(p) for p in pathlib.Path(root).rglob('*.parquet'))
table = ds.dataset(root, format='parquet', partitioning='hive').to_table()
codecs = sorted({pq.ParquetFile(f).metadata.row_group(0).column(i).compression for f in files for i in range(pq.ParquetFile(f).metadata.num_columns)})
rows = table.to_pylist()
for r in rows:
    r['time'] = r['time'].isoformat()
print(json.dumps({'files': [f[len(root) + 1:] for f in files], 'codecs': codecs, 'columns': table.column_names, 'rows': rows}))
`

interface ReadBack {
  files: string[]
  codecs: string[]
  columns: string[]
  rows: Record<string, unknown>[]
}

describe('payload sink: agent → JetStream → collector → Parquet', () => {
  let nats: RunningNats
  let agent: RunningAgent
  let collector: RunningCollector
  let dir: string
  const sent = [
    ...applicantRows(60, 301).map((r, i) =>
      sampleEvent([r], {
        version: '1',
        traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`,
        confidence: i % 2 ? 0.9 : 0.4,
        reason: i % 2 ? 'rate' : 'rate+low_confidence',
      }),
    ),
    ...applicantRows(45, 302).map((r) => sampleEvent([r, r], { version: '2' }, 0.7)),
    // Not every body is OIP JSON, nor whole: the row is kept, without features.
    sampleEvent([], {
      request: '{"text": "[EMAIL] wrote in"}',
      response: '{"error": "inputs: required"}',
      model: 'credit-risk-fallback',
      status: 400,
    }),
    sampleEvent(applicantRows(1, 303), { request_truncated: true }),
    // A model mesh.yaml does not name (a posted event may say anything) is filed as "other": it never names a directory.
    sampleEvent(applicantRows(1, 304), { model: '../../escape' }),
  ]

  beforeAll(async () => {
    nats = await startNats()
    dir = await mkdtemp(join(tmpdir(), 'sink-'))
    collector = await startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      storeDir: join(dir, 'store'),
      models: MODELS,
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
      repository: EXAMPLE_MODELS,
      payloads: { dir: join(dir, 'payloads'), flushMs: 300, maxRows: 40 },
    })
    await collector.ready
    agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'sink',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      spool: { dir: join(dir, 'spool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
    expect((await post(agent.url, ndjson(sent))).status).toBe(202)
    await eventually(
      () =>
        fetch(`${collector.url}/api/v1/pipeline`).then(
          (r) => r.json() as Promise<{ payload_sink: { written_since_start: number; waiting: number } }>,
        ),
      (p) => p.payload_sink.written_since_start === sent.length && p.payload_sink.waiting === 0,
      30_000,
    )
  })
  afterAll(async () => {
    await agent?.close()
    await collector?.close()
    await nats?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('writes every sample once, zstd, partitioned by model, date and hour, in batches of at most max_rows', () => {
    const back = python(READ, join(dir, 'payloads')) as ReadBack
    expect(back.rows).toHaveLength(sent.length)
    expect(new Set(back.rows.map((r) => r.request_id))).toEqual(new Set(sent.map((s) => s.request_id)))
    expect(back.codecs).toEqual(['ZSTD'])
    const hour = new Date(sent[0]!.ts).toISOString().slice(0, 13).split('T')
    for (const f of back.files)
      expect(f).toMatch(
        new RegExp(`^model=(credit-risk(-fallback)?|other)/date=${hour[0]}/hour=${hour[1]}/part-[0-9a-f-]+\\.parquet$`),
      )
    expect(back.rows.find((r) => r.request_id === sent.at(-1)!.request_id)).toMatchObject({ model: 'other' })
    // 108 rows in batches of at most 40: three writes at least.
    expect(back.files.length).toBeGreaterThanOrEqual(3)
  })

  it('enriches each row: ids, trace id, model, version, variant, status, confidence, and the decoded features and scores of OIP bodies', () => {
    const back = python(READ, join(dir, 'payloads')) as ReadBack
    expect(back.columns).toEqual(
      expect.arrayContaining([
        'time',
        'ts',
        'request_id',
        'trace_id',
        'traceparent',
        'model',
        'version',
        'variant',
        'status',
        'confidence',
        'reason',
        'feature_names',
        'input_rows',
        'scores',
        'request',
        'request_truncated',
        'response',
        'response_truncated',
        'date',
        'hour',
      ]),
    )
    const byId = new Map(back.rows.map((r) => [r.request_id as string, r]))
    const first = byId.get(sent[0]!.request_id)!
    expect(first).toMatchObject({
      model: 'credit-risk',
      version: '1',
      variant: 'stable',
      status: 200,
      confidence: 0.4,
      reason: 'rate+low_confidence',
      trace_id: traceIdOf(sent[0]!.traceparent),
      request: sent[0]!.request,
    })
    expect(first.trace_id).toBe('ab'.repeat(16))
    expect(first.feature_names).toEqual([...FEATURE_NAMES])
    const row = (JSON.parse(sent[0]!.request) as { inputs: { data: number[] }[] }).inputs[0]!.data
    expect((first.input_rows as number[][])[0]).toEqual(row)
    expect((first.scores as number[])[0]).toBeCloseTo(0.1, 6)
    const two = byId.get(sent[60]!.request_id)!
    expect((two.input_rows as number[][]).length).toBe(2)
    expect(two.scores).toEqual([0.7, 0.7].map((x) => expect.closeTo(x, 6)))
    expect(byId.get(sent[105]!.request_id)).toMatchObject({
      model: 'credit-risk-fallback',
      input_rows: null,
      feature_names: null,
      scores: null,
    })
    expect(byId.get(sent[106]!.request_id)).toMatchObject({ request_truncated: true, input_rows: null })
  })
})

describe('payload sink retention', () => {
  it('deletes hour partitions past the retention, keeps the rest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sink-retention-'))
    try {
      const store = await Store.open(join(dir, 'store'))
      const out = join(dir, 'payloads')
      const hour = async (date: string, h: string) => {
        await mkdir(join(out, 'model=m', `date=${date}`, `hour=${h}`), { recursive: true })
        await writeFile(join(out, 'model=m', `date=${date}`, `hour=${h}`, 'part-x.parquet'), '')
      }
      await hour('2026-11-01', '00')
      await hour('2026-11-16', '23')
      await hour('2026-11-17', '01')
      const sink = new PayloadSink(store, {
        dir: out,
        flushMs: 60_000,
        maxRows: 10,
        retentionDays: 14,
        baselineOf: () => null,
        exclusive: (w) => w(),
        log: () => {},
      })
      await sink.enforceRetention(Date.parse('2026-12-01T00:30:00Z'))
      expect(await readdir(join(out, 'model=m'))).toEqual(['date=2026-11-17'])
      store.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
