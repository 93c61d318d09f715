/**
 * The store and the aggregator together: late events merge into the
 * stored rollups of their minute, never overwrite them (real DuckDB).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { afterEach, describe, expect, it } from 'vitest'
import type { ReviewItemEvent, TelemetryEvent } from '@model-mesh/contracts'
import { Aggregator, MEMORY_HORIZON_MS, minuteOf } from '../state/aggregator.ts'
import { Store } from '../store/store.ts'
import { commitSkippingRefused } from '../ingest/consumers.ts'
import { HostBucket, hostBucketFromJson, hostBucketToJson } from '../state/host-signals.ts'
import { batchEvent, fallbackEvent, requestEvent, sampleEvent } from '@model-mesh/testkit/events'
import { applyAndCommit } from './apply-and-commit.ts'

const MODELS = ['credit-risk']
const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

describe('late events and the stored rollups', () => {
  it('merge into the minute they happened in, across deliveries and restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'store-'))
    dirs.push(dir)
    const now = Date.now()
    const late = now - MEMORY_HORIZON_MS - 3_600_000
    let store = await Store.open(dir)
    let agg = new Aggregator(MODELS)
    await store.load(agg, now)
    await applyAndCommit(
      store,
      agg,
      [
        ...Array.from({ length: 30 }, () => requestEvent({ ts: late })),
        ...Array.from({ length: 10 }, () => batchEvent({ ts: late })),
      ],
      now,
    )
    await applyAndCommit(store, agg, [requestEvent({ ts: late }), batchEvent({ ts: late })], now)
    // And once more after a restart, whose memory starts at the horizon.
    store.close()
    store = await Store.open(dir)
    agg = new Aggregator(MODELS)
    await store.load(agg, now)
    await applyAndCommit(store, agg, [requestEvent({ ts: late }), batchEvent({ ts: late })], now)
    const minute = minuteOf(late)
    const requests = (await store.signals.minutes(minute, minute + 60_000)).reduce((a, m) => a + m.bucket.requests, 0)
    const batches = (await store.signals.hostMinutes(minute, minute + 60_000)).reduce((a, m) => a + m.bucket.batches, 0)
    expect(requests).toBe(32)
    expect(batches).toBe(12)
    store.close()
  })

  it('an event in the minute straddling the horizon at start-up merges too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'store-'))
    dirs.push(dir)
    const now = Date.now()
    const edge = minuteOf(now - MEMORY_HORIZON_MS) + 1_000
    let store = await Store.open(dir)
    let agg = new Aggregator(MODELS)
    await store.load(agg, now)
    await applyAndCommit(
      store,
      agg,
      Array.from({ length: 50 }, () => requestEvent({ ts: edge })),
      now,
    )
    store.close()
    // Restarted a little later: the edge minute is now just below the horizon.
    store = await Store.open(dir)
    agg = new Aggregator(MODELS)
    await store.load(agg, now + 30_000)
    await applyAndCommit(store, agg, [requestEvent({ ts: edge })], now + 30_000)
    const minute = minuteOf(edge)
    expect((await store.signals.minutes(minute, minute + 60_000)).reduce((a, m) => a + m.bucket.requests, 0)).toBe(51)
    store.close()
  })
})

describe('Store.routeTotals', () => {
  it('sums requests and failures (5xx and no response, not 4xx) per route over [from, to), 30 days of minute rollups in well under a second', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'store-'))
    dirs.push(dir)
    const store = await Store.open(dir)
    const agg = new Aggregator(MODELS)
    const DAY = 86_400_000
    const REAL_DAYS = 3
    const end = minuteOf(Date.now())
    const start = end - 30 * DAY
    // Two series of credit-risk every minute (stable: 2 a minute, one 503 every 7th; canary: 1, no response every 11th, a 404 every 13th), repeating every 3 days; and a few minutes of another route.
    const statusOf = (series: 'stable' | 'canary', minute: number, k: number) => {
      const i = ((minute - start) / 60_000) % ((REAL_DAYS * DAY) / 60_000)
      return series === 'stable' ? (k === 1 && i % 7 === 0 ? 503 : 200) : i % 11 === 0 ? 0 : i % 13 === 0 ? 404 : 200
    }
    const expected = (from: number, to: number) => {
      const t = { requests: 0, failed: 0 }
      for (let minute = Math.max(from, start); minute < Math.min(to, end); minute += 60_000) {
        t.requests += 3
        t.failed += [
          statusOf('stable', minute, 0),
          statusOf('stable', minute, 1),
          statusOf('canary', minute, 0),
        ].filter((s) => s >= 500 || s === 0).length
      }
      return t
    }
    // The first 3 days a day a delivery, committed as that day ends (the path a running collector takes) ...
    for (let day = start; day < start + REAL_DAYS * DAY; day += DAY) {
      const events: TelemetryEvent[] = []
      for (let minute = day; minute < day + DAY; minute += 60_000) {
        events.push(
          requestEvent({ ts: minute + 1000, status: statusOf('stable', minute, 0) }),
          requestEvent({ ts: minute + 2000, status: statusOf('stable', minute, 1) }),
        )
        events.push(
          requestEvent({ ts: minute + 3000, variant: 'canary', version: '2', status: statusOf('canary', minute, 0) }),
        )
      }
      await applyAndCommit(store, agg, events, day + DAY)
    }
    // ... and those rows copied on to fill 30 days (the commit path writes about 3,000 minute rows a second: 30 days of it would take the test half a minute).
    await store.database.writer.run(
      `INSERT INTO signal_minutes SELECT minute_ms + k * ${REAL_DAYS * DAY}, route, model, version, variant, requests, codes, flags, fallbacks, duration_sum_ms, sketch FROM signal_minutes CROSS JOIN range(1, ${30 / REAL_DAYS}) AS r(k)`,
    )
    await applyAndCommit(
      store,
      agg,
      Array.from({ length: 5 }, (_, k) =>
        requestEvent({ ts: end - DAY + k * 60_000, route: 'fraud', status: k === 0 ? 500 : 200 }),
      ),
      end,
    )
    expect(
      Number(
        (await store.database.reader.runAndReadAll('SELECT count(*) AS n FROM signal_minutes')).getRowObjects()[0]!.n,
      ),
    ).toBe(30 * 1440 * 2 + 5)

    const t0 = performance.now()
    const all = await store.signals.routeTotals(start, end)
    const took = performance.now() - t0
    expect(all).toEqual(
      new Map([
        ['credit-risk', expected(start, end)],
        ['fraud', { requests: 5, failed: 1 }],
      ]),
    )
    expect(all.get('credit-risk')!.requests).toBe(30 * 1440 * 3)
    expect(all.get('credit-risk')!.failed).toBeGreaterThan(10_000)
    expect(took).toBeLessThan(500)
    // [from, to): the minute at `to` is out, the one at `from` in; a range with no rollups is empty.
    const from = start + 4 * DAY + 7 * 60_000
    const to = from + 6 * 3_600_000 + 60_000
    expect((await store.signals.routeTotals(from, to)).get('credit-risk')).toEqual(expected(from, to))
    expect((await store.signals.routeTotals(from, from + 60_000)).get('credit-risk')).toEqual(
      expected(from, from + 60_000),
    )
    expect(await store.signals.routeTotals(end + DAY, end + 2 * DAY)).toEqual(new Map())
    store.close()
  }, 60_000)
})

describe('what the store holds and what it refuses', () => {
  const open = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'store-'))
    dirs.push(dir)
    const store = await Store.open(dir)
    const agg = new Aggregator(MODELS)
    await store.load(agg)
    return { dir, store, agg }
  }

  it('binds each value with its column type: an integer-valued confidence past 64 bits is a DOUBLE, not a BIGINT DuckDB refuses', async () => {
    const { store, agg } = await open()
    // The decoder refuses it now; the store must hold it anyway, whatever reaches it.
    const review = { ...sampleEvent([[1]], { confidence: -9.3e18 }), kind: 'review' } as unknown as ReviewItemEvent
    await applyAndCommit(store, agg, [review], Date.now())
    const [item] = await store.review.items({ status: 'pending', limit: 10 })
    expect(item!.sample.confidence).toBe(-9.3e18)
    store.close()
  })

  it('an event the store refuses is counted and left out; the rest of its batch and the consumer positions commit', async () => {
    const { dir, store, agg } = await open()
    const good = [requestEvent(), requestEvent()]
    // A duration the decoder would refuse: the store's UBIGINT cannot hold it either.
    const bad = requestEvent({ duration_us: -1 })
    for (const e of [good[0]!, bad, good[1]!]) agg.apply(e)
    await commitSkippingRefused(store, agg, agg.takeChanges(), new Map([['c-requests', 7]]))
    expect(agg.pipeline.refused.store_refused).toBe(1)
    const stories = await Promise.all([...good, bad].map((e) => store.events.story(e.request_id)))
    expect(stories.map((s) => s.request.length)).toEqual([1, 1, 0])
    // What was committed is what a restart reads: the position (so the messages are acknowledged, not redelivered) and the count.
    store.close()
    const again = await Store.open(dir)
    const restored = new Aggregator(MODELS)
    expect((await again.load(restored)).get('c-requests')).toBe(7)
    expect(restored.pipeline.refused.store_refused).toBe(1)
    again.close()
  })

  it('a commit the store refuses with no event to blame is thrown (the store failing stops the collector)', async () => {
    const { store, agg } = await open()
    agg.apply(requestEvent())
    await expect(commitSkippingRefused(store, agg, agg.takeChanges(), new Map([['c', -1]]))).rejects.toThrow()
    expect(agg.pipeline.refused.store_refused).toBeUndefined()
    store.close()
  })
})

describe('host buckets keyed by outside reasons', () => {
  it('count reasons named like Object.prototype keys, and keep them across the stored JSON', () => {
    const b = new HostBucket()
    for (const reason of ['constructor', '__proto__', 'toString', '__proto__'])
      b.addFallback(fallbackEvent({ reason, fallback_model: null }))
    const back = hostBucketFromJson(hostBucketToJson(b))
    expect(Object.getPrototypeOf(back.summary().refusals)).toBe(Object.prototype)
    expect([...back.refusals]).toEqual([
      ['constructor', 1],
      ['__proto__', 2],
      ['toString', 1],
    ])
    expect(back.merge(b).summary().refusals).toEqual(
      Object.fromEntries([
        ['constructor', 2],
        ['__proto__', 4],
        ['toString', 2],
      ]),
    )
  })
})

describe('host rollups from a store that keyed them by model and version only', () => {
  it('read back as host `other`, and rollups per host are added beside them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'store-'))
    dirs.push(dir)
    const now = Date.now()
    const minute = minuteOf(now)
    const old = new HostBucket()
    for (let i = 0; i < 7; i++) old.addBatch(batchEvent())
    // The tables as the collector created them before host rollups were per host.
    const instance = await DuckDBInstance.create(join(dir, 'collector.duckdb'))
    const db = await instance.connect()
    await db.run(
      'CREATE TABLE host_minutes (minute_ms BIGINT, model VARCHAR, version VARCHAR, bucket VARCHAR, PRIMARY KEY (minute_ms, model, version))',
    )
    await db.run(
      'CREATE TABLE host_totals (model VARCHAR, version VARCHAR, bucket VARCHAR, PRIMARY KEY (model, version))',
    )
    await db.run(`INSERT INTO host_minutes VALUES (${minute}, 'credit-risk', '1', $1)`, [hostBucketToJson(old)])
    await db.run(`INSERT INTO host_totals VALUES ('credit-risk', '1', $1)`, [hostBucketToJson(old)])
    db.closeSync()
    instance.closeSync()

    const store = await Store.open(dir)
    const agg = new Aggregator(MODELS)
    await store.load(agg, now)
    await applyAndCommit(
      store,
      agg,
      Array.from({ length: 2 }, () => batchEvent({ host: 'stable', ts: now })),
      now,
    )
    const byHost = (entries: { labels: { host: string; model: string; version: string }; bucket: HostBucket }[]) =>
      entries.map((e) => [e.labels.host, e.labels.model, e.labels.version, e.bucket.batches]).sort()
    expect(byHost([...agg.hostTotals.values()])).toEqual([
      ['other', 'credit-risk', '1', 7],
      ['stable', 'credit-risk', '1', 2],
    ])
    expect(byHost(await store.signals.hostMinutes(minute, minute + 60_000))).toEqual([
      ['other', 'credit-risk', '1', 7],
      ['stable', 'credit-risk', '1', 2],
    ])
    store.close()
  })
})
