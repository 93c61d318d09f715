/**
 * Two collectors sharing the work through leases, on a real nats-server:
 * each consumes its own share; each exports only its models in /metrics
 * (the two add up); and either answers for the whole mesh: a request's
 * story, the golden-signal windows and rollups, the canary analysis and the
 * dashboard's overview and route view of a model the other consumes come
 * from the other, while a question
 * one passes to the other is answered from that one's own models alone.
 * Drift and the review queue too: the drift of every model version, the
 * review items both took off the queue, a label given through the one that
 * does not hold the item, and an export with the labelled items of both.
 */
import { jetstream } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_STREAM_LIMITS, messageId, subjectOf } from '@model-mesh/contracts'
import { applicantRows, eventually, metricSum, ndjson, requestEvent, sampleEvent } from '@model-mesh/testkit/events'
import { EXAMPLE_MODELS } from '@model-mesh/testkit/host-process'
import { localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { freePorts } from '@model-mesh/testkit/ports'
import { startCollector, type RunningCollector } from '../collector.ts'
import { FORWARDED_HEADER } from '../serve/peers.ts'

const ROUTES = `  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    canary: { version: 2, weight: 0, hosts: [canary] }
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
`

const TOKEN = 'shared-collectors-operator-token'

interface Overview {
  routes: { name: string; model: string; now: { requests: number } }[]
}

describe('collectors sharing the work', () => {
  let nats: RunningNats
  let nc: NatsConnection
  let dir = ''
  const collectors: RunningCollector[] = []
  const urls = { api: [] as string[], dashboard: [] as string[] }

  beforeAll(async () => {
    nats = await startNats()
    nc = await connect({ servers: nats.url })
    dir = await mkdtemp(join(tmpdir(), 'shared-collectors-'))
    const meshFile = join(dir, 'mesh.yaml')
    await writeFile(meshFile, localMeshYaml(portsOf(await freePorts(7)), ROUTES))
    const [api1, dash1, api2, dash2] = await freePorts(4)
    urls.api = [`http://127.0.0.1:${api1}`, `http://127.0.0.1:${api2}`]
    urls.dashboard = [`http://127.0.0.1:${dash1}`, `http://127.0.0.1:${dash2}`]
    const shares = [['credit-risk'], ['credit-risk-fallback', '_other']]
    for (const i of [0, 1])
      collectors.push(
        await startCollector({
          address: '127.0.0.1',
          port: [api1, api2][i]!,
          natsUrl: nats.url,
          storeDir: join(dir, `store-${i}`),
          models: ['credit-risk', 'credit-risk-fallback'],
          owns: shares[i],
          streams: DEFAULT_STREAM_LIMITS,
          shared: { replicas: 1, collectors: urls.api },
          meshFile,
          repository: EXAMPLE_MODELS,
          operatorToken: TOKEN,
          dashboard: {
            address: '127.0.0.1',
            port: [dash1, dash2][i]!,
            refreshMs: 500,
            agents: [],
            peers: [urls.dashboard[1 - i]!],
          },
          log: () => {},
        }),
      )
    await Promise.all(collectors.map((c) => c.ready))
  })
  afterAll(async () => {
    for (const c of collectors) await c.close()
    await nc?.close()
    await nats?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const json = async <T>(url: string, forwarded = false) =>
    (await (await fetch(url, { headers: forwarded ? { [FORWARDED_HEADER]: '1' } : {} })).json()) as T
  const owned = (i: number) =>
    json<{ shares: { owned: string[] } }>(`${urls.api[i]}/api/v1/pipeline`).then((p) => p.shares.owned.sort())
  const counted = async (i: number) =>
    metricSum(await (await fetch(`${urls.api[i]}/metrics`)).text(), 'mesh_requests_total', { route: 'credit-risk' })

  it('each consumes its own share, and exports only its own models: the two add up', async () => {
    await eventually(
      () => Promise.all([owned(0), owned(1)]),
      ([a, b]) => a.length === 1 && b.length === 2,
    )
    expect([await owned(0), await owned(1)]).toEqual([['credit-risk'], ['_other', 'credit-risk-fallback']])
    const events = Array.from({ length: 12 }, (_, i) => requestEvent({ request_id: `shared-${i}` }))
    await jetstream(nc).publish(subjectOf('requests', 'credit-risk'), new TextEncoder().encode(ndjson(events)), {
      msgID: messageId('agent-test', 'k1', 1),
    })
    await eventually(
      () => counted(0),
      (n) => n === 12,
    )
    expect(await counted(1)).toBe(0)
  })

  it("answers for the other's model: a request's story, the windows, the dashboard", async () => {
    // The collector that does not consume credit-risk.
    const story = await fetch(`${urls.api[1]}/api/v1/requests/shared-3`)
    expect(story.status).toBe(200)
    expect(((await story.json()) as { request: unknown[] }).request).toHaveLength(1)

    const windows = await json<{ series: { labels: { model: string }; requests: number }[] }>(
      `${urls.api[1]}/api/v1/windows?window=1h`,
    )
    expect(windows.series.filter((s) => s.labels.model === 'credit-risk').reduce((n, s) => n + s.requests, 0)).toBe(12)
    // Passed on to it, it answers from its own models only: never passed on again.
    const own = await json<typeof windows>(`${urls.api[1]}/api/v1/windows?window=1h`, true)
    expect(own.series.filter((s) => s.labels.model === 'credit-risk')).toEqual([])

    type Rollups = { steps: { series: { labels: { model: string }; requests: number }[] }[] }
    const creditRisk = (r: Rollups) =>
      r.steps
        .flatMap((s) => s.series)
        .filter((s) => s.labels.model === 'credit-risk')
        .reduce((n, s) => n + s.requests, 0)
    expect(creditRisk(await json<Rollups>(`${urls.api[1]}/api/v1/rollups?step=1h`))).toBe(12)
    expect(creditRisk(await json<Rollups>(`${urls.api[1]}/api/v1/rollups?step=1h`, true))).toBe(0)
    const analysis = await json<{ stable: { requests: number } }>(`${urls.api[1]}/api/v1/canary/credit-risk`)
    expect(analysis.stable.requests).toBe(12)

    const overview = await json<Overview>(`${urls.dashboard[1]}/api/v1/dashboard/overview?range=1h`)
    expect(overview.routes.map((r) => [r.name, r.now.requests])).toEqual([['credit-risk', 12]])
    const ownOverview = await json<Overview>(`${urls.dashboard[1]}/api/v1/dashboard/overview?range=1h`, true)
    expect(ownOverview.routes).toEqual([])
    const route = await json<{ route: { now: { requests: number } } }>(
      `${urls.dashboard[1]}/api/v1/dashboard/routes/credit-risk?range=1h`,
    )
    expect(route.route.now.requests).toBe(12)
  })

  it('answers drift and the review queue for the whole mesh, and labels and exports items the other holds', async () => {
    const js = jetstream(nc)
    const samples = applicantRows(30, 707).map((r) => sampleEvent([r]))
    await js.publish(subjectOf('payloads', 'credit-risk'), new TextEncoder().encode(ndjson(samples)), {
      msgID: messageId('agent-test', 'k1', 2),
    })
    // A review item for each collector's model: credit-risk's taken by the first, the fallback's by the second.
    const review = (model: string, i: number) => ({
      ...sampleEvent(applicantRows(1, 800 + i), { model, reason: 'low_confidence', confidence: 0.1 + i / 100 }),
      kind: 'review',
    })
    const items = [review('credit-risk', 1), review('credit-risk-fallback', 2)]
    for (const [i, item] of items.entries())
      await js.publish(subjectOf('review', item.model), new TextEncoder().encode(ndjson([item])), {
        msgID: messageId('agent-test', 'k1', 3 + i),
      })

    type Drift = { versions: { model: string; version: string; rows: number }[] }
    const drift = await eventually(
      () => json<Drift>(`${urls.api[1]}/api/v1/drift?model=credit-risk`),
      (d) => d.versions.some((v) => v.rows === 30),
    )
    expect(drift.versions.map((v) => [v.model, v.version, v.rows])).toEqual([['credit-risk', '1', 30]])
    expect((await json<Drift>(`${urls.api[1]}/api/v1/drift?model=credit-risk`, true)).versions).toEqual([])

    const auth = { authorization: `Bearer ${TOKEN}` }
    type Listed = { items: { request_id: string; model: string; request?: string; label: unknown }[] }
    const list = async (i: number, forwarded = false) =>
      (await (
        await fetch(`${urls.api[i]}/api/v1/review?status=all`, {
          headers: { ...auth, ...(forwarded ? { [FORWARDED_HEADER]: '1' } : {}) },
        })
      ).json()) as Listed
    const ids = (l: Listed) => l.items.map((i) => i.request_id).sort()
    const all = items.map((i) => i.request_id).sort()
    await eventually(
      () => list(0),
      (l) => l.items.length === 2,
    )
    expect(ids(await list(0))).toEqual(all)
    expect(ids(await list(1))).toEqual(all)
    // Bodies come with the operator's token, from either collector.
    expect((await list(1)).items.find((i) => i.model === 'credit-risk')?.request).toBe(items[0]!.request)
    expect(ids(await list(1, true))).toEqual([items[1]!.request_id])

    // Labelled through the collector that does not hold it.
    const labelled = await fetch(`${urls.api[1]}/api/v1/review/${items[0]!.request_id}/label`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ label: 'approve', by: 'analyst' }),
    })
    expect(labelled.status).toBe(200)
    expect((await list(0, true)).items[0]!.label).toBe('approve')
    const missing = await fetch(`${urls.api[1]}/api/v1/review/no-such-item/label`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ label: 'approve', by: 'analyst' }),
    })
    expect(missing.status).toBe(404)

    // Exported from the other collector: the file holds the item the first took off the queue.
    const file = await fetch(`${urls.api[1]}/api/v1/review/export?model=credit-risk`, { headers: auth })
    expect(file.status).toBe(200)
    expect(file.headers.get('x-review-items')).toBe('1')
    expect(
      Buffer.from(await file.arrayBuffer())
        .subarray(0, 4)
        .toString(),
    ).toBe('PAR1')
  })
})
