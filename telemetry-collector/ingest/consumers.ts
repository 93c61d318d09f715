/**
 * @module
 * From JetStream to the store. One durable pull consumer per stream and
 * model token this collector owns (collectors share the work by owning
 * disjoint models; the sequence each consumer applied is stored with the
 * state, and each start positions the consumer just past it). Messages gather in an inbox; the applier takes them all, applies
 * them in delivery order, commits once, then acknowledges them. A message
 * whose sequence is not past the consumer's stored one was applied before
 * a crash: it is acknowledged and skipped; so is an agent's batch whose
 * number is not past the highest of that agent start's batches applied
 * (stored the same way): one published again after JetStream's duplicate
 * window. A bad line, a message that
 * cannot be read or inflates past MAX_INFLATED_MESSAGE_BYTES, and an event
 * the store refuses are counted and skipped (acknowledged), never failing
 * the others: one bad message must never stop the consumer. Only a store
 * that fails with no event to blame stops the process, since memory is then
 * ahead of the store (the supervisor restarts it and JetStream redelivers
 * what was not acknowledged).
 */
import {
  AckPolicy,
  DeliverPolicy,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { inflateRawSync } from 'node:zlib'
import {
  batchOf,
  decodeLine,
  DEFLATE,
  ENCODING_HEADER,
  EVENT_COUNT_HEADER,
  eventCount,
  isWorkQueueTaken,
  MAX_INFLATED_MESSAGE_BYTES,
  MESSAGE_ID_HEADER,
  STREAMS,
  subjectOf,
  type Log,
  type StreamKey,
  type TelemetryEvent,
} from '@model-mesh/contracts'
import type { Aggregator, Changes, RawEvents } from '../state/aggregator.ts'
import type { Store } from '../store/store.ts'

/** The streams a collector reads. */
export const CONSUMED_STREAMS: StreamKey[] = ['requests', 'host', 'payloads', 'review']

export interface ConsumerSpec {
  /** Durable consumer name, also the key of its stored sequence. */
  durable: string
  stream: string
  filter: string
  key: StreamKey
  token: string
}

/**
 * The consumers of a collector named `name` owning `tokens`. Collectors with
 * different names each read everything (a replica); collectors sharing the
 * work have one name and disjoint tokens, so each message is applied once.
 */
export function consumerSpecs(name: string, tokens: string[]): ConsumerSpec[] {
  return CONSUMED_STREAMS.flatMap((key) =>
    tokens.map((token) => ({
      durable: `${name}-${key}-${token}`,
      stream: STREAMS[key].name,
      filter: subjectOf(key, token),
      key,
      token,
    })),
  )
}

/** Where a consumer's highest applied batch of one agent start is kept, beside its stream position. */
export const sourceKey = (durable: string, source: string) => `${durable}@${source}`

interface Delivered {
  spec: ConsumerSpec
  msg: JsMsg
  /** The consumer's generation when delivered: deliveries from before a reposition are dropped. */
  generation: number
}

export interface IngestOptions {
  /**
   * Apply at least this often while messages wait (ms; default 1000). A
   * commit costs DuckDB a few ms per statement whatever it holds, so
   * committing often is what costs CPU, not the events.
   */
  applyIntervalMs?: number
  /** Apply at once when this many messages wait (default 2000). */
  applyBatchMessages?: number
  log: Log
  /** Called when the store failed: memory is ahead of it, so the process must restart. */
  onFatal: (e: Error) => void
  /**
   * Collectors sharing the work by leases: a model's review queue (a work
   * queue, one reader per model) is taken from the collector that held it
   * before, whose consumer is deleted.
   */
  takeOverQueues?: boolean
}

export class Ingest {
  readonly #inbox: Delivered[] = []
  readonly #consumers = new Map<string, Consumer>()
  /** Pending messages per consumer, from its info (refreshed every few seconds). */
  readonly pending = new Map<string, number>()
  #closed = false
  #applying: Promise<void> = Promise.resolve()
  #timer: NodeJS.Timeout | null = null
  #lagTimer: NodeJS.Timeout | null = null
  readonly #pulling = new Map<string, { close(): Promise<unknown> }>()
  /** The consumers being pulled: those of the models this collector consumes now. */
  readonly #active = new Set<string>()
  /** The consumers whose pull loop runs (a given-up one's may still be finishing when it is taken again). */
  readonly #loops = new Set<string>()
  /** Per consumer, bumped at each reposition. */
  readonly #generation = new Map<string, number>()
  lastApplyAt = 0

  constructor(
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly store: Store,
    readonly agg: Aggregator,
    /** Applied stream sequence per durable, from the store. */
    readonly seqs: Map<string, number>,
    readonly specs: ConsumerSpec[],
    readonly opts: IngestOptions,
  ) {}

  async start(): Promise<void> {
    await this.#consume(this.specs)
    const interval = this.opts.applyIntervalMs ?? 1000
    this.#timer = setInterval(() => this.#kick(), interval)
    this.#lagTimer = setInterval(() => void this.#refreshLag(), 2000)
    void this.#refreshLag()
  }

  /**
   * Consumes exactly these model tokens from now on (a collector sharing
   * the work took a model over, or gave one up): new ones start just past
   * what this store applied of them; given-up ones stop, what the inbox
   * holds of them still applied.
   */
  async consumeOnly(specs: ConsumerSpec[]): Promise<void> {
    const wanted = new Set(specs.map((s) => s.durable))
    const dropped = this.specs.filter((s) => !wanted.has(s.durable))
    const added = specs.filter((s) => !this.#active.has(s.durable))
    for (const spec of dropped) {
      this.#active.delete(spec.durable)
      this.#consumers.delete(spec.durable)
      this.pending.delete(spec.durable)
      // Not waited for: with NATS away, closing may not answer, and the loop ends on its own once inactive.
      void this.#pulling.get(spec.durable)?.close()
    }
    await this.#checkStreamIdentity(added)
    this.specs.splice(0, this.specs.length, ...specs)
    // Each consumer is made by its own pull loop, which retries on its own: one slow JetStream answer holds up no other.
    for (const spec of added) {
      this.#consumers.delete(spec.durable)
      this.#active.add(spec.durable)
      void this.#pull(spec)
    }
  }

  async #consume(specs: ConsumerSpec[]): Promise<void> {
    await this.#checkStreamIdentity(specs)
    // Positioned before any pulling starts, so a bad setting fails the start, not a loop.
    const skipped = new Set<string>()
    for (const spec of specs) {
      try {
        this.#consumers.set(spec.durable, await this.#resume(spec))
      } catch (e) {
        if (!this.#queueTaken(spec, e)) throw e
        skipped.add(spec.durable)
      }
    }
    for (const spec of specs)
      if (!skipped.has(spec.durable)) {
        this.#active.add(spec.durable)
        void this.#pull(spec)
      }
  }

  /**
   * The durable consumer, positioned just past the sequence the store says
   * was applied. JetStream's own ack state cannot be trusted after a crash:
   * messages the dead process held unacknowledged would come back only after
   * ack_wait, behind newer ones, and be mistaken for applied. The store is
   * the truth, so the consumer is created anew from it at every start.
   */
  async #resume(spec: ConsumerSpec): Promise<Consumer> {
    this.#generation.set(spec.durable, (this.#generation.get(spec.durable) ?? 0) + 1)
    const applied = this.seqs.get(spec.durable) ?? 0
    await this.jsm.consumers.delete(spec.stream, spec.durable).catch(() => false)
    if (this.opts.takeOverQueues && STREAMS[spec.key].retention === 'workqueue')
      for await (const c of this.jsm.consumers.list(spec.stream))
        if (c.name !== spec.durable && c.config.filter_subject === spec.filter)
          await this.jsm.consumers.delete(spec.stream, c.name).catch(() => false)
    await this.jsm.consumers.add(spec.stream, {
      durable_name: spec.durable,
      filter_subject: spec.filter,
      ack_policy: AckPolicy.Explicit,
      // A work queue holds only what no one acknowledged and takes no start position: from its start, the applied ones skipped by sequence.
      ...(applied > 0 && STREAMS[spec.key].retention !== 'workqueue'
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: applied + 1 }
        : { deliver_policy: DeliverPolicy.All }),
      ack_wait: nanos(30_000),
      max_ack_pending: 2000,
    })
    return this.js.consumers.get(spec.stream, spec.durable)
  }

  /**
   * Whether `e`, making `spec`'s consumer, says its review queue is read by
   * another collector: a work queue hands each item to one consumer, so a
   * replica (another collector name) cannot read it too. Said, not thrown.
   */
  #queueTaken(spec: ConsumerSpec, e: unknown): boolean {
    if (spec.key !== 'review' || !isWorkQueueTaken(e)) return false
    this.opts.log('warn', 'review queue read by another collector: this one lists none of its items', {
      filter: spec.filter,
      err: e,
    })
    return true
  }

  /**
   * A stream deleted and created again starts its sequences at 1: positions
   * stored for the old one would skip the new one's messages. The stream's
   * creation time is stored with the positions; when it differs, they are
   * reset, in one transaction.
   */
  async #checkStreamIdentity(specs: ConsumerSpec[]): Promise<void> {
    for (const stream of new Set(specs.map((s) => s.stream))) {
      const created = (await this.jsm.streams.info(stream)).created
      const stored = await this.store.positions.streamCreated(stream)
      if (stored === created) continue
      const durables = specs.filter((s) => s.stream === stream).map((s) => s.durable)
      if (stored !== undefined)
        this.opts.log('warn', `stream ${stream} was created anew: reading it from its start`, {
          stream,
          was: stored,
          created,
        })
      await this.store.positions.resetStream(stream, created, durables)
      for (const key of [...this.seqs.keys()])
        if (durables.some((d) => key === d || key.startsWith(`${d}@`))) this.seqs.delete(key)
    }
  }

  /** Runs `work` between applies, never inside one (the store's connection is one transaction at a time). */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#applying.then(work)
    this.#applying = run.then(
      () => {},
      () => {},
    )
    return run
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer) clearInterval(this.#timer)
    if (this.#lagTimer) clearInterval(this.#lagTimer)
    for (const messages of this.#pulling.values()) await messages.close()
    await this.#applying
  }

  /**
   * NATS came back: messages in flight when the connection dropped may be
   * lost, and JetStream would send them again only after ack_wait, behind
   * newer ones. Every consumer is positioned again from the store.
   */
  reposition(): void {
    for (const messages of this.#pulling.values()) void messages.close()
  }

  /**
   * One loop per consumer, ever at once: two would take turns at its
   * messages, and the applier, which skips what is not past the position,
   * would skip the slower one's as applied.
   */
  async #pull(spec: ConsumerSpec): Promise<void> {
    if (this.#loops.has(spec.durable)) return
    this.#loops.add(spec.durable)
    try {
      await this.#pullLoop(spec)
    } finally {
      this.#loops.delete(spec.durable)
    }
  }

  async #pullLoop(spec: ConsumerSpec): Promise<void> {
    let consumer = this.#consumers.get(spec.durable)
    while (!this.#closed && this.#active.has(spec.durable)) {
      try {
        if (!consumer) {
          // What the inbox holds is applied first, so the stored position is as far as it can be.
          this.#kick()
          await this.#applying
          try {
            this.#consumers.set(spec.durable, (consumer = await this.#resume(spec)))
            // Given up while it was being made: left alone.
            if (!this.#active.has(spec.durable)) return
          } catch (e) {
            if (!this.#queueTaken(spec, e)) throw e
            this.#active.delete(spec.durable)
            return
          }
        }
        // A deleted consumer ends the loop (and is created again) rather than waiting forever.
        const messages = await consumer.consume({ max_messages: 500, abort_on_missing_resource: true })
        this.#pulling.set(spec.durable, messages)
        const generation = this.#generation.get(spec.durable)!
        for await (const msg of messages) {
          this.#inbox.push({ spec, msg, generation })
          if (this.#inbox.length >= (this.opts.applyBatchMessages ?? 2000)) this.#kick()
        }
      } catch (e) {
        if (this.#closed || !this.#active.has(spec.durable)) return
        this.opts.log('warn', 'consumer failed; pulling again', { consumer: spec.durable, err: e })
        await new Promise((r) => setTimeout(r, 500))
      }
      this.#pulling.delete(spec.durable)
      consumer = undefined
    }
  }

  #kick(): void {
    if (this.#inbox.length === 0) return
    this.exclusive(() => this.#applyInbox()).catch((e) => this.opts.onFatal(e as Error))
  }

  async #applyInbox(): Promise<void> {
    const delivered = this.#inbox.splice(0)
    if (delivered.length === 0) return
    const changedSeqs = new Map<string, number>()
    const toApply: TelemetryEvent[] = []
    const now = Date.now()
    const current = delivered.filter((d) => d.generation === this.#generation.get(d.spec.durable))
    for (const { spec, msg } of current) {
      if (msg.redelivered) this.agg.pipeline.redelivered++
      const applied = changedSeqs.get(spec.durable) ?? this.seqs.get(spec.durable) ?? 0
      if (msg.seq <= applied) {
        this.agg.pipeline.skipped++
        continue
      }
      changedSeqs.set(spec.durable, msg.seq)
      // A batch an agent published again after JetStream's duplicate window (a long partition, a spool replayed):
      // its start's highest batch applied, stored with this consumer's position, says it was applied.
      const batch = batchOf(msg.headers?.get(MESSAGE_ID_HEADER))
      if (batch) {
        const key = sourceKey(spec.durable, batch.source)
        if (batch.batch <= (changedSeqs.get(key) ?? this.seqs.get(key) ?? 0)) {
          this.agg.pipeline.skipped++
          continue
        }
        changedSeqs.set(key, batch.batch)
      }
      const text = payloadText(msg)
      if (typeof text !== 'string') {
        this.agg.refuse(text.refused, eventCount(msg.headers?.get(EVENT_COUNT_HEADER)))
        continue
      }
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue
        const d = decodeLine(line, now)
        if (d.ok) toApply.push(d.event)
        else this.agg.refuse(d.reason)
      }
    }
    // Late events whose minutes memory no longer holds merge into the stored rollups.
    const missing = this.agg.missingMinutes(toApply)
    for (const entry of await this.store.signals.loadMinutes(missing.requests)) this.agg.restoreMinute(entry)
    for (const entry of await this.store.signals.loadHostMinutes(missing.hosts)) this.agg.restoreHostMinute(entry)
    for (const e of toApply) this.agg.apply(e)
    await commitSkippingRefused(this.store, this.agg, this.agg.takeChanges(now), changedSeqs)
    for (const [durable, seq] of changedSeqs) this.seqs.set(durable, seq)
    this.lastApplyAt = Date.now()
    // Deliveries from before a reposition are neither applied nor acknowledged: the new consumer sends them again.
    for (const { msg } of current) msg.ack()
  }

  async #refreshLag(): Promise<void> {
    for (const [durable, consumer] of this.#consumers) {
      try {
        const info = await consumer.info(false)
        this.pending.set(durable, info.num_pending + info.num_ack_pending)
      } catch {
        // NATS away: the last figure stands until it answers.
      }
    }
  }
}

/**
 * Commits what changed; when the store refuses it, the raw events it refuses
 * (each tried alone) are counted (refused reason `store_refused`) and left
 * out, and the rest committed: their messages are acknowledged like any
 * other. A refusal with no such event to blame is the store failing: thrown.
 */
export async function commitSkippingRefused(
  store: Store,
  agg: Aggregator,
  changes: Changes,
  seqs: Map<string, number>,
): Promise<void> {
  try {
    await store.commit(changes, seqs)
    return
  } catch (e) {
    const refused = await store.refusedRaw(changes.raw)
    const n = Object.values(refused).reduce((a, list) => a + list.length, 0)
    if (n === 0) throw e
    // changes.pipeline is the aggregator's own: the count is committed with the rest.
    agg.refuse('store_refused', n)
    await store.commit({ ...changes, raw: withoutRefused(changes.raw, refused) }, seqs)
  }
}

function withoutRefused(raw: RawEvents, refused: RawEvents): RawEvents {
  const keep = <T>(all: T[], out: T[]) => (out.length === 0 ? all : all.filter((e) => !out.includes(e)))
  return {
    requests: keep(raw.requests, refused.requests),
    batches: keep(raw.batches, refused.batches),
    fallbacks: keep(raw.fallbacks, refused.fallbacks),
    samples: keep(raw.samples, refused.samples),
    reviews: keep(raw.reviews, refused.reviews),
  }
}

/**
 * A message's NDJSON, inflated when the agent compressed it, or why it
 * cannot be read. Inflating stops at MAX_INFLATED_MESSAGE_BYTES: a small
 * message of zeros would otherwise inflate to gigabytes (a decompression bomb).
 */
function payloadText(msg: JsMsg): string | { refused: 'malformed' | 'too_large' } {
  const deflated = msg.headers?.get(ENCODING_HEADER) === DEFLATE
  if (!deflated && msg.data.length > MAX_INFLATED_MESSAGE_BYTES) return { refused: 'too_large' }
  try {
    const data = deflated ? inflateRawSync(msg.data, { maxOutputLength: MAX_INFLATED_MESSAGE_BYTES }) : msg.data
    return new TextDecoder().decode(data)
  } catch (e) {
    return { refused: (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? 'too_large' : 'malformed' }
  }
}
