/**
 * @module
 * A session on its own worker thread (the thread runs worker-thread.mjs). The feeds' arrays
 * are transferred to the worker, not copied.
 */
import { Worker } from 'node:worker_threads'
import type { Feeds, RunResult, Session, SessionOptions } from './types.ts'

type Pending = { resolve(r: RunResult): void; reject(e: Error): void }

/** The worker's first message once its session exists (worker-thread.mjs). */
interface WorkerReady {
  device: string
  notes: string[]
  inputNames: string[]
  outputNames: string[]
}

export class WorkerSession implements Session {
  readonly device: string
  readonly notes: string[]
  readonly inputNames: string[]
  readonly outputNames: string[]
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  #nextId = 0
  #dead: Error | undefined

  private constructor(worker: Worker, ready: WorkerReady) {
    this.#worker = worker
    this.device = ready.device
    this.notes = ready.notes
    this.inputNames = ready.inputNames
    this.outputNames = ready.outputNames
    worker.on('message', (msg) => {
      const p = this.#pending.get(msg.id)
      if (!p) return
      this.#pending.delete(msg.id)
      if (msg.error) p.reject(new Error(msg.error))
      else p.resolve({ outputs: msg.outputs, executionMs: msg.executionMs })
    })
    const die = (err: Error) => {
      this.#dead = err
      for (const p of this.#pending.values()) p.reject(err)
      this.#pending.clear()
    }
    worker.on('error', die)
    worker.on('exit', (code) => die(new Error(`session worker exited (code ${code})`)))
  }

  /** Starts a worker and waits until its session is created. */
  static async create(modelBytes: Uint8Array, options: SessionOptions): Promise<WorkerSession> {
    const worker = new Worker(new URL('./worker-thread.mjs', import.meta.url), {
      workerData: { modelBytes, providers: options.providers, intraOpThreads: options.intraOpThreads },
    })
    const ready = await new Promise<WorkerReady>((resolve, reject) => {
      worker.once('message', (msg) => (msg.type === 'ready' ? resolve(msg) : reject(new Error(msg.error))))
      worker.once('error', reject)
    }).catch(async (e) => {
      await worker.terminate()
      throw e
    })
    return new WorkerSession(worker, ready)
  }

  run(feeds: Feeds, outputNames: readonly string[]): Promise<RunResult> {
    if (this.#dead) return Promise.reject(this.#dead)
    const id = this.#nextId++
    const transfer = Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer)
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#worker.postMessage({ type: 'run', id, feeds, outputNames }, transfer)
    })
  }

  async close(): Promise<void> {
    if (this.#dead) return
    this.#worker.postMessage({ type: 'close' })
    await new Promise((r) => this.#worker.once('exit', r))
  }
}
