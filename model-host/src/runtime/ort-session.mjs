// @module
// Creating and running an onnxruntime session, shared by the worker-thread
// session and the event-loop session. Plain JS so a worker loads it without
// a TypeScript loader. Types: ort-session.d.mts.
import ort from 'onnxruntime-node'

// onnxruntime's own log goes to stderr unstructured; probing CUDA without its
// library prints a native error line. Failures reach the host as exceptions,
// which it logs as JSON with context, so only fatal native messages remain.
// (The level applies process-wide from the first session on.)
ort.env.logLevel = 'fatal'

const sessionOptions = (providers, intraOpThreads) => ({
  executionProviders: providers,
  intraOpNumThreads: intraOpThreads,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
})

/** Tries CUDA first when asked, then the CPU; says in `notes` why CUDA was not used. */
export async function createOrtSession(modelBytes, providers, intraOpThreads) {
  const notes = []
  if (providers.includes('cuda')) {
    try {
      const session = await ort.InferenceSession.create(modelBytes, sessionOptions(['cuda', 'cpu'], intraOpThreads))
      return { session, device: 'cuda', notes }
    } catch (e) {
      notes.push(`CUDA unavailable (${String(e?.message ?? e).split('\n')[0]}); using CPU`)
    }
  }
  const session = await ort.InferenceSession.create(modelBytes, sessionOptions(['cpu'], intraOpThreads))
  return { session, device: 'cpu', notes }
}

/** Runs plain `{type, dims, data}` tensors and returns plain tensors. */
export async function runOrt(session, feeds, outputNames) {
  const ortFeeds = {}
  for (const name in feeds) {
    const t = feeds[name]
    ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims)
  }
  const started = performance.now()
  const results = await session.run(ortFeeds, outputNames)
  const executionMs = performance.now() - started
  const outputs = {}
  for (const name in results) {
    const t = results[name]
    outputs[name] = { type: t.type, dims: t.dims, data: t.data }
  }
  return { outputs, executionMs }
}
