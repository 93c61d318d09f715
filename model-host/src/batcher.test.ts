import { describe, expect, it } from 'vitest'
import { Batcher, type BatchInfo, type BatcherOptions } from './batcher.ts'
import { BatchRejection } from './errors.ts'

/** An executor the test releases by hand, recording every batch it was given. */
function controlledExecutor() {
  const batches: { payloads: number[]; info: BatchInfo; release(fail?: Error): void }[] = []
  const waiters: (() => void)[] = []
  const execute = (payloads: number[], info: BatchInfo) =>
    new Promise<number[]>((resolve, reject) => {
      batches.push({ payloads, info, release: (fail) => (fail ? reject(fail) : resolve(payloads.map((p) => p * 10))) })
      waiters.splice(0).forEach((w) => w())
    })
  const nextBatch = async (n: number) => {
    while (batches.length < n) await new Promise<void>((r) => waiters.push(r))
    return batches[n - 1]!
  }
  return { batches, execute, nextBatch }
}

const options = (o: Partial<BatcherOptions> = {}): BatcherOptions => ({
  maxBatchSize: 8,
  maxQueueDelayMs: 1000,
  preferredBatchSizes: [],
  maxQueueSize: 100,
  priorityLevels: 1,
  instances: 1,
  ...o,
})
/** A client the test can make go away. */
function client() {
  let gone = false
  const listeners: (() => void)[] = []
  return {
    get gone() {
      return gone
    },
    onGone: (l: () => void) => void listeners.push(l),
    leave() {
      gone = true
      listeners.forEach((l) => l())
    },
  }
}
const job = (
  rows = 1,
  extra: Partial<{ priority: number; deadline: number; client: ReturnType<typeof client> }> = {},
) => ({
  rows,
  priority: 1,
  deadline: performance.now() + 60_000,
  ...extra,
})
const tick = () => new Promise((r) => setImmediate(r))

describe('Batcher', () => {
  it('runs a lone request at once when idle, without waiting out max_queue_delay_ms', async () => {
    const ex = controlledExecutor()
    const b = new Batcher(options({ maxQueueDelayMs: 5000 }), ex.execute)
    const started = performance.now()
    const result = b.submit(7, job())
    const batch = await ex.nextBatch(1)
    batch.release()
    expect(await result).toBe(70)
    expect(performance.now() - started).toBeLessThan(200)
  })

  it('puts requests that arrive in one event-loop turn into one batch', async () => {
    const ex = controlledExecutor()
    const b = new Batcher(options(), ex.execute)
    const results = [1, 2, 3].map((p) => b.submit(p, job()))
    const batch = await ex.nextBatch(1)
    expect(batch.payloads).toEqual([1, 2, 3])
    batch.release()
    expect(await Promise.all(results)).toEqual([10, 20, 30])
  })

  it('sends requests that queued while a batch ran together into the next batch', async () => {
    const ex = controlledExecutor()
    const b = new Batcher(options(), ex.execute)
    const first = b.submit(1, job())
    const running = await ex.nextBatch(1)
    const later: Promise<number>[] = []
    for (let i = 2; i <= 6; i++) {
      later.push(b.submit(i, job()))
      await tick() // separate turns: they must still travel together
    }
    expect(ex.batches).toHaveLength(1)
    expect(b.queueDepth).toBe(5)
    running.release()
    await first
    const next = await ex.nextBatch(2)
    expect(next.payloads).toEqual([2, 3, 4, 5, 6])
    next.release()
    expect(await Promise.all(later)).toEqual([20, 30, 40, 50, 60])
  })

  it('never puts more than max_batch_size rows in a batch', async () => {
    const ex = controlledExecutor()
    const b = new Batcher(options({ maxBatchSize: 4 }), ex.execute)
    const blocker = b.submit(0, job())
    const running = await ex.nextBatch(1)
    const all = [b.submit(1, job(2)), b.submit(2, job(2)), b.submit(3, job(3)), b.submit(4, job(1))]
    await tick()
    running.release()
    await blocker
    const second = await ex.nextBatch(2)
    expect(second.info.rows).toBe(4)
    expect(second.payloads).toEqual([1, 2])
    second.release()
    const third = await ex.nextBatch(3)
    expect(third.payloads).toEqual([3, 4])
    expect(third.info.rows).toBe(4)
    third.release()
    await Promise.all(all)
  })

  it('refuses at once when the queue is full', async () => {
    const ex = controlledExecutor()
    const b = new Batcher(options({ maxQueueSize: 2 }), ex.execute)
    void b.submit(0, job())
    const running = await ex.nextBatch(1)
    const queued = [b.submit(1, job()), b.submit(2, job())]
    await expect(b.submit(3, job())).rejects.toMatchObject({ reason: 'queue_full' })
    running.release()
    const next = await ex.nextBatch(2)
    next.release()
    expect(await Promise.all(queued)).toEqual([10, 20])
  })

  it('lets requests whose deadline passes leave the queue without running', async () => {
    const ex = controlledExecutor()
    const b = new Batcher(options(), ex.execute)
    void b.submit(0, job())
    const running = await ex.nextBatch(1)
    const doomed = b.submit(1, job(1, { deadline: performance.now() + 20 }))
    const kept = b.submit(2, job())
    await new Promise((r) => setTimeout(r, 40))
    running.release()
    await expect(doomed).rejects.toMatchObject({ name: 'BatchRejection', reason: 'deadline' })
    const next = await ex.nextBatch(2)
    expect(next.payloads).toEqual([2])
    next.release()
    expect(await kept).toBe(20)
  })

  it('drops a request whose client went away before it runs', async () => {
    const ex = controlledExecutor()
    const b = new Batcher(options(), ex.execute)
    void b.submit(0, job())
    const running = await ex.nextBatch(1)
    const c = client()
    const gone = b.submit(1, job(1, { client: c }))
    const kept = b.submit(2, job())
    c.leave()
    await expect(gone).rejects.toMatchObject({ reason: 'cancelled' })
    expect(b.queueDepth).toBe(1)
    running.release()
    const next = await ex.nextBatch(2)
    expect(next.payloads).toEqual([2])
    next.release()
    await kept
  })

  it('fails every request of a failed batch with runtime_error, and keeps serving', async () => {
    const ex = controlledExecutor()
    const b = new Batcher(options(), ex.execute)
    const a = b.submit(1, job())
    const c = b.submit(2, job())
    ;(await ex.nextBatch(1)).release(new Error('kernel exploded'))
    for (const p of [a, c]) {
      const err = await p.catch((e) => e)
      expect(err).toBeInstanceOf(BatchRejection)
      expect(err.reason).toBe('runtime_error')
      expect(err.cause.message).toBe('kernel exploded')
    }
    const after = b.submit(3, job())
    ;(await ex.nextBatch(2)).release()
    expect(await after).toBe(30)
  })

  it('serves higher priority levels first', async () => {
    const ex = controlledExecutor()
    const b = new Batcher(options({ priorityLevels: 2, maxBatchSize: 2 }), ex.execute)
    void b.submit(0, job())
    const running = await ex.nextBatch(1)
    const low = [b.submit(1, job(1, { priority: 2 })), b.submit(2, job(1, { priority: 2 }))]
    const high = b.submit(3, job(1, { priority: 1 }))
    await tick()
    running.release()
    const next = await ex.nextBatch(2)
    expect(next.payloads).toEqual([3, 1])
    next.release()
    ;(await ex.nextBatch(3)).release()
    await Promise.all([...low, high])
  })

  it('with another instance busy, a fresh batch gathers until a preferred size or the delay', async () => {
    const ex = controlledExecutor()
    const b = new Batcher(options({ instances: 2, maxQueueDelayMs: 60, preferredBatchSizes: [3] }), ex.execute)
    void b.submit(0, job())
    const first = await ex.nextBatch(1)
    // Instance 2 is free, but instance 1 is running: two requests gather...
    const t0 = performance.now()
    void b.submit(1, job())
    void b.submit(2, job())
    await new Promise((r) => setTimeout(r, 20))
    expect(ex.batches).toHaveLength(1)
    // ...and a third reaches the preferred size: the batch leaves before the delay.
    void b.submit(3, job())
    const second = await ex.nextBatch(2)
    expect(second.payloads).toEqual([1, 2, 3])
    expect(performance.now() - t0).toBeLessThan(60)
    second.release()
    await tick()
    // A lone request leaves when its delay is up.
    const t1 = performance.now()
    void b.submit(4, job())
    const third = await ex.nextBatch(3)
    expect(third.payloads).toEqual([4])
    expect(performance.now() - t1).toBeGreaterThanOrEqual(55)
    first.release()
    third.release()
    await b.drain()
  })

  it('drain waits for queued and running work', async () => {
    const ex = controlledExecutor()
    const b = new Batcher(options(), ex.execute)
    const p = b.submit(1, job())
    let drained = false
    const d = b.drain().then(() => (drained = true))
    const batch = await ex.nextBatch(1)
    await tick()
    expect(drained).toBe(false)
    batch.release()
    await p
    await d
    expect(drained).toBe(true)
  })
})
