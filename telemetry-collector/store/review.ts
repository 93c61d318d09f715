/**
 * @module
 * The review queue in the store: low-confidence predictions for a person to
 * label (added in the commit's transaction), and their labels.
 */
import type { DuckDBValue } from '@duckdb/node-api'
import type { PayloadSampleEvent, ReviewItemEvent } from '@model-mesh/contracts'
import type { Database, Row } from './database.ts'
import { sampleOf } from './samples.ts'

export interface ReviewItem {
  sample: PayloadSampleEvent
  /** The label a person gave (any JSON value), null while pending. */
  label: unknown
  labelled_by: string | null
  labelled_at: number | null
}

/** The columns an item is added with (COLUMN_TYPES.review_items'); the label's come later. */
const ADDED_COLUMNS = [
  'request_id',
  'ts',
  'traceparent',
  'model',
  'version',
  'variant',
  'reason',
  'confidence',
  'status',
  'request',
  'request_truncated',
  'response',
  'response_truncated',
]

export class Review {
  constructor(private readonly db: Database) {}

  /** New review items; one already there (a redelivery, or labelled) is left as it is. */
  async add(items: ReviewItemEvent[]): Promise<void> {
    const rows = items.map((e): DuckDBValue[] => [
      e.request_id,
      e.ts,
      e.traceparent,
      e.model,
      e.version,
      e.variant,
      e.reason,
      e.confidence,
      e.status,
      e.request,
      e.request_truncated,
      e.response,
      e.response_truncated,
    ])
    await this.db.insert('review_items', rows, ADDED_COLUMNS)
  }

  /** Review items, oldest first: pending ones (no label yet), labelled ones, or all. */
  async items(o: { model?: string; status: 'pending' | 'labelled' | 'all'; limit: number }): Promise<ReviewItem[]> {
    const where = [
      o.model !== undefined ? 'model = $2' : 'TRUE',
      o.status === 'pending' ? 'label IS NULL' : o.status === 'labelled' ? 'label IS NOT NULL' : 'TRUE',
    ].join(' AND ')
    const rows = await this.db.rows(
      `SELECT * FROM review_items WHERE ${where} ORDER BY ts, request_id LIMIT $1`,
      o.model !== undefined ? [o.limit, o.model] : [o.limit],
      this.db.reader,
    )
    return rows.map(reviewItemOf)
  }

  /** Labels one item (again, if it was: the latest label stands); null when there is no such item. Writes: call it inside exclusive(). */
  async label(requestId: string, label: unknown, by: string, at: number): Promise<ReviewItem | null> {
    const rows = await this.db.rows(
      'UPDATE review_items SET label = $2, labelled_by = $3, labelled_at = $4 WHERE request_id = $1 RETURNING *',
      [requestId, JSON.stringify(label), by, at],
    )
    return rows[0] ? reviewItemOf(rows[0]) : null
  }
}

function reviewItemOf(r: Row): ReviewItem {
  return {
    sample: sampleOf(r),
    label: r.label === null ? null : JSON.parse(String(r.label)),
    labelled_by: r.labelled_by === null ? null : String(r.labelled_by),
    labelled_at: r.labelled_at === null ? null : Number(r.labelled_at),
  }
}
