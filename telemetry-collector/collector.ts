/**
 * @module
 * The telemetry collector: creates the JetStream streams, loads its state
 * from the store, consumes the models it owns, and serves /metrics and the
 * JSON API. It runs entirely outside the inference path: nothing here is
 * ever waited on by a request.
 */
import { serve, type ServerType } from '@hono/node-server'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { Hono } from 'hono'
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { Kvm } from '@nats-io/kv'
import {
  COLLECTOR_BUCKET,
  createLogger,
  LEASE_RENEW_MS,
  ensureStreams,
  logTo,
  OTHER_MODEL_TOKEN,
  StreamConfigError,
  subjectToken,
  type Log,
  type StreamLimits,
} from '@model-mesh/contracts'
import { dashboardApp, type DashboardOptions } from './dashboard/server.ts'
import { apiRoutes, type ApiContext } from './serve/api.ts'
import { Aggregator, type KnownLabels, OTHER } from './state/aggregator.ts'
import { hostCheck } from './serve/host-check.ts'
import { consumerSpecs, Ingest } from './ingest/consumers.ts'
import { Ownership } from './ingest/ownership.ts'
import { analyseCanary } from './analysis/canary-stats.ts'
import { CanaryWalker, type Walk, type WalkEvent } from './analysis/canary-walk.ts'
import { DriftMonitor, type DriftConfig } from './analysis/drift-monitor.ts'
import { collectorMetrics } from './serve/metrics.ts'
import { DEFAULT_PAYLOAD_SINK, PayloadSink } from './sinks/payload-sink.ts'
import { DEFAULT_RETENTION, Store, type Retention } from './store/store.ts'

/** How often the label lists are read again from mesh.yaml (reloadLabels). */
const LABELS_RELOAD_MS = 10_000

export interface CollectorOptions {
  address: string
  port: number
  /**
   * The URL others reach it at, where that is not its listen address (on
   * Kubernetes, its pod's DNS name): its identity in the leases and its
   * consumers' names, and a name its API answers to.
   */
  advertise?: string
  /** Host names its API and dashboard answer to besides their addresses (DNS-rebinding check): its Services' names. */
  hostNames?: string[]
  natsUrl: string
  /** Its NATS identity (the local mesh's `mesh-collector`: its streams and consumers, no publishing); none: connect without. */
  natsAuth?: { user: string; pass: string }
  storeDir: string
  /** The models mesh.yaml names (labels for any other model read `other`). */
  models: string[]
  /** The routes, hosts and versions mesh.yaml names (labels for any other read `other`); a dimension left out keeps values of a plain shape. */
  labels?: Omit<KnownLabels, 'models'>
  /** Reads those lists again (mesh.yaml changed while the collector runs: a route added); null keeps the last. Called every LABELS_RELOAD_MS. */
  reloadLabels?: () => Promise<Omit<KnownLabels, 'models'> | null>
  /** The models whose events this collector consumes (default: all of `models` and `_other`). */
  owns?: string[]
  /** Prefix of its durable consumers (default `collector`): collectors given disjoint models (`owns`) share it; sharing by leases (`shared`), each adds a digest of its URL. */
  name?: string
  /**
   * Collectors sharing the work through leases (several nodes: ingest/ownership.ts):
   * `owns` is this one's own share, and it takes over the share of one that dies.
   * The leases' bucket keeps `replicas` copies; `collectors` are every collector's API URL.
   */
  shared?: { replicas: number; collectors?: string[] }
  streams: StreamLimits
  retention?: Retention
  /** The model repository, where each version's baseline.json is (drift detection); none: no drift detection. */
  repository?: string
  /** Drift settings, by model (default: DEFAULT_DRIFT_SETTINGS for all). */
  drift?: DriftConfig
  /** mesh.yaml, read again for each canary analysis (its routes' versions and thresholds change while the collector runs). */
  meshFile?: string
  /** The payload sink (sampled payloads as Parquet); none: no sink. */
  payloads?: { dir: string; flushMs?: number; maxRows?: number; retentionDays?: number }
  /** The token every write of the API (review labels, canary changes) must carry; none: read-only. */
  operatorToken?: string
  /** The SRE dashboard's own port; none: no dashboard. */
  dashboard?: DashboardOptions
  /** Where it logs (default: pino's JSON lines on stderr, component telemetry-collector). */
  log?: Log
  /** The store failed: the process must restart (default: exit 1). */
  onFatal?: (e: Error) => void
}

export interface RunningCollector {
  url: string
  port: number
  /** The SRE dashboard, when started with one. */
  dashboardUrl?: string
  aggregator: Aggregator
  /** Resolves once the streams exist and the consumers run. */
  ready: Promise<void>
  close(): Promise<void>
}

export async function startCollector(opts: CollectorOptions): Promise<RunningCollector> {
  const log = opts.log ?? logTo(createLogger('telemetry-collector', { to: 'stderr' }))
  const store = await Store.open(opts.storeDir, opts.retention ?? DEFAULT_RETENTION)
  store.keepUnexported = opts.payloads !== undefined
  const agg = new Aggregator({ ...opts.labels, models: opts.models })
  const seqs = await store.load(agg)
  const drift = opts.repository
    ? await driftMonitor(new DriftMonitor(opts.repository, opts.drift, (m, v) => agg.labels.knownVersion(m, v)), store)
    : undefined
  if (drift) agg.onSample = (e) => drift.observe(e)
  /** A version's baseline, for feature names and scores in the Parquet files; null without one. */
  const baselineOf = (model: string, version: string) => {
    const b = drift?.baseline(model, version)
    return b && 'baseline' in b ? b.baseline : null
  }
  let ingest: Ingest | undefined
  let ownership: Ownership | undefined
  /** Whether a model (its label) is this collector's to report: all, unless it shares the work, then those it consumes now (none before it knows). */
  const reports = (model: string) =>
    !opts.shared || (ownership?.owned.has(model === OTHER ? OTHER_MODEL_TOKEN : subjectToken(model)) ?? false)
  let nc: NatsConnection | undefined
  let sink: PayloadSink | undefined
  let walker: CanaryWalker | undefined

  const api: ApiContext = {
    agg,
    store,
    drift,
    meshFile: opts.meshFile,
    operatorToken: opts.operatorToken,
    ingest: () => ingest,
    sink: () => sink,
    walker: () => walker,
    baselineOf,
    ...(opts.shared
      ? {
          shares: () => ({
            owned: [...(ownership?.owned ?? [])],
            reports,
            // Those the leases name first (one of them has the model), then every other collector.
            peers: [...new Set([...(ownership?.holders.values() ?? []), ...(opts.shared?.collectors ?? [])])].filter(
              (u) => u !== url,
            ),
          }),
        }
      : {}),
  }
  const app = new Hono()
  const registry = collectorMetrics(
    agg,
    () => ingest,
    drift,
    () => walker,
    reports,
  )
  // A page on another site, its name pointed at this address (DNS rebinding), reads nothing.
  const knownAs = [...(opts.hostNames ?? []), ...(opts.advertise ? [new URL(opts.advertise).hostname] : [])]
  app.use('*', hostCheck(opts.address, knownAs))
  app.get('/healthz', (c) =>
    c.json({ ok: ingest !== undefined, nats: nc !== undefined && !nc.isClosed() }, ingest ? 200 : 503),
  )
  app.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'content-type': registry.contentType }))
  app.route('/', apiRoutes(api))
  const server = await listen(app, opts.address, opts.port).catch((e) => {
    store.close()
    throw e
  })
  const port = (server.address() as AddressInfo).port
  const url = opts.advertise ?? `http://${opts.address}:${port}`
  // The SRE dashboard: its own port, the same API, plus the page and its live stream.
  const closing = new AbortController()
  const dashboard = opts.dashboard
    ? await listen(
        dashboardApp(api, { ...opts.dashboard, hostNames: knownAs }, closing.signal),
        opts.dashboard.address,
        opts.dashboard.port,
      ).catch(async (e) => {
        await new Promise((r) => server.close(r))
        store.close()
        throw new Error(`dashboard: ${(e as Error).message}`, { cause: e })
      })
    : undefined

  // NATS may come later than the collector: retry until it answers, serving /metrics meanwhile.
  let closed = false
  const ready = (async () => {
    while (!closed) {
      try {
        nc = await connect({
          servers: opts.natsUrl.split(',').map((u) => u.trim()),
          ...opts.natsAuth,
          name: 'telemetry-collector',
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          // A server behind a partition sends no reset: missed pings move the collector to another within
          // seconds, sooner than its leases lapse (ingest/ownership.ts).
          pingInterval: 2000,
          maxPingOut: 2,
          timeout: 2000,
          // Every publish (or fetch) is a request: no stack captured per request for an error that rarely comes.
          noAsyncTraces: true,
        })
        const jsm = await jetstreamManager(nc, { timeout: 5000 })
        for (const o of await ensureStreams(jsm, opts.streams))
          if (o.action !== 'unchanged')
            log('info', `stream ${o.name} ${o.action}`, { stream: o.name, action: o.action, changed: o.changed })
        const tokens = (models: string[]) => [
          ...new Set(models.map((m) => (m === OTHER_MODEL_TOKEN ? m : subjectToken(m)))),
        ]
        const owned = tokens(opts.owns ?? [...opts.models, OTHER_MODEL_TOKEN])
        // Sharing by leases, each collector's consumers are its own: one that lost a lease can never pull from the next holder's.
        const name = opts.shared
          ? `${opts.name ?? 'collector'}-${createHash('sha256').update(url).digest('hex').slice(0, 8)}`
          : (opts.name ?? 'collector')
        const i = new Ingest(
          jetstream(nc),
          jsm,
          store,
          agg,
          seqs,
          // Sharing through leases: nothing until the leases say what.
          opts.shared ? [] : consumerSpecs(name, owned),
          {
            log,
            onFatal: (e) => (opts.onFatal ?? defaultFatal(log))(e),
            takeOverQueues: opts.shared !== undefined,
          },
        )
        await i.start()
        ingest = i
        // Started once the ingest runs: its writes and the sink's take turns on the store's one writer.
        if (opts.payloads) {
          sink = new PayloadSink(store, {
            ...DEFAULT_PAYLOAD_SINK,
            ...opts.payloads,
            baselineOf,
            modelLabel: (model) => agg.labels.model(model),
            exclusive: (work) => i.exclusive(work),
            log,
          })
          sink.start()
        }
        // Canary walks change mesh.yaml: only where this collector was given one.
        if (opts.meshFile) {
          walker = new CanaryWalker({
            meshFile: opts.meshFile,
            analyse: (route, now, since) => analyseCanary(agg, drift, route, now, since),
            walks: {
              load: () => store.walks.load<Walk>(),
              save: (w, e) => i.exclusive(() => store.walks.save(w, e)),
              events: (route) => store.walks.events<WalkEvent>(route),
            },
            log,
          })
          await walker.start()
        }
        void (async () => {
          for await (const s of nc!.status()) if (s.type === 'reconnect') i.reposition()
        })()
        if (opts.shared) {
          // An answer slower than a renewal period is as good as none: a holder cut off must know it well within a lease's life.
          const kv = await new Kvm(jetstream(nc, { timeout: LEASE_RENEW_MS })).create(COLLECTOR_BUCKET, {
            history: 1,
            replicas: opts.shared.replicas,
            // Reads from the leader: a lagging replica's answer would show a lease as free that is not.
            allow_direct: false,
          })
          ownership = new Ownership({
            kv,
            me: url,
            share: owned,
            all: tokens([...opts.models, OTHER_MODEL_TOKEN]),
            log,
            changed: (held) => i.consumeOnly(consumerSpecs(name, [...held])),
          })
          ownership.start()
        } else log('info', `consuming ${owned.join(', ')}`, { models: owned, nats: opts.natsUrl })
        return
      } catch (e) {
        await nc?.close().catch(() => {})
        nc = undefined
        // A stream JetStream refuses to change is a configuration problem: say so and stop trying.
        if (e instanceof StreamConfigError) {
          log('error', 'a stream JetStream cannot change: stopping', { err: e })
          throw e
        }
        log('warn', 'NATS unreachable; retrying', { nats: opts.natsUrl, err: e })
        await new Promise((r) => setTimeout(r, 1000))
      }
    }
  })()
  const pruner = setInterval(
    () => void ingest?.exclusive(() => store.prune()).catch((e) => log('warn', 'prune failed', { err: e })),
    600_000,
  )
  pruner.unref()
  const reload = opts.reloadLabels
  const labelReloader = reload
    ? setInterval(
        () =>
          void reload().then(
            (l) => l && agg.labels.update(l),
            (e) => log('warn', 'labels not reloaded', { err: e }),
          ),
        LABELS_RELOAD_MS,
      )
    : undefined
  labelReloader?.unref()

  const dashboardUrl = dashboard
    ? `http://${opts.dashboard!.address}:${(dashboard.address() as AddressInfo).port}`
    : undefined
  log('info', `serving on ${url}`, { store: opts.storeDir, ...(dashboardUrl ? { dashboard: dashboardUrl } : {}) })
  return {
    url,
    port,
    dashboardUrl,
    aggregator: agg,
    ready,
    async close() {
      closed = true
      clearInterval(pruner)
      clearInterval(labelReloader)
      await ready.catch(() => {})
      await walker?.close()
      await sink?.close()
      // What waits goes out now: a stopped collector leaves nothing to the next start's first flush.
      await sink?.flush().catch((e) => log('warn', 'payload sink: the last flush failed', { err: e }))
      await ownership?.close()
      await ingest?.close()
      await nc?.drain().catch(() => {})
      // Live streams end (within a refresh): an open dashboard tab does not hold the collector up.
      closing.abort()
      await Promise.all([server, dashboard].map((s) => s && closeServer(s)))
      store.close()
    },
  }
}

/** A drift monitor with its windows as they were before a restart: the window's rate samples, from the store. */
async function driftMonitor(monitor: DriftMonitor, store: Store): Promise<DriftMonitor> {
  const { since, limit } = monitor.restoreWindow()
  for (const e of await store.samples.rateSince(since, limit)) monitor.observe(e)
  return monitor
}

/**
 * Stops taking connections and waits for the open ones. A connection that
 * turns idle after close() was called (a live stream that just ended) would
 * wait out its keep-alive: idle ones are closed as they appear.
 */
function closeServer(s: ServerType): Promise<void> {
  return new Promise((resolve) => {
    const sweep = setInterval(() => 'closeIdleConnections' in s && s.closeIdleConnections(), 100)
    s.close(() => {
      clearInterval(sweep)
      resolve()
    })
  })
}

/** Serves `app`; rejects (a port in use, say) rather than leave the collector half started. */
function listen(app: Hono, hostname: string, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port, hostname }, () => resolve(s))
    s.once('error', (e) => reject(new Error(`cannot listen on ${hostname}:${port}: ${e.message}`, { cause: e })))
  })
}

const defaultFatal = (log: Log) => (e: Error) => {
  log('error', 'store failed, restarting to resume from the store', { err: e })
  process.exit(1)
}
