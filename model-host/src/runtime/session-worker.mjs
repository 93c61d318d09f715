// @module
// One onnxruntime session on its own thread. onnxruntime-node runs a session
// synchronously on the calling thread, so the host keeps sessions off the
// event loop: HTTP, health checks and batching stay responsive during a run.
// Plain JS so it loads in any runner (tsx, vitest, node) without a loader.
import { parentPort, workerData } from 'node:worker_threads'
import ort from 'onnxruntime-node'

/** @type {{ modelBytes: Uint8Array, providers: string[], intraOpThreads: number }} */
const { modelBytes, providers, intraOpThreads } = workerData

const options = (eps) => ({
  executionProviders: eps,
  intraOpNumThreads: intraOpThreads,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
})

async function createSession() {
  const notes = []
  if (providers.includes('cuda')) {
    try {
      const session = await ort.InferenceSession.create(modelBytes, options(['cuda', 'cpu']))
      return { session, device: 'cuda', notes }
    } catch (e) {
      notes.push(`CUDA unavailable (${String(e.message ?? e).split('\n')[0]}); using CPU`)
    }
  }
  const session = await ort.InferenceSession.create(modelBytes, options(['cpu']))
  return { session, device: 'cpu', notes }
}

try {
  const { session, device, notes } = await createSession()
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
      const feeds = {}
      for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims)
      const started = performance.now()
      const results = await session.run(feeds, msg.outputNames)
      const executionMs = performance.now() - started
      const outputs = {}
      const transfer = []
      for (const [name, t] of Object.entries(results)) {
        outputs[name] = { type: t.type, dims: t.dims, data: t.data }
        transfer.push(t.data.buffer)
      }
      parentPort.postMessage({ type: 'result', id: msg.id, outputs, executionMs }, transfer)
    } catch (e) {
      parentPort.postMessage({ type: 'result', id: msg.id, error: String(e?.message ?? e) })
    }
  })
} catch (e) {
  parentPort.postMessage({ type: 'failed', error: String(e?.message ?? e) })
}
