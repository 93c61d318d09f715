/**
 * @module
 * The types every runtime file shares: tensors as onnxruntime takes them, a
 * batch's feeds and result, and the Session interface both placements
 * implement. Their own file, so the sessions import them without importing
 * session.ts, which imports the sessions.
 */
import type { TensorData } from '../oip/datatypes.ts'

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
