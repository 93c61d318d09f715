/**
 * @module
 * Canary walks in the store: each walk's state (one per route and canary
 * version) and everything each did, kept as JSON. Their shapes are the
 * walker's (analysis/canary-walk.ts); the store needs only their keys.
 */
import type { Database } from './database.ts'

/** What the store reads of a walk's state. */
export interface WalkKey {
  route: string
  canary_version: string
}

/** What the store reads of a walk's event. */
export interface WalkRecord extends WalkKey {
  ts: number
}

export class Walks {
  constructor(private readonly db: Database) {}

  async load<W extends WalkKey>(): Promise<W[]> {
    return (await this.db.rows('SELECT state FROM canary_walks', [], this.db.reader)).map(
      (r) => JSON.parse(String(r.state)) as W,
    )
  }

  /** A walk's state and what it just did, together. Writes: call it inside exclusive(). */
  async save<E extends WalkRecord>(w: WalkKey, e: E): Promise<void> {
    await this.db.transaction(async () => {
      await this.db.writer.run('INSERT OR REPLACE INTO canary_walks VALUES ($1, $2, $3)', [
        w.route,
        w.canary_version,
        JSON.stringify(w),
      ])
      await this.db.writer.run('INSERT INTO canary_walk_events VALUES ($1, $2, $3, $4)', [
        e.ts,
        e.route,
        e.canary_version,
        JSON.stringify(e),
      ])
    })
  }

  /** Everything the walks of a route did, oldest first. */
  async events<E extends WalkRecord>(route: string): Promise<E[]> {
    return (
      await this.db.rows(
        'SELECT event FROM canary_walk_events WHERE route = $1 ORDER BY ts, rowid',
        [route],
        this.db.reader,
      )
    ).map((r) => JSON.parse(String(r.event)) as E)
  }
}
