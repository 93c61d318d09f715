import type { InferenceSession } from 'onnxruntime-node'
import type { Feeds, RunResult } from './types.ts'

export function createOrtSession(
  modelBytes: Uint8Array,
  providers: readonly string[],
  intraOpThreads: number,
): Promise<{ session: InferenceSession; device: string; notes: string[] }>

export function runOrt(session: InferenceSession, feeds: Feeds, outputNames: readonly string[]): Promise<RunResult>
