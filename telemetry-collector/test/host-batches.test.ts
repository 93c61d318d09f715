/**
 * @module
 * Host batches are counted per host instance as well as per model version:
 * in /metrics and in the dashboard's Hosts table, each host shows only the
 * batches it ran (two hosts of one version once each showed the version's sum).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_STREAM_LIMITS, type HostSaturationEvent } from '@model-mesh/contracts'
import { canaryRouteYaml, localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { freePorts } from '@model-mesh/testkit/ports'
import { startAgent, type RunningAgent } from '@model-mesh/telemetry-agent'
import type { RouteView } from '../dashboard/snapshot.ts'
import { startCollector, type RunningCollector } from '../collector.ts'
import {
  AGENT_TEST_TOKEN,
  batchEvent,
  eventually,
  fallbackEvent,
  hostStats,
  metrics,
  metricSum,
  ndjson,
  post,
} from '@model-mesh/testkit/events'

const MODELS = ['credit-risk', 'credit-risk-fallback']

const saturationEvent = (host: string, version: string): HostSaturationEvent => ({
  v: 3,
  kind: 'host_saturation',
  ts: Date.now(),
  host,
  model: 'credit-risk',
  version,
  queue_depth: 0,
  busy_instances: 0,
  instances: 1,
})

describe('host batches per host instance', () => {
  let nats: RunningNats
  let agent: RunningAgent
  let collector: RunningCollector
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'host-batches-'))
    const meshFile = join(dir, 'mesh.yaml')
    await writeFile(
      meshFile,
      localMeshYaml(portsOf(await freePorts(7)), canaryRouteYaml(1000, 'interval_s: 60, min_requests: 100')),
    )
    nats = await startNats()
    agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'hosts',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      spool: { dir: join(dir, 'spool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
    collector = await startCollector({
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      storeDir: join(dir, 'store'),
      models: MODELS,
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
      labels: { hosts: ['stable', 'canary', 'fallback'] },
      meshFile,
      dashboard: { address: '127.0.0.1', port: 0, refreshMs: 500, agents: [agent.url] },
    })
    await collector.ready
  })
  afterAll(async () => {
    await agent?.close()
    await collector?.close()
    await nats?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('/metrics and the Hosts table show each host only the batches it ran, a host mesh.yaml does not name as other', async () => {
    // Every host holds v1; stable and canary both ran batches of it, the fallback host none.
    const batches = [
      ...Array.from({ length: 5 }, () => batchEvent({ host: 'stable', rows: 32 })),
      ...Array.from({ length: 3 }, () => batchEvent({ host: 'canary', rows: 16, queue_wait_ms: 4 })),
      batchEvent({ host: 'intruder' }),
    ]
    await post(
      agent.url,
      ndjson([...batches, ...['stable', 'canary', 'fallback'].map((h) => saturationEvent(h, '1'))]),
      'host:stable',
    )
    const text = await eventually(
      () => metrics(collector.url),
      (t) => metricSum(t, 'mesh_host_batches_total') === batches.length && metricSum(t, 'mesh_host_instances') === 3,
    )
    const batchesOf = (host: string) =>
      metricSum(text, 'mesh_host_batches_total', { host, model: 'credit-risk', version: '1' })
    expect([batchesOf('stable'), batchesOf('canary'), batchesOf('fallback'), batchesOf('other')]).toEqual([5, 3, 0, 1])
    expect(metricSum(text, 'mesh_host_batch_rows_total', { host: 'stable' })).toBe(5 * 32)
    expect(metricSum(text, 'mesh_host_batch_fill_ratio', { host: 'canary', version: '1' })).toBe(16 / 64)
    expect(text).not.toContain('intruder')

    const view = (await (
      await fetch(`${collector.dashboardUrl}/api/v1/dashboard/routes/credit-risk?range=1h`)
    ).json()) as RouteView
    const rows = view.hosts
      .filter((h) => h.version === '1')
      .map((h) => [h.host, h.batches, h.batch_fill_ratio, h.mean_queue_wait_ms])
    expect(rows).toEqual([
      ['canary', 3, 16 / 64, 4],
      ['fallback', 0, null, null],
      ['stable', 5, 32 / 64, 0.5],
    ])
  })

  it("counts a version 3 host's host_stats records, and its stories (a failed batch, a fallback) once, beside an older host's events", async () => {
    const before = await metrics(collector.url)
    const sum = (t: string, name: string) => metricSum(t, name, { host: 'canary', version: '2' })
    await post(
      agent.url,
      ndjson([
        hostStats([1, 2, 3, 4], {
          host: 'canary',
          version: '2',
          rows: 8,
          failed_batches: 1,
          fallbacks: { queue_full: 2 },
        }),
        // The stories the same host sent: already counted in the record.
        batchEvent({ host: 'canary', version: '2', ok: false, kept: ['failed'] }),
        fallbackEvent({ host: 'canary', version: '2', kept: ['fallback'] }),
        fallbackEvent({ host: 'canary', version: '2', kept: ['fallback'] }),
        // An older host's batch: its event is its count.
        batchEvent({ host: 'canary', version: '2', rows: 4 }),
      ]),
      'host:canary',
    )
    const text = await eventually(
      () => metrics(collector.url),
      (t) => sum(t, 'mesh_host_batches_total') - sum(before, 'mesh_host_batches_total') === 5,
    )
    expect(sum(text, 'mesh_host_batch_rows_total') - sum(before, 'mesh_host_batch_rows_total')).toBe(4 * 8 + 4)
    expect(sum(text, 'mesh_host_fallbacks_total') - sum(before, 'mesh_host_fallbacks_total')).toBe(2)
    // The failed batch's story is there to tell.
    expect(metricSum(text, 'mesh_collector_events_applied_total', { kind: 'host_stats' })).toBe(1)
  })
})
