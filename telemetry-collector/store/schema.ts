/**
 * @module
 * The store's tables, in one place: their DDL, the parameter types their
 * rows are bound with, and the one migration a store from an older
 * collector needs.
 */
import {
  BIGINT,
  BLOB,
  BOOLEAN,
  DOUBLE,
  INTEGER,
  UBIGINT,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBType,
} from '@duckdb/node-api'
import { OTHER } from '../state/aggregator.ts'

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
-- Why each request's event was kept (comma-separated KEPT_REASONS; a store from before stories gains the column).
ALTER TABLE request_events ADD COLUMN IF NOT EXISTS kept VARCHAR DEFAULT 'every_request';
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

/**
 * The parameter types of each table's rows, in column order. Values are
 * bound with these, never with types inferred from JS values: an
 * integer-valued number would otherwise be bound as BIGINT, and one past
 * 64 bits refused (a confidence of -9.3e18 crash-looped the collector).
 */
export const COLUMN_TYPES = {
  signal_totals: [VARCHAR, VARCHAR, VARCHAR, VARCHAR, VARCHAR, UBIGINT, UBIGINT, DOUBLE, VARCHAR],
  signal_minutes: [BIGINT, VARCHAR, VARCHAR, VARCHAR, VARCHAR, UBIGINT, VARCHAR, VARCHAR, UBIGINT, DOUBLE, BLOB],
  host_minutes: [BIGINT, VARCHAR, VARCHAR, VARCHAR, VARCHAR],
  host_totals: [VARCHAR, VARCHAR, VARCHAR, VARCHAR],
  host_saturation: [VARCHAR, VARCHAR, VARCHAR, BIGINT, UBIGINT, UBIGINT, UBIGINT],
  pipeline_totals: [INTEGER, VARCHAR],
  consumer_state: [VARCHAR, UBIGINT],
  /** The columns review.ts inserts. */
  review_items: [
    VARCHAR,
    BIGINT,
    VARCHAR,
    VARCHAR,
    VARCHAR,
    VARCHAR,
    VARCHAR,
    DOUBLE,
    INTEGER,
    VARCHAR,
    BOOLEAN,
    VARCHAR,
    BOOLEAN,
  ],
} as const satisfies Record<string, readonly DuckDBType[]>

export type TypedTable = keyof typeof COLUMN_TYPES

/**
 * A store from before host rollups were per host keyed them by model and
 * version only. Their rows move to host `other` (which host ran them is not
 * known); DuckDB cannot change a primary key in place, so each such table is
 * renamed, created anew by SCHEMA, and filled from the old one.
 */
const HOST_ROLLUPS = ['host_minutes', 'host_totals']

/** Creates what is missing, migrating an older store, in one transaction. */
export async function createSchema(db: DuckDBConnection): Promise<void> {
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
