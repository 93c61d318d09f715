/**
 * Collectors sharing the models through leases, on a real nats-server's
 * key-value bucket: each takes its own share; one that stops renewing has
 * its share taken over within a lease's life and a renewal; one that comes
 * back does not take it back; and a lease it finds of its own (a restart)
 * it keeps.
 */
import { Kvm, type KV } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { COLLECTOR_BUCKET, encodeLease, LEASE_RENEW_MS, LEASE_TTL_MS, leaseKey } from '@model-mesh/contracts'
import { eventually } from '@model-mesh/testkit/events'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { Ownership } from './ownership.ts'

const A = 'http://10.0.0.1:4196'
const B = 'http://10.0.0.2:4196'

describe('collectors sharing the models through leases', () => {
  let nats: RunningNats
  let nc: NatsConnection
  let kv: KV
  const running: Ownership[] = []
  /** What each collector was last told to consume, by URL. */
  const consuming = new Map<string, string[]>()
  const collector = (me: string, share: string[]) => {
    const o = new Ownership({
      kv,
      me,
      share,
      all: ['credit-risk', 'fraud', '_other'],
      log: () => {},
      changed: async (owned) => void consuming.set(me, [...owned].sort()),
    })
    o.start()
    running.push(o)
    return o
  }

  beforeAll(async () => {
    nats = await startNats()
    nc = await connect({ servers: nats.url })
    kv = await new Kvm(nc).create(COLLECTOR_BUCKET, { history: 1, allow_direct: false })
  })
  afterAll(async () => {
    for (const o of running) await o.close()
    await nc?.close()
    await nats?.stop()
  })

  it('each takes its own share; the one that stops has its share taken over, and does not take it back', async () => {
    const a = collector(A, ['credit-risk', '_other'])
    const b = collector(B, ['fraud'])
    await eventually(
      async () => [consuming.get(A), consuming.get(B)],
      ([x, y]) => x?.length === 2 && y?.length === 1,
    )
    expect(consuming.get(A)).toEqual(['_other', 'credit-risk'])
    expect(consuming.get(B)).toEqual(['fraud'])

    await a.close()
    const stoppedAt = Date.now()
    await eventually(
      async () => consuming.get(B),
      (owned) => owned?.length === 3,
      3 * LEASE_TTL_MS,
    )
    const tookMs = Date.now() - stoppedAt
    expect(tookMs).toBeLessThan(LEASE_TTL_MS + 3 * LEASE_RENEW_MS)
    expect(b.owned).toEqual(new Set(['_other', 'credit-risk', 'fraud']))

    // A back (its store, its URL): it finds its share held by B and waits, consuming nothing.
    consuming.delete(A)
    const back = collector(A, ['credit-risk', '_other'])
    await new Promise((r) => setTimeout(r, 3 * LEASE_RENEW_MS))
    expect(back.owned).toEqual(new Set())
    expect(b.owned.size).toBe(3)
    await back.close()
    await b.close()
  })

  it("keeps a lease it finds of its own (it restarted before the lease lapsed), and never takes another's live one", async () => {
    await kv.put(leaseKey('credit-risk'), encodeLease({ collector: A, since: 1 }))
    await kv.put(leaseKey('fraud'), encodeLease({ collector: B, since: 1 }))
    // B is alive: its lease on fraud is renewed by hand here.
    const renew = setInterval(() => void kv.put(leaseKey('fraud'), encodeLease({ collector: B, since: 1 })), 500)
    try {
      consuming.delete(A)
      const a = collector(A, ['_other'])
      await eventually(
        async () => consuming.get(A),
        (owned) => owned?.length === 2,
      )
      expect(consuming.get(A)).toEqual(['_other', 'credit-risk'])
      await new Promise((r) => setTimeout(r, 3 * LEASE_RENEW_MS))
      expect(a.owned.has('fraud')).toBe(false)
      await a.close()
    } finally {
      clearInterval(renew)
    }
  })
})
