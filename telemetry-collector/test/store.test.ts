/**
 * The store and the aggregator together: late events merge into the
 * stored rollups of their minute, never overwrite them (real DuckDB).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { TelemetryEvent } from '../../contracts/events.ts'
import { Aggregator, MEMORY_HORIZON_MS, minuteOf } from '../src/aggregator.ts'
import { Store } from '../src/store.ts'
import { batchEvent, requestEvent } from './events.ts'

const MODELS = ['credit-risk']
const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

/** What the collector does with one delivery: load what late events need, apply, commit. */
async function applyAndCommit(store: Store, agg: Aggregator, events: TelemetryEvent[], now: number) {
  const missing = agg.missingMinutes(events)
  for (const e of await store.loadMinutes(missing.requests)) agg.restoreMinute(e)
  for (const e of await store.loadHostMinutes(missing.hosts)) agg.restoreHostMinute(e)
  for (const e of events) agg.apply(e)
  await store.commit(agg.takeChanges(now), new Map())
}

describe('late events and the stored rollups', () => {
  it('merge into the minute they happened in, across deliveries and restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'store-'))
    dirs.push(dir)
    const now = Date.now()
    const late = now - MEMORY_HORIZON_MS - 3_600_000
    let store = await Store.open(dir)
    let agg = new Aggregator(MODELS)
    await store.load(agg, now)
    await applyAndCommit(store, agg, [...Array.from({ length: 30 }, () => requestEvent({ ts: late })), ...Array.from({ length: 10 }, () => batchEvent({ ts: late }))], now)
    await applyAndCommit(store, agg, [requestEvent({ ts: late }), batchEvent({ ts: late })], now)
    // And once more after a restart, whose memory starts at the horizon.
    store.close()
    store = await Store.open(dir)
    agg = new Aggregator(MODELS)
    await store.load(agg, now)
    await applyAndCommit(store, agg, [requestEvent({ ts: late }), batchEvent({ ts: late })], now)
    const minute = minuteOf(late)
    const requests = (await store.minutes(minute, minute + 60_000)).reduce((a, m) => a + m.bucket.requests, 0)
    const batches = (await store.hostMinutes(minute, minute + 60_000)).reduce((a, m) => a + m.bucket.batches, 0)
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
    await applyAndCommit(store, agg, Array.from({ length: 50 }, () => requestEvent({ ts: edge })), now)
    store.close()
    // Restarted a little later: the edge minute is now just below the horizon.
    store = await Store.open(dir)
    agg = new Aggregator(MODELS)
    await store.load(agg, now + 30_000)
    await applyAndCommit(store, agg, [requestEvent({ ts: edge })], now + 30_000)
    const minute = minuteOf(edge)
    expect((await store.minutes(minute, minute + 60_000)).reduce((a, m) => a + m.bucket.requests, 0)).toBe(51)
    store.close()
  })
})
