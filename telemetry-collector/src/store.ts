/**
 * @module
 * The collector's embedded store (DuckDB): totals, minute rollups, host
 * rollups and saturation, the pipeline's counters, raw events for one
 * request's story, and, in the same transaction, the stream sequence each
 * consumer has applied. A message is acknowledged to JetStream only after
 * the transaction holding its effect committed, and one whose sequence is
 * not past the stored one is not applied again: so a redelivery never
 * counts twice and a SIGKILLed collector resumes with exact totals.
 */
import { join } from 'node:path'
import { BIGINT, BLOB, blobValue, BOOLEAN, DOUBLE, DuckDBConnection, DuckDBInstance, INTEGER, UBIGINT, VARCHAR, type DuckDBAppender, type DuckDBType, type DuckDBValue } from '@duckdb/node-api'
import { FAILED_CODE_CLASSES, ownerOnlyDir, type PayloadSampleEvent, type ReviewItemEvent } from '@model-mesh/contracts'
import type { Walk, WalkEvent } from './canary-walk.ts'
import { MEMORY_HORIZON_MS, minuteOf, noRawEvents, OTHER, type Aggregator, type Changes, type HostMinuteEntry, type MinuteEntry, type RawEvents } from './aggregator.ts'
import { hostBucketFromJson, hostBucketToJson, type HostLabels } from './host-signals.ts'
import { bucketFromRow, bucketToRow, type CodeClass, type SeriesLabels } from './signals.ts'

export interface Retention {
  /** Minute rollups (default 30 days). */
  rollupDays: number
  /** Raw request, batch and fallback events, for one request's story (default 24 hours). */
  rawHours: number
  /** Sampled payloads (default 14 days). */
  sampleDays: number
}

export const DEFAULT_RETENTION: Retention = { rollupDays: 30, rawHours: 24, sampleDays: 14 }

const SCHEMA = `
CREATE TABLE IF NOT EXISTS consumer_state (consumer VARCHAR PRIMARY KEY, stream_seq UBIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS stream_identity (stream VARCHAR PRIMARY KEY, created VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS pipeline_totals (id INTEGER PRIMARY KEY, state VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS signal_totals (
  route VARCHAR, model VARCHAR, version VARCHAR, variant VARCHAR, code_class VARCHAR,
  requests UBIGINT, fallbacks UBIGINT, duration_sum_s DOUBLE, buckets VARCHAR,
  PRIMARY KEY (route, model, version, variant, code_class));
CREATE TABLE IF NOT EXISTS signal_minutes (
  minute_ms BIGINT, route VARCHAR, model VARCHAR, version VARCHAR, variant VARCHAR,
  requests UBIGINT, codes VARCHAR, flags VARCHAR, fallbacks UBIGINT, duration_sum_ms DOUBLE, sketch BLOB,
  PRIMARY KEY (minute_ms, route, model, version, variant));
CREATE TABLE IF NOT EXISTS host_minutes (minute_ms BIGINT, host VARCHAR, model VARCHAR, version VARCHAR, bucket VARCHAR, PRIMARY KEY (minute_ms, host, model, version));
CREATE TABLE IF NOT EXISTS host_totals (host VARCHAR, model VARCHAR, version VARCHAR, bucket VARCHAR, PRIMARY KEY (host, model, version));
CREATE TABLE IF NOT EXISTS host_saturation (
  host VARCHAR, model VARCHAR, version VARCHAR, ts BIGINT, queue_depth UBIGINT, busy_instances UBIGINT, instances UBIGINT,
  PRIMARY KEY (host, model, version));
CREATE TABLE IF NOT EXISTS request_events (
  ts BIGINT, request_id VARCHAR, service VARCHAR, route VARCHAR, model VARCHAR, version VARCHAR, variant VARCHAR,
  cluster VARCHAR, upstream VARCHAR, status INTEGER, flags UBIGINT, fallback BOOLEAN, duration_us UBIGINT, traceparent VARCHAR);
CREATE TABLE IF NOT EXISTS host_batches (
  ts BIGINT, batch_id VARCHAR, host VARCHAR, model VARCHAR, version VARCHAR, requests UINTEGER, rows UINTEGER, max_batch_rows UINTEGER,
  queue_wait_ms DOUBLE, execution_ms DOUBLE, queue_depth UINTEGER, device VARCHAR, ok BOOLEAN);
CREATE TABLE IF NOT EXISTS host_batch_requests (ts BIGINT, batch_id VARCHAR, request_id VARCHAR, traceparent VARCHAR);
CREATE TABLE IF NOT EXISTS host_fallbacks (
  ts BIGINT, host VARCHAR, model VARCHAR, version VARCHAR, request_id VARCHAR, traceparent VARCHAR, fallback_model VARCHAR, reason VARCHAR);
CREATE TABLE IF NOT EXISTS samples (
  ts BIGINT, request_id VARCHAR, traceparent VARCHAR, model VARCHAR, version VARCHAR, variant VARCHAR, reason VARCHAR,
  confidence DOUBLE, status INTEGER, request VARCHAR, request_truncated BOOLEAN, response VARCHAR, response_truncated BOOLEAN);
-- Written to the payload sink's Parquet files (a store from before the sink gains the column).
ALTER TABLE samples ADD COLUMN IF NOT EXISTS exported BOOLEAN DEFAULT FALSE;
-- Low-confidence predictions for a person to label; label is JSON text, null while pending.
CREATE TABLE IF NOT EXISTS review_items (
  request_id VARCHAR PRIMARY KEY, ts BIGINT, traceparent VARCHAR, model VARCHAR, version VARCHAR, variant VARCHAR, reason VARCHAR,
  confidence DOUBLE, status INTEGER, request VARCHAR, request_truncated BOOLEAN, response VARCHAR, response_truncated BOOLEAN,
  label VARCHAR, labelled_by VARCHAR, labelled_at BIGINT);
-- Canary walks (one per route and canary version, its state as JSON) and everything each did.
CREATE TABLE IF NOT EXISTS canary_walks (route VARCHAR, canary_version VARCHAR, state VARCHAR, PRIMARY KEY (route, canary_version));
CREATE TABLE IF NOT EXISTS canary_walk_events (ts BIGINT, route VARCHAR, canary_version VARCHAR, event VARCHAR);
`

type Row = Record<string, DuckDBValue>

const UPSERT_CHUNK = 500

/**
 * The parameter types of each table's rows, in column order. Values are
 * bound with these, never with types inferred from JS values: an
 * integer-valued number would otherwise be bound as BIGINT, and one past
 * 64 bits refused (a confidence of -9.3e18 crash-looped the collector).
 */
const COLUMN_TYPES = {
  signal_totals: [VARCHAR, VARCHAR, VARCHAR, VARCHAR, VARCHAR, UBIGINT, UBIGINT, DOUBLE, VARCHAR],
  signal_minutes: [BIGINT, VARCHAR, VARCHAR, VARCHAR, VARCHAR, UBIGINT, VARCHAR, VARCHAR, UBIGINT, DOUBLE, BLOB],
  host_minutes: [BIGINT, VARCHAR, VARCHAR, VARCHAR, VARCHAR],
  host_totals: [VARCHAR, VARCHAR, VARCHAR, VARCHAR],
  host_saturation: [VARCHAR, VARCHAR, VARCHAR, BIGINT, UBIGINT, UBIGINT, UBIGINT],
  pipeline_totals: [INTEGER, VARCHAR],
  consumer_state: [VARCHAR, UBIGINT],
  /** The columns #addReviewItems names. */
  review_items: [VARCHAR, BIGINT, VARCHAR, VARCHAR, VARCHAR, VARCHAR, VARCHAR, DOUBLE, INTEGER, VARCHAR, BOOLEAN, VARCHAR, BOOLEAN],
} as const satisfies Record<string, readonly DuckDBType[]>
type UpsertTable = Exclude<keyof typeof COLUMN_TYPES, 'review_items'>

/** Parameter types for `rows` rows of a table's columns. */
const typesOf = (columns: readonly DuckDBType[], rows: number): DuckDBType[] => Array.from({ length: rows }, () => columns).flat()

/**
 * A store from before host rollups were per host keyed them by model and
 * version only. Their rows move to host `other` (which host ran them is not
 * known); DuckDB cannot change a primary key in place, so each such table is
 * renamed, created anew by SCHEMA, and filled from the old one.
 */
const HOST_ROLLUPS = ['host_minutes', 'host_totals']

async function createSchema(db: DuckDBConnection): Promise<void> {
  const found = await db.runAndReadAll(
    `SELECT table_name FROM information_schema.tables t WHERE table_name IN (${HOST_ROLLUPS.map((t) => `'${t}'`).join(', ')})
       AND NOT EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_name = t.table_name AND c.column_name = 'host')`,
  )
  const byVersion = found.getRowObjects().map((r) => String(r.table_name))
  await db.run('BEGIN TRANSACTION')
  try {
    for (const t of byVersion) await db.run(`ALTER TABLE ${t} RENAME TO ${t}_by_version`)
    await db.run(SCHEMA)
    for (const t of byVersion) {
      await db.run(`INSERT INTO ${t} BY NAME SELECT *, '${OTHER}' AS host FROM ${t}_by_version`)
      await db.run(`DROP TABLE ${t}_by_version`)
    }
    await db.run('COMMIT')
  } catch (e) {
    await db.run('ROLLBACK')
    throw e
  }
}


export class Store {
  private constructor(
    readonly instance: DuckDBInstance,
    /** The applier's: one transaction at a time, never shared with readers. */
    readonly db: DuckDBConnection,
    /** The API's: it sees only what was committed. */
    readonly reader: DuckDBConnection,
    readonly retention: Retention,
  ) {}

  /** A payload sink writes the samples: pruning leaves those it has not written yet. */
  keepUnexported = false

  static async open(dir: string, retention: Retention = DEFAULT_RETENTION): Promise<Store> {
    // It holds the sampled payloads.
    ownerOnlyDir(dir)
    const instance = await DuckDBInstance.create(join(dir, 'collector.duckdb'))
    const db = await instance.connect()
    // One thread: the collector's statements are small, and DuckDB's pool would take the cores Envoy and the hosts need.
    await db.run('SET threads = 1')
    await createSchema(db)
    return new Store(instance, db, await instance.connect(), retention)
  }

  close(): void {
    this.reader.closeSync()
    this.db.closeSync()
    this.instance.closeSync()
  }

  /** Fills the aggregator from the store; returns each consumer's applied stream sequence. */
  async load(agg: Aggregator, now = Date.now()): Promise<Map<string, number>> {
    for (const r of await this.#rows('SELECT * FROM signal_totals')) {
      agg.restoreTotal({
        labels: labelsOf(r),
        code: r.code_class as CodeClass,
        total: { requests: Number(r.requests), fallbacks: Number(r.fallbacks), durationSumS: Number(r.duration_sum_s), buckets: JSON.parse(String(r.buckets)) },
      })
    }
    // Memory holds every minute from the floor on; older ones are read when a late event needs them.
    const floor = minuteOf(now - MEMORY_HORIZON_MS)
    agg.memoryFloor = floor
    for (const r of await this.#rows('SELECT * FROM signal_minutes WHERE minute_ms >= $1', [floor])) agg.restoreMinute(minuteEntry(r))
    for (const r of await this.#rows('SELECT * FROM host_minutes WHERE minute_ms >= $1', [floor])) agg.restoreHostMinute(hostMinuteEntry(r))
    for (const r of await this.#rows('SELECT * FROM host_totals')) {
      agg.restoreHostTotal({ labels: hostLabelsOf(r), bucket: hostBucketFromJson(String(r.bucket)) })
    }
    for (const r of await this.#rows('SELECT * FROM host_saturation')) {
      agg.restoreSaturation({ host: String(r.host), model: String(r.model), version: String(r.version), ts: Number(r.ts), queue_depth: Number(r.queue_depth), busy_instances: Number(r.busy_instances), instances: Number(r.instances) })
    }
    const pipeline = await this.#rows('SELECT state FROM pipeline_totals WHERE id = 1')
    if (pipeline[0]) agg.pipeline = { ...agg.pipeline, ...JSON.parse(String(pipeline[0].state)) }
    const seqs = new Map<string, number>()
    for (const r of await this.#rows('SELECT * FROM consumer_state')) seqs.set(String(r.consumer), Number(r.stream_seq))
    return seqs
  }

  /** Minute rollups older than memory holds, for late events. */
  async loadMinutes(keys: { minute: number; labels: SeriesLabels }[]): Promise<MinuteEntry[]> {
    const out: MinuteEntry[] = []
    for (const k of keys) {
      const rows = await this.#rows('SELECT * FROM signal_minutes WHERE minute_ms = $1 AND route = $2 AND model = $3 AND version = $4 AND variant = $5', [k.minute, k.labels.route, k.labels.model, k.labels.version, k.labels.variant])
      if (rows[0]) out.push(minuteEntry(rows[0]))
    }
    return out
  }

  /** Host rollups older than memory holds, for late host events. */
  async loadHostMinutes(keys: { minute: number; labels: HostLabels }[]): Promise<HostMinuteEntry[]> {
    const out: HostMinuteEntry[] = []
    for (const k of keys) {
      const rows = await this.#rows('SELECT * FROM host_minutes WHERE minute_ms = $1 AND host = $2 AND model = $3 AND version = $4', [k.minute, k.labels.host, k.labels.model, k.labels.version])
      if (rows[0]) out.push(hostMinuteEntry(rows[0]))
    }
    return out
  }

  /** Writes what changed and the consumers' sequences in one transaction. */
  async commit(changes: Changes, seqs: Map<string, number>): Promise<void> {
    const db = this.db
    await db.run('BEGIN TRANSACTION')
    try {
      // One statement per table: DuckDB's cost is per statement far more than per row.
      await this.#upsert('signal_totals', changes.totals.map((t) => {
        const l = t.labels
        return [l.route, l.model, l.version, l.variant, t.code, t.total.requests, t.total.fallbacks, t.total.durationSumS, JSON.stringify(t.total.buckets)]
      }))
      await this.#upsert('signal_minutes', changes.minutes.map((m) => {
        const l = m.labels
        const r = bucketToRow(m.bucket)
        return [m.minute, l.route, l.model, l.version, l.variant, r.requests, r.codes, r.flags, r.fallbacks, r.duration_sum_ms, blobValue(r.sketch)]
      }))
      await this.#upsert('host_minutes', changes.hostMinutes.map((m) => [m.minute, m.labels.host, m.labels.model, m.labels.version, hostBucketToJson(m.bucket)]))
      await this.#upsert('host_totals', changes.hostTotals.map((t) => [t.labels.host, t.labels.model, t.labels.version, hostBucketToJson(t.bucket)]))
      await this.#upsert('host_saturation', changes.saturation.map((s) => [s.host, s.model, s.version, s.ts, s.queue_depth, s.busy_instances, s.instances]))
      await this.#upsert('pipeline_totals', [[1, JSON.stringify(changes.pipeline)]])
      await this.#upsert('consumer_state', [...seqs].map(([consumer, seq]) => [consumer, seq]))
      await this.#appendRaw(changes.raw)
      await this.#addReviewItems(changes.raw.reviews)
      await db.run('COMMIT')
    } catch (e) {
      await db.run('ROLLBACK').catch(() => {})
      throw e
    }
  }

  /**
   * The raw events of `raw` the store refuses, each tried alone in a
   * transaction rolled back: after a commit failed, these are what it can
   * skip (counted) so that one bad event never stops the consumer.
   */
  async refusedRaw(raw: RawEvents): Promise<RawEvents> {
    const refused = noRawEvents()
    for (const kind of Object.keys(raw) as (keyof RawEvents)[]) {
      for (const e of raw[kind]) {
        const one = { ...noRawEvents(), [kind]: [e] }
        await this.db.run('BEGIN TRANSACTION')
        try {
          await this.#appendRaw(one)
          await this.#addReviewItems(one.reviews)
        } catch {
          ;(refused[kind] as unknown[]).push(e)
        } finally {
          await this.db.run('ROLLBACK').catch(() => {})
        }
      }
    }
    return refused
  }

  /** INSERT OR REPLACE of many rows in one statement (in chunks, so a statement stays a sane size), bound with the table's types. */
  async #upsert(table: UpsertTable, rows: DuckDBValue[][]): Promise<void> {
    for (let at = 0; at < rows.length; at += UPSERT_CHUNK) {
      const chunk = rows.slice(at, at + UPSERT_CHUNK)
      const width = COLUMN_TYPES[table].length
      const tuples = chunk.map((_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`)
      await this.db.run(`INSERT OR REPLACE INTO ${table} VALUES ${tuples.join(', ')}`, chunk.flat(), typesOf(COLUMN_TYPES[table], chunk.length))
    }
  }

  /** New review items; one already there (a redelivery, or labelled) is left as it is. */
  async #addReviewItems(items: ReviewItemEvent[]): Promise<void> {
    for (let at = 0; at < items.length; at += UPSERT_CHUNK) {
      const chunk = items.slice(at, at + UPSERT_CHUNK).map((e) => [e.request_id, e.ts, e.traceparent, e.model, e.version, e.variant, e.reason, e.confidence, e.status, e.request, e.request_truncated, e.response, e.response_truncated])
      const tuples = chunk.map((_, r) => `(${Array.from({ length: 13 }, (_, c) => `$${r * 13 + c + 1}`).join(', ')})`)
      await this.db.run(
        `INSERT OR IGNORE INTO review_items (request_id, ts, traceparent, model, version, variant, reason, confidence, status, request, request_truncated, response, response_truncated) VALUES ${tuples.join(', ')}`,
        chunk.flat() as DuckDBValue[],
        typesOf(COLUMN_TYPES.review_items, chunk.length),
      )
    }
  }

  /** Review items, oldest first: pending ones (no label yet), labelled ones, or all. */
  async reviewItems(o: { model?: string; status: 'pending' | 'labelled' | 'all'; limit: number }): Promise<ReviewItem[]> {
    const where = [o.model !== undefined ? 'model = $2' : 'TRUE', o.status === 'pending' ? 'label IS NULL' : o.status === 'labelled' ? 'label IS NOT NULL' : 'TRUE'].join(' AND ')
    const rows = await this.#rows(`SELECT * FROM review_items WHERE ${where} ORDER BY ts, request_id LIMIT $1`, o.model !== undefined ? [o.limit, o.model] : [o.limit], this.reader)
    return rows.map(reviewItemOf)
  }

  /** Labels one item (again, if it was: the latest label stands); null when there is no such item. Writes: call it inside exclusive(). */
  async labelReviewItem(requestId: string, label: unknown, by: string, at: number): Promise<ReviewItem | null> {
    const rows = await this.#rows('UPDATE review_items SET label = $2, labelled_by = $3, labelled_at = $4 WHERE request_id = $1 RETURNING *', [requestId, JSON.stringify(label), by, at])
    return rows[0] ? reviewItemOf(rows[0]) : null
  }

  async loadWalks(): Promise<Walk[]> {
    return (await this.#rows('SELECT state FROM canary_walks', [], this.reader)).map((r) => JSON.parse(String(r.state)) as Walk)
  }

  /** A walk's state and what it just did, together. Writes: call it inside exclusive(). */
  async saveWalk(w: Walk, e: WalkEvent): Promise<void> {
    await this.db.run('BEGIN TRANSACTION')
    try {
      await this.db.run('INSERT OR REPLACE INTO canary_walks VALUES ($1, $2, $3)', [w.route, w.canary_version, JSON.stringify(w)])
      await this.db.run('INSERT INTO canary_walk_events VALUES ($1, $2, $3, $4)', [e.ts, e.route, e.canary_version, JSON.stringify(e)])
      await this.db.run('COMMIT')
    } catch (err) {
      await this.db.run('ROLLBACK').catch(() => {})
      throw err
    }
  }

  /** Everything the walks of a route did, oldest first. */
  async walkEvents(route: string): Promise<WalkEvent[]> {
    return (await this.#rows('SELECT event FROM canary_walk_events WHERE route = $1 ORDER BY ts, rowid', [route], this.reader)).map((r) => JSON.parse(String(r.event)) as WalkEvent)
  }

  /** When the stream the stored positions refer to was created. */
  async streamCreated(stream: string): Promise<string | undefined> {
    const rows = await this.#rows('SELECT created FROM stream_identity WHERE stream = $1', [stream])
    return rows[0] ? String(rows[0].created) : undefined
  }

  /** A stream was created anew: its consumers start from its beginning. */
  async resetStream(stream: string, created: string, durables: string[]): Promise<void> {
    await this.db.run('BEGIN TRANSACTION')
    try {
      await this.db.run('INSERT OR REPLACE INTO stream_identity VALUES ($1, $2)', [stream, created])
      for (const d of durables) await this.db.run('DELETE FROM consumer_state WHERE consumer = $1', [d])
      await this.db.run('COMMIT')
    } catch (e) {
      await this.db.run('ROLLBACK').catch(() => {})
      throw e
    }
  }

  /** Deletes what is past its retention. */
  async prune(now = Date.now()): Promise<void> {
    const r = this.retention
    const rollups = now - r.rollupDays * 86_400_000
    const raw = now - r.rawHours * 3_600_000
    await this.db.run('DELETE FROM signal_minutes WHERE minute_ms < $1', [rollups])
    await this.db.run('DELETE FROM host_minutes WHERE minute_ms < $1', [rollups])
    for (const t of ['request_events', 'host_batches', 'host_batch_requests', 'host_fallbacks']) await this.db.run(`DELETE FROM ${t} WHERE ts < $1`, [raw])
    // With a payload sink, a sample it has not written yet stays until it has (the sink's promise: never lost).
    await this.db.run(`DELETE FROM samples WHERE ts < $1${this.keepUnexported ? ' AND exported' : ''}`, [now - r.sampleDays * 86_400_000])
  }

  /** Minute rollups in [from, to), for the API and windows older than memory. */
  async minutes(from: number, to: number): Promise<MinuteEntry[]> {
    return (await this.#rows('SELECT * FROM signal_minutes WHERE minute_ms >= $1 AND minute_ms < $2 ORDER BY minute_ms', [from, to], this.reader)).map(minuteEntry)
  }

  /**
   * Requests and failed requests (a code class in FAILED_CODE_CLASSES: 5xx,
   * or no response) per route, over the minute rollups in [from, to):
   * summed by DuckDB from the rollups' code counts, no sketch read, so 30
   * days cost one scan of the minute table.
   */
  async routeTotals(from: number, to: number): Promise<Map<string, { requests: number; failed: number }>> {
    const rows = await this.#rows(
      `SELECT route, sum(requests) AS requests, sum(${FAILED_SUM}) AS failed FROM signal_minutes WHERE minute_ms >= $1 AND minute_ms < $2 GROUP BY route ORDER BY route`,
      [from, to],
      this.reader,
    )
    return new Map(rows.map((r) => [String(r.route), { requests: Number(r.requests), failed: Number(r.failed) }]))
  }

  /**
   * Per route, variant and step (`stepMs` long, counted from `from`):
   * requests, failed requests and fallbacks, summed by DuckDB (no sketch
   * read: a 30-day range is one scan).
   */
  async stepTotals(from: number, to: number, stepMs: number): Promise<StepTotal[]> {
    const rows = await this.#rows(
      `SELECT CAST(floor((minute_ms - $1) / $3) AS BIGINT) AS step, route, variant, sum(requests) AS requests, sum(${FAILED_SUM}) AS failed, sum(fallbacks) AS fallbacks
       FROM signal_minutes WHERE minute_ms >= $1 AND minute_ms < $2 GROUP BY ALL ORDER BY step`,
      [from, to, stepMs],
      this.reader,
    )
    return rows.map((r) => ({ step: Number(r.step), route: String(r.route), variant: String(r.variant), requests: Number(r.requests), failed: Number(r.failed), fallbacks: Number(r.fallbacks) }))
  }

  /** One route's minute rollups in [from, to), sketches decoded, `pageMs` of time at a time: a caller can yield between pages. */
  async *routeMinutes(route: string, from: number, to: number, pageMs = 6 * 3_600_000): AsyncGenerator<MinuteEntry[]> {
    for (let start = from; start < to; start += pageMs) {
      const rows = await this.#rows('SELECT * FROM signal_minutes WHERE route = $1 AND minute_ms >= $2 AND minute_ms < $3 ORDER BY minute_ms', [route, start, Math.min(to, start + pageMs)], this.reader)
      if (rows.length > 0) yield rows.map(minuteEntry)
    }
  }

  async hostMinutes(from: number, to: number): Promise<HostMinuteEntry[]> {
    return (await this.#rows('SELECT * FROM host_minutes WHERE minute_ms >= $1 AND minute_ms < $2 ORDER BY minute_ms', [from, to], this.reader)).map(hostMinuteEntry)
  }

  /** Everything the store knows of one request. */
  async story(requestId: string) {
    const r = this.reader
    const request = await this.#rows('SELECT * FROM request_events WHERE request_id = $1 ORDER BY ts', [requestId], r)
    const batches = await this.#rows(
      `SELECT b.*, (SELECT count(*) FROM host_batch_requests o WHERE o.batch_id = b.batch_id AND o.ts = b.ts) - 1 AS batch_mates
       FROM host_batch_requests r JOIN host_batches b ON b.batch_id = r.batch_id AND b.ts = r.ts WHERE r.request_id = $1 ORDER BY b.ts`,
      [requestId],
      r,
    )
    const fallbacks = await this.#rows('SELECT * FROM host_fallbacks WHERE request_id = $1 ORDER BY ts', [requestId], r)
    const samples = await this.#rows('SELECT * FROM samples WHERE request_id = $1 ORDER BY ts', [requestId], r)
    return { request, batches, fallbacks, samples }
  }

  /** Samples the payload sink has not written yet. */
  async unexportedSamples(): Promise<number> {
    return Number((await this.#rows('SELECT count(*) AS n FROM samples WHERE NOT exported', [], this.reader))[0]!.n)
  }

  /** The oldest `limit` samples the payload sink has not written, with their rowids (on the writer's connection: call it inside exclusive()). */
  async samplesToExport(limit: number): Promise<{ rowid: number; sample: PayloadSampleEvent }[]> {
    const rows = await this.#rows('SELECT rowid AS _rowid, * FROM samples WHERE NOT exported ORDER BY ts LIMIT $1', [limit])
    return rows.map((r) => ({ rowid: Number(r._rowid), sample: sampleOf(r) }))
  }

  /**
   * The newest `limit` sample events since `since` (ms), oldest first: what
   * the drift monitor had in its window before a restart. Only those taken
   * by rate: the others never enter it.
   */
  async rateSamplesSince(since: number, limit: number): Promise<PayloadSampleEvent[]> {
    const rows = await this.#rows(
      `SELECT * FROM (SELECT * FROM samples WHERE ts >= $1 AND reason LIKE 'rate%' ORDER BY ts DESC LIMIT $2) ORDER BY ts`,
      [since, limit],
      this.reader,
    )
    return rows.map(sampleOf)
  }

  async #appendRaw(raw: Changes['raw']): Promise<void> {
    if (raw.requests.length > 0) {
      await this.#append('request_events', raw.requests, (a, e) => {
        a.appendBigInt(BigInt(e.ts)); a.appendVarchar(e.request_id); a.appendVarchar(e.service); a.appendVarchar(e.route); a.appendVarchar(e.model)
        a.appendVarchar(e.version); a.appendVarchar(e.variant); a.appendVarchar(e.cluster); a.appendVarchar(e.upstream); a.appendInteger(e.status)
        a.appendUBigInt(BigInt(e.flags)); a.appendBoolean(e.fallback); a.appendUBigInt(BigInt(e.duration_us)); a.appendVarchar(e.traceparent)
      })
    }
    if (raw.batches.length > 0) {
      await this.#append('host_batches', raw.batches, (a, e) => {
        a.appendBigInt(BigInt(e.ts)); a.appendVarchar(e.batch_id); a.appendVarchar(e.host); a.appendVarchar(e.model); a.appendVarchar(e.version)
        a.appendUInteger(e.request_ids.length); a.appendUInteger(e.rows); a.appendUInteger(e.max_batch_rows); a.appendDouble(e.queue_wait_ms)
        a.appendDouble(e.execution_ms); a.appendUInteger(e.queue_depth); a.appendVarchar(e.device); a.appendBoolean(e.ok)
      })
      const members = raw.batches.flatMap((b) => b.request_ids.map((id, i) => ({ ts: b.ts, batch: b.batch_id, id, tp: b.traceparents[i] ?? '' })))
      await this.#append('host_batch_requests', members, (a, m) => {
        a.appendBigInt(BigInt(m.ts)); a.appendVarchar(m.batch); a.appendVarchar(m.id); a.appendVarchar(m.tp)
      })
    }
    if (raw.fallbacks.length > 0) {
      await this.#append('host_fallbacks', raw.fallbacks, (a, e) => {
        a.appendBigInt(BigInt(e.ts)); a.appendVarchar(e.host); a.appendVarchar(e.model); a.appendVarchar(e.version); a.appendVarchar(e.request_id)
        a.appendVarchar(e.traceparent); appendNullable(a, e.fallback_model); a.appendVarchar(e.reason)
      })
    }
    if (raw.samples.length > 0) {
      await this.#append('samples', raw.samples, (a, e) => {
        a.appendBigInt(BigInt(e.ts)); a.appendVarchar(e.request_id); a.appendVarchar(e.traceparent); a.appendVarchar(e.model); a.appendVarchar(e.version)
        a.appendVarchar(e.variant); a.appendVarchar(e.reason)
        if (e.confidence === null) a.appendNull()
        else a.appendDouble(e.confidence)
        a.appendInteger(e.status); a.appendVarchar(e.request); a.appendBoolean(e.request_truncated); a.appendVarchar(e.response); a.appendBoolean(e.response_truncated)
        a.appendBoolean(false) // exported
      })
    }
  }

  async #append<T>(table: string, items: T[], row: (a: DuckDBAppender, item: T) => void): Promise<void> {
    const a = await this.db.createAppender(table)
    try {
      for (const item of items) {
        row(a, item)
        a.endRow()
      }
      a.flushSync()
    } finally {
      a.closeSync()
    }
  }

  async #rows(sql: string, values?: DuckDBValue[], connection = this.db): Promise<Row[]> {
    return (await connection.runAndReadAll(sql, values)).getRowObjects()
  }
}

export interface ReviewItem {
  sample: PayloadSampleEvent
  /** The label a person gave (any JSON value), null while pending. */
  label: unknown
  labelled_by: string | null
  labelled_at: number | null
}

function reviewItemOf(r: Row): ReviewItem {
  return {
    sample: sampleOf(r),
    label: r.label === null ? null : JSON.parse(String(r.label)),
    labelled_by: r.labelled_by === null ? null : String(r.labelled_by),
    labelled_at: r.labelled_at === null ? null : Number(r.labelled_at),
  }
}

/** A samples row as the event it was. */
function sampleOf(r: Row): PayloadSampleEvent {
  return {
    v: 1, kind: 'sample', ts: Number(r.ts), request_id: String(r.request_id), traceparent: String(r.traceparent), model: String(r.model), version: String(r.version),
    variant: String(r.variant), reason: String(r.reason) as PayloadSampleEvent['reason'], confidence: r.confidence === null ? null : Number(r.confidence), status: Number(r.status),
    request: String(r.request), request_truncated: Boolean(r.request_truncated), response: String(r.response), response_truncated: Boolean(r.response_truncated),
  }
}

function appendNullable(a: DuckDBAppender, v: string | null): void {
  if (v === null) a.appendNull()
  else a.appendVarchar(v)
}

const labelsOf = (r: Row): SeriesLabels => ({ route: String(r.route), model: String(r.model), version: String(r.version), variant: String(r.variant) })

/** A minute row's failed requests (contracts' FAILED_CODE_CLASSES), from its code counts: SQL. */
const FAILED_SUM = FAILED_CODE_CLASSES.split('|').map((c) => `coalesce(CAST(json_extract_string(codes, '$."${c}"') AS UBIGINT), 0)`).join(' + ')

export interface StepTotal {
  /** Index of the step from the range's start. */
  step: number
  route: string
  variant: string
  requests: number
  failed: number
  fallbacks: number
}

function minuteEntry(r: Row): MinuteEntry {
  const sketch = r.sketch as { bytes: Uint8Array } | null
  return {
    minute: Number(r.minute_ms),
    labels: labelsOf(r),
    bucket: bucketFromRow({ requests: Number(r.requests), codes: String(r.codes), flags: String(r.flags), fallbacks: Number(r.fallbacks), duration_sum_ms: Number(r.duration_sum_ms), sketch: sketch?.bytes ?? new Uint8Array() }),
  }
}

const hostLabelsOf = (r: Row): HostLabels => ({ host: String(r.host), model: String(r.model), version: String(r.version) })

function hostMinuteEntry(r: Row): HostMinuteEntry {
  return { minute: Number(r.minute_ms), labels: hostLabelsOf(r), bucket: hostBucketFromJson(String(r.bucket)) }
}
