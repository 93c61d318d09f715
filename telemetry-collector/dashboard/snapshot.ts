/**
 * @module
 * What the dashboard shows, computed on the server from the collector's own
 * state: the overview (every route against its SLO, alerts, the pipeline's
 * health) and one route's view (stable against canary, the verdict and the
 * walk, drift, hosts). The page only draws these; the numbers are the API's.
 */
import { meshFileReader, meshHistory, type PoolStatus, readAutoscaleStatus, type Route } from '@model-mesh/mesh-config'
import { hostKey, type MinuteEntry } from '../state/aggregator.ts'
import { agentStatus, TELEMETRY_STALE_S } from '@model-mesh/contracts'
import { activeAlerts, increaseTracker, type ActiveAlert, type AlertExtras } from '../analysis/alerts.ts'
import { pipelineStatus, type ApiContext } from '../serve/api.ts'
import { analyseCanary } from '../analysis/canary-stats.ts'
import { errorBudget, type ErrorBudget } from '../analysis/error-budget.ts'
import { SignalBucket, summarise, type SignalSummary } from '../state/signals.ts'
import { signalBuckets, STEP_MS, windowOf } from '../state/windows.ts'
import { RANGES, type RangeName } from './ranges.ts'
import type { StoryRow } from '../store/events.ts'

/** The "now" figures: the last minute, from the 10-second buckets. */
const NOW_WINDOW_MS = 60_000

/**
 * The last minute's buckets, and the seconds they cover: as in the API's
 * windows, the bucket holding the minute's start counts whole, and rates
 * are over the span from its start.
 */
function lastMinute(api: ApiContext, now: number): { entries: MinuteEntry[]; seconds: number } {
  const { from, entries } = signalBuckets(api.agg, now - NOW_WINDOW_MS, now, true)
  return { entries, seconds: Math.max(1, (now - from) / 1000) }
}

export type RouteStatus = 'ok' | 'warning' | 'critical' | 'idle'

export interface RouteRow {
  name: string
  model: string
  stable: { version: string }
  canary: { version: string; weight: number; mode: 'manual' | 'auto' } | null
  slo: { p99_ms: number; availability: number; window_days: number } | null
  now: SignalSummary
  budget: (ErrorBudget & { covered_days: number }) | null
  saturation: { queue_depth: number; busy_instances: number; instances: number }
  status: RouteStatus
  /** Why it has that colour, in words. */
  reasons: string[]
}

/** A time series over the picked range, one point per step. */
export interface Series {
  t: number[]
  rate: number[]
  error_ratio: (number | null)[]
  p99: (number | null)[]
}

export interface Overview {
  generated_at: number
  range: RangeName
  routes: (RouteRow & { series: Series })[]
  alerts: ActiveAlert[]
  pipeline: Awaited<ReturnType<typeof pipelineHealth>>
}

export interface DashboardSources {
  api: ApiContext
  /** The nodes' telemetry agents, asked for their spool and drops. */
  agents: string[]
}

/**
 * mesh.yaml's routes; none from an invalid file. Validating it takes a
 * good part of a second (the repository is read too), so it is validated
 * again only when its text changed, or after MESH_TTL_MS (the repository
 * may change under the same text): mesh-config's meshFileReader.
 */
interface MeshRead {
  routes: Route[]
  /** Where its apply history is; null while the file is not valid. */
  stateDir: string | null
}

const MESH_TTL_MS = 10_000
const readers = new Map<string, ReturnType<typeof meshFileReader>>()

async function meshRead(meshFile: string | undefined): Promise<MeshRead> {
  if (!meshFile) return { routes: [], stateDir: null }
  let look = readers.get(meshFile)
  if (!look) readers.set(meshFile, (look = meshFileReader(meshFile, MESH_TTL_MS)))
  const l = await look()
  return l.ok ? { routes: l.mesh.config.routes, stateDir: l.mesh.stateDir } : { routes: [], stateDir: null }
}

const meshRoutes = async (meshFile: string | undefined) => (await meshRead(meshFile)).routes

/** The newest applied changes that name the route (canary set, promote, rollback, by hand, from the page or by a walk). */
const CHANGES_SHOWN = 20

async function routeChanges(meshFile: string | undefined, route: string): Promise<RouteChange[]> {
  const { stateDir } = await meshRead(meshFile)
  if (!stateDir) return []
  const names = new RegExp(`(^|\\s)${route.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`)
  // The nodes' shared history when the mesh runs as several.
  return (await meshHistory(stateDir))
    .filter((e) => names.test(e.action))
    .slice(-CHANGES_SHOWN)
    .reverse()
    .map((e) => ({ id: e.id, time: e.time, by: e.by, action: e.action }))
}

/** The pools that serve `r` (stable, canary, fallback) that the local autoscaler scales. */
async function routePools(meshFile: string | undefined, r: Route): Promise<PoolStatus[]> {
  const { stateDir } = await meshRead(meshFile)
  if (!stateDir) return []
  const hosts = new Set([...r.stable.hosts, ...(r.canary?.hosts ?? []), ...(r.fallback?.hosts ?? [])])
  return readAutoscaleStatus(stateDir).filter((p) => hosts.has(p.host))
}

export interface RouteChange {
  id: number
  time: string
  by: string
  action: string
}

/** One computation per key shared by every viewer for `ttlMs` (each open page asks every second). */
const memo = new WeakMap<ApiContext, Map<string, { at: number; value: Promise<unknown> }>>()

function shared<T>(api: ApiContext, key: string, ttlMs: number, now: number, compute: () => Promise<T>): Promise<T> {
  let byKey = memo.get(api)
  if (!byKey) memo.set(api, (byKey = new Map()))
  const hit = byKey.get(key)
  if (hit && now - hit.at < ttlMs && now >= hit.at) return hit.value as Promise<T>
  const value = compute()
  byKey.set(key, { at: now, value })
  value.catch(() => byKey.delete(key))
  return value
}

/** The error budget moves slowly (a 28-day window): summed again every 10 s. */
const BUDGET_TTL_MS = 10_000
/** Alerts and the pipeline's health: at most once a second, whatever the number of viewers. */
const LIVE_TTL_MS = 900

/**
 * The views as every viewer shares them: computed at most once per
 * `ttlMs` (the stream's refresh) whatever the number of open pages. A
 * route's view is keyed only once the route is known to exist, so no
 * request can grow the cache.
 */
export const sharedOverview = (src: DashboardSources, range: RangeName, ttlMs: number, now = Date.now()) =>
  shared(src.api, `overview:${range}`, ttlMs, now, () => overview(src, range, now))

export async function sharedRouteView(
  src: DashboardSources,
  route: string,
  range: RangeName,
  ttlMs: number,
  now = Date.now(),
): Promise<RouteView | null> {
  if (!(await meshRoutes(src.api.meshFile)).some((r) => r.name === route)) return null
  return shared(src.api, `route:${range}:${route}`, ttlMs, now, () => routeView(src, route, range, now))
}

export async function overview(src: DashboardSources, range: RangeName, now = Date.now()): Promise<Overview> {
  const routes = await meshRoutes(src.api.meshFile)
  const alerts = await alertsOf(src, routes, now)
  const series = await rangeSeries(src.api, range, now)
  const minute = lastMinute(src.api, now)
  const rows = await Promise.all(
    routes.map(async (r) => ({
      ...(await routeRow(src.api, r, alerts, minute, now)),
      series: series.get(r.name)?.get('') ?? emptySeries(series.t),
    })),
  )
  return { generated_at: now, range, routes: rows, alerts, pipeline: await pipelineHealth(src, now) }
}

const alertsOf = (src: DashboardSources, routes: Route[], now: number) =>
  shared(src.api, `alerts:${routes.map((r) => r.name).join(',')}`, LIVE_TTL_MS, now, async () => {
    const api = src.api
    // The store's sums for the long burn-rate windows (6 h, 3 d: each a scan of the rollups) move slowly: shared per window like the budget's.
    const store = {
      signals: {
        routeTotals: (from: number, to: number) =>
          shared(api, `totals:${Math.round((to - from) / 60_000)}`, BUDGET_TTL_MS, now, () =>
            api.store.signals.routeTotals(from, to),
          ),
      },
      walks: api.store.walks,
    }
    return activeAlerts({ ...api, store }, routes, now, (await agentsOf(src, now)).extras)
  })

/** Per collector: the agents' drops over the last 10 minutes, and whether they took any event within the staleness window. */
const agentTrackers = new WeakMap<
  ApiContext,
  { dropped: ReturnType<typeof increaseTracker>; received: ReturnType<typeof increaseTracker> }
>()

/**
 * Every agent's status, and what the alerts learn from them: drops, and
 * whether events are coming in at all. An agent that took no event for
 * TELEMETRY_STALE_S means no traffic, not a stale pipeline (the rule's
 * "while the gateway serves" condition, as far as the collector can see it).
 */
function agentsOf(src: DashboardSources, now: number) {
  return shared(src.api, 'agents', LIVE_TTL_MS, now, async () => {
    const agents = await Promise.all(src.agents.map((url) => agentStatus(url)))
    const reachable = agents.filter((a): a is Extract<typeof a, { received: number }> => !('error' in a))
    let t = agentTrackers.get(src.api)
    if (!t)
      agentTrackers.set(
        src.api,
        (t = { dropped: increaseTracker(), received: increaseTracker(TELEMETRY_STALE_S * 1000) }),
      )
    const sum = (f: (a: (typeof reachable)[number]) => number) => reachable.reduce((n, a) => n + f(a), 0)
    const extras: AlertExtras =
      reachable.length > 0
        ? {
            droppedRecently: t.dropped(
              sum((a) => Object.values(a.dropped).reduce((x, y) => x + y, 0)),
              now,
            ),
            gatewayServing:
              t.received(
                sum((a) => a.received),
                now,
              ) > 0,
          }
        : {}
    return { agents, extras }
  })
}

/** The collector's pipeline figures and each agent's own (spooled and dropped events). */
export async function pipelineHealth(src: DashboardSources, now = Date.now()) {
  const p = await pipelineStatus(src.api, now)
  return {
    newest_event_age_s: p.newest_event_age_s,
    lag_messages: Object.values(p.lag_messages).reduce((a, b) => a + b, 0),
    applied: Object.values(p.applied).reduce((a, b) => a + b, 0),
    refused: Object.values(p.refused).reduce((a, b) => a + b, 0),
    redelivered: p.redelivered,
    last_apply_at: p.last_apply_at,
    payload_sink: p.payload_sink,
    agents: (await agentsOf(src, now)).agents,
  }
}

async function routeRow(
  api: ApiContext,
  r: Route,
  alerts: ActiveAlert[],
  { entries, seconds }: ReturnType<typeof lastMinute>,
  now: number,
): Promise<RouteRow> {
  const nowSummary = summariseEntries(
    entries.filter((e) => e.labels.route === r.name),
    seconds,
  )
  const budget = r.slo ? await budgetOf(api, r.name, r.slo, now) : null
  const saturation = { queue_depth: 0, busy_instances: 0, instances: 0 }
  const model = api.agg.labels.model(r.model)
  for (const s of api.agg.saturation.values()) {
    if (s.model !== model) continue
    saturation.queue_depth += s.queue_depth
    saturation.busy_instances += s.busy_instances
    saturation.instances += s.instances
  }
  const mine = alerts.filter((a) => a.route === r.name)
  const { status, reasons } = routeStatus(nowSummary, r.slo ?? null, budget, mine)
  return {
    name: r.name,
    model: r.model,
    stable: { version: r.stable.version },
    canary: r.canary ? { version: r.canary.version, weight: r.canary.weight, mode: r.canary.analysis.mode } : null,
    slo: r.slo ?? null,
    now: nowSummary,
    budget,
    saturation,
    status,
    reasons,
  }
}

/**
 * The error budget over the objective's window, or as much of it as the
 * store keeps (minute rollups: 30 days by default); `covered_days` says which.
 */
async function budgetOf(
  api: ApiContext,
  route: string,
  slo: NonNullable<Route['slo']>,
  now: number,
): Promise<ErrorBudget & { covered_days: number }> {
  const days = Math.min(slo.window_days, api.store.retention.rollupDays)
  const totals = await shared(api, `budget:${days}`, BUDGET_TTL_MS, now, () =>
    api.store.signals.routeTotals(now - days * 86_400_000, now + 60_000),
  )
  return { ...errorBudget(slo, totals.get(route) ?? { requests: 0, failed: 0 }), covered_days: days }
}

/** A route's colour: critical on a page alert or a spent budget, warning on a ticket alert, p99 over objective or a budget under a quarter (an info alert is listed on top, not a colour). */
export function routeStatus(
  now: SignalSummary,
  slo: RouteRow['slo'],
  budget: ErrorBudget | null,
  alerts: ActiveAlert[],
): { status: RouteStatus; reasons: string[] } {
  const critical: string[] = alerts.filter((a) => a.severity === 'page').map((a) => a.summary)
  const warning: string[] = alerts.filter((a) => a.severity === 'ticket').map((a) => a.summary)
  if (budget?.remaining != null && budget.remaining <= 0)
    critical.push(`error budget spent (${Math.round(-budget.remaining * 100)}% over)`)
  else if (budget?.remaining != null && budget.remaining < 0.25)
    warning.push(`${Math.round(budget.remaining * 100)}% of the error budget left`)
  if (slo && now.latency_ms.p99 !== null && now.latency_ms.p99 > slo.p99_ms)
    warning.push(`p99 ${now.latency_ms.p99} ms over the ${slo.p99_ms} ms objective in the last minute`)
  if (critical.length > 0) return { status: 'critical', reasons: [...critical, ...warning] }
  if (warning.length > 0) return { status: 'warning', reasons: warning }
  if (now.requests === 0) return { status: 'idle', reasons: ['no requests in the last minute'] }
  return { status: 'ok', reasons: [] }
}

function summariseEntries(entries: Iterable<MinuteEntry>, seconds: number): SignalSummary {
  const b = new SignalBucket()
  for (const e of entries) b.merge(e.bucket)
  return summarise(b, seconds)
}

/**
 * Each route's series over the range, in total ('') and per variant:
 * counts summed by the store (no sketch read, so 30 days are one scan);
 * p99 is left empty here (latencySeries fills it for one route's view).
 * Cached for a fraction of a step: the rollups change only as minutes pass.
 */
interface RangeSeries extends Map<string, Map<string, Series>> {
  t: number[]
}

export const rangeSeries = (api: ApiContext, range: RangeName, now: number): Promise<RangeSeries> =>
  shared(api, `series:${range}`, RANGES[range].cacheMs, now, () => computeSeries(api, range, now))

/** The range's steps: whole steps, the last one holding `now`. */
function stepsOf(range: RangeName, now: number): { from: number; to: number; stepMs: number; t: number[] } {
  const stepMs = STEP_MS[RANGES[range].step]
  const to = now - (now % stepMs) + stepMs
  const from = to - Math.ceil(RANGES[range].ms / stepMs) * stepMs
  const t: number[] = []
  for (let s = from; s < to; s += stepMs) t.push(s)
  return { from, to, stepMs, t }
}

async function computeSeries(api: ApiContext, range: RangeName, now: number): Promise<RangeSeries> {
  const { from, to, stepMs, t } = stepsOf(range, now)
  const counts = new Map<string, Map<string, { requests: number[]; failed: number[] }>>()
  for (const row of await api.store.signals.stepTotals(from, to, stepMs)) {
    let byKey = counts.get(row.route)
    if (!byKey) counts.set(row.route, (byKey = new Map()))
    for (const key of ['', row.variant]) {
      let c = byKey.get(key)
      if (!c) byKey.set(key, (c = { requests: t.map(() => 0), failed: t.map(() => 0) }))
      c.requests[row.step]! += row.requests
      c.failed[row.step]! += row.failed
    }
  }
  // The step under way is a rate over its elapsed part (the rollups API divides by the whole step): a live line does not dip at its end.
  const seconds = t.map((start) => Math.min(stepMs, Math.max(1000, now - start)) / 1000)
  const out = new Map() as RangeSeries
  out.t = t
  for (const [route, byKey] of counts) {
    const m = new Map<string, Series>()
    for (const [key, c] of byKey) {
      m.set(key, {
        t,
        rate: c.requests.map((n, i) => Math.round((n / seconds[i]!) * 1000) / 1000),
        error_ratio: c.requests.map((n, i) => (n > 0 ? c.failed[i]! / n : null)),
        p99: t.map(() => null),
      })
    }
    out.set(route, m)
  }
  return out
}

/**
 * A step's p99 never changes once its minutes have settled (late events
 * land within minutes, a replay after an outage at most within the hours
 * the agent spooled): those older than this are computed once and kept.
 */
const SETTLED_MS = 2 * 3_600_000
/** Minutes decoded between yields (a few hundred rows a series): decoding 30 days of sketches must not hold the collector's event loop for seconds. */
const PAGE_MS = 6 * 3_600_000

const settledP99 = new WeakMap<ApiContext, Map<string, number | null>>()

/** One route's p99 per step and variant over the range, from the minute sketches merged per step. */
async function latencySeries(
  api: ApiContext,
  route: string,
  range: RangeName,
  now: number,
): Promise<Map<string, (number | null)[]>> {
  const { from, to, stepMs, t } = stepsOf(range, now)
  let cache = settledP99.get(api)
  if (!cache) settledP99.set(api, (cache = new Map()))
  const key = (variant: string, start: number) => `${route}\u0000${variant}\u0000${stepMs}\u0000${start}`
  const settled = (start: number) => start + stepMs <= now - SETTLED_MS
  // Only steps not settled and kept need their sketches: after the first look, the last two hours.
  const firstOpen = t.findIndex((start) => !settled(start) || !cache.has(key('stable', start)))
  const readFrom = firstOpen < 0 ? to : t[firstOpen]!
  const merged = new Map<string, SignalBucket>()
  for await (const page of api.store.signals.routeMinutes(route, readFrom, to, PAGE_MS)) {
    for (const e of page) {
      const start = from + Math.floor((e.minute - from) / stepMs) * stepMs
      const k = key(e.labels.variant, start)
      let b = merged.get(k)
      if (!b) merged.set(k, (b = new SignalBucket()))
      b.merge(e.bucket)
    }
    await new Promise((r) => setImmediate(r))
  }
  const p99 = (b: SignalBucket | undefined) =>
    b && b.requests > 0 ? Math.round(b.sketch.getValueAtQuantile(0.99) * 1000) / 1000 : null
  const out = new Map<string, (number | null)[]>()
  for (const variant of ['stable', 'canary']) {
    out.set(
      variant,
      t.map((start) => {
        const k = key(variant, start)
        if (start < readFrom) return cache.get(k) ?? null
        const v = p99(merged.get(k))
        if (settled(start)) cache.set(k, v)
        return v
      }),
    )
  }
  // What fell out of every range (older than the longest) is dropped.
  if (cache.size > 10_000)
    for (const k of cache.keys()) if (Number(k.split('\u0000')[3]) < now - 31 * 86_400_000) cache.delete(k)
  return out
}

const emptySeries = (t: number[]): Series => ({
  t,
  rate: t.map(() => 0),
  error_ratio: t.map(() => null),
  p99: t.map(() => null),
})

export interface VariantPanel {
  variant: 'stable' | 'canary'
  version: string
  weight: number
  now: SignalSummary
  mean_confidence: number | null
  /** The version's predicted scores in the drift window against its baseline. */
  predictions: { edges: number[]; baseline: number[]; current: number[] } | null
  series: Series
}

export interface RouteView {
  generated_at: number
  range: RangeName
  route: RouteRow
  variants: VariantPanel[]
  analysis: (ReturnType<typeof analyseCanary> & { walk: unknown }) | null
  drift: ReturnType<NonNullable<ApiContext['drift']>['report']>
  hosts: {
    host: string
    version: string
    queue_depth: number
    busy_instances: number
    instances: number
    age_s: number
    batch_fill_ratio: number | null
    mean_queue_wait_ms: number | null
    batches: number
  }[]
  alerts: ActiveAlert[]
  /** mesh.yaml's applied changes to this route, newest first. */
  changes: RouteChange[]
  /** The route's autoscaled pools as the local autoscaler last wrote them: replicas, signal, target, last decision. */
  autoscale: PoolStatus[]
  /** The route's recent stories (requests kept whole): failed first, then slow, then the rest. */
  stories: StoryRow[]
}

/** The stories a route view lists: the last hour's, at most this many. */
const STORIES_SHOWN = 20

export async function routeView(
  src: DashboardSources,
  name: string,
  range: RangeName,
  now = Date.now(),
): Promise<RouteView | null> {
  const api = src.api
  const routes = await meshRoutes(api.meshFile)
  const r = routes.find((x) => x.name === name)
  if (!r) return null
  // The overview's alerts (one evaluation a refresh for every view), those of this route and its model.
  const alerts = (await alertsOf(src, routes, now)).filter((a) => a.route === r.name || a.model === r.model)
  const series = await rangeSeries(api, range, now)
  const latency = await shared(api, `latency:${range}:${r.name}`, RANGES[range].cacheMs, now, () =>
    latencySeries(api, r.name, range, now),
  )
  const minute = lastMinute(api, now)
  const { entries, seconds } = minute
  const drift =
    api.drift
      ?.report(now)
      .filter((v) => v.model === r.model && (v.version === r.stable.version || v.version === r.canary?.version)) ?? []
  const variants: VariantPanel[] = (r.canary ? (['stable', 'canary'] as const) : (['stable'] as const)).map(
    (variant) => {
      const version = variant === 'stable' ? r.stable.version : r.canary!.version
      const d = drift.find((v) => v.version === version)
      return {
        variant,
        version,
        weight: variant === 'canary' ? r.canary!.weight : 10_000 - (r.canary?.weight ?? 0),
        now: summariseEntries(
          entries.filter((e) => e.labels.route === r.name && e.labels.variant === variant),
          seconds,
        ),
        mean_confidence: d?.meanConfidence ?? null,
        predictions: d?.prediction?.histogram ?? null,
        series: {
          ...(series.get(r.name)?.get(variant) ?? emptySeries(series.t)),
          p99: latency.get(variant) ?? series.t.map(() => null),
        },
      }
    },
  )
  const walker = api.walker()
  const analysis = r.canary
    ? {
        ...analyseCanary(
          api.agg,
          api.drift,
          { ...r, canary: r.canary },
          now,
          walker?.walkingSince(r.name, r.canary.version) ?? 0,
        ),
        walk: walker ? await walker.walkOf(r.name) : null,
      }
    : null
  // Batches over the last 5 minutes per host instance and version; saturation as each host last said.
  const batches = windowOf(api.agg, '5m', now).hosts
  const model = api.agg.labels.model(r.model)
  const batchesOf = new Map(batches.map((h) => [hostKey(h.labels), h]))
  const hosts = [...api.agg.saturation.values()]
    .filter((s) => s.model === model)
    .map((s) => {
      const b = batchesOf.get(hostKey(s))
      return {
        host: s.host,
        version: s.version,
        queue_depth: s.queue_depth,
        busy_instances: s.busy_instances,
        instances: s.instances,
        age_s: Math.max(0, (now - s.ts) / 1000),
        batch_fill_ratio: b?.batch_fill_ratio ?? null,
        mean_queue_wait_ms: b?.mean_queue_wait_ms ?? null,
        batches: b?.batches ?? 0,
      }
    })
    .sort((a, b) => a.host.localeCompare(b.host) || a.version.localeCompare(b.version))
  return {
    generated_at: now,
    range,
    route: await routeRow(api, r, alerts, minute, now),
    variants,
    analysis,
    drift,
    hosts,
    alerts,
    changes: await routeChanges(api.meshFile, r.name),
    autoscale: await routePools(api.meshFile, r),
    stories: await api.store.events.recentStories(r.name, now - 3_600_000, STORIES_SHOWN),
  }
}
