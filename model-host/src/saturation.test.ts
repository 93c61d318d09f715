import { describe, expect, it } from 'vitest'
import { decodeEvent, type HostEvent } from '@model-mesh/contracts'
import { Batcher } from './batcher.ts'
import type { BatchPayload, LoadedVersion } from './loaded-version.ts'
import type { ModelState } from './model-manager.ts'
import { HostStats } from './host-stats.ts'
import { reportSaturation, saturationEvents } from './saturation.ts'

/** A version with a real batcher over an executor that never finishes, and `instances` sessions. */
function version(model: string, v: string, instances: number): LoadedVersion {
  const batcher = new Batcher<number, number>(
    {
      maxBatchSize: 8,
      maxQueueDelayMs: 60_000,
      preferredBatchSizes: [],
      maxQueueSize: 100,
      priorityLevels: 1,
      instances,
    },
    () => new Promise(() => {}),
  )
  return {
    model,
    version: v,
    batcher,
    sessions: Array.from({ length: instances }, () => ({})),
  } as unknown as LoadedVersion
}
const state = (name: string, versions: LoadedVersion[]): ModelState => ({
  name,
  state: 'READY',
  versions: new Map(versions.map((v) => [v.version, v])),
  versionErrors: new Map(),
})
const job = { rows: 1, priority: 1, deadline: performance.now() + 60_000 }
const payload = {} as BatchPayload // the executor never looks at it
const tick = () => new Promise((r) => setImmediate(r))

describe('saturation events', () => {
  it('reports each loaded version: queue depth, instances running a batch, instances', async () => {
    const busy = version('m', '1', 2)
    void busy.batcher.submit(payload, job) // starts at once on one instance
    await tick()
    void busy.batcher.submit(payload, job) // one instance is free but another runs: it waits for company
    await tick()
    const idle = version('m', '2', 1)
    const events = saturationEvents([state('m', [busy, idle]), state('empty', [])], 'h1', 1234)
    expect(events).toEqual([
      {
        v: 3,
        kind: 'host_saturation',
        ts: 1234,
        host: 'h1',
        model: 'm',
        version: '1',
        queue_depth: 1,
        busy_instances: 1,
        instances: 2,
      },
      {
        v: 3,
        kind: 'host_saturation',
        ts: 1234,
        host: 'h1',
        model: 'm',
        version: '2',
        queue_depth: 0,
        busy_instances: 0,
        instances: 1,
      },
    ])
    for (const e of events) expect(decodeEvent(e)).toEqual({ ok: true, event: e })
  })

  it('emits them on every tick until stopped', async () => {
    const seen: HostEvent[] = []
    const emitter = { emit: (e: HostEvent) => void seen.push(e) }
    const stats = new HostStats(emitter)
    const reporter = reportSaturation(
      { models: () => [state('m', [version('m', '1', 1)])] },
      emitter,
      stats,
      () => 'h1',
      10,
    )
    await new Promise((r) => setTimeout(r, 55))
    // A fallback counted just before it stops goes out with the last flush.
    stats.fallback({
      kind: 'host_fallback',
      ts: Date.now(),
      host: 'h1',
      model: 'm',
      version: '1',
      request_id: 'r1',
      traceparent: '',
      fallback_model: 'm-fallback',
      reason: 'queue_full',
    })
    reporter.stop()
    const n = seen.length
    expect(seen.filter((e) => e.kind === 'host_saturation').length).toBeGreaterThanOrEqual(2)
    expect(seen.filter((e) => e.kind === 'host_stats').map((e) => e.fallbacks)).toEqual([{ queue_full: 1 }])
    await new Promise((r) => setTimeout(r, 30))
    expect(seen.length).toBe(n)
  })
})
