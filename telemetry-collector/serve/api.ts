/**
 * @module
 * The collector's JSON API (/api/v1/...), one Hono app that both the
 * collector's port and the dashboard's port serve. Reads are open; every
 * write (a review label, a canary change) needs the operator token, and so
 * do sampled payloads' bodies: without it, a request's story and the review
 * queue come without them (`redacted: true`), and the review export is
 * refused.
 */
import { Hono } from 'hono'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { subjectToken, type Baseline } from '@model-mesh/contracts'
import { loadMeshFile } from '@model-mesh/mesh-config'
import type { Aggregator } from '../state/aggregator.ts'
import { analyseCanary } from '../analysis/canary-stats.ts'
import type { CanaryWalker } from '../analysis/canary-walk.ts'
import type { DriftMonitor } from '../analysis/drift-monitor.ts'
import type { Ingest } from '../ingest/consumers.ts'
import {
  CANARY_ACTIONS,
  canaryAction,
  isOperator,
  operatorOnly,
  operatorRequired,
  type CanaryAction,
} from './operator.ts'
import { fromPeer, fromPeers, isForwarded, unionBy, type PeerQuestion } from './peers.ts'
import { writeLabelled, type PayloadSink } from '../sinks/payload-sink.ts'
import type { ReviewItem, Store } from '../store/store.ts'
import {
  rollupSteps,
  STEP_MS,
  unionOfSteps,
  unionOfWindows,
  type Window,
  windowOf,
  WINDOWS,
  type WindowName,
} from '../state/windows.ts'

/** What the API reads: the collector's parts, some of which exist only once it consumes. */
export interface ApiContext {
  agg: Aggregator
  store: Store
  drift?: DriftMonitor
  /** mesh.yaml, read again at each request that needs it (operators edit it while the collector runs). */
  meshFile?: string
  /** The operator token writes must carry; none: the API is read-only. */
  operatorToken?: string
  ingest(): Ingest | undefined
  sink(): PayloadSink | undefined
  walker(): CanaryWalker | undefined
  /** A version's baseline (feature names for the Parquet files); null without one. */
  baselineOf(model: string, version: string): Baseline | null
  /** Collectors sharing the work: the model tokens this one consumes now, the other collectors' API URLs, and whether a model (its label) is this one's to report. */
  shares?(): { owned: string[]; peers: string[]; reports(modelLabel: string): boolean }
}

export function apiRoutes(ctx: ApiContext): Hono {
  const api = new Hono()
  api.use('/api/*', operatorOnly(ctx.operatorToken))
  api.get('/api/v1/windows', async (c) => {
    const name = (c.req.query('window') ?? '1m') as WindowName
    if (!Object.hasOwn(WINDOWS, name))
      return c.json({ error: `window: must be one of ${Object.keys(WINDOWS).join(', ')}` }, 400)
    const local = windowOf(ctx.agg, name)
    const shares = ctx.shares?.()
    if (!shares) return c.json(local)
    // Its own models' rows; asked by a client, the others' collectors' too: the whole mesh.
    const mine = {
      ...local,
      series: local.series.filter((s) => shares.reports(s.labels.model)),
      hosts: local.hosts.filter((h) => shares.reports(h.labels.model)),
    }
    if (isForwarded(c.req.raw.headers)) return c.json(mine)
    const theirs = await fromPeers<Window>(
      shares.peers,
      `/api/v1/windows?window=${name}`,
      c.req.header('authorization'),
    )
    return c.json(unionOfWindows(mine, theirs))
  })
  api.get('/api/v1/rollups', async (c) => {
    const step = (c.req.query('step') ?? '1m') as keyof typeof STEP_MS
    if (!Object.hasOwn(STEP_MS, step))
      return c.json({ error: `step: must be one of ${Object.keys(STEP_MS).join(', ')}` }, 400)
    const to = timeParam(c.req.query('to'), Date.now())
    const from = timeParam(c.req.query('from'), (to ?? Date.now()) - 3_600_000)
    if (from === null) return c.json({ error: 'from: must be milliseconds since the epoch or an ISO 8601 time' }, 400)
    if (to === null) return c.json({ error: 'to: must be milliseconds since the epoch or an ISO 8601 time' }, 400)
    if (to <= from) return c.json({ error: 'to: must be after from' }, 400)
    const steps = rollupSteps(await ctx.store.signals.minutes(from, to), from, to, STEP_MS[step])
    const shares = ctx.shares?.()
    if (!shares) return c.json({ from, to, step, steps })
    // Sharing the work: its own models' series, and (asked by a client) the others' collectors', step by step.
    const mine = steps.map((s) => ({ ...s, series: s.series.filter((x) => shares.reports(x.labels.model)) }))
    if (isForwarded(c.req.raw.headers)) return c.json({ from, to, step, steps: mine })
    const path = `/api/v1/rollups?step=${step}&from=${from}&to=${to}`
    const theirs = await fromPeers<{ steps: typeof steps }>(shares.peers, path, c.req.header('authorization'))
    return c.json({ from, to, step, steps: unionOfSteps([mine, ...theirs.map((t) => t.steps)]) })
  })
  api.get('/api/v1/requests/:id', async (c) => {
    const story = await ctx.store.events.story(c.req.param('id'))
    const found = story.request.length + story.batches.length + story.fallbacks.length + story.samples.length > 0
    if (!found) {
      // Another collector's model, maybe: the one that consumes it has its whole story.
      const forwarded = !isForwarded(c.req.raw.headers) && (await askPeers(ctx, c.req.raw))
      if (forwarded) return c.json(forwarded)
      return c.json(
        {
          error: `request_id: no story for ${c.req.param('id')}`,
          detail: NO_STORY,
        },
        404,
      )
    }
    const bodies = mayReadBodies(c.req.header('authorization'), ctx)
    return c.json({
      request_id: c.req.param('id'),
      // The hosts' part only: the gateway counted the request without keeping its own event.
      ...(story.request.length === 0 ? { note: NO_STORY } : {}),
      ...jsonSafe({ ...story, samples: story.samples.map((s) => (bodies ? s : withoutBodies(s))) }),
    })
  })
  api.get('/api/v1/drift', async (c) => {
    const shares = ctx.shares?.()
    if (!ctx.drift && !shares) return c.json({ error: 'drift: no model repository configured for this collector' }, 404)
    const model = c.req.query('model')
    const version = c.req.query('version')
    // Sharing the work: the versions of its own models (the samples of the others go to their collectors).
    const mine = (ctx.drift?.report() ?? []).filter(
      (v) =>
        (model === undefined || v.model === model) &&
        (version === undefined || v.version === version) &&
        (!shares || shares.reports(v.model)),
    )
    if (!shares || isForwarded(c.req.raw.headers)) return c.json({ generated_at: Date.now(), versions: mine })
    const theirs = await fromPeers<{ versions: typeof mine }>(
      shares.peers,
      pathOf(c.req.raw),
      c.req.header('authorization'),
    )
    const versions = unionBy([mine, ...theirs.map((t) => t.versions)], (v) => `${v.model}\u0000${v.version}`)
    return c.json({ generated_at: Date.now(), versions })
  })
  api.get('/api/v1/review', async (c) => {
    const status = c.req.query('status') ?? 'pending'
    if (status !== 'pending' && status !== 'labelled' && status !== 'all')
      return c.json({ error: 'status: must be pending, labelled or all' }, 400)
    const limit = Number(c.req.query('limit') ?? 100)
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      return c.json({ error: 'limit: must be a whole number from 1 to 1000' }, 400)
    const items = await ctx.store.review.items({ model: c.req.query('model'), status, limit })
    const bodies = mayReadBodies(c.req.header('authorization'), ctx)
    const mine = items.map((i) => (bodies ? reviewJson(i) : withoutBodies(reviewJson(i))))
    const shares = ctx.shares?.()
    if (!shares || isForwarded(c.req.raw.headers)) return c.json({ items: mine })
    // Sharing the work: each collector holds the items it took off the queue; the list is theirs together.
    const theirs = await fromPeers<{ items: typeof mine }>(
      shares.peers,
      pathOf(c.req.raw),
      c.req.header('authorization'),
    )
    const all = unionBy([mine, ...theirs.map((t) => t.items)], (i) => i.request_id)
    return c.json({ items: all.sort(byTimeThenId).slice(0, limit) })
  })
  api.post('/api/v1/review/:id/label', async (c) => {
    const body = await jsonObject(c.req.raw)
    if (!body) return c.json({ error: 'body: must be a JSON object { "label": ..., "by": "..." }' }, 400)
    if (body.label === undefined || body.label === null)
      return c.json({ error: 'label: required (a class name, number or any JSON value but null)' }, 400)
    if (typeof body.by !== 'string' || body.by.trim() === '')
      return c.json({ error: 'by: required, who labelled it' }, 400)
    const ingest = ctx.ingest()
    if (!ingest) return c.json({ error: 'not ready: the collector is not consuming yet' }, 503)
    const item = await ingest.exclusive(() =>
      ctx.store.review.label(c.req.param('id'), body.label, String(body.by).trim(), Date.now()),
    )
    if (item) return c.json(reviewJson(item))
    // Another collector took it off the queue, maybe: that one labels it.
    const theirs = !isForwarded(c.req.raw.headers) && (await askPeers(ctx, c.req.raw, { body }))
    if (theirs) return c.json(theirs)
    return c.json({ error: `request_id: no review item ${c.req.param('id')}` }, 404)
  })
  // The labelled payloads themselves, in one file: the operator's only.
  api.get('/api/v1/review/export', operatorRequired(ctx.operatorToken), async (c) => {
    const model = c.req.query('model')
    if (!model) return c.json({ error: 'model: required, the model whose labelled items to export' }, 400)
    const ingest = ctx.ingest()
    if (!ingest) return c.json({ error: 'not ready: the collector is not consuming yet' }, 503)
    const mine = await ctx.store.review.items({ model, status: 'labelled', limit: Number.MAX_SAFE_INTEGER })
    const shares = ctx.shares?.()
    // Passed on by the collector writing the file: the items themselves, for it to write.
    if (shares && isForwarded(c.req.raw.headers)) return c.json({ items: jsonSafe(mine) })
    const peers = shares?.peers ?? []
    const answers = await Promise.all(
      peers.map((p) =>
        fromPeer<{ items: ReviewItem[] }>(p, pathOf(c.req.raw), c.req.header('authorization'), { timeoutMs: 30_000 }),
      ),
    )
    // A file without a collector's items would look whole: none rather than part.
    const silent = peers.filter((_, i) => answers[i] === undefined)
    if (silent.length > 0)
      return c.json(
        { error: `export: collectors ${silent.join(', ')} did not answer; their items would be missing` },
        503,
      )
    const theirs = answers.filter((a) => a !== undefined)
    const items = unionBy([mine, ...theirs.map((t) => t.items)], (i) => i.sample.request_id)
    if (items.length === 0) return c.json({ error: `model: no labelled review items for ${model}` }, 404)
    const dir = await mkdtemp(join(tmpdir(), 'review-export-'))
    try {
      const file = join(dir, 'labelled.parquet')
      await ingest.exclusive(() => writeLabelled(ctx.store, items, file, ctx.baselineOf))
      return c.body(await readFile(file), 200, {
        'content-type': 'application/vnd.apache.parquet',
        'content-disposition': `attachment; filename="${subjectToken(model)}-labelled.parquet"`,
        'x-review-items': String(items.length),
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
  api.get('/api/v1/canary/:route', async (c) => {
    if (!ctx.meshFile) return c.json({ error: 'canary: this collector was started without a mesh.yaml' }, 404)
    const loaded = await loadMeshFile(ctx.meshFile)
    if (!loaded.ok)
      return c.json({ error: `mesh.yaml: ${loaded.issues.length} problems (npx mesh validate lists them)` }, 503)
    const route = loaded.mesh.config.routes.find((r) => r.name === c.req.param('route'))
    if (!route) return c.json({ error: `route: no route ${c.req.param('route')} in mesh.yaml` }, 404)
    if (!route.canary) return c.json({ error: `route: ${route.name} has no canary` }, 404)
    // Another collector's model: its analysis, from the one that has the traffic.
    if (ctx.shares && !ctx.shares().reports(route.model) && !isForwarded(c.req.raw.headers)) {
      const forwarded = await askPeers(ctx, c.req.raw)
      if (forwarded) return c.json(forwarded)
    }
    const walker = ctx.walker()
    // While a walk is under way, the analysis is the walk's: from its start.
    const since = walker?.walkingSince(route.name, route.canary.version) ?? 0
    return c.json({
      ...analyseCanary(ctx.agg, ctx.drift, { ...route, canary: route.canary }, Date.now(), since),
      walk: walker ? await walker.walkOf(route.name) : null,
    })
  })
  // The edits `npx mesh canary set|promote|rollback` make, through the same validated path.
  api.post('/api/v1/canary/:route/:action', async (c) => {
    if (!ctx.meshFile) return c.json({ error: 'canary: this collector was started without a mesh.yaml' }, 404)
    const action = c.req.param('action') as CanaryAction
    if (!CANARY_ACTIONS.includes(action))
      return c.json({ error: `action: must be one of ${CANARY_ACTIONS.join(', ')}` }, 404)
    const body = (await jsonObject(c.req.raw)) ?? {}
    const { status, body: answer } = await canaryAction(ctx.meshFile, c.req.param('route'), action, body)
    return c.json(answer, status)
  })
  api.get('/api/v1/pipeline', async (c) => c.json(await pipelineStatus(ctx)))
  return api
}

/** The pipeline's own health: what was applied and refused, lag, the newest event's age, the payload sink. */
export async function pipelineStatus(ctx: ApiContext, now = Date.now()) {
  const p = ctx.agg.pipeline
  const ingest = ctx.ingest()
  const sink = ctx.sink()
  return {
    ...p,
    ...(ctx.shares ? { shares: ctx.shares() } : {}),
    newest_event_age_s: p.newestEventTs > 0 ? (now - p.newestEventTs) / 1000 : null,
    lag_messages: Object.fromEntries(ingest?.pending ?? []),
    last_apply_at: ingest?.lastApplyAt ?? null,
    payload_sink: sink
      ? { dir: sink.opts.dir, written_since_start: sink.written, waiting: await ctx.store.samples.unexported() }
      : null,
  }
}

/** Why a request may have no story: most are only counted. */
const NO_STORY =
  "the mesh keeps a story for failed, slow (over the route's p99 objective), sampled, low-confidence and traced (x-mesh-trace: 1, where the route allows it) requests; any other request is counted in its route's signals only"

/** The first answer another collector gives to `req` (a POST with `question.body`), or undefined. */
async function askPeers(ctx: ApiContext, req: Request, question: PeerQuestion = {}): Promise<unknown> {
  for (const peer of ctx.shares?.().peers ?? []) {
    const answer = await fromPeer(peer, pathOf(req), req.headers.get('authorization'), question)
    if (answer !== undefined) return answer
  }
  return undefined
}

/** The path and query `req` asked, to ask another collector the same. */
function pathOf(req: Request): string {
  const { pathname, search } = new URL(req.url)
  return `${pathname}${search}`
}

/** The review queue's order: oldest first, then by request id (the store's). */
const byTimeThenId = (a: { ts: number; request_id: string }, b: { ts: number; request_id: string }) =>
  a.ts - b.ts || (a.request_id < b.request_id ? -1 : a.request_id > b.request_id ? 1 : 0)

/** The fields of a sample that hold the captured bodies (masked, but still a person's data). */
/** Whether this caller may read sampled bodies: the operator token, checked as a write's is. */
const mayReadBodies = (authorization: string | undefined, ctx: ApiContext) =>
  isOperator(authorization, ctx.operatorToken)

/** A sample (or review item) without its bodies, marked so a reader knows they exist but were withheld. */
function withoutBodies<T extends { request?: unknown; response?: unknown }>(
  row: T,
): Omit<T, 'request' | 'response'> & { redacted: true } {
  const { request: _request, response: _response, ...rest } = row
  return { ...rest, redacted: true }
}

/** A review item as the API shows it: the sample's fields, flat, and its label. */
function reviewJson(item: ReviewItem) {
  const { v: _v, kind: _kind, ...sample } = item.sample
  return { ...sample, label: item.label, labelled_by: item.labelled_by, labelled_at: item.labelled_at }
}

/** The request's body as a JSON object; null when it is not one. */
async function jsonObject(req: Request): Promise<Record<string, unknown> | null> {
  try {
    const body: unknown = await req.json()
    return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : null
  } catch {
    return null
  }
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
