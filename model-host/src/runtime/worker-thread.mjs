// @module
// The worker thread behind a WorkerSession (worker-session.ts): it holds one
// onnxruntime session and runs the batches the main thread posts to it.
import { parentPort, workerData } from 'node:worker_threads'
import { createOrtSession, runOrt } from './ort-session.mjs'

const { modelBytes, providers, intraOpThreads } = workerData

try {
  const { session, device, notes } = await createOrtSession(modelBytes, providers, intraOpThreads)
  parentPort.postMessage({
    type: 'ready',
    device,
    notes,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
  })
  parentPort.on('message', async (msg) => {
    if (msg.type === 'close') {
      await session.release().catch(() => {})
      parentPort.close()
      return
    }
    try {
      const { outputs, executionMs } = await runOrt(session, msg.feeds, msg.outputNames)
      const transfer = Object.values(outputs).map((t) => t.data.buffer)
      parentPort.postMessage({ type: 'result', id: msg.id, outputs, executionMs }, transfer)
    } catch (e) {
      parentPort.postMessage({ type: 'result', id: msg.id, error: String(e?.message ?? e) })
    }
  })
} catch (e) {
  parentPort.postMessage({ type: 'failed', error: String(e?.message ?? e) })
}
