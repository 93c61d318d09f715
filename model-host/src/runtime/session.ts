/**
 * @module
 * A model session: where a version's batches run. Two placements:
 * - `worker` (default): on its own thread, so the event loop keeps serving
 *   HTTP and health checks while a batch runs (onnxruntime-node runs
 *   synchronously on the calling thread);
 * - `main`: on the event loop, for models whose batch runs in microseconds,
 *   where the two thread hops per batch cost more than the run itself.
 */
import type { TensorData } from '../oip/datatypes.ts'
import { InlineSession } from './inline-session.ts'
import { WorkerSession } from './worker-session.ts'

export interface OrtTensor {
  type: string
  dims: readonly number[]
  data: TensorData
}

export type Feeds = Record<string, OrtTensor>

export interface RunResult {
  outputs: Record<string, OrtTensor>
  executionMs: number
}

export interface SessionOptions {
  providers: readonly string[]
  intraOpThreads: number
  thread: 'worker' | 'main'
}

export interface Session {
  readonly device: string
  /** Why a requested provider was not used, if one was not. */
  readonly notes: readonly string[]
  readonly inputNames: readonly string[]
  readonly outputNames: readonly string[]
  /** Ownership: the feeds' arrays pass to the session and must not be used afterwards. */
  run(feeds: Feeds, outputNames: readonly string[]): Promise<RunResult>
  close(): Promise<void>
}

export function createSession(modelBytes: Uint8Array, options: SessionOptions): Promise<Session> {
  return options.thread === 'main' ? InlineSession.create(modelBytes, options) : WorkerSession.create(modelBytes, options)
}
