/**
 * @module
 * The collector's state in memory: all-time totals (what /metrics reports),
 * minute rollups (what the store keeps 30 days), 10-second buckets (the
 * short windows), host batches and saturation, and the pipeline's own
 * counts. Applying an event only changes memory and marks what changed; the
 * store writes the marked rows together with the stream sequences in one
 * transaction. Buckets are by event time, so a replay after an outage lands
 * in the minutes the requests happened.
 */
import {
  FALLBACK_REASONS,
  type GoldenSignalEvent,
  type HostBatchEvent,
  type HostFallbackEvent,
  type PayloadSampleEvent,
  type RefusalReason,
  type RequestStatsEvent,
  type ReviewItemEvent,
  type TelemetryEvent,
  codeClass,
  type CodeClass,
} from '@model-mesh/contracts'
import { HostBucket, saturationOf, type HostLabels, type Saturation } from './host-signals.ts'
import { addStatsToTotal, addToTotal, newTotal, SignalBucket, type SeriesLabels, type SeriesTotal } from './signals.ts'

export const MINUTE_MS = 60_000
export const TEN_S_MS = 10_000
/** Minute rollups kept in memory (for the 5 min and 1 h windows); older ones are read from the store when a late event needs them. */
export const MEMORY_HORIZON_MS = 2 * 3_600_000
/** How long the 10-second buckets are kept. */
export const SHORT_HORIZON_MS = 2 * MINUTE_MS

export const OTHER = 'other'
const ROUTE = /^[a-z0-9][a-z0-9_-]*$/
/** A plain version token: digits only, so it is never a path or a label of any length. */
export const VERSION_TOKEN = /^[0-9]{1,9}$/
const VARIANTS = new Set(['', 'stable', 'canary'])
/** Without a list of known values, a value is kept only up to this length (then `other`). */
const MAX_LABEL_CHARS = 64

/**
 * The label values mesh.yaml names. A dimension left out (a collector
 * started without mesh.yaml, in tests) keeps any value of the right shape
 * and length; the collector mesh.yaml configures passes them all.
 */
export interface KnownLabels {
  models: Iterable<string>
  routes?: Iterable<string>
  /** Host names and `<address>:<port>` of every host instance (what a host reports as `host`). */
  hosts?: Iterable<string>
  /** Versions per model: the repository's and those mesh.yaml's routes name. */
  versions?: (model: string) => ReadonlySet<string>
}

/**
 * Label values a client cannot multiply: every value taken from an event is
 * one mesh.yaml names (or the model-host's closed set of fallback reasons),
 * else `other`. Lookups are own-key only (Set/Map), so `constructor` is just an unknown name.
 */
export class LabelPolicy {
  readonly #models: Set<string>
  #routes: Set<string> | undefined
  #hosts: Set<string> | undefined
  #versions: KnownLabels['versions']
  constructor(known: KnownLabels | Iterable<string>) {
    const k: KnownLabels = Symbol.iterator in known ? { models: known as Iterable<string> } : (known as KnownLabels)
    this.#models = new Set(k.models)
    this.update(k)
  }
  /** mesh.yaml changed (a route added, a host): later events are labelled by the new lists. */
  update(known: Omit<KnownLabels, 'models'>): void {
    this.#routes = known.routes && new Set(known.routes)
    this.#hosts = known.hosts && new Set(known.hosts)
    this.#versions = known.versions
  }
  model(m: string): string {
    return this.#models.has(m) ? m : OTHER
  }
  /** `model` as labelled already: a model the mesh does not know has no versions worth a series (and a client may have named it). */
  version(model: string, version: string): string {
    if (version === '') return version
    if (model === OTHER || !VERSION_TOKEN.test(version)) return OTHER
    return !this.#versions || this.#versions(model).has(version) ? version : OTHER
  }
  /** Whether a model version is one mesh.yaml knows (the only ones whose files are read: baselines). */
  knownVersion(model: string, version: string): boolean {
    return this.model(model) === model && version !== '' && this.version(model, version) === version
  }
  route(route: string): string {
    if (route === '') return route
    if (this.#routes) return this.#routes.has(route) ? route : OTHER
    return ROUTE.test(route) && route.length <= MAX_LABEL_CHARS ? route : OTHER
  }
  hostName(host: string): string {
    if (this.#hosts) return this.#hosts.has(host) ? host : OTHER
    return host.length <= MAX_LABEL_CHARS && /^[A-Za-z0-9_.:-]*$/.test(host) ? host : OTHER
  }
  /** A host's fallback or refusal reason: the closed set model-host emits. */
  reason(reason: string): string {
    return FALLBACK_REASON_SET.has(reason) ? reason : OTHER
  }
  series(e: { route: string; model: string; version: string; variant: string }): SeriesLabels {
    const model = this.model(e.model)
    return {
      route: this.route(e.route),
      model,
      version: this.version(model, e.version),
      variant: VARIANTS.has(e.variant) ? e.variant : OTHER,
    }
  }
  host(e: { host: string; model: string; version: string }): HostLabels {
    const model = this.model(e.model)
    return { host: this.hostName(e.host), model, version: this.version(model, e.version) }
  }
}

const FALLBACK_REASON_SET: ReadonlySet<string> = new Set(FALLBACK_REASONS)

/**
 * Whether `e` adds to the counts. Records do; a request, batch or fallback
 * event is a story, counted in a record, unless an older producer sent it
 * (`every_request`, `every_event`: an event for each, and no records).
 */
function counts(e: TelemetryEvent): boolean {
  switch (e.kind) {
    case 'request':
      return e.kept.includes('every_request')
    case 'host_batch':
    case 'host_fallback':
      return e.kept.includes('every_event')
    default:
      return true
  }
}

export const seriesKey = (l: SeriesLabels) => `${l.route}\x1f${l.model}\x1f${l.version}\x1f${l.variant}`
export const hostKey = (l: HostLabels) => `${l.host}\x1f${l.model}\x1f${l.version}`
const totalKey = (l: SeriesLabels, code: CodeClass) => `${seriesKey(l)}\x1f${code}`
const bucketKey = (start: number, key: string) => `${start}\x1f${key}`
export const minuteOf = (ts: number) => ts - (ts % MINUTE_MS)

export interface MinuteEntry {
  minute: number
  labels: SeriesLabels
  bucket: SignalBucket
}
export interface HostMinuteEntry {
  minute: number
  labels: HostLabels
  bucket: HostBucket
}
export interface TotalEntry {
  labels: SeriesLabels
  code: CodeClass
  total: SeriesTotal
}
export interface HostTotalEntry {
  labels: HostLabels
  bucket: HostBucket
}

/** Why the collector skipped events: the decoder's reasons, a message inflating past its bound, or the store refusing an event. */
export type PipelineRefusal = RefusalReason | 'too_large' | 'store_refused'

/** Pipeline counters, persisted with the rest so they survive restarts. */
export interface PipelineTotals {
  applied: Record<string, number>
  refused: Record<string, number>
  /** Messages delivered more than once. */
  redelivered: number
  /** Messages already applied (redelivered after a crash), acknowledged without applying them again. */
  skipped: number
  /** Newest event time seen (ms). */
  newestEventTs: number
}

/** Raw events kept for one request's story (a shorter retention than the rollups). */
export interface RawEvents {
  requests: GoldenSignalEvent[]
  batches: HostBatchEvent[]
  fallbacks: HostFallbackEvent[]
  samples: PayloadSampleEvent[]
  /** Review items: kept until labelled (and after), not by retention. */
  reviews: ReviewItemEvent[]
}

/** A fresh set of empty event lists. */
export const noRawEvents = (): RawEvents => ({ requests: [], batches: [], fallbacks: [], samples: [], reviews: [] })

export class Aggregator {
  readonly labels: LabelPolicy
  readonly totals = new Map<string, TotalEntry>()
  readonly minutes = new Map<string, MinuteEntry>()
  readonly tens = new Map<string, MinuteEntry>()
  readonly hostMinutes = new Map<string, HostMinuteEntry>()
  readonly hostTotals = new Map<string, HostTotalEntry>()
  readonly saturation = new Map<string, Saturation>()
  pipeline: PipelineTotals = { applied: {}, refused: {}, redelivered: 0, skipped: 0, newestEventTs: 0 }
  /**
   * Memory holds every minute rollup from this minute on (what the store
   * loaded, and all applied since); an event for an older minute merges into
   * the stored row, read first.
   */
  memoryFloor = 0
  /** Called with every sample event applied, in stream order (the drift monitor). */
  onSample: (e: PayloadSampleEvent) => void = () => {}

  /** Keys changed since the last `takeChanges`. */
  #dirty = {
    totals: new Set<string>(),
    minutes: new Set<string>(),
    hostMinutes: new Set<string>(),
    hostTotals: new Set<string>(),
    saturation: new Set<string>(),
  }
  #raw: RawEvents = noRawEvents()

  constructor(known: KnownLabels | Iterable<string>) {
    this.labels = new LabelPolicy(known)
  }

  apply(e: TelemetryEvent): void {
    this.pipeline.applied[e.kind] = (this.pipeline.applied[e.kind] ?? 0) + 1
    if (e.ts > this.pipeline.newestEventTs) this.pipeline.newestEventTs = e.ts
    switch (e.kind) {
      case 'request':
        if (counts(e)) this.#request(e)
        this.#raw.requests.push(e)
        return
      case 'request_stats':
        return this.#requestStats(e)
      case 'sample':
        this.#raw.samples.push(e)
        this.onSample(e)
        return
      case 'review':
        this.#raw.reviews.push(e)
        return
      case 'host_batch': {
        if (counts(e)) {
          const labels = this.labels.host(e)
          this.#hostMinute(labels, e.ts).addBatch(e)
          this.#hostTotal(labels).addBatch(e)
        }
        this.#raw.batches.push(e)
        return
      }
      case 'host_fallback': {
        if (counts(e)) {
          const labels = this.labels.host(e)
          const labelled = { ...e, reason: this.labels.reason(e.reason) }
          this.#hostMinute(labels, e.ts).addFallback(labelled)
          this.#hostTotal(labels).addFallback(labelled)
        }
        this.#raw.fallbacks.push(e)
        return
      }
      case 'host_stats': {
        const labels = this.labels.host(e)
        const reason = (r: string) => this.labels.reason(r)
        this.#hostMinute(labels, e.ts).addStats(e, reason)
        this.#hostTotal(labels).addStats(e, reason)
        return
      }
      case 'host_saturation': {
        const s = saturationOf(e, this.labels.host(e))
        const prev = this.saturation.get(hostKey(s))
        if (!prev || prev.ts <= s.ts) {
          this.restoreSaturation(s)
          this.#dirty.saturation.add(hostKey(s))
        }
      }
    }
  }

  refuse(reason: PipelineRefusal, n = 1): void {
    this.pipeline.refused[reason] = (this.pipeline.refused[reason] ?? 0) + n
  }

  /** Minute rollups late events need that memory does not hold: the store loads them first. */
  missingMinutes(events: TelemetryEvent[]): {
    requests: { minute: number; labels: SeriesLabels }[]
    hosts: { minute: number; labels: HostLabels }[]
  } {
    const requests = new Map<string, { minute: number; labels: SeriesLabels }>()
    const hosts = new Map<string, { minute: number; labels: HostLabels }>()
    for (const e of events) {
      const minute = minuteOf(e.ts)
      if (minute >= this.memoryFloor || !counts(e)) continue
      if (e.kind === 'request' || e.kind === 'request_stats') {
        const labels = this.labels.series(e)
        const key = bucketKey(minute, seriesKey(labels))
        if (!this.minutes.has(key)) requests.set(key, { minute, labels })
      } else if (e.kind === 'host_batch' || e.kind === 'host_fallback' || e.kind === 'host_stats') {
        const labels = this.labels.host(e)
        const key = bucketKey(minute, hostKey(labels))
        if (!this.hostMinutes.has(key)) hosts.set(key, { minute, labels })
      }
    }
    return { requests: [...requests.values()], hosts: [...hosts.values()] }
  }

  // What the store loads goes in through these, so the keys are built in one place.
  restoreMinute(entry: MinuteEntry): void {
    this.minutes.set(bucketKey(entry.minute, seriesKey(entry.labels)), entry)
  }

  restoreHostMinute(entry: HostMinuteEntry): void {
    this.hostMinutes.set(bucketKey(entry.minute, hostKey(entry.labels)), entry)
  }

  restoreTotal(entry: TotalEntry): void {
    this.totals.set(totalKey(entry.labels, entry.code), entry)
  }

  restoreHostTotal(entry: HostTotalEntry): void {
    this.hostTotals.set(hostKey(entry.labels), entry)
  }

  restoreSaturation(s: Saturation): void {
    this.saturation.set(hostKey(s), s)
  }

  /** What changed since the last call, for the store; and memory beyond the horizons is let go. */
  takeChanges(now = Date.now()) {
    const d = this.#dirty
    const changes = {
      totals: [...d.totals].map((k) => this.totals.get(k)!),
      minutes: [...d.minutes].map((k) => this.minutes.get(k)!),
      hostMinutes: [...d.hostMinutes].map((k) => this.hostMinutes.get(k)!),
      hostTotals: [...d.hostTotals].map((k) => this.hostTotals.get(k)!),
      saturation: [...d.saturation].map((k) => this.saturation.get(k)!),
      pipeline: this.pipeline,
      raw: this.#raw,
    }
    this.#dirty = {
      totals: new Set(),
      minutes: new Set(),
      hostMinutes: new Set(),
      hostTotals: new Set(),
      saturation: new Set(),
    }
    this.#raw = noRawEvents()
    this.#evict(now)
    return changes
  }

  #request(e: GoldenSignalEvent): void {
    const labels = this.labels.series(e)
    addToTotal(this.#total(labels, codeClass(e.status)), e)
    for (const bucket of this.#buckets(labels, e.ts)) bucket.add(e)
  }

  #requestStats(e: RequestStatsEvent): void {
    const labels = this.labels.series(e)
    addStatsToTotal(this.#total(labels, e.code_class), e)
    for (const bucket of this.#buckets(labels, e.ts)) bucket.addStats(e)
  }

  #total(labels: SeriesLabels, code: CodeClass): SeriesTotal {
    const tk = totalKey(labels, code)
    let t = this.totals.get(tk)
    if (!t) this.totals.set(tk, (t = { labels, code, total: newTotal() }))
    this.#dirty.totals.add(tk)
    return t.total
  }

  /** The minute and the 10 seconds a series' requests at `ts` count in. */
  #buckets(labels: SeriesLabels, ts: number): [SignalBucket, SignalBucket] {
    const sk = seriesKey(labels)
    const minute = minuteOf(ts)
    const mk = bucketKey(minute, sk)
    let m = this.minutes.get(mk)
    if (!m) this.minutes.set(mk, (m = { minute, labels, bucket: new SignalBucket() }))
    this.#dirty.minutes.add(mk)

    const ten = ts - (ts % TEN_S_MS)
    const ttk = bucketKey(ten, sk)
    let s = this.tens.get(ttk)
    if (!s) this.tens.set(ttk, (s = { minute: ten, labels, bucket: new SignalBucket() }))
    return [m.bucket, s.bucket]
  }

  #hostMinute(labels: HostLabels, ts: number): HostBucket {
    const minute = minuteOf(ts)
    const key = bucketKey(minute, hostKey(labels))
    let m = this.hostMinutes.get(key)
    if (!m) this.hostMinutes.set(key, (m = { minute, labels, bucket: new HostBucket() }))
    this.#dirty.hostMinutes.add(key)
    return m.bucket
  }

  #hostTotal(labels: HostLabels): HostBucket {
    const key = hostKey(labels)
    let t = this.hostTotals.get(key)
    if (!t) this.hostTotals.set(key, (t = { labels, bucket: new HostBucket() }))
    this.#dirty.hostTotals.add(key)
    return t.bucket
  }

  #evict(now: number): void {
    const floor = Math.max(this.memoryFloor, minuteOf(now - MEMORY_HORIZON_MS))
    for (const [k, m] of this.minutes) if (m.minute < floor) this.minutes.delete(k)
    for (const [k, m] of this.hostMinutes) if (m.minute < floor) this.hostMinutes.delete(k)
    this.memoryFloor = floor
    for (const [k, m] of this.tens) if (m.minute < now - SHORT_HORIZON_MS) this.tens.delete(k)
  }
}

export type Changes = ReturnType<Aggregator['takeChanges']>
