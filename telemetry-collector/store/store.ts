/**
 * @module
 * The collector's embedded store (DuckDB), one database split by concern:
 * golden signals (signals.ts), raw events for one request's story
 * (events.ts), sampled payloads (samples.ts), the review queue (review.ts),
 * canary walks (walks.ts) and the consumers' positions (positions.ts).
 *
 * A commit writes what the applied messages changed and, in the same
 * transaction, the stream sequence each consumer has applied. A message is
 * acknowledged to JetStream only after the transaction holding its effect
 * committed, and one whose sequence is not past the stored one is not
 * applied again: so a redelivery never counts twice and a SIGKILLed
 * collector resumes with exact totals.
 */
import { noRawEvents, type Aggregator, type Changes, type RawEvents } from '../state/aggregator.ts'
import { Database } from './database.ts'
import { Events } from './events.ts'
import { Positions } from './positions.ts'
import { Review } from './review.ts'
import { Samples } from './samples.ts'
import { Signals } from './signals.ts'
import { Walks } from './walks.ts'

export interface Retention {
  /** Minute rollups (default 30 days). */
  rollupDays: number
  /** Raw request, batch and fallback events, for one request's story (default 24 hours). */
  rawHours: number
  /** Sampled payloads (default 14 days). */
  sampleDays: number
}

export const DEFAULT_RETENTION: Retention = { rollupDays: 30, rawHours: 24, sampleDays: 14 }

export class Store {
  readonly signals: Signals
  readonly events: Events
  readonly samples: Samples
  readonly review: Review
  readonly walks: Walks
  readonly positions: Positions

  /** A payload sink writes the samples: pruning leaves those it has not written yet. */
  keepUnexported = false

  private constructor(
    readonly database: Database,
    readonly retention: Retention,
  ) {
    this.signals = new Signals(database)
    this.events = new Events(database)
    this.samples = new Samples(database)
    this.review = new Review(database)
    this.walks = new Walks(database)
    this.positions = new Positions(database)
  }

  static async open(dir: string, retention: Retention = DEFAULT_RETENTION): Promise<Store> {
    return new Store(await Database.open(dir), retention)
  }

  close(): void {
    this.database.close()
  }

  /** Fills the aggregator from the store; returns each consumer's applied stream sequence. */
  async load(agg: Aggregator, now = Date.now()): Promise<Map<string, number>> {
    await this.signals.load(agg, now)
    return this.positions.load()
  }

  /** Writes what changed and the consumers' sequences in one transaction. */
  async commit(changes: Changes, seqs: Map<string, number>): Promise<void> {
    await this.database.transaction(async () => {
      await this.signals.write(changes)
      await this.positions.write(seqs)
      await this.events.append(changes.raw)
      await this.review.add(changes.raw.reviews)
    })
  }

  /**
   * The raw events of `raw` the store refuses, each tried alone in a
   * transaction rolled back: after a commit failed, these are what it can
   * skip (counted) so that one bad event never stops the consumer.
   */
  async refusedRaw(raw: RawEvents): Promise<RawEvents> {
    const refused = noRawEvents()
    const writer = this.database.writer
    for (const kind of Object.keys(raw) as (keyof RawEvents)[]) {
      for (const e of raw[kind]) {
        const one = { ...noRawEvents(), [kind]: [e] }
        await writer.run('BEGIN TRANSACTION')
        try {
          await this.events.append(one)
          await this.review.add(one.reviews)
        } catch {
          ;(refused[kind] as unknown[]).push(e)
        } finally {
          await writer.run('ROLLBACK').catch(() => {})
        }
      }
    }
    return refused
  }

  /** Deletes what is past its retention. */
  async prune(now = Date.now()): Promise<void> {
    const r = this.retention
    await this.signals.prune(now - r.rollupDays * 86_400_000)
    await this.events.prune(now - r.rawHours * 3_600_000)
    // With a payload sink, a sample it has not written yet stays until it has (the sink's promise: never lost).
    await this.samples.prune(now - r.sampleDays * 86_400_000, this.keepUnexported)
  }
}

export type { ReviewItem } from './review.ts'
export type { StepTotal } from './signals.ts'
