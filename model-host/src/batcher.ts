/**
 * @module
 * Dynamic micro-batcher: one per loaded model version, feeding its instances.
 *
 * Policy (work-conserving with a bounded wait):
 * - Arrivals are coalesced per event-loop turn (setImmediate), so requests
 *   that the loop parsed together travel together.
 * - When no instance is running, a batch starts at once: low load never pays
 *   the batching window.
 * - Requests that queued while a batch ran go together into the next batch
 *   as soon as an instance is free.
 * - Only when an instance is free while another is still running does a fresh
 *   batch wait, until it reaches a preferred size (or max_batch_size) or its
 *   oldest request has waited max_queue_delay_ms.
 * Queued requests leave without running when their deadline passes or their
 * client goes away; a full queue refuses at once.
 */
import { BatchRejection } from './errors.ts'

export interface BatcherOptions {
  maxBatchSize: number
  maxQueueDelayMs: number
  preferredBatchSizes: readonly number[]
  /** Queued requests (not rows) beyond which `submit` refuses. */
  maxQueueSize: number
  /** Levels are 1 (most urgent) .. priorityLevels. */
  priorityLevels: number
  instances: number
}

/** Runs one batch on one instance; returns one result per payload, in order. */
export type Executor<P, R> = (payloads: P[], batch: BatchInfo) => Promise<R[]>

/** How a queued request learns that its client went away (cheaper than an AbortSignal per request). */
export interface ClientGone {
  readonly gone: boolean
  /** Called at most once, possibly after the request left the queue (then it is ignored). */
  onGone(listener: () => void): void
}

export interface SubmitOptions {
  rows: number
  priority: number
  /** Absolute deadline, in `performance.now()` milliseconds. */
  deadline: number
  client?: ClientGone
  /** Jobs batch together only with jobs of the same key (e.g. their per-row shapes). */
  shapeKey?: string
}

interface Job<P, R> extends SubmitOptions {
  payload: P
  enqueuedAt: number
  resolve(r: R): void
  reject(e: Error): void
}

export interface BatchInfo {
  batchId: number
  instance: number
  rows: number
  requests: number
  oldestWaitMs: number
}

export class Batcher<P, R> {
  readonly #opts: BatcherOptions
  readonly #execute: Executor<P, R>
  readonly #queues: Job<P, R>[][]
  readonly #free: number[]
  #queued = 0
  #queuedRowCount = 0
  #busy = 0
  #nextBatchId = 1
  #lastCompletion = -Infinity
  #pumpScheduled = false
  #timer: NodeJS.Timeout | undefined
  #idleWaiters: (() => void)[] = []
  /** Smoothed milliseconds per batch, for deadline estimates. */
  #batchMsEwma: number | undefined

  constructor(opts: BatcherOptions, execute: Executor<P, R>) {
    this.#opts = opts
    this.#execute = execute
    this.#queues = Array.from({ length: opts.priorityLevels }, () => [])
    this.#free = Array.from({ length: opts.instances }, (_, i) => opts.instances - 1 - i)
  }

  get queueDepth(): number {
    return this.#queued
  }

  get running(): number {
    return this.#busy
  }

  /**
   * Queues a payload and resolves with its result. Rejects with a
   * BatchRejection ('queue_full', 'deadline', 'cancelled', 'runtime_error').
   */
  submit(payload: P, options: SubmitOptions): Promise<R> {
    if (options.client?.gone) return Promise.reject(new BatchRejection('cancelled'))
    if (this.#queued >= this.#opts.maxQueueSize) return Promise.reject(new BatchRejection('queue_full'))
    const level = Math.min(Math.max(options.priority, 1), this.#opts.priorityLevels) - 1
    return new Promise<R>((resolve, reject) => {
      const job: Job<P, R> = {
        payload,
        rows: options.rows,
        priority: options.priority,
        deadline: options.deadline,
        client: options.client,
        shapeKey: options.shapeKey,
        enqueuedAt: performance.now(),
        resolve,
        reject,
      }
      this.#queues[level]!.push(job)
      this.#queued++
      this.#queuedRowCount += job.rows
      job.client?.onGone(() => {
        if (this.#remove(job, level)) job.reject(new BatchRejection('cancelled'))
      })
      this.#schedulePump()
    })
  }

  /**
   * Milliseconds a request of `rows` arriving now would likely wait before its
   * batch completes; undefined until a batch has run.
   */
  estimateCompletionMs(rows: number): number | undefined {
    if (this.#batchMsEwma === undefined) return undefined
    const batchesAhead = Math.ceil((this.#queuedRowCount + rows) / this.#opts.maxBatchSize)
    const waves = Math.ceil(batchesAhead / this.#opts.instances) + (this.#free.length === 0 ? 1 : 0)
    return waves * this.#batchMsEwma
  }

  /** Resolves when nothing is queued or running. */
  drain(): Promise<void> {
    if (this.#queued === 0 && this.#busy === 0) return Promise.resolve()
    return new Promise((r) => this.#idleWaiters.push(r))
  }

  #remove(job: Job<P, R>, level: number): boolean {
    const q = this.#queues[level]!
    const i = q.indexOf(job)
    if (i < 0) return false
    q.splice(i, 1)
    this.#queued--
    this.#queuedRowCount -= job.rows
    this.#settleIdle()
    return true
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return
    this.#pumpScheduled = true
    setImmediate(() => {
      this.#pumpScheduled = false
      this.#pump()
    })
  }

  #pump(): void {
    if (this.#timer) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    while (this.#free.length > 0 && this.#queued > 0) {
      const now = performance.now()
      this.#expire(now)
      const oldest = this.#oldest()
      if (!oldest) break
      const waitLeft = this.#waitLeft(oldest, now)
      if (waitLeft > 0) {
        this.#timer = setTimeout(() => this.#pump(), Math.ceil(waitLeft))
        break
      }
      this.#dispatch(this.#take(), now)
    }
    this.#settleIdle()
  }

  /** How much longer the queue should gather before a batch starts (0: now). */
  #waitLeft(oldest: Job<P, R>, now: number): number {
    if (this.#busy === 0) return 0
    if (oldest.enqueuedAt <= this.#lastCompletion) return 0
    const rows = this.#queuedRowCount
    const target = this.#opts.preferredBatchSizes.length
      ? Math.min(...this.#opts.preferredBatchSizes)
      : this.#opts.maxBatchSize
    if (rows >= target || rows >= this.#opts.maxBatchSize) return 0
    return oldest.enqueuedAt + this.#opts.maxQueueDelayMs - now
  }

  #oldest(): Job<P, R> | undefined {
    let oldest: Job<P, R> | undefined
    for (const q of this.#queues) if (q[0] && (!oldest || q[0].enqueuedAt < oldest.enqueuedAt)) oldest = q[0]
    return oldest
  }

  /** Requests that can no longer finish by their deadline leave without running. */
  #expire(now: number): void {
    const runMs = this.#batchMsEwma ?? 0
    for (let level = 0; level < this.#queues.length; level++) {
      const q = this.#queues[level]!
      for (let i = q.length - 1; i >= 0; i--) {
        const job = q[i]!
        if (job.deadline <= now + runMs) {
          q.splice(i, 1)
          this.#queued--
          this.#queuedRowCount -= job.rows
          job.reject(new BatchRejection('deadline'))
        }
      }
    }
  }

  /** Takes jobs by priority, FIFO within a level, up to max_batch_size rows of one shape key. */
  #take(): Job<P, R>[] {
    const batch: Job<P, R>[] = []
    let rows = 0
    let key: string | undefined
    for (const q of this.#queues) {
      for (let i = 0; i < q.length && rows < this.#opts.maxBatchSize; ) {
        const job = q[i]!
        if (batch.length === 0) key = job.shapeKey
        if (job.shapeKey !== key || rows + job.rows > this.#opts.maxBatchSize) {
          i++
          continue
        }
        q.splice(i, 1)
        this.#queued--
        this.#queuedRowCount -= job.rows
        batch.push(job)
        rows += job.rows
      }
    }
    return batch
  }

  #dispatch(batch: Job<P, R>[], now: number): void {
    const instance = this.#free.pop()!
    this.#busy++
    const batchId = this.#nextBatchId++
    const rows = batch.reduce((n, j) => n + j.rows, 0)
    const started = performance.now()
    const info: BatchInfo = {
      batchId,
      instance,
      rows,
      requests: batch.length,
      oldestWaitMs: now - Math.min(...batch.map((j) => j.enqueuedAt)),
    }
    let run: Promise<R[]>
    try {
      run = this.#execute(
        batch.map((j) => j.payload),
        info,
      )
    } catch (e) {
      run = Promise.reject(e)
    }
    run.then(
      (results) => {
        this.#finish(instance, started)
        if (results.length !== batch.length) {
          const cause = new Error(`executor returned ${results.length} results for ${batch.length} requests`)
          for (const job of batch) job.reject(new BatchRejection('runtime_error', { cause }))
        } else batch.forEach((job, i) => job.resolve(results[i]!))
      },
      (cause) => {
        this.#finish(instance, started)
        for (const job of batch) job.reject(new BatchRejection('runtime_error', { cause }))
      },
    )
  }

  /**
   * Frees the instance and starts the next batch before this batch's requests
   * are answered: the instance computes while the event loop writes responses.
   */
  #finish(instance: number, started: number): void {
    const ms = performance.now() - started
    this.#batchMsEwma = this.#batchMsEwma === undefined ? ms : 0.8 * this.#batchMsEwma + 0.2 * ms
    this.#busy--
    this.#free.push(instance)
    this.#lastCompletion = performance.now()
    this.#pump()
  }

  #settleIdle(): void {
    if (this.#queued === 0 && this.#busy === 0 && this.#idleWaiters.length) {
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const w of waiters) w()
    }
  }
}
