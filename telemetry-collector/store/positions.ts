/**
 * @module
 * Where each consumer stands: the stream sequence it has applied and, per
 * agent start, the highest batch (written in the same transaction as what
 * it applied, store.ts), and when each
 * stream those positions refer to was created, so that a stream made anew
 * is read from its start.
 */
import type { Database } from './database.ts'

export class Positions {
  constructor(private readonly db: Database) {}

  /** Each consumer's applied stream sequence. */
  async load(): Promise<Map<string, number>> {
    const seqs = new Map<string, number>()
    for (const r of await this.db.rows('SELECT * FROM consumer_state'))
      seqs.set(String(r.consumer), Number(r.stream_seq))
    return seqs
  }

  /** Inside the commit's transaction. */
  async write(seqs: Map<string, number>): Promise<void> {
    await this.db.insert(
      'consumer_state',
      [...seqs].map(([consumer, seq]) => [consumer, seq]),
    )
  }

  /** When the stream the stored positions refer to was created. */
  async streamCreated(stream: string): Promise<string | undefined> {
    const rows = await this.db.rows('SELECT created FROM stream_identity WHERE stream = $1', [stream])
    return rows[0] ? String(rows[0].created) : undefined
  }

  /** A stream was created anew: its consumers start from its beginning. */
  async resetStream(stream: string, created: string, durables: string[]): Promise<void> {
    await this.db.transaction(async () => {
      await this.db.writer.run('INSERT OR REPLACE INTO stream_identity VALUES ($1, $2)', [stream, created])
      // Its position, and the highest batch it applied of each agent start (`<durable>@<source>`, consumers.ts).
      for (const d of durables)
        await this.db.writer.run('DELETE FROM consumer_state WHERE consumer = $1 OR starts_with(consumer, $2)', [
          d,
          `${d}@`,
        ])
    })
  }
}
