/**
 * @module
 * A model session: where a version's batches run. Two placements:
 * - `worker` (default): on its own thread, so the event loop keeps serving
 *   HTTP and health checks while a batch runs (onnxruntime-node runs
 *   synchronously on the calling thread);
 * - `main`: on the event loop, for models whose batch runs in microseconds,
 *   where the two thread hops per batch cost more than the run itself.
 */
import { InlineSession } from './inline-session.ts'
import type { Session, SessionOptions } from './types.ts'
import { WorkerSession } from './worker-session.ts'

export function createSession(modelBytes: Uint8Array, options: SessionOptions): Promise<Session> {
  return options.thread === 'main'
    ? InlineSession.create(modelBytes, options)
    : WorkerSession.create(modelBytes, options)
}
