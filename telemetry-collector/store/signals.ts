/**
 * @module
 * Golden signals in the store: all-time totals, minute rollups with their
 * serialised sketches, host rollups and saturation, and the pipeline's
 * counters; written with the consumers' positions in one transaction
 * (store.ts), read back at start-up and by the API.
 */
import { blobValue } from '@duckdb/node-api'
import { FAILED_CODE_CLASSES } from '@model-mesh/contracts'
import {
  MEMORY_HORIZON_MS,
  minuteOf,
  type Aggregator,
  type Changes,
  type HostMinuteEntry,
  type MinuteEntry,
} from '../state/aggregator.ts'
import { hostBucketFromJson, hostBucketToJson, type HostLabels } from '../state/host-signals.ts'
import type { CodeClass } from '@model-mesh/contracts'
import { bucketFromRow, bucketToRow, type SeriesLabels } from '../state/signals.ts'
import type { Database, Row } from './database.ts'

export interface StepTotal {
  /** Index of the step from the range's start. */
  step: number
  route: string
  variant: string
  requests: number
  failed: number
  fallbacks: number
}

/** A minute row's failed requests (contracts' FAILED_CODE_CLASSES), from its code counts: SQL. */
const FAILED_SUM = FAILED_CODE_CLASSES.split('|')
  .map((c) => `coalesce(CAST(json_extract_string(codes, '$."${c}"') AS UBIGINT), 0)`)
  .join(' + ')

export class Signals {
  constructor(private readonly db: Database) {}

  /** Fills the aggregator: totals, the minutes memory holds, host rollups, saturation, the pipeline's counters. */
  async load(agg: Aggregator, now: number): Promise<void> {
    for (const r of await this.db.rows('SELECT * FROM signal_totals')) {
      agg.restoreTotal({
        labels: labelsOf(r),
        code: r.code_class as CodeClass,
        total: {
          requests: Number(r.requests),
          fallbacks: Number(r.fallbacks),
          durationSumS: Number(r.duration_sum_s),
          buckets: JSON.parse(String(r.buckets)),
        },
      })
    }
    // Memory holds every minute from the floor on; older ones are read when a late event needs them.
    const floor = minuteOf(now - MEMORY_HORIZON_MS)
    agg.memoryFloor = floor
    for (const r of await this.db.rows('SELECT * FROM signal_minutes WHERE minute_ms >= $1', [floor]))
      agg.restoreMinute(minuteEntry(r))
    for (const r of await this.db.rows('SELECT * FROM host_minutes WHERE minute_ms >= $1', [floor]))
      agg.restoreHostMinute(hostMinuteEntry(r))
    for (const r of await this.db.rows('SELECT * FROM host_totals')) {
      agg.restoreHostTotal({ labels: hostLabelsOf(r), bucket: hostBucketFromJson(String(r.bucket)) })
    }
    for (const r of await this.db.rows('SELECT * FROM host_saturation')) {
      agg.restoreSaturation({
        host: String(r.host),
        model: String(r.model),
        version: String(r.version),
        ts: Number(r.ts),
        queue_depth: Number(r.queue_depth),
        busy_instances: Number(r.busy_instances),
        instances: Number(r.instances),
      })
    }
    const pipeline = await this.db.rows('SELECT state FROM pipeline_totals WHERE id = 1')
    if (pipeline[0]) agg.pipeline = { ...agg.pipeline, ...JSON.parse(String(pipeline[0].state)) }
  }

  /** Minute rollups older than memory holds, for late events. */
  async loadMinutes(keys: { minute: number; labels: SeriesLabels }[]): Promise<MinuteEntry[]> {
    const out: MinuteEntry[] = []
    for (const k of keys) {
      const rows = await this.db.rows(
        'SELECT * FROM signal_minutes WHERE minute_ms = $1 AND route = $2 AND model = $3 AND version = $4 AND variant = $5',
        [k.minute, k.labels.route, k.labels.model, k.labels.version, k.labels.variant],
      )
      if (rows[0]) out.push(minuteEntry(rows[0]))
    }
    return out
  }

  /** Host rollups older than memory holds, for late host events. */
  async loadHostMinutes(keys: { minute: number; labels: HostLabels }[]): Promise<HostMinuteEntry[]> {
    const out: HostMinuteEntry[] = []
    for (const k of keys) {
      const rows = await this.db.rows(
        'SELECT * FROM host_minutes WHERE minute_ms = $1 AND host = $2 AND model = $3 AND version = $4',
        [k.minute, k.labels.host, k.labels.model, k.labels.version],
      )
      if (rows[0]) out.push(hostMinuteEntry(rows[0]))
    }
    return out
  }

  /** Writes what changed, one statement per table. Inside the commit's transaction. */
  async write(changes: Changes): Promise<void> {
    await this.db.insert(
      'signal_totals',
      changes.totals.map((t) => {
        const l = t.labels
        return [
          l.route,
          l.model,
          l.version,
          l.variant,
          t.code,
          t.total.requests,
          t.total.fallbacks,
          t.total.durationSumS,
          JSON.stringify(t.total.buckets),
        ]
      }),
    )
    await this.db.insert(
      'signal_minutes',
      changes.minutes.map((m) => {
        const l = m.labels
        const r = bucketToRow(m.bucket)
        return [
          m.minute,
          l.route,
          l.model,
          l.version,
          l.variant,
          r.requests,
          r.codes,
          r.flags,
          r.fallbacks,
          r.duration_sum_ms,
          blobValue(r.sketch),
        ]
      }),
    )
    await this.db.insert(
      'host_minutes',
      changes.hostMinutes.map((m) => [
        m.minute,
        m.labels.host,
        m.labels.model,
        m.labels.version,
        hostBucketToJson(m.bucket),
      ]),
    )
    await this.db.insert(
      'host_totals',
      changes.hostTotals.map((t) => [t.labels.host, t.labels.model, t.labels.version, hostBucketToJson(t.bucket)]),
    )
    await this.db.insert(
      'host_saturation',
      changes.saturation.map((s) => [s.host, s.model, s.version, s.ts, s.queue_depth, s.busy_instances, s.instances]),
    )
    await this.db.insert('pipeline_totals', [[1, JSON.stringify(changes.pipeline)]])
  }

  /** Deletes minute rollups before `before` (ms). */
  async prune(before: number): Promise<void> {
    await this.db.writer.run('DELETE FROM signal_minutes WHERE minute_ms < $1', [before])
    await this.db.writer.run('DELETE FROM host_minutes WHERE minute_ms < $1', [before])
  }

  /** Minute rollups in [from, to), for the API and windows older than memory. */
  async minutes(from: number, to: number): Promise<MinuteEntry[]> {
    return (
      await this.db.rows(
        'SELECT * FROM signal_minutes WHERE minute_ms >= $1 AND minute_ms < $2 ORDER BY minute_ms',
        [from, to],
        this.db.reader,
      )
    ).map(minuteEntry)
  }

  /**
   * Requests and failed requests (a code class in FAILED_CODE_CLASSES: 5xx,
   * or no response) per route, over the minute rollups in [from, to):
   * summed by DuckDB from the rollups' code counts, no sketch read, so 30
   * days cost one scan of the minute table.
   */
  async routeTotals(from: number, to: number): Promise<Map<string, { requests: number; failed: number }>> {
    const rows = await this.db.rows(
      `SELECT route, sum(requests) AS requests, sum(${FAILED_SUM}) AS failed FROM signal_minutes WHERE minute_ms >= $1 AND minute_ms < $2 GROUP BY route ORDER BY route`,
      [from, to],
      this.db.reader,
    )
    return new Map(rows.map((r) => [String(r.route), { requests: Number(r.requests), failed: Number(r.failed) }]))
  }

  /**
   * Per route, variant and step (`stepMs` long, counted from `from`):
   * requests, failed requests and fallbacks, summed by DuckDB (no sketch
   * read: a 30-day range is one scan).
   */
  async stepTotals(from: number, to: number, stepMs: number): Promise<StepTotal[]> {
    const rows = await this.db.rows(
      `SELECT CAST(floor((minute_ms - $1) / $3) AS BIGINT) AS step, route, variant, sum(requests) AS requests, sum(${FAILED_SUM}) AS failed, sum(fallbacks) AS fallbacks
       FROM signal_minutes WHERE minute_ms >= $1 AND minute_ms < $2 GROUP BY ALL ORDER BY step`,
      [from, to, stepMs],
      this.db.reader,
    )
    return rows.map((r) => ({
      step: Number(r.step),
      route: String(r.route),
      variant: String(r.variant),
      requests: Number(r.requests),
      failed: Number(r.failed),
      fallbacks: Number(r.fallbacks),
    }))
  }

  /** One route's minute rollups in [from, to), sketches decoded, `pageMs` of time at a time: a caller can yield between pages. */
  async *routeMinutes(route: string, from: number, to: number, pageMs = 6 * 3_600_000): AsyncGenerator<MinuteEntry[]> {
    for (let start = from; start < to; start += pageMs) {
      const rows = await this.db.rows(
        'SELECT * FROM signal_minutes WHERE route = $1 AND minute_ms >= $2 AND minute_ms < $3 ORDER BY minute_ms',
        [route, start, Math.min(to, start + pageMs)],
        this.db.reader,
      )
      if (rows.length > 0) yield rows.map(minuteEntry)
    }
  }

  async hostMinutes(from: number, to: number): Promise<HostMinuteEntry[]> {
    return (
      await this.db.rows(
        'SELECT * FROM host_minutes WHERE minute_ms >= $1 AND minute_ms < $2 ORDER BY minute_ms',
        [from, to],
        this.db.reader,
      )
    ).map(hostMinuteEntry)
  }
}

const labelsOf = (r: Row): SeriesLabels => ({
  route: String(r.route),
  model: String(r.model),
  version: String(r.version),
  variant: String(r.variant),
})

function minuteEntry(r: Row): MinuteEntry {
  const sketch = r.sketch as { bytes: Uint8Array } | null
  return {
    minute: Number(r.minute_ms),
    labels: labelsOf(r),
    bucket: bucketFromRow({
      requests: Number(r.requests),
      codes: String(r.codes),
      flags: String(r.flags),
      fallbacks: Number(r.fallbacks),
      duration_sum_ms: Number(r.duration_sum_ms),
      sketch: sketch?.bytes ?? new Uint8Array(),
    }),
  }
}

const hostLabelsOf = (r: Row): HostLabels => ({
  host: String(r.host),
  model: String(r.model),
  version: String(r.version),
})

function hostMinuteEntry(r: Row): HostMinuteEntry {
  return { minute: Number(r.minute_ms), labels: hostLabelsOf(r), bucket: hostBucketFromJson(String(r.bucket)) }
}
