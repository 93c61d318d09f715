/**
 * @module
 * The store's one DuckDB database and its two connections: the applier's
 * writer (one transaction at a time, never shared with readers) and the
 * API's reader (it sees only what was committed); and the few ways the
 * concerns of the store (signals.ts, events.ts, samples.ts, review.ts,
 * walks.ts, positions.ts) talk to it.
 */
import { join } from 'node:path'
import {
  DuckDBInstance,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api'
import { ownerOnlyDir } from '@model-mesh/contracts'
import { COLUMN_TYPES, createSchema, type TypedTable } from './schema.ts'

export type Row = Record<string, DuckDBValue>

/** Rows per statement: DuckDB's cost is per statement far more than per row, but a statement should stay a sane size. */
const CHUNK = 500

/** Parameter types for `rows` rows of a table's columns. */
const typesOf = (columns: readonly DuckDBType[], rows: number): DuckDBType[] =>
  Array.from({ length: rows }, () => columns).flat()

export class Database {
  private constructor(
    readonly instance: DuckDBInstance,
    /** The applier's: one transaction at a time, never shared with readers. */
    readonly writer: DuckDBConnection,
    /** The API's: it sees only what was committed. */
    readonly reader: DuckDBConnection,
  ) {}

  static async open(dir: string): Promise<Database> {
    // It holds the sampled payloads.
    ownerOnlyDir(dir)
    const instance = await DuckDBInstance.create(join(dir, 'collector.duckdb'))
    const writer = await instance.connect()
    // One thread: the collector's statements are small, and DuckDB's pool would take the cores Envoy and the hosts need.
    await writer.run('SET threads = 1')
    await createSchema(writer)
    return new Database(instance, writer, await instance.connect())
  }

  close(): void {
    this.reader.closeSync()
    this.writer.closeSync()
    this.instance.closeSync()
  }

  async rows(sql: string, values?: DuckDBValue[], connection = this.writer): Promise<Row[]> {
    return (await connection.runAndReadAll(sql, values)).getRowObjects()
  }

  /** `work` in one transaction on the writer: committed whole, or rolled back and its error thrown. */
  async transaction(work: () => Promise<void>): Promise<void> {
    await this.writer.run('BEGIN TRANSACTION')
    try {
      await work()
      await this.writer.run('COMMIT')
    } catch (e) {
      await this.writer.run('ROLLBACK').catch(() => {})
      throw e
    }
  }

  /**
   * Many rows in few statements, bound with the table's types: `INSERT OR
   * REPLACE` of every column, or with `columns`, `INSERT OR IGNORE` of those.
   */
  async insert(table: TypedTable, rows: DuckDBValue[][], columns?: string[]): Promise<void> {
    const types = COLUMN_TYPES[table]
    const width = types.length
    const into = columns ? `INSERT OR IGNORE INTO ${table} (${columns.join(', ')})` : `INSERT OR REPLACE INTO ${table}`
    for (let at = 0; at < rows.length; at += CHUNK) {
      const chunk = rows.slice(at, at + CHUNK)
      const tuples = chunk.map(
        (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`,
      )
      await this.writer.run(`${into} VALUES ${tuples.join(', ')}`, chunk.flat(), typesOf(types, chunk.length))
    }
  }

  /** Appends rows to a table through DuckDB's appender (the raw events: many, never updated). */
  async append<T>(table: string, items: T[], row: (a: DuckDBAppender, item: T) => void): Promise<void> {
    if (items.length === 0) return
    const a = await this.writer.createAppender(table)
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
}
