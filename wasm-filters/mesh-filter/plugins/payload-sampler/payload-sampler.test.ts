/**
 * The mesh filter's sampling plugin in real Envoy (the filter configured
 * with a `sampling` section), with the telemetry exporter: the sampled
 * share over 10,000 requests, bodies copied without touching the stream,
 * and no planted PII reaching the receiver, also from chunked bodies cut
 * inside characters and values, bodies that are not UTF-8 and bodies over
 * the cap. The receiver decodes what it gets strictly (UTF-8, then JSON).
 */
import { createServer, request, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PayloadSampleEvent } from '@model-mesh/contracts'
import {
  envoyVersion,
  httpListener,
  startEnvoy,
  staticCluster,
  TELEMETRY_VM_ID,
  wasmHttpFilter,
  wasmService,
  type RunningEnvoy,
} from '@model-mesh/testkit/envoy'
import { wasmPath } from '../../../modules.ts'
import { MESH_FILTER, type MeshFilterConfig, meshFilterWasm } from '../../config.ts'

/** An upstream that echoes the request body and reports a confidence the request asks for. */
async function echoUpstream() {
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-model-version': '1',
        'x-model-confidence': String(req.headers['x-test-confidence'] ?? '0.99'),
      })
      res.end(JSON.stringify({ echo: body }))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

/** The agent's stand-in: keeps the sample events; a batch that is not UTF-8 JSON is kept as an error. */
async function receiver() {
  const samples: PayloadSampleEvent[] = []
  const invalid: string[] = []
  const strict = new TextDecoder('utf-8', { fatal: true })
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (d: Buffer) => chunks.push(d))
    req.on('end', () => {
      try {
        for (const line of strict.decode(Buffer.concat(chunks)).trim().split('\n')) {
          const e = JSON.parse(line)
          if (e.kind === 'sample') samples.push(e)
        }
      } catch (e) {
        invalid.push(String(e))
      }
      res.writeHead(202).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    samples,
    invalid,
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

/** POSTs a chunked body, one write per chunk, pausing between them so that Envoy reads (and the filter sees) each on its own. */
function postInChunks(url: string, headers: Record<string, string>, chunks: Uint8Array[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve(text))
    })
    req.on('error', reject)
    req.flushHeaders()
    void (async () => {
      for (const c of chunks) {
        req.write(c)
        await new Promise((r) => setTimeout(r, 20))
      }
      req.end()
    })()
  })
}

async function many<T>(count: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count)
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++
        results[i] = await one(i)
      }
    }),
  )
  return results
}

async function until(check: () => boolean, ms = 5000) {
  const end = Date.now() + ms
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
  return check()
}

describe('mesh-filter sampling plugin in Envoy', () => {
  let upstream: Awaited<ReturnType<typeof echoUpstream>>
  let agent: Awaited<ReturnType<typeof receiver>>
  let envoy: RunningEnvoy
  let gateway: string

  beforeAll(async () => {
    console.log(`Envoy ${await envoyVersion()}`)
    upstream = await echoUpstream()
    agent = await receiver()
    const meshConfig: MeshFilterConfig = {
      sampling: {
        routes: [{ model: 'credit-risk', sample_rate_bp: 500, confidence_threshold: 0.6 }],
        pii_fields: ['name', 'email', 'ssn'],
      },
    }
    envoy = await startEnvoy({
      bootstrap_extensions: [
        wasmService(
          'telemetry-exporter',
          wasmPath('telemetry-exporter'),
          { cluster: 'agent', flush_interval_ms: 100 },
          { vmId: TELEMETRY_VM_ID },
        ),
      ],
      static_resources: {
        listeners: [
          httpListener(
            'gateway',
            [{ match: { prefix: '/' }, route: { cluster: 'model' } }],
            [wasmHttpFilter(MESH_FILTER, meshFilterWasm(), meshConfig, { vmId: TELEMETRY_VM_ID })],
          ),
        ],
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

  it('runs the sampling plugin alone in the mesh filter', () => {
    expect(envoy.logs()).toContain('mesh-filter: configured sampling')
    expect(envoy.logs()).not.toContain('invalid configuration')
  })

  it('samples 5% of 10,000 requests by request id, within one percentage point, bodies intact for the client', async () => {
    const body = JSON.stringify({
      inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 3], data: [1.5, 2.5, 3.5] }],
    })
    const echoed = await many(10_000, 16, (i) =>
      fetch(`${gateway}/v2/models/credit-risk/infer`, {
        method: 'POST',
        headers: { 'x-request-id': `rate-${i}` },
        body,
      }).then((r) => r.json() as Promise<{ echo: string }>),
    )
    expect(echoed.every((e) => e.echo === body)).toBe(true) // the stream passed untouched
    await until(() => agent.samples.length >= 450, 10_000)
    await new Promise((r) => setTimeout(r, 300))
    const share = agent.samples.filter((s) => s.request_id.startsWith('rate-')).length / 10_000
    expect(Math.abs(share - 0.05)).toBeLessThan(0.01)
    const one = agent.samples.find((s) => s.request_id.startsWith('rate-'))!
    expect(one).toMatchObject({
      reason: 'rate',
      model: 'credit-risk',
      version: '1',
      status: 200,
      request_truncated: false,
    })
    expect(JSON.parse(one.response).echo).toContain('"datatype":"FP32"') // the response body was copied too (its escaped "name" masked)
  }, 120_000)

  it('samples every low-confidence response, and no planted PII reaches the receiver', async () => {
    const planted = [
      'jane.doe@example.com',
      '4111 1111 1111 1111',
      'DE89 3704 0044 0532 0130 00',
      '+1 415 555 2671',
      'Jane Q. Doe',
      '078-05-1120',
    ]
    const bodies = [
      JSON.stringify({ customer: { name: planted[4], email: planted[0], ssn: planted[5] }, inputs: [1, 2, 3] }),
      `card ${planted[1]}, iban ${planted[2]}, call ${planted[3]}`,
    ]
    await Promise.all(
      bodies.map((body, i) =>
        fetch(`${gateway}/v2/models/credit-risk/infer`, {
          method: 'POST',
          headers: { 'x-request-id': `pii-${i}`, 'x-test-confidence': '0.41' },
          body,
        }).then((r) => r.text()),
      ),
    )
    expect(
      await until(() => agent.samples.filter((s) => s.request_id.startsWith('pii-')).length === bodies.length),
    ).toBe(true)
    const pii = agent.samples.filter((s) => s.request_id.startsWith('pii-'))
    expect(pii.every((s) => s.reason === 'low_confidence' && s.confidence === 0.41)).toBe(true)
    const exported = JSON.stringify(pii)
    for (const value of planted) expect(exported).not.toContain(value)
    expect(exported).toContain('[CARD]')
    expect(exported).toContain('[IBAN]')
  })

  it('masks unlabelled PII in free text (long digit runs, an e-mail with spaced @) and keeps the numbers of tensor data', async () => {
    const body = JSON.stringify({
      note: 'ssn 123456789 … ph 4155550100',
      contact: 'bob @ example.org',
      inputs: [{ datatype: 'INT64', shape: [1, 3], data: [123456789, 4155550100, 1705314600000] }],
    })
    const res = await fetch(`${gateway}/v2/models/credit-risk/infer`, {
      method: 'POST',
      headers: { 'x-request-id': 'free-text', 'x-test-confidence': '0.2', 'content-type': 'application/json' },
      body,
    })
    expect((await res.json()).echo).toBe(body) // the client's stream is untouched
    expect(await until(() => agent.samples.some((s) => s.request_id === 'free-text'))).toBe(true)
    const sample = agent.samples.find((s) => s.request_id === 'free-text')!
    expect(sample.request).toBe(
      '{"note":"ssn [NUMBER] … ph [NUMBER]","contact":"[EMAIL]","inputs":[{"datatype":"INT64","shape":[1,3],"data":[123456789,4155550100,1705314600000]}]}',
    )
    // The echo holds the request as a JSON string: free text, so its digit runs are masked there.
    expect(sample.response).not.toMatch(/123456789|4155550100|bob/)
  })

  it('leaves no planted PII from chunked bodies cut at every byte of multi-byte characters and PII values, bodies not UTF-8, or over the cap', async () => {
    const planted = [
      'Jane Q. Doe',
      'jane.doe@example.com',
      '4111 1111 1111 1111',
      '+44 20 7946 0958',
      'DE89 3704 0044 0532 0130 00',
    ]
    const body = JSON.stringify({
      note: 'é € 😀 中',
      name: planted[0],
      email: planted[1],
      memo: `paid with ${planted[2]} · call ${planted[3]} · IBAN ${planted[4]} ✓`,
    })
    const utf8 = new TextEncoder()
    const bytes = utf8.encode(body)
    // Every byte offset inside a multi-byte character or a planted value.
    const byteRange = (v: string) => {
      const start = utf8.encode(body.slice(0, body.indexOf(v))).length
      return [start, start + utf8.encode(v).length] as const
    }
    const insideValue = (at: number) => planted.some((v) => at > byteRange(v)[0] && at < byteRange(v)[1])
    const offsets = [...bytes.keys()].filter((at) => at > 0 && ((bytes[at]! & 0xc0) === 0x80 || insideValue(at)))
    expect(offsets.length).toBe(100)
    const headers = (id: string) => ({
      'x-request-id': id,
      'x-test-confidence': '0.3',
      'content-type': 'application/json',
    })
    await many(offsets.length, 8, (i) =>
      postInChunks(`${gateway}/v2/models/credit-risk/infer`, headers(`chunked-${offsets[i]}`), [
        bytes.subarray(0, offsets[i]),
        bytes.subarray(offsets[i]),
      ]),
    )
    // Not UTF-8 (Latin-1), and over the cap (16 KiB) with an e-mail cut by it.
    const latin1 = Uint8Array.from('{"city":"Mont\xe9","name":"Jane Q. Doe","x":1}', (c) => c.charCodeAt(0))
    await postInChunks(`${gateway}/v2/models/credit-risk/infer`, headers('latin-1'), [latin1])
    const over = utf8.encode(`${'x'.repeat(16374)} jane.doe@example.com and more`)
    await postInChunks(`${gateway}/v2/models/credit-risk/infer`, headers('over-cap'), [
      over.subarray(0, 8000),
      over.subarray(8000),
    ])

    const ours = () =>
      agent.samples.filter(
        (s) => s.request_id.startsWith('chunked-') || s.request_id === 'latin-1' || s.request_id === 'over-cap',
      )
    const arrived = await until(() => ours().length === offsets.length + 2, 10_000)
    expect(arrived).toBe(true)
    expect(agent.invalid).toEqual([])
    for (const s of ours())
      for (const v of planted) {
        expect(s.request, `${s.request_id}: ${v}`).not.toContain(v)
        expect(s.response, `${s.request_id}: ${v}`).not.toContain(v)
      }
    // However the body was cut, the sample is the same.
    const chunked = ours().filter((s) => s.request_id.startsWith('chunked-'))
    expect(new Set(chunked.map((s) => s.request))).toEqual(
      new Set([
        '{"note":"é € 😀 中","name":"[REDACTED]","email":"[REDACTED]","memo":"paid with [CARD] · call [PHONE] · IBAN [IBAN] ✓"}',
      ]),
    )
    expect(ours().find((s) => s.request_id === 'latin-1')!.request).toBe(
      '{"city":"Mont\ufffd","name":"[REDACTED]","x":1}',
    )
    const cut = ours().find((s) => s.request_id === 'over-cap')!
    expect(cut).toMatchObject({ request_truncated: true })
    expect(cut.request.endsWith(' [TRUNCATED]')).toBe(true)
    expect(cut.request).not.toContain('jane.doe')
  }, 60_000)
})
