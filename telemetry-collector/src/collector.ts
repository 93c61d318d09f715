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
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OTHER_MODEL_TOKEN, subjectToken } from '../../contracts/subjects.ts'
import { loadMeshFile } from '../../mesh-config/src/load.ts'
import { Aggregator } from './aggregator.ts'
import { consumerSpecs, Ingest } from './ingest.ts'
import { analyseCanary } from './canary-stats.ts'
import { CanaryWalker } from './canary-walk.ts'
import { DriftMonitor, type DriftConfig } from './drift-monitor.ts'
import { collectorMetrics } from './metrics.ts'
import { DEFAULT_PAYLOAD_SINK, PayloadSink, writeLabelled } from './payload-sink.ts'
import { Store, DEFAULT_RETENTION, type Retention, type ReviewItem } from './store.ts'
import { ensureStreams, type StreamLimits } from './streams.ts'
import { rollupSteps, STEP_MS, WINDOWS, windowOf, type WindowName } from './windows.ts'

export interface CollectorOptions {
  address: string
  port: number
  natsUrl: string
  storeDir: string
  /** The models mesh.yaml names (labels for any other model read `other`). */
  models: string[]
  /** The models whose events this collector consumes (default: all of `models` and `_other`). */
  owns?: string[]
  /** Prefix of its durable consumers (default `collector`): collectors sharing the work share it and own disjoint models. */
  name?: string
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
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void
  /** The store failed: the process must restart (default: exit 1). */
  onFatal?: (e: Error) => void
}

export interface RunningCollector {
  url: string
  port: number
  aggregator: Aggregator
  /** Resolves once the streams exist and the consumers run. */
  ready: Promise<void>
  close(): Promise<void>
}

export async function startCollector(opts: CollectorOptions): Promise<RunningCollector> {
  const log = opts.log ?? ((level, msg) => process.stderr.write(`${JSON.stringify({ level, msg, component: 'telemetry-collector' })}\n`))
  const store = await Store.open(opts.storeDir, opts.retention ?? DEFAULT_RETENTION)
  store.keepUnexported = opts.payloads !== undefined
  const agg = new Aggregator(opts.models)
  const seqs = await store.load(agg)
  const drift = opts.repository ? await driftMonitor(opts.repository, opts.drift, store) : undefined
  if (drift) agg.onSample = (e) => drift.observe(e)
  /** A version's baseline, for feature names and scores in the Parquet files; null without one. */
  const baselineOf = (model: string, version: string) => {
    const b = drift?.baseline(model, version)
    return b && 'baseline' in b ? b.baseline : null
  }
  let ingest: Ingest | undefined
  let nc: NatsConnection | undefined
  let sink: PayloadSink | undefined
  let walker: CanaryWalker | undefined

  const app = new Hono()
  const registry = collectorMetrics(agg, () => ingest, drift, () => walker)
  app.get('/healthz', (c) => c.json({ ok: ingest !== undefined, nats: nc !== undefined && !nc.isClosed() }, ingest ? 200 : 503))
  app.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'content-type': registry.contentType }))
  app.get('/api/v1/windows', (c) => {
    const name = (c.req.query('window') ?? '1m') as WindowName
    if (!Object.hasOwn(WINDOWS, name)) return c.json({ error: `window: must be one of ${Object.keys(WINDOWS).join(', ')}` }, 400)
    return c.json(windowOf(agg, name))
  })
  app.get('/api/v1/rollups', async (c) => {
    const step = (c.req.query('step') ?? '1m') as keyof typeof STEP_MS
    if (!Object.hasOwn(STEP_MS, step)) return c.json({ error: `step: must be one of ${Object.keys(STEP_MS).join(', ')}` }, 400)
    const to = timeParam(c.req.query('to'), Date.now())
    const from = timeParam(c.req.query('from'), (to ?? Date.now()) - 3_600_000)
    if (from === null) return c.json({ error: 'from: must be milliseconds since the epoch or an ISO 8601 time' }, 400)
    if (to === null) return c.json({ error: 'to: must be milliseconds since the epoch or an ISO 8601 time' }, 400)
    if (to <= from) return c.json({ error: 'to: must be after from' }, 400)
    return c.json({ from, to, step, steps: rollupSteps(await store.minutes(from, to), from, to, STEP_MS[step]) })
  })
  app.get('/api/v1/requests/:id', async (c) => {
    const story = await store.story(c.req.param('id'))
    const found = story.request.length + story.batches.length + story.fallbacks.length + story.samples.length > 0
    return c.json(found ? { request_id: c.req.param('id'), ...jsonSafe(story) } : { error: `request_id: no events for ${c.req.param('id')}` }, found ? 200 : 404)
  })
  app.get('/api/v1/drift', (c) => {
    if (!drift) return c.json({ error: 'drift: no model repository configured for this collector' }, 404)
    const model = c.req.query('model')
    const version = c.req.query('version')
    const versions = drift.report().filter((v) => (model === undefined || v.model === model) && (version === undefined || v.version === version))
    return c.json({ generated_at: Date.now(), versions })
  })
  app.get('/api/v1/review', async (c) => {
    const status = c.req.query('status') ?? 'pending'
    if (status !== 'pending' && status !== 'labelled' && status !== 'all') return c.json({ error: 'status: must be pending, labelled or all' }, 400)
    const limit = Number(c.req.query('limit') ?? 100)
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return c.json({ error: 'limit: must be a whole number from 1 to 1000' }, 400)
    const items = await store.reviewItems({ model: c.req.query('model'), status, limit })
    return c.json({ items: items.map(reviewJson) })
  })
  app.post('/api/v1/review/:id/label', async (c) => {
    let body: { label?: unknown; by?: unknown }
    try {
      body = await c.req.json()
    } catch {
      return c.json({ error: 'body: must be a JSON object { "label": ..., "by": "..." }' }, 400)
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return c.json({ error: 'body: must be a JSON object { "label": ..., "by": "..." }' }, 400)
    if (body.label === undefined || body.label === null) return c.json({ error: 'label: required (a class name, number or any JSON value but null)' }, 400)
    if (typeof body.by !== 'string' || body.by.trim() === '') return c.json({ error: 'by: required, who labelled it' }, 400)
    if (!ingest) return c.json({ error: 'not ready: the collector is not consuming yet' }, 503)
    const item = await ingest.exclusive(() => store.labelReviewItem(c.req.param('id'), body.label, String(body.by).trim(), Date.now()))
    return item ? c.json(reviewJson(item)) : c.json({ error: `request_id: no review item ${c.req.param('id')}` }, 404)
  })
  app.get('/api/v1/review/export', async (c) => {
    const model = c.req.query('model')
    if (!model) return c.json({ error: 'model: required, the model whose labelled items to export' }, 400)
    if (!ingest) return c.json({ error: 'not ready: the collector is not consuming yet' }, 503)
    const items = await store.reviewItems({ model, status: 'labelled', limit: Number.MAX_SAFE_INTEGER })
    if (items.length === 0) return c.json({ error: `model: no labelled review items for ${model}` }, 404)
    const dir = await mkdtemp(join(tmpdir(), 'review-export-'))
    try {
      const file = join(dir, 'labelled.parquet')
      await ingest.exclusive(() => writeLabelled(store, items, file, baselineOf))
      return c.body(await readFile(file), 200, { 'content-type': 'application/vnd.apache.parquet', 'content-disposition': `attachment; filename="${subjectToken(model)}-labelled.parquet"`, 'x-review-items': String(items.length) })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
  app.get('/api/v1/canary/:route', async (c) => {
    if (!opts.meshFile) return c.json({ error: 'canary: this collector was started without a mesh.yaml' }, 404)
    const loaded = await loadMeshFile(opts.meshFile)
    if (!loaded.ok) return c.json({ error: `mesh.yaml: ${loaded.issues.length} problems (npx mesh validate lists them)` }, 503)
    const route = loaded.mesh.config.routes.find((r) => r.name === c.req.param('route'))
    if (!route) return c.json({ error: `route: no route ${c.req.param('route')} in mesh.yaml` }, 404)
    if (!route.canary) return c.json({ error: `route: ${route.name} has no canary` }, 404)
    // While a walk is under way, the analysis is the walk's: from its start.
    const since = walker?.walkingSince(route.name, route.canary.version) ?? 0
    return c.json({ ...analyseCanary(agg, drift, { ...route, canary: route.canary }, Date.now(), since), walk: walker ? await walker.walkOf(route.name) : null })
  })
  app.get('/api/v1/pipeline', async (c) =>
    c.json({
      ...agg.pipeline,
      newest_event_age_s: agg.pipeline.newestEventTs > 0 ? (Date.now() - agg.pipeline.newestEventTs) / 1000 : null,
      lag_messages: Object.fromEntries(ingest?.pending ?? []),
      last_apply_at: ingest?.lastApplyAt ?? null,
      payload_sink: sink ? { dir: sink.opts.dir, written_since_start: sink.written, waiting: await store.unexportedSamples() } : null,
    }),
  )

  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: opts.port, hostname: opts.address }, () => resolve(s))
  })
  const port = (server.address() as AddressInfo).port

  // NATS may come later than the collector: retry until it answers, serving /metrics meanwhile.
  let closed = false
  const ready = (async () => {
    while (!closed) {
      try {
        nc = await connect({ servers: opts.natsUrl, name: 'telemetry-collector', maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 2000 })
        const jsm = await jetstreamManager(nc, { timeout: 5000 })
        for (const o of await ensureStreams(jsm, opts.streams)) if (o.action !== 'unchanged') log('info', `stream ${o.name} ${o.action}${o.changed.length ? `: ${o.changed.join(', ')}` : ''}`)
        const owned = (opts.owns ?? [...opts.models, OTHER_MODEL_TOKEN]).map((m) => (m === OTHER_MODEL_TOKEN ? m : subjectToken(m)))
        const i = new Ingest(jetstream(nc), jsm, store, agg, seqs, consumerSpecs(opts.name ?? 'collector', [...new Set(owned)]), {
          log,
          onFatal: (e) => (opts.onFatal ?? defaultFatal(log))(e),
        })
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
            store: { loadWalks: () => store.loadWalks(), saveWalk: (w, e) => i.exclusive(() => store.saveWalk(w, e)), walkEvents: (route) => store.walkEvents(route) },
            log,
          })
          await walker.start()
        }
        void (async () => {
          for await (const s of nc!.status()) if (s.type === 'reconnect') i.reposition()
        })()
        log('info', `consuming ${owned.join(', ')} from ${opts.natsUrl}`)
        return
      } catch (e) {
        await nc?.close().catch(() => {})
        nc = undefined
        // A stream JetStream refuses to change is a configuration problem: say so and stop trying.
        if (/^stream /.test((e as Error).message)) {
          log('error', (e as Error).message)
          throw e
        }
        log('warn', `NATS at ${opts.natsUrl}: ${(e as Error).message}; retrying`)
        await new Promise((r) => setTimeout(r, 1000))
      }
    }
  })()
  const pruner = setInterval(() => void ingest?.exclusive(() => store.prune()).catch((e) => log('warn', `prune failed: ${(e as Error).message}`)), 600_000)
  pruner.unref()

  return {
    url: `http://${opts.address}:${port}`,
    port,
    aggregator: agg,
    ready,
    async close() {
      closed = true
      clearInterval(pruner)
      await ready.catch(() => {})
      await walker?.close()
      await sink?.close()
      // What waits goes out now: a stopped collector leaves nothing to the next start's first flush.
      await sink?.flush().catch((e) => log('warn', `payload sink: ${(e as Error).message}`))
      await ingest?.close()
      await nc?.drain().catch(() => {})
      await new Promise<void>((resolve) => server.close(() => resolve()))
      store.close()
    },
  }
}

/** A review item as the API shows it: the sample's fields, flat, and its label. */
function reviewJson(item: ReviewItem) {
  const { v: _v, kind: _kind, ...sample } = item.sample
  return { ...sample, label: item.label, labelled_by: item.labelled_by, labelled_at: item.labelled_at }
}

/** A drift monitor with its windows as they were before a restart: the window's rate samples, from the store. */
async function driftMonitor(repository: string, config: DriftConfig | undefined, store: Store): Promise<DriftMonitor> {
  const monitor = new DriftMonitor(repository, config)
  const { since, limit } = monitor.restoreWindow()
  for (const e of await store.rateSamplesSince(since, limit)) monitor.observe(e)
  return monitor
}

const defaultFatal = (log: NonNullable<CollectorOptions['log']>) => (e: Error) => {
  log('error', `store failed, restarting to resume from the store: ${e.message}`)
  process.exit(1)
}

/** Milliseconds since the epoch, or an ISO 8601 date or time (nothing else `Date.parse` would guess at). */
function timeParam(v: string | undefined, fallback: number): number | null {
  if (v === undefined) return fallback
  if (/^\d+$/.test(v)) return Number(v)
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) return null
  const n = Date.parse(v)
  return Number.isFinite(n) ? n : null
}

/** DuckDB gives BIGINTs as bigint and blobs as objects: plain JSON for the API. */
function jsonSafe<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x)))
}
