/**
 * payload-sampler in real Envoy, with the telemetry exporter: the sampled
 * share over 10,000 requests, bodies copied without touching the stream,
 * and no planted PII reaching the receiver.
 */
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PayloadSampleEvent } from '../../contracts/events.ts'
import { envoyVersion, httpListener, startEnvoy, staticCluster, TELEMETRY_VM_ID, wasmHttpFilter, wasmService, type RunningEnvoy } from '../../test/support/envoy.ts'
import { wasmPath } from '../build.ts'

/** An upstream that echoes the request body and reports a confidence the request asks for. */
async function echoUpstream() {
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-model-version': '1', 'x-model-confidence': String(req.headers['x-test-confidence'] ?? '0.99') })
      res.end(JSON.stringify({ echo: body }))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { port: (server.address() as { port: number }).port, close: () => new Promise<void>((r) => server.close(() => r())) }
}

async function receiver() {
  const samples: PayloadSampleEvent[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      for (const line of body.trim().split('\n')) {
        const e = JSON.parse(line)
        if (e.kind === 'sample') samples.push(e)
      }
      res.writeHead(202).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { samples, port: (server.address() as { port: number }).port, close: () => new Promise<void>((r) => server.close(() => r())) }
}

async function many<T>(count: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count)
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++
      results[i] = await one(i)
    }
  }))
  return results
}

async function until(check: () => boolean, ms = 5000) {
  const end = Date.now() + ms
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
  return check()
}

describe('payload-sampler in Envoy', () => {
  let upstream: Awaited<ReturnType<typeof echoUpstream>>
  let agent: Awaited<ReturnType<typeof receiver>>
  let envoy: RunningEnvoy
  let gateway: string

  beforeAll(async () => {
    console.log(`Envoy ${await envoyVersion()}`)
    upstream = await echoUpstream()
    agent = await receiver()
    const samplerConfig = {
      routes: [{ model: 'credit-risk', sample_rate_bp: 500, confidence_threshold: 0.6 }],
      pii_fields: ['name', 'email', 'ssn'],
    }
    envoy = await startEnvoy({
      bootstrap_extensions: [wasmService('telemetry-exporter', wasmPath('telemetry-exporter'), { cluster: 'agent', flush_interval_ms: 100 }, { vmId: TELEMETRY_VM_ID })],
      static_resources: {
        listeners: [httpListener('gateway', [{ match: { prefix: '/' }, route: { cluster: 'model' } }], [wasmHttpFilter('payload-sampler', wasmPath('payload-sampler'), samplerConfig, { vmId: TELEMETRY_VM_ID })])],
        clusters: [staticCluster('model', upstream.port), staticCluster('agent', agent.port)],
      },
    })
    gateway = envoy.listenerUrl('gateway')
  })
  afterAll(async () => {
    await envoy?.stop()
    await upstream?.close()
    await agent?.close()
  })

  it('samples 5% of 10,000 requests by request id, within one percentage point, bodies intact for the client', async () => {
    const body = JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 3], data: [1.5, 2.5, 3.5] }] })
    const echoed = await many(10_000, 16, (i) =>
      fetch(`${gateway}/v2/models/credit-risk/infer`, { method: 'POST', headers: { 'x-request-id': `rate-${i}` }, body }).then((r) => r.json() as Promise<{ echo: string }>),
    )
    expect(echoed.every((e) => e.echo === body)).toBe(true) // the stream passed untouched
    await until(() => agent.samples.length >= 450, 10_000)
    await new Promise((r) => setTimeout(r, 300))
    const share = agent.samples.filter((s) => s.request_id.startsWith('rate-')).length / 10_000
    expect(Math.abs(share - 0.05)).toBeLessThan(0.01)
    const one = agent.samples.find((s) => s.request_id.startsWith('rate-'))!
    expect(one).toMatchObject({ reason: 'rate', model: 'credit-risk', version: '1', status: 200, request_truncated: false })
    expect(JSON.parse(one.response).echo).toContain('"datatype":"FP32"') // the response body was copied too (its escaped "name" masked)
  }, 120_000)

  it('samples every low-confidence response, and no planted PII reaches the receiver', async () => {
    const planted = ['jane.doe@example.com', '4111 1111 1111 1111', 'DE89 3704 0044 0532 0130 00', '+1 415 555 2671', 'Jane Q. Doe', '078-05-1120']
    const bodies = [
      JSON.stringify({ customer: { name: planted[4], email: planted[0], ssn: planted[5] }, inputs: [1, 2, 3] }),
      `card ${planted[1]}, iban ${planted[2]}, call ${planted[3]}`,
    ]
    await Promise.all(bodies.map((body, i) => fetch(`${gateway}/v2/models/credit-risk/infer`, { method: 'POST', headers: { 'x-request-id': `pii-${i}`, 'x-test-confidence': '0.41' }, body }).then((r) => r.text())))
    expect(await until(() => agent.samples.filter((s) => s.request_id.startsWith('pii-')).length === bodies.length)).toBe(true)
    const pii = agent.samples.filter((s) => s.request_id.startsWith('pii-'))
    expect(pii.every((s) => s.reason === 'low_confidence' && s.confidence === 0.41)).toBe(true)
    const exported = JSON.stringify(pii)
    for (const value of planted) expect(exported).not.toContain(value)
    expect(exported).toContain('[CARD]')
    expect(exported).toContain('[IBAN]')
  })
})
