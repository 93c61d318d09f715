/**
 * Drift through the real pipeline: sample events posted to the agent, through
 * a real nats-server (JetStream) to the collector, judged against the
 * baselines of the example model repository (models/, built by setup), and
 * read back from /api/v1/drift and /metrics (promtool-clean); after a
 * restart the collector's windows come back from its store.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXAMPLE_MODELS } from '@model-mesh/testkit/host-process'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { startAgent, type RunningAgent } from '@model-mesh/telemetry-agent'
import { startCollector, type RunningCollector } from '../collector.ts'
import { DEFAULT_DRIFT_SETTINGS, type VersionDrift } from '../analysis/drift-monitor.ts'
import { DEFAULT_STREAM_LIMITS } from '@model-mesh/contracts'
import { promtool } from '@model-mesh/testkit/prometheus'
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

const MODELS = ['credit-risk', 'credit-risk-fallback']

describe('drift: agent → JetStream → collector', () => {
  let nats: RunningNats
  let agent: RunningAgent
  let collector: RunningCollector
  let dir: string
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
      // The fallback model asks for more samples than it gets.
      drift: {
        defaults: DEFAULT_DRIFT_SETTINGS,
        models: { 'credit-risk-fallback': { ...DEFAULT_DRIFT_SETTINGS, minSamples: 1000 } },
      },
    })
  const drift = async (): Promise<VersionDrift[]> =>
    ((await (await fetch(`${collector.url}/api/v1/drift`)).json()) as { versions: VersionDrift[] }).versions
  const of = (vs: VersionDrift[], model: string, version: string) =>
    vs.find((v) => v.model === model && v.version === version)

  beforeAll(async () => {
    nats = await startNats()
    dir = await mkdtemp(join(tmpdir(), 'drift-'))
    collector = await start()
    await collector.ready
    agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'drift',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: MODELS,
      spool: { dir: join(dir, 'spool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      log: () => {},
    })
    // credit-risk v1: the training distribution; v2: debt_to_income shifted; the fallback: from training, but fewer rows than it asks for.
    const events = [
      ...applicantRows(400, 101).map((r) => sampleEvent([r], { version: '1' })),
      ...applicantRows(400, 102, { debt_to_income: 0.25 }).map((r) => sampleEvent([r], { version: '2' })),
      ...applicantRows(300, 103).map((r) => sampleEvent([r], { model: 'credit-risk-fallback', version: '1' })),
      // Low-confidence samples are not a fair draw: even wildly off, they change nothing.
      ...applicantRows(300, 104, { age: 40 }).map((r) =>
        sampleEvent([r], { version: '1', reason: 'low_confidence', confidence: 0.1 }),
      ),
    ]
    for (let i = 0; i < events.length; i += 200)
      expect((await post(agent.url, ndjson(events.slice(i, i + 200)))).status).toBe(202)
    await eventually(
      drift,
      (vs) =>
        of(vs, 'credit-risk', '1')?.rows === 400 &&
        of(vs, 'credit-risk', '2')?.rows === 400 &&
        of(vs, 'credit-risk-fallback', '1')?.rows === 300,
    )
  })
  afterAll(async () => {
    await agent?.close()
    await collector?.close()
    await nats?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('raises no drift for traffic from the training distribution, drift on the shifted feature and no other, and "insufficient data" below the minimum', async () => {
    const vs = await drift()
    expect(of(vs, 'credit-risk', '1')).toMatchObject({ status: 'ok', drifting: [] })
    expect(of(vs, 'credit-risk', '2')).toMatchObject({ status: 'drift', drifting: ['debt_to_income'] })
    const fallback = of(vs, 'credit-risk-fallback', '1')!
    expect(fallback).toMatchObject({ status: 'insufficient_data', rows: 300, drifting: [] })
    expect(fallback.features.every((f) => f.verdict === 'insufficient_data' && f.psi === null)).toBe(true)
    expect(of(vs, 'credit-risk', '1')!.meanConfidence).toBeCloseTo(0.8, 9)
    // Each feature's histogram, baseline against the window: debt_to_income's mass moved up, the baseline's stayed a tenth a bin.
    const dti = of(vs, 'credit-risk', '2')!.features.find((f) => f.feature === 'debt_to_income')!
    expect(dti.histogram!.edges).toHaveLength(11)
    expect(dti.histogram!.baseline.every((x) => Math.abs(x - 0.1) < 0.02)).toBe(true)
    expect(dti.histogram!.current.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9)
    expect(dti.histogram!.current[9]!).toBeGreaterThan(0.5)
    expect(of(vs, 'credit-risk', '2')!.prediction!.histogram!.current).toHaveLength(10)
    expect(fallback.features.every((f) => f.histogram !== null && f.histogram.current.length === 10)).toBe(true)
    const filtered = (await (await fetch(`${collector.url}/api/v1/drift?model=credit-risk&version=2`)).json()) as {
      versions: VersionDrift[]
    }
    expect(filtered.versions.map((v) => [v.model, v.version])).toEqual([['credit-risk', '2']])
  })

  it('shows the alert in /metrics, naming model, version and feature, and passes promtool check metrics', async () => {
    const text = await metrics(collector.url)
    expect(metricSum(text, 'mesh_drift_alert', { model: 'credit-risk', version: '2', feature: 'debt_to_income' })).toBe(
      1,
    )
    expect(metricSum(text, 'mesh_drift_alert', { model: 'credit-risk', version: '2' })).toBeGreaterThanOrEqual(1)
    // Every feature of v1 is judged, none drifted; the fallback has no verdicts, only its flag.
    expect(
      text.match(/^mesh_drift_alert\{model="credit-risk",version="1",feature="(?!_prediction)[^"]+"\} 0$/gm),
    ).toHaveLength(16)
    expect(text).not.toMatch(/^mesh_drift_alert\{model="credit-risk-fallback"/m)
    expect(metricSum(text, 'mesh_drift_insufficient_data', { model: 'credit-risk-fallback', version: '1' })).toBe(1)
    expect(metricSum(text, 'mesh_drift_sample_rows', { model: 'credit-risk', version: '1' })).toBe(400)
    const r = promtool(['check', 'metrics'], text)
    expect(r.output).toBe('')
  })

  it('a sample naming a model or version as a path reads nothing outside the repository, and /api/v1/drift quotes no file', async () => {
    // A file a traversal could reach: outside the repository, shaped like a baseline's path, holding a secret.
    const secret = join(dir, 'secret')
    await mkdir(join(secret, '7'), { recursive: true })
    await writeFile(join(secret, '7', 'baseline.json'), 'SECRET-PASSWORD-1234 not json')
    const outside = relative(join(EXAMPLE_MODELS, 'x'), secret)
    const before = metricSum(await metrics(collector.url), 'mesh_collector_events_applied_total', { kind: 'sample' })
    const rows = applicantRows(1, 105)
    await post(
      agent.url,
      ndjson([
        sampleEvent(rows, { model: outside, version: '7' }),
        sampleEvent(rows, { model: '../../etc', version: '1' }),
        sampleEvent(rows, { version: '../x' }),
        sampleEvent(rows, { model: 'credit-risk', version: '../../../' + outside + '/7' }),
      ]),
    )
    await eventually(
      () => metrics(collector.url),
      (t) => metricSum(t, 'mesh_collector_events_applied_total', { kind: 'sample' }) === before + 4,
    )
    const text = await (await fetch(`${collector.url}/api/v1/drift`)).text()
    expect(text).not.toContain('SECRET')
    expect(text).not.toContain(dir)
    expect(text).not.toContain(EXAMPLE_MODELS)
    expect(
      (JSON.parse(text) as { versions: VersionDrift[] }).versions.map((v) => `${v.model}/${v.version}`).sort(),
    ).toEqual(['credit-risk-fallback/1', 'credit-risk/1', 'credit-risk/2'])
  })

  it('comes back after a restart with the same windows and verdicts, from its store', async () => {
    const before = await drift()
    await collector.close()
    collector = await start()
    await collector.ready
    const after = await drift()
    const summary = (vs: VersionDrift[]) => vs.map((v) => [v.model, v.version, v.status, v.rows, v.drifting]).sort()
    expect(summary(after)).toEqual(summary(before))
  })
})
