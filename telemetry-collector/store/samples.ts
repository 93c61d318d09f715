/**
 * @module
 * Sampled payloads in the store (appended with the raw events, events.ts):
 * what the payload sink has still to write, and the rate samples the drift
 * monitor refills its windows from after a restart.
 */
import type { PayloadSampleEvent } from '@model-mesh/contracts'
import type { Database, Row } from './database.ts'

export class Samples {
  constructor(private readonly db: Database) {}

  /** Samples the payload sink has not written yet. */
  async unexported(): Promise<number> {
    return Number(
      (await this.db.rows('SELECT count(*) AS n FROM samples WHERE NOT exported', [], this.db.reader))[0]!.n,
    )
  }

  /** The oldest `limit` samples the payload sink has not written, with their rowids (on the writer's connection: call it inside exclusive()). */
  async toExport(limit: number): Promise<{ rowid: number; sample: PayloadSampleEvent }[]> {
    const rows = await this.db.rows('SELECT rowid AS _rowid, * FROM samples WHERE NOT exported ORDER BY ts LIMIT $1', [
      limit,
    ])
    return rows.map((r) => ({ rowid: Number(r._rowid), sample: sampleOf(r) }))
  }

  /**
   * The newest `limit` sample events since `since` (ms), oldest first: what
   * the drift monitor had in its window before a restart. Only those taken
   * by rate: the others never enter it.
   */
  async rateSince(since: number, limit: number): Promise<PayloadSampleEvent[]> {
    const rows = await this.db.rows(
      `SELECT * FROM (SELECT * FROM samples WHERE ts >= $1 AND reason LIKE 'rate%' ORDER BY ts DESC LIMIT $2) ORDER BY ts`,
      [since, limit],
      this.db.reader,
    )
    return rows.map(sampleOf)
  }

  /** Deletes samples before `before` (ms); with `keepUnexported`, only those the payload sink has written (its promise: never lost). */
  async prune(before: number, keepUnexported: boolean): Promise<void> {
    await this.db.writer.run(`DELETE FROM samples WHERE ts < $1${keepUnexported ? ' AND exported' : ''}`, [before])
  }
}

/** A samples (or review_items) row as the event it was. */
export function sampleOf(r: Row): PayloadSampleEvent {
  return {
    v: 1,
    kind: 'sample',
    ts: Number(r.ts),
    request_id: String(r.request_id),
    traceparent: String(r.traceparent),
    model: String(r.model),
    version: String(r.version),
    variant: String(r.variant),
    reason: String(r.reason) as PayloadSampleEvent['reason'],
    confidence: r.confidence === null ? null : Number(r.confidence),
    status: Number(r.status),
    request: String(r.request),
    request_truncated: Boolean(r.request_truncated),
    response: String(r.response),
    response_truncated: Boolean(r.response_truncated),
  }
}
