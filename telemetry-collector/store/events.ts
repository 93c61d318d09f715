/**
 * @module
 * Raw events in the store, kept for one request's story (24 hours; samples
 * longer, samples.ts): request events, host batches with their members,
 * host fallbacks and payload samples, appended in the commit's transaction.
 */
import type { DuckDBAppender } from '@duckdb/node-api'
import type { RawEvents } from '../state/aggregator.ts'
import type { Database, Row } from './database.ts'

/** The raw tables pruned by time (samples have their own retention). */
const RAW_TABLES = ['request_events', 'host_batches', 'host_batch_requests', 'host_fallbacks']

/** Everything the store knows of one request: its rows as DuckDB gives them. */
export interface RequestStory {
  /** The request's own event (with `kept`, why it was kept, as a list): none for a request only counted. */
  request: (Row & { kept: string[] })[]
  batches: Row[]
  fallbacks: Row[]
  samples: Row[]
}

/** A request's story as a route's list shows it. */
export interface StoryRow {
  ts: number
  request_id: string
  status: number
  duration_ms: number
  version: string
  variant: string
  fallback: boolean
  /** Why it was kept (contracts' KEPT_REASONS). */
  kept: string[]
}

export class Events {
  constructor(private readonly db: Database) {}

  /** Appends the raw events of a commit (review items are review.ts's). */
  async append(raw: RawEvents): Promise<void> {
    await this.db.append('request_events', raw.requests, (a, e) => {
      a.appendBigInt(BigInt(e.ts))
      a.appendVarchar(e.request_id)
      a.appendVarchar(e.service)
      a.appendVarchar(e.route)
      a.appendVarchar(e.model)
      a.appendVarchar(e.version)
      a.appendVarchar(e.variant)
      a.appendVarchar(e.cluster)
      a.appendVarchar(e.upstream)
      a.appendInteger(e.status)
      a.appendUBigInt(BigInt(e.flags))
      a.appendBoolean(e.fallback)
      a.appendUBigInt(BigInt(e.duration_us))
      a.appendVarchar(e.traceparent)
      a.appendVarchar(e.kept.join(','))
    })
    await this.db.append('host_batches', raw.batches, (a, e) => {
      a.appendBigInt(BigInt(e.ts))
      a.appendVarchar(e.batch_id)
      a.appendVarchar(e.host)
      a.appendVarchar(e.model)
      a.appendVarchar(e.version)
      a.appendUInteger(e.request_ids.length)
      a.appendUInteger(e.rows)
      a.appendUInteger(e.max_batch_rows)
      a.appendDouble(e.queue_wait_ms)
      a.appendDouble(e.execution_ms)
      a.appendUInteger(e.queue_depth)
      a.appendVarchar(e.device)
      a.appendBoolean(e.ok)
    })
    const members = raw.batches.flatMap((b) =>
      b.request_ids.map((id, i) => ({ ts: b.ts, batch: b.batch_id, id, tp: b.traceparents[i] ?? '' })),
    )
    await this.db.append('host_batch_requests', members, (a, m) => {
      a.appendBigInt(BigInt(m.ts))
      a.appendVarchar(m.batch)
      a.appendVarchar(m.id)
      a.appendVarchar(m.tp)
    })
    await this.db.append('host_fallbacks', raw.fallbacks, (a, e) => {
      a.appendBigInt(BigInt(e.ts))
      a.appendVarchar(e.host)
      a.appendVarchar(e.model)
      a.appendVarchar(e.version)
      a.appendVarchar(e.request_id)
      a.appendVarchar(e.traceparent)
      appendNullable(a, e.fallback_model)
      a.appendVarchar(e.reason)
    })
    await this.db.append('samples', raw.samples, (a, e) => {
      a.appendBigInt(BigInt(e.ts))
      a.appendVarchar(e.request_id)
      a.appendVarchar(e.traceparent)
      a.appendVarchar(e.model)
      a.appendVarchar(e.version)
      a.appendVarchar(e.variant)
      a.appendVarchar(e.reason)
      if (e.confidence === null) a.appendNull()
      else a.appendDouble(e.confidence)
      a.appendInteger(e.status)
      a.appendVarchar(e.request)
      a.appendBoolean(e.request_truncated)
      a.appendVarchar(e.response)
      a.appendBoolean(e.response_truncated)
      a.appendBoolean(false) // exported
    })
  }

  /** Everything the store knows of one request. */
  async story(requestId: string): Promise<RequestStory> {
    const r = this.db.reader
    const request = (
      await this.db.rows('SELECT * FROM request_events WHERE request_id = $1 ORDER BY ts', [requestId], r)
    ).map((row) => Object.assign(row, { kept: String(row.kept).split(',') }))
    const batches = await this.db.rows(
      `SELECT b.*, (SELECT count(*) FROM host_batch_requests o WHERE o.batch_id = b.batch_id AND o.ts = b.ts) - 1 AS batch_mates
       FROM host_batch_requests r JOIN host_batches b ON b.batch_id = r.batch_id AND b.ts = r.ts WHERE r.request_id = $1 ORDER BY b.ts`,
      [requestId],
      r,
    )
    const fallbacks = await this.db.rows(
      'SELECT * FROM host_fallbacks WHERE request_id = $1 ORDER BY ts',
      [requestId],
      r,
    )
    const samples = await this.db.rows('SELECT * FROM samples WHERE request_id = $1 ORDER BY ts', [requestId], r)
    return { request, batches, fallbacks, samples }
  }

  /**
   * The newest stories of a route since `since` (ms): failed requests first,
   * then slow ones, then the rest (sampled, low confidence, traced), and
   * last a version 1 producer's events (one per request), each group newest
   * first; at most `limit`.
   */
  async recentStories(route: string, since: number, limit: number): Promise<StoryRow[]> {
    const rows = await this.db.rows(
      `SELECT ts, request_id, status, duration_us, version, variant, fallback, kept FROM request_events
       WHERE route = $1 AND ts >= $2
       ORDER BY CASE WHEN kept LIKE '%failed%' THEN 0 WHEN kept LIKE '%slow%' THEN 1 WHEN kept = 'every_request' THEN 3 ELSE 2 END,
         ts DESC LIMIT $3`,
      [route, since, limit],
      this.db.reader,
    )
    return rows.map((r) => ({
      ts: Number(r.ts),
      request_id: String(r.request_id),
      status: Number(r.status),
      duration_ms: Number(r.duration_us) / 1000,
      version: String(r.version),
      variant: String(r.variant),
      fallback: Boolean(r.fallback),
      kept: String(r.kept).split(','),
    }))
  }

  /** Deletes raw events (but samples) before `before` (ms). */
  async prune(before: number): Promise<void> {
    for (const t of RAW_TABLES) await this.db.writer.run(`DELETE FROM ${t} WHERE ts < $1`, [before])
  }
}

function appendNullable(a: DuckDBAppender, v: string | null): void {
  if (v === null) a.appendNull()
  else a.appendVarchar(v)
}
