/**
 * @module
 * Publishes the spool to JetStream over one long-lived connection, oldest
 * first, one message at a time (JetStream acknowledges each; one loopback
 * round trip per message of hundreds of events is far from the limit). A
 * message leaves the spool only once JetStream has acknowledged it; any
 * failure (NATS down, stopped, slow, a stream missing) leaves it first in
 * line and the loop backs off. Nothing here ever waits on a source.
 */
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream'
import { connect, headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node'
import {
  DEFLATE,
  ENCODING_HEADER,
  EVENT_COUNT_HEADER,
  isUnpublishable,
  missingStreams,
  SOURCE_HEADER,
  WIRE_CONTENT_TYPE,
  type Log,
} from '@model-mesh/contracts'
import type { Spool, SpooledMessage } from './spool.ts'

export interface PublisherOptions {
  /** One server URL, or a cluster's, comma-separated. */
  natsUrl: string
  /** Its NATS identity (the local mesh's `mesh-agent`); none: connect without. */
  natsAuth?: { user: string; pass: string }
  /** The agent's id, in the Mesh-Source header. */
  source: string
  /** A publish not acknowledged within this is retried (default 2 s). */
  publishTimeoutMs?: number
  log: Log
}

export interface PublisherEvents {
  published(m: SpooledMessage, duplicate: boolean): void
  failed(m: SpooledMessage, error: string): void
  /** NATS can never take it (larger than its max_payload): it left the spool unpublished. */
  refused(m: SpooledMessage, error: string): void
}

const BACKOFF_MIN_MS = 50
const BACKOFF_MAX_MS = 1000

export class Publisher {
  #nc: NatsConnection | null = null
  #js: JetStreamClient | null = null
  #closed = false
  #wake: (() => void) | null = null
  #loop: Promise<void> | null = null
  #connected = false
  #lastWarning = ''

  constructor(
    readonly spool: Spool,
    readonly opts: PublisherOptions,
    readonly on: PublisherEvents,
  ) {}

  get connected(): boolean {
    return this.#connected
  }

  /** Connects in the background (retrying forever) and starts publishing. */
  start(): void {
    void this.#connect()
    this.#loop = this.#run()
  }

  /** New messages are in the spool. */
  notify(): void {
    this.#wake?.()
  }

  async close(): Promise<void> {
    this.#closed = true
    this.notify()
    await this.#loop
    await this.#nc?.close().catch(() => {})
  }

  async #connect(): Promise<void> {
    const servers = this.opts.natsUrl.split(',').map((u) => u.trim())
    while (!this.#closed) {
      try {
        const nc = await connect({
          servers,
          ...this.opts.natsAuth,
          name: `telemetry-agent ${this.opts.source}`,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          pingInterval: 5000,
          maxPingOut: 2,
          timeout: 2000,
          // Every publish (or fetch) is a request: no stack captured per request for an error that rarely comes.
          noAsyncTraces: true,
        })
        this.#nc = nc
        this.#js = jetstream(nc, { timeout: this.opts.publishTimeoutMs ?? 2000 })
        this.#connected = true
        this.opts.log('info', 'connected to NATS', { nats: this.opts.natsUrl })
        void this.#watch(nc)
        void this.#checkStreams(nc)
        this.notify()
        return
      } catch (e) {
        this.#warnOnce('NATS unreachable; events wait in the spool', { nats: this.opts.natsUrl, err: e })
        await sleep(500)
      }
    }
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.#connected = false
        this.#warnOnce('disconnected from NATS; events wait in the spool', { nats: this.opts.natsUrl })
      } else if (s.type === 'reconnect') {
        this.#connected = true
        this.#lastWarning = ''
        this.opts.log('info', 'reconnected to NATS', { nats: this.opts.natsUrl })
        void this.#checkStreams(nc)
        this.notify()
      }
    }
  }

  async #checkStreams(nc: NatsConnection): Promise<void> {
    try {
      const missing = await missingStreams(await jetstreamManager(nc, { timeout: 2000 }))
      if (missing.length > 0)
        this.opts.log(
          'warn',
          'JetStream streams missing: their events wait in the spool until the collector creates them',
          { streams: missing },
        )
    } catch (e) {
      this.opts.log('warn', 'could not check JetStream streams', { err: e })
    }
  }

  async #run(): Promise<void> {
    let backoff = BACKOFF_MIN_MS
    while (!this.#closed) {
      const m = this.#connected ? this.spool.next() : undefined
      if (!m) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve
          // Also look again now and then: a reconnect may come without a notify.
          setTimeout(resolve, 250).unref()
        })
        this.#wake = null
        continue
      }
      try {
        const ack = await this.#js!.publish(m.subject, m.data, {
          msgID: m.id,
          headers: messageHeaders(this.opts.source, m.events),
        })
        this.spool.ack(m)
        this.on.published(m, ack.duplicate)
        backoff = BACKOFF_MIN_MS
        this.#lastWarning = ''
      } catch (e) {
        const error = (e as Error).message
        if (isUnpublishable(e)) {
          // NATS will never take it: waiting would hold up everything behind it.
          this.spool.ack(m)
          this.on.refused(m, error)
          continue
        }
        this.spool.release(m)
        this.on.failed(m, error)
        this.#warnOnce('publishing failed; retrying', { subject: m.subject, err: e })
        await sleep(backoff)
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2)
      }
    }
  }

  /** A warning repeats only when it or its error changes: a retry loop logs its cause once. */
  #warnOnce(msg: string, fields: { err?: unknown; [field: string]: unknown }): void {
    const key = JSON.stringify({ ...fields, msg, err: (fields.err as Error | undefined)?.message })
    if (key === this.#lastWarning) return
    this.#lastWarning = key
    this.opts.log('warn', msg, fields)
  }
}

/** The headers of a message the agent publishes: who, how many events, and how the payload is encoded (compressed when the message was formed, agent.ts). */
export function messageHeaders(source: string, events: number): MsgHdrs {
  const h = headers()
  h.set(SOURCE_HEADER, source)
  h.set(EVENT_COUNT_HEADER, String(events))
  h.set('Content-Type', WIRE_CONTENT_TYPE)
  h.set(ENCODING_HEADER, DEFLATE)
  return h
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref())
