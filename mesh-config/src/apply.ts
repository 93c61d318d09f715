/**
 * @module
 * Applying a validated mesh to a running Envoy without dropping a request:
 * rendered, handed to Envoy file by file in an order that keeps every
 * reference resolvable (swapXdsFiles, in the contracts), recorded in the
 * history. A refused step puts back every file, and Envoy runs exactly what
 * it ran before. When the mesh runs as several nodes, the rendered
 * configuration goes to every node through NATS instead (node-config.ts).
 */
// Rendered files hold API keys: written OWNER_ONLY_FILE.
import {
  adminAt,
  bootstrapText,
  type EnvoyAdmin,
  ensureToken,
  OWNER_ONLY_FILE,
  swapXdsFiles,
} from '@model-mesh/contracts'
import { credentialFiles } from './credentials.ts'
import { parseMesh, type LoadedMesh } from './load.ts'
import { applyToNodes, type NodeOutcome, runningNodeMesh } from './node-config.ts'
import { renderMesh, type RenderedMesh } from './render.ts'
import { currentReplicas, withReplicas } from './replicas.ts'
import {
  paths,
  readHistory,
  readIfExists,
  recordHistory,
  withStateLock,
  writeAtomic,
  type HistoryEntry,
} from './state.ts'

export interface ApplyOptions {
  by: string
  action: string
  /** How long to wait for Envoy to take each step. */
  timeoutMs?: number
  /** Write the files without asking any Envoy (the local mesh, before it starts its own). */
  offline?: boolean
  /** Runs first, under the lock: a reason refuses the apply before anything changes. */
  guard?: () => Promise<string | null>
  /** Runs under the lock once the mesh is applied (or was already): so what follows an apply cannot interleave with another one. */
  commit?: () => Promise<void>
}

export type ApplyResult =
  | {
      status: 'applied'
      entry: HistoryEntry
      envoy: 'updated' | 'not running'
      bootstrapChanged: boolean
      /** Several nodes: what each did with it. */
      nodes?: NodeOutcome[]
    }
  | { status: 'unchanged'; version: string }
  | { status: 'refused'; reason: string }

/** What mesh.yaml renders to here: the bootstrap Envoy runs with, whose exporter reads the node's telemetry credential from Envoy's environment. */
export function renderFor(mesh: LoadedMesh): RenderedMesh {
  // Autoscaled pools at the size they run now (replicas.ts), so an apply never drops a running instance.
  return renderMesh(withReplicas(mesh.config, currentReplicas(mesh.stateDir)), {
    xdsDir: paths(mesh.stateDir).xdsDir,
    telemetryCredential: true,
  })
}

/**
 * Hands Envoy the pools' current sizes (the local autoscaler's changes):
 * the files mesh.yaml renders with them, swapped as an apply swaps them,
 * under the same lock; not a change of mesh.yaml, so not in its history.
 */
export async function applyReplicas(mesh: LoadedMesh): Promise<void> {
  await withStateLock(mesh.stateDir, async () => {
    // What Envoy runs is the last applied mesh.yaml (an operator's apply since the mesh started; not an unapplied edit).
    const running = await lastApplied(mesh)
    const swapped = await swapXdsFiles({
      dir: paths(mesh.stateDir).xdsDir,
      files: renderFor(running).files,
      admin: await adminFor(running),
    })
    if (swapped.status === 'refused') throw new Error(`Envoy refused the pools' new sizes: ${swapped.reason}`)
  })
}

/** The mesh as last applied (the history's newest text); `mesh` itself when there is none, or it no longer validates. */
async function lastApplied(mesh: LoadedMesh): Promise<LoadedMesh> {
  const last = (await readHistory(mesh.stateDir)).at(-1)
  const text = last && (await readIfExists(paths(mesh.stateDir).historyText(last.id)))
  if (!text || text === mesh.text) return mesh
  const loaded = await parseMesh(text, mesh.file)
  return loaded.ok ? loaded.mesh : mesh
}

/** Where this mesh's Envoy admin listens: the address Envoy wrote, else the configured port. */
export async function adminFor(mesh: LoadedMesh): Promise<EnvoyAdmin> {
  return (await adminAt(paths(mesh.stateDir).adminAddress, `127.0.0.1:${mesh.config.gateway.admin_port}`))!
}

/** Applies under the state directory's lock: one apply at a time. */
export async function applyMesh(mesh: LoadedMesh, options: ApplyOptions): Promise<ApplyResult> {
  return withStateLock(mesh.stateDir, () => applyLocked(mesh, options))
}

async function applyLocked(mesh: LoadedMesh, options: ApplyOptions): Promise<ApplyResult> {
  const refusal = await options.guard?.()
  if (refusal) return { status: 'refused', reason: refusal }
  const result = await applyUnguarded(mesh, options)
  if (result.status !== 'refused') await options.commit?.()
  return result
}

async function applyUnguarded(mesh: LoadedMesh, options: ApplyOptions): Promise<ApplyResult> {
  const nodeMesh = await runningNodeMesh(mesh.stateDir)
  if (nodeMesh) {
    const r = await applyToNodes(mesh, nodeMesh, options)
    return r.status === 'applied' ? { ...r, envoy: 'updated', bootstrapChanged: false } : r
  }
  let rendered: RenderedMesh
  try {
    // The telemetry credential: created here the first time (setup and start both apply), never in mesh.yaml
    // nor in Envoy's configuration (the local mesh gives it to Envoy in its environment).
    await ensureToken(credentialFiles(mesh.stateDir).telemetryToken)
    rendered = renderFor(mesh)
  } catch (e) {
    return { status: 'refused', reason: (e as Error).message }
  }
  const p = paths(mesh.stateDir)
  const bootstrap = bootstrapText(rendered.bootstrap)
  const previousBootstrap = await readIfExists(p.bootstrap)
  const admin = options.offline ? undefined : await adminFor(mesh)
  const swapped = await swapXdsFiles({ dir: p.xdsDir, files: rendered.files, admin, timeoutMs: options.timeoutMs })
  if (swapped.status === 'refused') return swapped
  if (swapped.status === 'unchanged' && previousBootstrap === bootstrap)
    return { status: 'unchanged', version: rendered.version }
  await writeAtomic(p.bootstrap, bootstrap, OWNER_ONLY_FILE)
  const entry = await recordHistory(mesh.stateDir, mesh.text, {
    version: rendered.version,
    by: options.by,
    action: options.action,
  })
  return {
    status: 'applied',
    entry,
    envoy: swapped.status === 'written' ? swapped.envoy : (await admin?.running()) ? 'updated' : 'not running',
    bootstrapChanged: previousBootstrap !== undefined && previousBootstrap !== bootstrap,
  }
}
