/**
 * Integration: a real host process with --telemetry-agent posts its events
 * to a receiver in this test (a stand-in for the node's telemetry agent):
 * its batches counted in host_stats records each second, fallbacks as
 * stories and in the records, periodic saturation; counted at /metrics; and
 * a stalled or missing agent costs the requests nothing.
 */
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeLine, type HostEvent, type HostFallbackEvent, type HostStatsEvent } from '@model-mesh/contracts'
import { sampleRows } from '../example-models/dataset.ts'
import { jsonInfer, postJson } from '@model-mesh/testkit/client'
import { EXAMPLE_MODELS, spawnHost, type HostProcess } from '@model-mesh/testkit/host-process'

/** Records every POST; answers 204, or holds the answer forever while `stalled`. */
async function standInAgent() {
  const events: HostEvent[] = []
  const sources: string[] = []
  const held: ServerResponse[] = []
  let refusedLines = 0
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => (body += c))
    req.on('end', () => {
      sources.push(String(req.headers['x-mesh-source']))
      for (const line of body.split('\n').filter(Boolean)) {
        const d = decodeLine(line)
        if (d.ok) events.push(d.event as HostEvent)
        else refusedLines++
      }
      if (agent.stalled) held.push(res)
      else res.writeHead(204).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const agent = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    events,
    sources,
    stalled: false,
    get refusedLines() {
      return refusedLines
    },
    stop() {
      server.closeAllConnections()
      return new Promise<void>((r) => server.close(() => r()))
    },
  }
  return agent
}

const traceparentOf = (i: number) =>
  `00-${i.toString(16).padStart(32, '0')}-${(i + 1).toString(16).padStart(16, '0')}-01`
const until = async (check: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = performance.now() + ms
  while (!(await check())) {
    if (performance.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}
const metric = async (host: HostProcess, series: string): Promise<number> => {
  const text = await fetch(`${host.url}/metrics`).then((r) => r.text())
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line ? Number(line.slice(series.length + 1)) : NaN
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Response times of `n` sequential single-row inferences. */
async function latencies(host: HostProcess, n: number): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    const r = await postJson(`${host.url}/v2/models/credit-risk/infer`, jsonInfer(sampleRows(1, i)))
    times.push(performance.now() - t0)
    expect(r.status).toBe(200)
  }
  return times
}

let agent: Awaited<ReturnType<typeof standInAgent>>
let host: HostProcess
beforeAll(async () => {
  agent = await standInAgent()
  host = await spawnHost(EXAMPLE_MODELS, {}, [
    '--only',
    'credit-risk',
    '--telemetry-agent',
    agent.url,
    '--name',
    'host-a',
  ])
})
afterAll(async () => {
  await host?.stop()
  await agent?.stop()
})

describe('host events to the telemetry agent', () => {
  it("counts every batch in its version's host_stats records (rows, fill, queue wait), and sends no event for a batch that went well", async () => {
    const rows = sampleRows(12, 3)
    const sent = await Promise.all(
      rows.map((row, i) =>
        postJson(`${host.url}/v2/models/credit-risk/versions/2/infer`, jsonInfer(i % 4 === 0 ? [row, row] : [row]), {
          'x-request-id': `req-${i}`,
          traceparent: traceparentOf(i),
        }),
      ),
    )
    expect(sent.map((r) => r.status)).toEqual(rows.map(() => 200))

    const records = () => agent.events.filter((e): e is HostStatsEvent => e.kind === 'host_stats' && e.version === '2')
    const total = (field: 'batches' | 'rows' | 'fill_count' | 'fill_sum') => records().reduce((n, e) => n + e[field], 0)
    // 12 requests, every fourth of two rows: 15 rows, in however many batches the host made of them.
    await until(() => total('rows') === 15)
    expect(total('batches')).toBeGreaterThanOrEqual(1)
    expect(total('batches')).toBeLessThanOrEqual(12)
    expect(total('fill_count')).toBe(total('batches'))
    expect(total('fill_sum')).toBeCloseTo(15 / 64, 9)
    for (const e of records()) {
      expect(e).toMatchObject({ v: 1, host: 'host-a', model: 'credit-risk', device: 'cpu', failed_batches: 0 })
      expect(e.queue_wait_ms.count).toBe(e.batches)
      expect(e.execution_ms.count).toBe(e.batches)
    }
    expect(agent.events.some((e) => e.kind === 'host_batch')).toBe(false)
    expect(agent.sources.every((s) => s === 'host:host-a')).toBe(true)
    expect(agent.refusedLines).toBe(0)
  })

  it('reports a fallback with its request id, traceparent, fallback model and reason', async () => {
    // A 1 µs budget cannot be met: the fallback answers.
    const r = await postJson(
      `${host.url}/v2/models/credit-risk/infer`,
      jsonInfer(sampleRows(1, 9), { parameters: { timeout: 1 } }),
      { 'x-request-id': 'fb-1', traceparent: traceparentOf(99) },
    )
    expect(r.headers.get('x-model-fallback')).toBe('true')
    const fallback = () =>
      agent.events.find((e): e is HostFallbackEvent => e.kind === 'host_fallback' && e.request_id === 'fb-1')
    await until(() => fallback() !== undefined)
    expect(fallback()).toMatchObject({
      v: 3,
      host: 'host-a',
      model: 'credit-risk',
      version: '1',
      traceparent: traceparentOf(99),
      fallback_model: 'credit-risk-fallback',
      reason: 'deadline',
      kept: ['fallback'],
    })
    // And it is counted in the version's record, by reason.
    await until(() =>
      agent.events.some((e) => e.kind === 'host_stats' && e.version === '1' && e.fallbacks.deadline === 1),
    )
  })

  it('reports every loaded version saturation each second', async () => {
    const saturation = () => agent.events.filter((e) => e.kind === 'host_saturation')
    await until(() => new Set(saturation().map((e) => e.ts)).size >= 2)
    const latest = new Map(saturation().map((e) => [`${e.model}/${e.version}`, e]))
    expect([...latest.keys()].sort()).toEqual([
      'credit-risk-fallback/1',
      'credit-risk/1',
      'credit-risk/2',
      'credit-risk/3',
    ])
    for (const e of latest.values())
      expect(e).toMatchObject({ v: 3, host: 'host-a', queue_depth: 0, busy_instances: 0, instances: 1 })
  })

  it('counts what it sent at /metrics', async () => {
    await until(
      async () =>
        (await metric(host, 'model_host_telemetry_events_total{result="sent"}')) >= agent.events.length &&
        agent.events.length > 0,
    )
    const text = await fetch(`${host.url}/metrics`).then((r) => r.text())
    expect(text).toContain('# TYPE model_host_telemetry_events_total counter')
    expect(text).toContain('model_host_telemetry_events_dropped_total{reason="buffer_full"} 0')
    expect(text).toMatch(/^model_host_telemetry_buffered_events \d+$/m)
  })

  it('answers as fast with the agent stalled, then gone, and counts the drops', async () => {
    const before = await latencies(host, 40)

    agent.stalled = true
    const stalled = await latencies(host, 40)
    // The POST the stalled agent holds times out after 2 s; later batches waited in the buffer meanwhile.
    await until(async () => (await metric(host, 'model_host_telemetry_events_dropped_total{reason="timeout"}')) > 0)

    await agent.stop()
    const gone = await latencies(host, 40)
    await until(
      async () => (await metric(host, 'model_host_telemetry_events_dropped_total{reason="agent_unreachable"}')) > 0,
    )

    // Loose bounds (the machine is shared): an emitter that waited on the agent would add its 2 s timeout.
    for (const times of [stalled, gone]) {
      expect(median(times)).toBeLessThan(2 * median(before) + 5)
      expect(Math.max(...times)).toBeLessThan(1500)
    }
    expect(host.logs.some((l) => l.includes('telemetry agent not taking events'))).toBe(true)
    const health = await fetch(`${host.url}/v2/health/ready`)
    expect(health.status).toBe(200)
  })
})
