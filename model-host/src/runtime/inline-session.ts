/**
 * @module
 * A session that runs on the event loop (see session.ts for when).
 */
import type { InferenceSession } from 'onnxruntime-node'
import { createOrtSession, runOrt } from './ort-session.mjs'
import type { Feeds, RunResult, Session, SessionOptions } from './types.ts'

export class InlineSession implements Session {
  private constructor(
    readonly session: InferenceSession,
    readonly device: string,
    readonly notes: readonly string[],
  ) {}

  static async create(modelBytes: Uint8Array, options: SessionOptions): Promise<InlineSession> {
    const { session, device, notes } = await createOrtSession(modelBytes, options.providers, options.intraOpThreads)
    return new InlineSession(session, device, notes)
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames
  }

  run(feeds: Feeds, outputNames: readonly string[]): Promise<RunResult> {
    return runOrt(this.session, feeds, outputNames)
  }

  close(): Promise<void> {
    return this.session.release()
  }
}
