/**
 * @module
 * Which models this collector consumes when several share the work: a
 * lease per model token in the `mesh-collectors` bucket (contracts'
 * collector-shares.ts), compare-and-set so only one collector holds each.
 * A collector renews each lease it holds every second (a new revision of
 * its key). It takes its own share when no one holds it, and any lease it
 * has seen unchanged for a lease's life by its own clock (its holder
 * stopped renewing: it died, or was cut off); it keeps what it took until
 * it dies, so a model never moves back and forth. A holder gives a lease up
 * when it reads that another holds it; one that cannot reach the bucket
 * keeps it meanwhile (cut off from JetStream, it consumes nothing either):
 * whoever can reach JetStream always has every model consumed. Every write is a
 * compare-and-set and every read goes to the bucket's leader; nothing
 * rests on the bucket expiring entries, nor on the collectors' clocks
 * agreeing.
 *
 * Taking a model over is only starting its consumers: each is positioned
 * just past the sequence this collector's own store applied of it (0 for a
 * model it never held), and JetStream, whose streams keep three replicas,
 * replays the rest. The totals stay exact because every collector's state
 * of a model is always every event of it up to one stream sequence.
 */
import type { KV } from '@nats-io/kv'
import {
  encodeLease,
  LEASE_RENEW_MS,
  LEASE_TTL_MS,
  leaseKey,
  type Lease,
  parseLease,
  type Log,
} from '@model-mesh/contracts'

export interface OwnershipOptions {
  kv: KV
  /** This collector's API URL: who it is in the leases. */
  me: string
  /** Its own share (model tokens): taken at once. */
  share: readonly string[]
  /** Every model token the mesh has: those of a collector that died are taken over. */
  all: readonly string[]
  log: Log
  /** Called, one at a time, with the tokens held whenever that changes. */
  changed(owned: ReadonlySet<string>): Promise<void>
}

interface Held {
  /** The bucket revision of its last renewal (the compare-and-set's base). */
  revision: number
  since: number
}

export class Ownership {
  readonly #held = new Map<string, Held>()
  /** Who holds each token, as last read: where questions about its model go. */
  readonly holders = new Map<string, string>()
  /** Each token not held: the bucket revision last read of it, and since when (this collector's clock) it has not changed. */
  readonly #seen = new Map<string, { revision: number; at: number }>()
  /** Tokens whose look is under way (a slow one is not started again beside itself). */
  readonly #looking = new Set<string>()
  /** Tokens whose last look failed (logged once until one succeeds). */
  readonly #failing = new Set<string>()
  #timer: NodeJS.Timeout | null = null
  #changes: Promise<void> = Promise.resolve()
  #changing = false
  /** The tokens whose consumers run (what `changed` last did). */
  #consuming = ''

  constructor(readonly opts: OwnershipOptions) {}

  get owned(): ReadonlySet<string> {
    return new Set(this.#held.keys())
  }

  start(): void {
    void this.#tick()
    this.#timer = setInterval(() => void this.#tick(), LEASE_RENEW_MS)
  }

  /** Stops renewing; the leases lapse and the others take them. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    await this.#changes
  }

  async #tick(): Promise<void> {
    // All at once, and a token still being looked at is skipped: one slow answer holds up neither the renewal of
    // the others nor the next tick.
    await Promise.race([
      Promise.all(
        this.opts.all
          .filter((token) => !this.#looking.has(token))
          .map((token) => {
            this.#looking.add(token)
            return this.#look(token).finally(() => this.#looking.delete(token))
          }),
      ),
      new Promise((r) => setTimeout(r, LEASE_RENEW_MS)),
    ])
    const owned = [...this.#held.keys()].sort()
    // Until the consumers follow the leases, every tick tries again.
    if (owned.join(',') !== this.#consuming && !this.#changing) {
      this.#changing = true
      this.#changes = this.opts
        .changed(new Set(owned))
        .then(() => {
          this.#consuming = owned.join(',')
          this.opts.log('info', `consuming ${owned.join(', ') || 'nothing'}`, { models: owned })
        })
        .catch((e) => this.opts.log('warn', 'could not change what this collector consumes; trying again', { err: e }))
        .finally(() => {
          this.#changing = false
        })
    }
  }

  async #look(token: string): Promise<void> {
    const { kv, me } = this.opts
    const key = leaseKey(token)
    const now = Date.now()
    const held = this.#held.get(token)
    if (held) {
      try {
        held.revision = await kv.update(key, encodeLease({ collector: me, since: held.since }), held.revision)
        this.#failing.delete(token)
        return
      } catch (e) {
        // A write that timed out may still have landed: what the bucket says decides.
        const current = await this.#read(key).catch(() => undefined)
        if (current?.lease?.collector === me) {
          held.revision = current.revision
          return
        }
        if (current?.lease) {
          this.#held.delete(token)
          this.holders.set(token, current.lease.collector)
          this.opts.log('warn', `gave up ${token}: ${current.lease.collector} holds it`)
          return
        }
        // The bucket out of reach: still this one's as far as anyone can tell (a collector cut off from
        // JetStream consumes nothing either), until it reads that another took it.
        this.#failed(token, e)
      }
      return
    }
    try {
      const current = await this.#read(key)
      this.#failing.delete(token)
      const lease = current.lease
      if (lease) this.holders.set(token, lease.collector)
      let revision: number | undefined
      if (lease?.collector === me) {
        // Its own, from before a restart (one collector per URL), or a write whose answer was lost: taken back.
        revision = await kv.update(key, encodeLease(lease), current.revision)
      } else if (this.#lapsed(token, current.revision, now, lease !== undefined)) {
        // Compare-and-set on the revision seen: a holder that renewed meanwhile keeps it.
        const fresh = encodeLease({ collector: me, since: now })
        revision = current.revision ? await kv.update(key, fresh, current.revision) : await kv.create(key, fresh)
      }
      if (revision !== undefined) {
        this.#held.set(token, { revision, since: lease?.since ?? now })
        this.#seen.delete(token)
        this.holders.set(token, me)
      }
    } catch (e) {
      // Another took it first, or NATS is away: looked at again next time.
      this.#failed(token, e)
    }
  }

  /** Says once per streak that a token's lease could not be read or taken, so a collector stuck consuming nothing shows why. */
  #failed(token: string, e: unknown): void {
    if (/wrong last sequence|key exists/i.test((e as Error).message)) return
    if (this.#failing.has(token)) return
    this.#failing.add(token)
    this.opts.log('warn', `cannot read or take the lease of ${token}; trying every second`, { err: e })
  }

  /**
   * Whether the token is free to take. Its own share, when no one holds it.
   * Any token whose lease this collector has seen unchanged for a lease's
   * life, by its own clock: its holder stopped renewing (no clocks are
   * compared, and nothing depends on the bucket expiring anything). A
   * token no one has held, after twice that (its collector may be starting).
   */
  #lapsed(token: string, revision: number, now: number, held: boolean): boolean {
    if (!held && this.opts.share.includes(token)) return true
    const seen = this.#seen.get(token)
    if (seen?.revision !== revision) {
      this.#seen.set(token, { revision, at: now })
      return false
    }
    return now - seen.at >= (held ? LEASE_TTL_MS : 2 * LEASE_TTL_MS)
  }

  /** The lease at `key` and its revision (0: never written), read from the bucket's leader (allow_direct off). */
  async #read(key: string): Promise<{ lease?: Lease; revision: number }> {
    const entry = await this.opts.kv.get(key)
    if (!entry) return { revision: 0 }
    return { lease: entry.operation === 'PUT' ? parseLease(entry.value) : undefined, revision: entry.revision }
  }
}
