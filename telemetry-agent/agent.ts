/**
 * @module
 * The telemetry agent: the one process on a node that talks to NATS.
 * Envoy's telemetry exporter and the model hosts POST NDJSON event batches
 * to it over loopback; it routes each event to its subject, spools the
 * messages (written through to disk) and answers at once, whatever NATS is
 * doing. The publisher drains the spool into JetStream.
 *
 * Events come only with the node's telemetry credential (`Authorization:
 * Bearer <token>`; 401 otherwise), and request bodies share one budget
 * across connections (intake.ts): past it the agent answers 503, and a body
 * that has not arrived by its deadline loses its connection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { deflateRawSync } from 'node:zlib'
import { Counter, Gauge, Registry } from 'prom-client'
import {
  AGENT_EVENT_COUNT_HEADER,
  AGENT_EVENTS_PATH,
  AGENT_SOURCE_HEADER,
  AGENT_STATUS_PATH,
  bearerMatches,
  createLogger,
  eventCount,
  logTo,
  messageId,
  type AgentStatus,
  type Log,
} from '@model-mesh/contracts'
import { ConfigSync } from './config-sync.ts'
import { BodyBudget, discard, type BodyRefusal } from './intake.ts'
import { Publisher } from './publisher.ts'
import { chunkGroup, ModelTokens, routeBatch, type ReviewThresholds } from './route-events.ts'
import { Spool, type SpooledMessage } from './spool.ts'

export interface AgentOptions {
  /** This agent's id in message ids and the Mesh-Source header (default: the host name). */
  id: string
  address: string
  port: number
  /** One server URL, or a cluster's, comma-separated. */
  natsUrl: string
  /** Its NATS identity (the local mesh's `mesh-agent`: may publish telemetry, nothing else); none: connect without. */
  natsAuth?: { user: string; pass: string }
  /** The models mesh.yaml names; events of any other model go to the `_other` subjects. */
  models: string[]
  /** Review thresholds by model: a sample whose confidence is under its model's is also sent to the review queue. */
  reviewThresholds?: Record<string, number>
  spool: { dir: string; memoryBytes: number; diskBytes: number; segmentBytes?: number }
  /** Largest message payload published (characters of NDJSON); NATS' default max_payload is 1 MiB. */
  maxMessageChars?: number
  /** The node's telemetry credential: POST /v1/events needs `Authorization: Bearer <token>` (at least 16 characters). */
  token: string
  /** Largest request body accepted (default 8 MiB: a full exporter or host batch is well under 1 MiB). */
  maxBodyBytes?: number
  /** Request bodies read at once, every connection together (default 16); beyond, 503. */
  maxBodiesInFlight?: number
  /** Bytes of request bodies held at once, every connection together (default 32 MiB); beyond, 503. */
  maxBodyBytesInFlight?: number
  /** A body must have arrived whole this long after its headers, or its connection is closed (default 10 s; senders time out after 2). */
  bodyTimeoutMs?: number
  /** Headers must have arrived whole this long after the request began, or Node answers 408 and closes (default 10 s). */
  headersTimeoutMs?: number
  /** Where it logs (default: pino's JSON lines on stderr, component telemetry-agent). */
  log?: Log
  /** Several nodes: keep this node's Envoy configuration from NATS (config-sync.ts). */
  envoyConfig?: { node: string; xdsDir: string; bootstrapFile: string; adminAddressFile: string }
}

export interface RunningAgent {
  url: string
  port: number
  registry: Registry
  close(): Promise<void>
}

/** Events count as spooled when the oldest unpublished one is older than this (NATS acknowledges in about a millisecond). */
const SPOOLED_AFTER_MS = 1000

/** NATS' default max_payload: a message past it can never be published, so it is never spooled. */
const MAX_PAYLOAD_BYTES = 1 << 20

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const log = opts.log ?? logTo(createLogger('telemetry-agent', { to: 'stderr' }))
  const models = new ModelTokens(opts.models)
  const review: ReviewThresholds = new Map(Object.entries(opts.reviewThresholds ?? {}))
  const maxChars = opts.maxMessageChars ?? 256 * 1024
  if (opts.token.length < 16) throw new Error('token: the telemetry credential must be at least 16 characters')
  const budget = new BodyBudget({
    maxBodyBytes: opts.maxBodyBytes ?? 8 << 20,
    maxBodies: opts.maxBodiesInFlight ?? 16,
    maxBytes: opts.maxBodyBytesInFlight ?? 32 << 20,
    timeoutMs: opts.bodyTimeoutMs ?? 10_000,
  })
  // Message ids: a republish after a reconnect or a restart lands once (JetStream's duplicate window).
  const boot = Date.now().toString(36)
  let seq = 0

  const registry = new Registry()
  const m = agentMetrics(registry)
  const spool = new Spool(opts.spool)
  spool.onDrop = (events) => m.dropped.inc({ reason: 'spool_full' }, events)
  const publisher = new Publisher(
    spool,
    { natsUrl: opts.natsUrl, natsAuth: opts.natsAuth, source: opts.id, log },
    {
      published(msg, duplicate) {
        m.published.inc(msg.events)
        if (msg.spooled) m.replayed.inc(msg.events)
        if (duplicate) m.duplicates.inc(msg.events)
      },
      failed() {
        m.publishFailures.inc()
      },
      refused(msg, error) {
        m.dropped.inc({ reason: 'too_large' }, msg.events)
        log('warn', 'dropped a message NATS refuses', { subject: msg.subject, events: msg.events, error })
      },
    },
  )
  const configSync = opts.envoyConfig
    ? new ConfigSync({ ...opts.envoyConfig, natsUrl: opts.natsUrl, natsAuth: opts.natsAuth, log })
    : null
  new Gauge({
    name: 'mesh_agent_spool_bytes',
    help: 'Bytes of messages waiting for JetStream, by tier (memory holds what it can; every message is also on disk).',
    labelNames: ['tier'],
    registers: [registry],
    collect() {
      const s = spool.stats
      this.set({ tier: 'memory' }, s.memoryBytes)
      this.set({ tier: 'disk' }, s.diskBytes)
    },
  })
  new Gauge({
    name: 'mesh_agent_spool_events',
    help: 'Events waiting for JetStream.',
    registers: [registry],
    collect() {
      this.set(spool.stats.events)
    },
  })
  new Gauge({
    name: 'mesh_agent_oldest_unpublished_age_seconds',
    help: 'Age of the oldest event not yet in JetStream (0 when none waits).',
    registers: [registry],
    collect() {
      const oldest = spool.stats.oldestReceivedAt
      this.set(oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000))
    },
  })
  new Gauge({
    name: 'mesh_agent_nats_connected',
    help: '1 while connected to NATS.',
    registers: [registry],
    collect() {
      this.set(publisher.connected ? 1 : 0)
    },
  })

  // Coalesced: the checkpoint needs to be current only to within the duplicate window (a republish of what it missed lands once).
  const checkpoints = setInterval(() => spool.checkpoint(), 500)
  checkpoints.unref()

  function accept(body: string, source: string): number {
    const routed = routeBatch(body, models, review)
    if (routed.reviewItems > 0) m.reviewItems.inc(routed.reviewItems)
    for (const [reason, n] of Object.entries(routed.unroutable)) m.dropped.inc({ reason }, n)
    m.received.inc(
      { source: sourceKind(source) },
      routed.events + Object.values(routed.unroutable).reduce((a, n) => a + n, 0),
    )
    // Spooled: it will wait for NATS, not just behind the message being published now.
    const oldest = spool.stats.oldestReceivedAt
    const waiting = !publisher.connected || (oldest !== null && Date.now() - oldest > SPOOLED_AFTER_MS)
    const receivedAt = Date.now()
    for (const group of routed.groups) {
      for (const chunk of chunkGroup(group, maxChars)) {
        // Compressed once, here: the spool and JetStream both keep the smaller form.
        const data = deflateRawSync(chunk.data, { level: 1 })
        if (data.length > MAX_PAYLOAD_BYTES) {
          m.dropped.inc({ reason: 'too_large' }, chunk.events)
          continue
        }
        const msg: SpooledMessage = {
          id: messageId(opts.id, boot, ++seq),
          subject: group.subject,
          events: chunk.events,
          receivedAt,
          data,
          spooled: waiting,
        }
        spool.append(msg)
        if (waiting) m.spooled.inc(chunk.events)
      }
    }
    publisher.notify()
    return routed.events
  }

  // Node checks these every connectionsCheckingInterval: a second here, not its default 30.
  const server: Server = createServer(
    { headersTimeout: opts.headersTimeoutMs ?? 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1000 },
    (req, res) => {
      handle(req, res).catch((e) => {
        log('warn', 'request failed', { method: req.method, path: req.url, err: e })
        if (!res.headersSent) reply(res, 500, { error: 'internal error' })
      })
    },
  )
  server.keepAliveTimeout = 60_000

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'POST' && path === AGENT_EVENTS_PATH) {
      if (!bearerMatches(req.headers.authorization, opts.token)) {
        // Its events are not counted as dropped: nothing vouches for the count it claims.
        m.refused.inc({ reason: 'unauthorized' })
        discard(req, budget.limits.timeoutMs)
        return reply(
          res,
          401,
          { error: "authorization: the node's telemetry credential is required (Authorization: Bearer <token>)" },
          { 'www-authenticate': 'Bearer' },
        )
      }
      const read = await budget.read(req)
      if (!read.ok) {
        // Gone: nobody to answer, and its sender counts what it lost.
        if (read.reason === 'aborted') return
        m.refused.inc({ reason: read.reason })
        m.dropped.inc({ reason: read.reason }, eventCount(req.headers[AGENT_EVENT_COUNT_HEADER]))
        if (read.reason === 'body_timeout') return
        return reply(res, ...refusal(read.reason, budget.limits.maxBodyBytes))
      }
      const accepted = accept(read.body, String(req.headers[AGENT_SOURCE_HEADER] ?? 'envoy'))
      return reply(res, 202, { accepted })
    }
    if (req.method === 'GET' && path === '/metrics') {
      const text = await registry.metrics()
      res.writeHead(200, { 'content-type': registry.contentType })
      res.end(text)
      return
    }
    if (req.method === 'GET' && path === AGENT_STATUS_PATH)
      return reply(res, 200, {
        ...(await statusOf(registry, opts.id)),
        ...(configSync ? { config: configSync.status } : {}),
      })
    if (req.method === 'GET' && path === '/healthz')
      return reply(res, 200, { ok: true, nats: publisher.connected, spooled_events: spool.stats.events })
    reply(res, 404, { error: `no route ${req.method} ${path}` })
  }

  publisher.start()
  configSync?.start()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.address, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  log('info', `listening on http://${opts.address}:${port}${AGENT_EVENTS_PATH}`, { spool: opts.spool.dir })
  return {
    url: `http://${opts.address}:${port}`,
    port,
    registry,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      // Idle keep-alive connections (Envoy's, the hosts') would hold close() open for a minute.
      server.closeIdleConnections()
      await closed
      clearInterval(checkpoints)
      await Promise.all([publisher.close(), configSync?.close()])
      spool.close()
    },
  }
}

/** Why the agent drops events; each starts at 0, so the first drop is an increase (alerts read increase()). */
const DROP_REASONS = [
  'spool_full',
  'too_large',
  'body_too_large',
  'overloaded',
  'body_timeout',
  'malformed',
  'unknown_kind',
] as const
/** Why the agent refuses a POST before taking its events. */
const REFUSAL_REASONS = ['unauthorized', 'body_too_large', 'overloaded', 'body_timeout'] as const

function agentMetrics(registry: Registry) {
  const registers = [registry]
  const m = {
    received: new Counter({
      name: 'mesh_agent_events_received_total',
      help: 'Events posted to the agent, by source kind (envoy, host).',
      labelNames: ['source'],
      registers,
    }),
    published: new Counter({
      name: 'mesh_agent_events_published_total',
      help: 'Events JetStream acknowledged.',
      registers,
    }),
    spooled: new Counter({
      name: 'mesh_agent_events_spooled_total',
      help: 'Events that had to wait in the spool: NATS down, or the oldest unpublished event older than a second.',
      registers,
    }),
    replayed: new Counter({
      name: 'mesh_agent_events_replayed_total',
      help: 'Spooled events later published.',
      registers,
    }),
    duplicates: new Counter({
      name: 'mesh_agent_events_duplicate_total',
      help: 'Events of republished messages JetStream had already stored (its duplicate window at work).',
      registers,
    }),
    dropped: new Counter({
      name: 'mesh_agent_events_dropped_total',
      help: `Events the agent could not keep, by reason: ${DROP_REASONS.join(', ')}.`,
      labelNames: ['reason'],
      registers,
    }),
    reviewItems: new Counter({
      name: 'mesh_agent_review_items_total',
      help: "Samples under their model's review threshold, also sent to the review queue (mesh.review.<model>).",
      registers,
    }),
    publishFailures: new Counter({
      name: 'mesh_agent_publish_failures_total',
      help: 'Publish attempts that failed (and were retried).',
      registers,
    }),
    refused: new Counter({
      name: 'mesh_agent_requests_refused_total',
      help: `Event POSTs refused before their events were read, by reason: ${REFUSAL_REASONS.join(', ')}.`,
      labelNames: ['reason'],
      registers,
    }),
  }
  for (const reason of DROP_REASONS) m.dropped.inc({ reason }, 0)
  for (const reason of REFUSAL_REASONS) m.refused.inc({ reason }, 0)
  return m
}

/** /status: the registry's own values (what /metrics reports, read the same way), as JSON. */
async function statusOf(registry: Registry, id: string): Promise<AgentStatus> {
  const metrics = new Map((await registry.getMetricsAsJSON()).map((x) => [x.name, x.values]))
  const values = (name: string) => metrics.get(name) ?? []
  const sum = (name: string) => values(name).reduce((a, v) => a + v.value, 0)
  const by = (name: string, label: string) =>
    Object.fromEntries(values(name).map((v) => [String(v.labels[label]), v.value]))
  const bytes = by('mesh_agent_spool_bytes', 'tier')
  return {
    id,
    nats_connected: sum('mesh_agent_nats_connected') === 1,
    received: sum('mesh_agent_events_received_total'),
    published: sum('mesh_agent_events_published_total'),
    spooled: sum('mesh_agent_events_spooled_total'),
    replayed: sum('mesh_agent_events_replayed_total'),
    dropped: by('mesh_agent_events_dropped_total', 'reason'),
    spool_events: sum('mesh_agent_spool_events'),
    spool_bytes: { memory: bytes.memory ?? 0, disk: bytes.disk ?? 0 },
    oldest_unpublished_age_s: sum('mesh_agent_oldest_unpublished_age_seconds'),
  }
}

const sourceKind = (source: string) => (source.startsWith('host') ? 'host' : 'envoy')

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** The answer to a body the budget refused. */
function refusal(
  reason: Exclude<BodyRefusal, 'body_timeout' | 'aborted'>,
  maxBody: number,
): [number, unknown, Record<string, string>] {
  if (reason === 'body_too_large') return [413, { error: `body: larger than ${maxBody} bytes` }, {}]
  return [503, { error: 'body: the agent is reading as many bodies as it may hold; try again' }, { 'retry-after': '1' }]
}
