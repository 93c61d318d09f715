/**
 * The review queue, every part real: samples posted to the agent, the
 * low-confidence ones (under their model's threshold) copied to the
 * MESH_REVIEW work queue, consumed by the collector into its store (and so
 * taken off the queue), listed by the JSON API, labelled with who did it,
 * and exported as Parquet by the API and by `mesh review export`, read back
 * with pyarrow.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_STREAM_LIMITS, STREAMS } from '@model-mesh/contracts'
import { run } from '@model-mesh/mesh-config/cli'
import { FEATURE_NAMES } from '@model-mesh/model-host'
import { EXAMPLE_MODELS } from '@model-mesh/testkit/host-process'
import { localMeshYaml } from '@model-mesh/testkit/mesh-yaml'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { python } from '@model-mesh/testkit/pyarrow'
import { freePorts } from '@model-mesh/testkit/ports'
import { startAgent, type RunningAgent } from '@model-mesh/telemetry-agent'
import { startCollector, type RunningCollector } from '../collector.ts'
import {
  AGENT_TEST_TOKEN,
  applicantRows,
  eventually,
  metrics,
  metricSum,
  ndjson,
  post,
  sampleEvent,
} from '@model-mesh/testkit/events'

const TOKEN = 'review-test-operator-token'
const MODELS = ['credit-risk', 'credit-risk-fallback']
interface Item {
  request_id: string
  model: string
  confidence: number
  request: string
  label: unknown
  labelled_by: string | null
  labelled_at: number | null
}

function readParquet(file: string): Record<string, unknown>[] {
  const code = `import json, sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
assert pq.ParquetFile(sys.argv[1]).metadata.row_group(0).column(0).compression == 'ZSTD'
rows = t.to_pylist()
for r in rows: r['time'] = r['time'].isoformat()
print(json.dumps(rows))`
  return python(code, file) as Record<string, unknown>[]
}

describe('review queue: agent → MESH_REVIEW → collector → API → Parquet', () => {
  let nats: RunningNats
  let agent: RunningAgent
  let collector: RunningCollector
  let dir: string
  const rows = applicantRows(20, 501)
  const low = rows
    .slice(0, 10)
    .map((r, i) =>
      sampleEvent([r], { reason: i % 2 ? 'low_confidence' : 'rate+low_confidence', confidence: 0.2 + i / 100 }),
    )
  const sure = rows.slice(10, 15).map((r) => sampleEvent([r], { confidence: 0.9 }))
  const unthresholded = rows
    .slice(15)
    .map((r) => sampleEvent([r], { model: 'credit-risk-fallback', reason: 'low_confidence', confidence: 0.1 }))
  const start = () =>
    startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      storeDir: join(dir, 'store'),
      models: MODELS,
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
      repository: EXAMPLE_MODELS,
      operatorToken: TOKEN,
    })
  // With the token: the items' payloads come only with it (test/api-access.test.ts has them without).
  const list = async (query = ''): Promise<Item[]> =>
    (
      (await (
        await fetch(`${collector.url}/api/v1/review${query}`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).json()) as { items: Item[] }
    ).items
  const label = (id: string, body: unknown, token: string | null = TOKEN) =>
    fetch(`${collector.url}/api/v1/review/${id}/label`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    })

  beforeAll(async () => {
    nats = await startNats()
    dir = await mkdtemp(join(tmpdir(), 'review-'))
    collector = await start()
    await collector.ready
    agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'review',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      reviewThresholds: { 'credit-risk': 0.6 },
      spool: { dir: join(dir, 'spool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
    expect((await post(agent.url, ndjson([...low, ...sure, ...unthresholded]))).status).toBe(202)
    await eventually(list, (items) => items.length === low.length)
  })
  afterAll(async () => {
    await agent?.close()
    await collector?.close()
    await nats?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it("queues exactly the samples under their model's threshold, and the work queue lets go of them once stored", async () => {
    const items = await list()
    expect(items.map((i) => i.request_id).sort()).toEqual(low.map((e) => e.request_id).sort())
    expect(items.find((i) => i.request_id === low[0]!.request_id)).toMatchObject({
      model: 'credit-risk',
      label: null,
      labelled_by: null,
      request: low[0]!.request,
    })
    expect(metricSum(await metrics(agent.url), 'mesh_agent_review_items_total')).toBe(low.length)
    // Every sample is a sample still: the review copies are not counted twice.
    const applied = await eventually(
      () => metrics(collector.url),
      (t) => metricSum(t, 'mesh_collector_events_applied_total', { kind: 'sample' }) === 20,
    )
    expect(metricSum(applied, 'mesh_collector_events_applied_total', { kind: 'review' })).toBe(low.length)
    const nc = await connect({ servers: nats.url })
    try {
      const jsm = await jetstreamManager(nc)
      await eventually(
        () => jsm.streams.info(STREAMS.review.name).then((i) => i.state.messages),
        (n) => n === 0,
      )
    } finally {
      await nc.close()
    }
  })

  it('takes labels with who gave them, refuses bad ones naming the field, and keeps them across a restart', async () => {
    const [a, b, c] = low
    // A label is a write: without the operator token, or with another, the collector refuses it and keeps nothing.
    expect((await label(a!.request_id, { label: 'default', by: 'mallory' }, null)).status).toBe(401)
    expect((await label(a!.request_id, { label: 'default', by: 'mallory' }, 'not-the-operator-token')).status).toBe(401)
    expect((await list('?status=labelled')).length).toBe(0)
    expect((await label(a!.request_id, { label: 'default', by: 'alice' })).status).toBe(200)
    expect((await label(b!.request_id, { label: 'repaid', by: 'alice' })).status).toBe(200)
    expect((await label(c!.request_id, { label: 'default', by: 'bob' })).status).toBe(200)
    // A second opinion replaces the first.
    const again = (await (await label(b!.request_id, { label: 'default', by: 'carol' })).json()) as Item
    expect(again).toMatchObject({ label: 'default', labelled_by: 'carol' })
    expect(await (await label(a!.request_id, { by: 'alice' })).json()).toEqual({
      error: 'label: required (a class name, number or any JSON value but null)',
    })
    expect((await label(a!.request_id, { label: 1, by: '' })).status).toBe(400)
    expect((await label('no-such-request', { label: 1, by: 'alice' })).status).toBe(404)
    expect((await fetch(`${collector.url}/api/v1/review?status=done`)).status).toBe(400)
    await collector.close()
    collector = await start()
    await collector.ready
    expect((await list('?status=labelled')).map((i) => [i.request_id, i.label, i.labelled_by]).sort()).toEqual(
      [
        [a!.request_id, 'default', 'alice'],
        [b!.request_id, 'default', 'carol'],
        [c!.request_id, 'default', 'bob'],
      ].sort(),
    )
    expect(await list('?status=pending')).toHaveLength(low.length - 3)
  })

  it('exports the labelled set as Parquet, by the API and by mesh review export, with features decoded', async () => {
    // The payloads themselves: the operator's only.
    expect((await fetch(`${collector.url}/api/v1/review/export?model=credit-risk`)).status).toBe(401)
    const res = await fetch(`${collector.url}/api/v1/review/export?model=credit-risk`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/vnd.apache.parquet')
    const viaApi = join(dir, 'api.parquet')
    await writeFile(viaApi, Buffer.from(await res.arrayBuffer()))
    const exported = readParquet(viaApi)
    expect(exported).toHaveLength(3)
    const first = exported.find((r) => r.request_id === low[0]!.request_id)!
    expect(first).toMatchObject({
      label: '"default"',
      labelled_by: 'alice',
      model: 'credit-risk',
      feature_names: [...FEATURE_NAMES],
    })
    expect((first.input_rows as number[][])[0]).toEqual(rows[0])

    // The CLI, against the collector mesh.yaml names.
    const ports = await freePorts(7)
    const file = join(dir, 'mesh.yaml')
    await writeFile(
      file,
      localMeshYaml(
        {
          gateway: ports[0]!,
          stable: ports[1]!,
          canary: ports[2]!,
          fallback: ports[3]!,
          nats: ports[4]!,
          agent: ports[5]!,
          collector: collector.port,
        },
        `  - name: credit-risk\n    model: credit-risk\n    match: { model: credit-risk }\n    stable: { version: 1, hosts: [stable] }\n`,
      ),
    )
    const out = join(dir, 'cli.parquet')
    const said: string[] = []
    // Without the token file, the collector refuses the CLI too, and says why.
    expect(
      await run(['review', 'export', 'credit-risk', '--config', file, '--out', out], {
        out: () => {},
        err: (t) => void said.push(t),
      }),
    ).toBe(3)
    expect(said.join('')).toContain('mesh review export: authorization: operator token required')
    said.length = 0
    // The CLI sends the token from the file mesh.yaml names (by default <state_dir>/dashboard-token).
    await mkdir(join(dir, 'state'), { recursive: true })
    await writeFile(join(dir, 'state', 'dashboard-token'), `${TOKEN}\n`, { mode: 0o600 })
    expect(
      await run(['review', 'export', 'credit-risk', '--config', file, '--out', out], {
        out: (t) => void said.push(t),
        err: (t) => void said.push(t),
      }),
    ).toBe(0)
    expect(said.join('')).toContain(`wrote 3 labelled items of credit-risk to ${out}`)
    expect(
      readParquet(out)
        .map((r) => r.request_id)
        .sort(),
    ).toEqual(exported.map((r) => r.request_id).sort())
    expect(
      await run(['review', 'export', 'credit-risk-fallback', '--config', file, '--out', out], {
        out: () => {},
        err: (t) => void said.push(t),
      }),
    ).toBe(1)
    expect(said.join('')).toContain('model: no labelled review items for credit-risk-fallback')
  })
})
