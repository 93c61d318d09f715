/**
 * Who may read what, on both of the collector's ports (issue 17: 3, 13,
 * 16): mesh.yaml's API keys are never served; a page on another name (DNS
 * rebinding) reads nothing; sampled bodies need the operator token; one
 * client cannot take every live stream, nor lock the operator out. A real collector with its
 * dashboard over a store filled beforehand (no NATS: these reads need
 * none), called over real sockets, from 127.0.0.1 and other loopback
 * addresses.
 */
import { request, type IncomingMessage } from 'node:http'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_STREAM_LIMITS, REVIEW_ITEM_EVENT_VERSION, type ReviewItemEvent } from '@model-mesh/contracts'
import { canaryRouteYaml, localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { freePorts } from '@model-mesh/testkit/ports'
import { clientOf, type StreamLimits } from '../dashboard/server.ts'
import { Aggregator } from '../state/aggregator.ts'
import { startCollector, type RunningCollector } from '../collector.ts'
import { hostAllowed, hostName } from '../serve/host-check.ts'
import { Store } from '../store/store.ts'
import { applyAndCommit } from './apply-and-commit.ts'
import { applicantRows, eventually, requestEvent, sampleEvent } from '@model-mesh/testkit/events'

const TOKEN = 'api-access-test-operator-token'
/** Small enough that one client (every loopback address is one) fills every stream open without the token. */
const STREAMS: StreamLimits = { max: 16, operator: 8, perClient: 8 }
const MODELS = ['credit-risk', 'credit-risk-fallback']
const WEB_KEY = 'web-app-key-0123456789abcdef'
const BATCH_KEY = 'batch-key-fedcba9876543210'
const AUTH = `auth:
  header: x-api-key
  api_keys:
    - { client: web-app, key: ${WEB_KEY} } # the web app's key
    - client: batch
      key: "${BATCH_KEY}"   # quoted, with a comment
`

interface Answer {
  status: number
  headers: IncomingMessage['headers']
  body: string
  json: () => any
}

/** A GET over its own connection: any Host header (fetch will not send one of its own), from any local address. */
function get(url: string, o: { host?: string | null; token?: string; localAddress?: string } = {}): Promise<Answer> {
  const u = new URL(url)
  const headers: Record<string, string> = { connection: 'close' }
  if (o.host) headers.host = o.host
  if (o.token) headers.authorization = `Bearer ${o.token}`
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        headers,
        localAddress: o.localAddress,
        setHost: o.host === undefined,
        agent: false,
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d))
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) }),
        )
      },
    )
    req.on('error', reject)
    req.end()
  })
}

/** A live stream held open from `localAddress` (with the operator token when given): its status, and close() to leave. */
function openStream(
  url: string,
  localAddress: string,
  token?: string,
): Promise<{ status: number; body: Promise<string>; close: () => void }> {
  const u = new URL(url)
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, localAddress, headers, agent: false },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        const ended = new Promise<string>((done) => {
          res.on('data', (d: string) => (body += d))
          res.on('end', () => done(body))
          res.on('close', () => done(body))
        })
        resolve({ status: res.statusCode!, body: ended, close: () => req.destroy() })
      },
    )
    req.on('error', reject)
    req.end()
  })
}

describe('collector API and dashboard: who may read what', () => {
  let dir: string
  let meshFile: string
  let meshText: string
  let collector: RunningCollector
  let ports: { api: number; dashboard: number }
  const sample = sampleEvent(applicantRows(1, 91), { confidence: 0.3, reason: 'rate+low_confidence' })
  const review: ReviewItemEvent = { ...sample, v: REVIEW_ITEM_EVENT_VERSION, kind: 'review' }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'api-access-'))
    meshFile = join(dir, 'mesh.yaml')
    meshText = localMeshYaml(
      { ...portsOf(await freePorts(7)), dashboard: (await freePorts(1))[0]! },
      canaryRouteYaml(1000, 'interval_s: 60'),
      { extra: AUTH },
    )
    await writeFile(meshFile, meshText)
    // One request's story, sampled and in the review queue: what a running collector would have stored.
    const store = await Store.open(join(dir, 'store'))
    try {
      await applyAndCommit(
        store,
        new Aggregator(MODELS),
        [requestEvent({ request_id: sample.request_id }), sample, review],
        Date.now(),
      )
    } finally {
      store.close()
    }
    collector = await startCollector({
      // No NATS answers there: the collector serves what its store holds and keeps trying.
      address: '127.0.0.1',
      port: 0,
      natsUrl: 'nats://127.0.0.1:1',
      storeDir: join(dir, 'store'),
      models: MODELS,
      streams: DEFAULT_STREAM_LIMITS,
      log: () => {},
      meshFile,
      operatorToken: TOKEN,
      dashboard: { address: '127.0.0.1', port: 0, refreshMs: 500, agents: [], streams: STREAMS },
      // As on Kubernetes: known by its pod's DNS name and its Service's.
      advertise: 'http://collector-0.collector.mesh.svc.cluster.local:4196',
      hostNames: ['collector-api.mesh.svc'],
    })
    ports = { api: collector.port, dashboard: Number(new URL(collector.dashboardUrl!).port) }
  })
  afterAll(async () => {
    await collector?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('serves mesh.yaml with every API key redacted, comments and layout kept, with the token or without', async () => {
    const redacted = meshText.replace(WEB_KEY, '"<redacted>"').replace(`"${BATCH_KEY}"`, '"<redacted>"')
    for (const token of [undefined, TOKEN]) {
      const res = await get(`${collector.dashboardUrl}/api/v1/mesh`, { token })
      expect(res.status).toBe(200)
      expect(res.json()).toMatchObject({ valid: true, text: redacted })
      expect(res.body).not.toContain(WEB_KEY)
      expect(res.body).not.toContain(BATCH_KEY)
    }
    // A file that is not valid is shown to help fix it, its keys redacted still, and its issues do not quote them.
    try {
      await writeFile(meshFile, meshText.replace(`"${BATCH_KEY}"`, '98765432109876'))
      const invalid = await get(`${collector.dashboardUrl}/api/v1/mesh`)
      expect(invalid.json()).toMatchObject({
        valid: false,
        text: expect.stringContaining('key: "<redacted>"   # quoted, with a comment'),
      })
      expect(invalid.json().issues).toEqual([
        expect.objectContaining({ path: 'auth.api_keys[1].key', message: 'must be a string' }),
      ])
      expect(invalid.body).not.toContain('98765432109876')
      expect(invalid.body).not.toContain(WEB_KEY)
      // Not YAML at all: a key could be anywhere, so the text is not shown.
      await writeFile(meshFile, `${meshText}oops: [\n`)
      const broken = await get(`${collector.dashboardUrl}/api/v1/mesh`)
      expect(broken.json()).toMatchObject({ valid: false, text: null })
      expect(broken.body).not.toContain(WEB_KEY)
    } finally {
      await writeFile(meshFile, meshText)
    }
  })

  it('answers only to its own names on both ports: a foreign Host (DNS rebinding) gets 421', async () => {
    for (const [name, port] of [
      ['collector', ports.api],
      ['dashboard', ports.dashboard],
    ] as const) {
      const base = `http://127.0.0.1:${port}`
      const path = name === 'collector' ? '/metrics' : '/api/v1/mesh'
      // As Prometheus scrapes, as a browser on localhost asks, by the other loopback names, and by the names it was given.
      for (const host of [
        undefined,
        `127.0.0.1:${port}`,
        `localhost:${port}`,
        `LocalHost:${port}`,
        `[::1]:${port}`,
        `collector-api.mesh.svc:${port}`,
        `collector-0.collector.mesh.svc.cluster.local:${port}`,
      ]) {
        expect([name, host, (await get(`${base}${path}`, { host })).status]).toEqual([name, host, 200])
      }
      for (const host of [
        `evil.example:${port}`,
        'evil.example',
        `127.0.0.1:${port + 1}`,
        'localhost',
        `localhost.evil.example:${port}`,
        `collector-api.mesh.svc.evil.example:${port}`,
      ]) {
        const res = await get(`${base}${path}`, { host, token: TOKEN })
        expect([name, host, res.status]).toEqual([name, host, 421])
        expect(res.json().error).toMatch(
          /^host: ".*" is not a name this server answers to \(localhost:\d+, 127\.0\.0\.1:\d+/,
        )
        expect(res.body).not.toContain(WEB_KEY)
      }
      // No Host at all: Node's server refuses it before the app sees it.
      expect((await get(`${base}${path}`, { host: null })).status).toBe(400)
      // Every route, the JSON API's included.
      expect(
        (await get(`${base}/api/v1/requests/${sample.request_id}`, { host: `evil.example:${port}`, token: TOKEN }))
          .status,
      ).toBe(421)
    }
    expect((await get(`${collector.dashboardUrl}/`, { host: `evil.example:${ports.dashboard}` })).status).toBe(421)
    // Its identity is the URL it was told the others reach it at.
    expect(collector.url).toBe('http://collector-0.collector.mesh.svc.cluster.local:4196')
  })

  it("gives a request's story and the review queue without the sampled bodies unless the operator token comes with the call", async () => {
    for (const base of [`http://127.0.0.1:${ports.api}`, collector.dashboardUrl!]) {
      const open = await get(`${base}/api/v1/requests/${sample.request_id}`)
      expect(open.status).toBe(200)
      const story = open.json()
      expect(story.request).toHaveLength(1)
      expect(story.samples).toEqual([
        expect.objectContaining({ request_id: sample.request_id, reason: 'rate+low_confidence', redacted: true }),
      ])
      expect(story.samples[0]).not.toHaveProperty('request')
      expect(story.samples[0]).not.toHaveProperty('response')
      expect(open.body).not.toContain('"inputs"')
      // A wrong token is no token.
      expect(
        await get(`${base}/api/v1/requests/${sample.request_id}`, { token: 'not-the-operator-token' }).then(
          (r) => r.json().samples[0].redacted,
        ),
      ).toBe(true)
      const withToken = (await get(`${base}/api/v1/requests/${sample.request_id}`, { token: TOKEN })).json()
      expect(withToken.samples).toEqual([
        expect.objectContaining({ request: sample.request, response: sample.response }),
      ])
      expect(withToken.samples[0]).not.toHaveProperty('redacted')

      const queue = (await get(`${base}/api/v1/review?status=all`)).json()
      expect(queue.items).toEqual([expect.objectContaining({ request_id: sample.request_id, redacted: true })])
      expect(queue.items[0]).not.toHaveProperty('request')
      expect((await get(`${base}/api/v1/review?status=all`, { token: TOKEN })).json().items).toEqual([
        expect.objectContaining({ request: sample.request, response: sample.response }),
      ])
      // The export is the bodies themselves: refused without the token.
      const exported = await get(`${base}/api/v1/review/export?model=credit-risk`)
      expect(exported.status).toBe(401)
      expect(exported.json().error).toMatch(/^authorization: operator token required/)
    }
  })

  it(`counts every loopback address as one client (${STREAMS.perClient} streams, then 429), and keeps ${STREAMS.operator} of the ${STREAMS.max} streams for the operator token`, async () => {
    const events = `${collector.dashboardUrl}/api/v1/dashboard/events?range=5m`
    const held: Awaited<ReturnType<typeof openStream>>[] = []
    // A stream that was not refused never ends: left at once.
    const refusedWith = async (s: Awaited<ReturnType<typeof openStream>>) =>
      s.status === 200 ? (s.close(), [200, 'a stream']) : [s.status, JSON.parse(await s.body).error]
    try {
      // One local process binding 127.0.0.2, 127.0.0.3...: one client still.
      for (let i = 2; i < 2 + STREAMS.perClient; i++) held.push(await openStream(events, `127.0.0.${i}`))
      expect(held.map((s) => s.status)).toEqual(Array(STREAMS.perClient).fill(200))
      const perClient = `too many live streams from this machine (loopback) (${STREAMS.perClient} per client); close another dashboard tab, or give the operator token`
      for (const from of [`127.0.0.${2 + STREAMS.perClient}`, '127.0.0.1'])
        expect(await refusedWith(await openStream(events, from))).toEqual([429, perClient])
      expect(await refusedWith(await openStream(events, '127.0.0.1', 'not-the-operator-token'))).toEqual([
        429,
        perClient,
      ])
      // Every stream open to all is taken now; the operator's browser (on the same machine) still gets its own.
      for (let i = 0; i < STREAMS.operator; i++) held.push(await openStream(events, '127.0.0.1', TOKEN))
      expect(held.map((s) => s.status)).toEqual(Array(STREAMS.max).fill(200))
      expect(await refusedWith(await openStream(events, '127.0.0.1', TOKEN))).toEqual([
        503,
        `too many live streams (${STREAMS.max})`,
      ])
      // A stream left gives its slot back.
      held.shift()!.close()
      const again = await eventually(
        async () => {
          const s = await openStream(events, '127.0.0.1')
          if (s.status !== 200) await s.body
          return s
        },
        (s) => s.status === 200,
        5000,
      )
      held.push(again)
    } finally {
      for (const s of held) s.close()
    }
  }, 60_000)
})

describe('clientOf', () => {
  it('takes every loopback address, however written, as one client, and any other address as itself', () => {
    for (const a of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.2', '::FFFF:7f00:1'])
      expect([a, clientOf(a)]).toEqual([a, 'loopback'])
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '1::', '::', 'fe80::1', 'fe80::1%eth0', '128.0.0.1'])
      expect([a, clientOf(a)]).toEqual([a, a])
  })
})

describe('hostAllowed', () => {
  const names = [
    'localhost',
    '127.0.0.1',
    '[::1]',
    hostName('0.0.0.0'),
    hostName('::ffff:10.1.2.3'),
    hostName('FE80::1'),
  ]
  it('takes the names with the port the connection came in on (80 may be left out), and nothing else', () => {
    expect(names.slice(3)).toEqual(['0.0.0.0', '10.1.2.3', '[fe80::1]'])
    for (const host of [
      'localhost:4197',
      'LOCALHOST:4197',
      '[::1]:4197',
      '0.0.0.0:4197',
      '10.1.2.3:4197',
      '[FE80::1]:4197',
      ' 127.0.0.1:4197 ',
    ])
      expect([host, hostAllowed(host, names, 4197)]).toEqual([host, true])
    expect(hostAllowed('localhost', names, 80)).toBe(true)
    for (const host of [
      'localhost',
      'localhost:80',
      'evil.example:4197',
      '127.0.0.2:4197',
      '[::2]:4197',
      'localhost:4197:4197',
      '',
      ':4197',
      'localhost:04197x',
    ])
      expect([host, hostAllowed(host, names, 4197)]).toEqual([host, false])
  })
})
