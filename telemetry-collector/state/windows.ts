/**
 * @module
 * Rolling windows and rollup ranges: buckets merged per series. Pure.
 */
import { HostBucket, type HostLabels } from './host-signals.ts'
import {
  MINUTE_MS,
  TEN_S_MS,
  hostKey,
  minuteOf,
  seriesKey,
  type Aggregator,
  type HostMinuteEntry,
  type MinuteEntry,
} from './aggregator.ts'
import { SignalBucket, summarise, type SeriesLabels, type SignalSummary } from './signals.ts'

/** The windows the API serves, in seconds. */
export const WINDOWS = { '10s': 10, '1m': 60, '5m': 300, '1h': 3600 } as const
export type WindowName = keyof typeof WINDOWS

export interface SeriesSummary extends SignalSummary {
  labels: SeriesLabels
}

export interface HostSummary extends ReturnType<HostBucket['summary']> {
  labels: HostLabels
}

/** Merges entries with the same labels into one bucket each. */
function mergeBy<L, B extends { merge(o: B): B }>(
  entries: Iterable<{ labels: L; bucket: B }>,
  key: (l: L) => string,
  empty: () => B,
): Map<string, { labels: L; bucket: B }> {
  const out = new Map<string, { labels: L; bucket: B }>()
  for (const e of entries) {
    const k = key(e.labels)
    let m = out.get(k)
    if (!m) out.set(k, (m = { labels: e.labels, bucket: empty() }))
    m.bucket.merge(e.bucket)
  }
  return out
}

export const mergeBySeries = (entries: Iterable<MinuteEntry>) => mergeBy(entries, seriesKey, () => new SignalBucket())
export const mergeByHost = (entries: Iterable<HostMinuteEntry>) => mergeBy(entries, hostKey, () => new HostBucket())

/**
 * The signal buckets from `start` to `now`: the 10-second ones when `fine`,
 * else the minute rollups. The bucket holding `start` counts whole: `from`
 * is where it starts.
 */
export function signalBuckets(
  agg: Aggregator,
  start: number,
  now: number,
  fine: boolean,
): { from: number; entries: MinuteEntry[] } {
  const from = fine ? start - (start % TEN_S_MS) : minuteOf(start)
  return {
    from,
    entries: [...filter((fine ? agg.tens : agg.minutes).values(), (e) => e.minute >= from && e.minute <= now)],
  }
}

/**
 * One window ending now: 10 s and 1 min from the 10-second buckets, 5 min
 * and 1 h from the minute rollups. The bucket holding the window's start
 * counts whole, so the span covered (`covered_seconds`) is a little longer
 * than the window, and rates are over that span.
 */
export function windowOf(
  agg: Aggregator,
  name: WindowName,
  now = Date.now(),
): { window: WindowName; seconds: number; covered_seconds: number; series: SeriesSummary[]; hosts: HostSummary[] } {
  const seconds = WINDOWS[name]
  const start = now - seconds * 1000
  const { from, entries } = signalBuckets(agg, start, now, seconds <= 60)
  // Rates over the span the buckets cover, which starts at the first bucket's start.
  const span = Math.max(1, (now - from) / 1000)
  const series = [...mergeBySeries(entries).values()].map((s) => ({ labels: s.labels, ...summarise(s.bucket, span) }))
  const hosts = [
    ...mergeByHost(filter(agg.hostMinutes.values(), (e) => e.minute >= minuteOf(start) && e.minute <= now)).values(),
  ].map((h) => ({ labels: h.labels, ...h.bucket.summary() }))
  return { window: name, seconds, covered_seconds: span, series: sortByLabels(series), hosts }
}

/** Rollups from `from` to `to` in steps of `stepMs` (a multiple of a minute), per series. */
export function rollupSteps(entries: MinuteEntry[], from: number, to: number, stepMs: number) {
  const steps = new Map<number, MinuteEntry[]>()
  for (const e of entries) {
    if (e.minute < from || e.minute >= to) continue
    const step = from + Math.floor((e.minute - from) / stepMs) * stepMs
    let list = steps.get(step)
    if (!list) steps.set(step, (list = []))
    list.push(e)
  }
  return [...steps.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, list]) => ({
      start,
      series: sortByLabels(
        [...mergeBySeries(list).values()].map((s) => ({ labels: s.labels, ...summarise(s.bucket, stepMs / 1000) })),
      ),
    }))
}

export const STEP_MS = { '1m': MINUTE_MS, '5m': 5 * MINUTE_MS, '1h': 60 * MINUTE_MS, '1d': 1440 * MINUTE_MS } as const

function* filter<T>(items: Iterable<T>, keep: (t: T) => boolean): Iterable<T> {
  for (const t of items) if (keep(t)) yield t
}

export type Window = ReturnType<typeof windowOf>

/**
 * One window of several collectors that share the work: each holds the
 * models it consumes, so their rows are disjoint and the whole is their
 * union (a model's rows, sketches included, come whole from one of them).
 */
export function unionOfWindows(own: Window, others: Window[]): Window {
  const parts = [own, ...others]
  return {
    ...own,
    covered_seconds: Math.max(...parts.map((p) => p.covered_seconds)),
    series: sortByLabels(parts.flatMap((p) => p.series)),
    hosts: sortByLabels(parts.flatMap((p) => p.hosts)),
  }
}

/** Rollup steps of several collectors that share the work: each step's series are the union of theirs (disjoint by model). */
export function unionOfSteps(parts: ReturnType<typeof rollupSteps>[]): ReturnType<typeof rollupSteps> {
  const steps = new Map<number, ReturnType<typeof rollupSteps>[number]['series']>()
  for (const part of parts) for (const s of part) steps.set(s.start, [...(steps.get(s.start) ?? []), ...s.series])
  return [...steps.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, series]) => ({ start, series: sortByLabels(series) }))
}

function sortByLabels<T extends { labels: object }>(items: T[]): T[] {
  return items.sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)))
}
