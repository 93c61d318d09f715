/**
 * @module
 * The payload sink: sampled payloads (masked by the sampler) as Parquet
 * files for analysts, enriched with what the event knows (request and
 * trace id, model, version, variant, status, confidence) and, where the
 * body is OIP JSON, the decoded input rows with their feature names and the
 * predicted scores. Hive-partitioned by model, date and hour
 * (`model=credit-risk/date=2026-12-01/hour=10/part-<uuid>.parquet`), zstd
 * compressed, written by DuckDB from the store's samples table: every
 * `flushMs`, or sooner once `maxRows` wait, at most `maxRows` rows per
 * write. A sample leaves the queue (its `exported` flag) only once its file
 * is written; a crash between the two writes that batch again, so a row
 * can appear twice (its request_id says so), never not at all. Partitions
 * past `retentionDays` are deleted.
 */
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { DOUBLE, LIST, listValue, VARCHAR, type DuckDBAppender } from '@duckdb/node-api'
import { ownerOnlyDir, type Baseline, type Log, type PayloadSampleEvent } from '@model-mesh/contracts'
import { inputRows, outputColumn } from '../analysis/oip-tensors.ts'
import type { ReviewItem, Store } from '../store/store.ts'

export interface PayloadSinkOptions {
  dir: string
  flushMs: number
  maxRows: number
  retentionDays: number
  /** The version's baseline, for feature names and the score column; null when it has none. */
  baselineOf: (model: string, version: string) => Baseline | null
  /**
   * The model as the files name it: one mesh.yaml names, else "other"
   * (the partition directory is named after it, so a posted event's model
   * name never picks a path). Default: as the event says.
   */
  modelLabel?: (model: string) => string
  /** Runs `work` with the store's writer to itself (the ingest's exclusive()). */
  exclusive: <T>(work: () => Promise<T>) => Promise<T>
  log: Log
}

export const DEFAULT_PAYLOAD_SINK = { flushMs: 60_000, maxRows: 10_000, retentionDays: 14 }

/** The columns of an enriched sample (appendEnriched writes them in this order). */
const ENRICHED_COLUMNS = `ts BIGINT, date VARCHAR, hour VARCHAR, request_id VARCHAR, trace_id VARCHAR, traceparent VARCHAR,
  model VARCHAR, version VARCHAR, variant VARCHAR, status INTEGER, confidence DOUBLE, reason VARCHAR,
  feature_names VARCHAR[], input_rows DOUBLE[][], scores DOUBLE[],
  request VARCHAR, request_truncated BOOLEAN, response VARCHAR, response_truncated BOOLEAN`

/** The batch being written, on the writer's connection. */
const BATCH_TABLE = `CREATE TEMP TABLE IF NOT EXISTS sink_batch (_rowid BIGINT, ${ENRICHED_COLUMNS})`
/** A labelled set being exported. */
const LABELLED_TABLE = `CREATE TEMP TABLE IF NOT EXISTS labelled_export (${ENRICHED_COLUMNS}, label VARCHAR, labelled_by VARCHAR, labelled_at BIGINT)`

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`

/** The trace id of a W3C traceparent (version-traceid-parentid-flags), "" when there is none. */
export function traceIdOf(traceparent: string): string {
  const m = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent)
  return m ? m[1]! : ''
}

export class PayloadSink {
  #timer: NodeJS.Timeout | undefined
  #lastFlush = Date.now()
  #lastRetention = 0
  #running: Promise<void> = Promise.resolve()
  /** Rows written to Parquet since the start. */
  written = 0

  constructor(
    readonly store: Store,
    readonly opts: PayloadSinkOptions,
  ) {}

  start(): void {
    ownerOnlyDir(this.opts.dir)
    this.#timer = setInterval(() => void this.tick(), Math.min(this.opts.flushMs, 5000))
    this.#timer.unref()
  }

  async close(): Promise<void> {
    clearInterval(this.#timer)
    await this.#running
  }

  /** A flush when it is time or enough rows wait; the retention now and then. */
  tick(now = Date.now()): Promise<void> {
    this.#running = this.#running.then(async () => {
      try {
        if (now - this.#lastFlush >= this.opts.flushMs || (await this.store.samples.unexported()) >= this.opts.maxRows)
          await this.flush(now)
        if (now - this.#lastRetention >= 3_600_000) {
          this.#lastRetention = now
          await this.enforceRetention(now)
        }
      } catch (e) {
        this.opts.log('warn', 'payload sink failed; trying again at the next flush', { err: e })
      }
    })
    return this.#running
  }

  /** Writes every sample not yet exported, `maxRows` at a time. */
  async flush(now = Date.now()): Promise<number> {
    this.#lastFlush = now
    let total = 0
    for (;;) {
      const n = await this.opts.exclusive(() => this.#writeBatch())
      total += n
      if (n < this.opts.maxRows) return total
    }
  }

  async #writeBatch(): Promise<number> {
    const db = this.store.database.writer
    const rows = await this.store.samples.toExport(this.opts.maxRows)
    if (rows.length === 0) return 0
    await db.run(BATCH_TABLE)
    await db.run('DELETE FROM sink_batch')
    const a = await db.createAppender('sink_batch', 'main', 'temp')
    try {
      for (const { rowid, sample } of rows) {
        a.appendBigInt(BigInt(rowid))
        appendEnriched(
          a,
          { ...sample, model: this.opts.modelLabel?.(sample.model) ?? sample.model },
          this.opts.baselineOf(sample.model, sample.version),
        )
        a.endRow()
      }
      a.flushSync()
    } finally {
      a.closeSync()
    }
    await db.run(
      `COPY (SELECT to_timestamp(ts / 1000.0) AS time, * EXCLUDE (_rowid) FROM sink_batch) TO ${sqlString(this.opts.dir)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (model, date, hour), FILENAME_PATTERN 'part-{uuid}', OVERWRITE_OR_IGNORE)`,
    )
    await db.run('UPDATE samples SET exported = TRUE FROM sink_batch WHERE samples.rowid = sink_batch._rowid')
    await db.run('DELETE FROM sink_batch')
    this.written += rows.length
    return rows.length
  }

  /** Deletes the hour partitions older than the retention. */
  async enforceRetention(now = Date.now()): Promise<void> {
    const cutoff = now - this.opts.retentionDays * 86_400_000
    for (const model of await dirs(this.opts.dir, 'model=')) {
      for (const date of await dirs(join(this.opts.dir, model), 'date=')) {
        for (const hour of await dirs(join(this.opts.dir, model, date), 'hour=')) {
          const start = Date.parse(`${date.slice(5)}T${hour.slice(5).padStart(2, '0')}:00:00Z`)
          // An hour whose every row is past the retention (its end before the cutoff).
          if (Number.isFinite(start) && start + 3_600_000 <= cutoff)
            await rm(join(this.opts.dir, model, date, hour), { recursive: true, force: true })
        }
        if ((await readdir(join(this.opts.dir, model, date))).length === 0)
          await rm(join(this.opts.dir, model, date), { recursive: true, force: true })
      }
    }
  }
}

async function dirs(dir: string, prefix: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true }).catch(() => []))
    .filter((e) => e.isDirectory() && e.name.startsWith(prefix))
    .map((e) => e.name)
}

/**
 * Writes labelled review items to one Parquet file (zstd): the sink's
 * columns, then label (JSON text), labelled_by and labelled_at. On the
 * store's writer: call it inside exclusive().
 */
export async function writeLabelled(
  store: Store,
  items: ReviewItem[],
  file: string,
  baselineOf: PayloadSinkOptions['baselineOf'],
): Promise<void> {
  const db = store.database.writer
  await db.run(LABELLED_TABLE)
  await db.run('DELETE FROM labelled_export')
  const a = await db.createAppender('labelled_export', 'main', 'temp')
  try {
    for (const item of items) {
      appendEnriched(a, item.sample, baselineOf(item.sample.model, item.sample.version))
      a.appendVarchar(JSON.stringify(item.label))
      a.appendVarchar(item.labelled_by ?? '')
      a.appendBigInt(BigInt(item.labelled_at ?? 0))
      a.endRow()
    }
    a.flushSync()
  } finally {
    a.closeSync()
  }
  await db.run(
    `COPY (SELECT to_timestamp(ts / 1000.0) AS time, * FROM labelled_export ORDER BY ts) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`,
  )
  await db.run('DELETE FROM labelled_export')
}

/** One sample's ENRICHED_COLUMNS: what the event says, and what its OIP bodies hold. */
function appendEnriched(a: DuckDBAppender, s: PayloadSampleEvent, baseline: Baseline | null): void {
  const time = new Date(s.ts)
  const rows = s.request_truncated ? null : inputRows(s.request, baseline?.features.length)
  const scores =
    baseline && !s.response_truncated
      ? outputColumn(s.response, baseline.prediction.output, baseline.prediction.class_index)
      : null
  a.appendBigInt(BigInt(s.ts))
  a.appendVarchar(time.toISOString().slice(0, 10))
  a.appendVarchar(String(time.getUTCHours()).padStart(2, '0'))
  a.appendVarchar(s.request_id)
  a.appendVarchar(traceIdOf(s.traceparent))
  a.appendVarchar(s.traceparent)
  a.appendVarchar(s.model)
  a.appendVarchar(s.version)
  a.appendVarchar(s.variant)
  a.appendInteger(s.status)
  if (s.confidence === null) a.appendNull()
  else a.appendDouble(s.confidence)
  a.appendVarchar(s.reason)
  if (baseline && rows)
    a.appendList(
      baseline.features.map((f) => f.name),
      LIST(VARCHAR),
    )
  else a.appendNull()
  if (rows)
    a.appendList(
      rows.map((r) => listValue(r)),
      LIST(LIST(DOUBLE)),
    )
  else a.appendNull()
  if (scores) a.appendList(scores, LIST(DOUBLE))
  else a.appendNull()
  a.appendVarchar(s.request)
  a.appendBoolean(s.request_truncated)
  a.appendVarchar(s.response)
  a.appendBoolean(s.response_truncated)
}
