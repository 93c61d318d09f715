/**
 * @module
 * Applying a validated mesh to a running Envoy without dropping a request.
 *
 * Envoy watches the xDS files and swaps in what it reads. Only files whose
 * contents changed are written, one at a time, each followed by a wait
 * until Envoy's stats show it took that version. The order keeps every
 * reference resolvable: clusters first (old and new together, when some go
 * away), then filter configurations, routes and the listener, then the
 * final clusters once no route names the removed ones. If Envoy refuses a
 * step, every file written so far is put back, and Envoy, which ignored the
 * refused file and took the others back, runs exactly what it ran before.
 */
import { join } from 'node:path'
// Rendered files hold API keys: written OWNER_ONLY_FILE.
import { ensureToken, OWNER_ONLY_FILE } from '@model-mesh/contracts'
import { credentialFiles } from './credentials.ts'
import { EnvoyAdmin, type Subscription } from './envoy-admin.ts'
import type { LoadedMesh } from './load.ts'
import { rm } from 'node:fs/promises'
import { LDS_FILE, renderMesh, xdsFile, type RenderedMesh, type XdsFile } from './render.ts'
import { paths, readIfExists, recordHistory, withStateLock, writeAtomic, type HistoryEntry } from './state.ts'

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
  | { status: 'applied'; entry: HistoryEntry; envoy: 'updated' | 'not running'; bootstrapChanged: boolean }
  | { status: 'unchanged'; version: string }
  | { status: 'refused'; reason: string }

/** What mesh.yaml renders to here: the bootstrap Envoy runs with, whose exporter reads the node's telemetry credential from Envoy's environment. */
export function renderFor(mesh: LoadedMesh): RenderedMesh {
  return renderMesh(mesh.config, { xdsDir: paths(mesh.stateDir).xdsDir, telemetryCredential: true })
}

/** Where this mesh's Envoy admin listens: the address Envoy wrote, else the configured port. */
export async function adminFor(mesh: LoadedMesh): Promise<EnvoyAdmin> {
  const written = (await readIfExists(paths(mesh.stateDir).adminAddress))?.trim()
  return new EnvoyAdmin(`http://${written || `127.0.0.1:${mesh.config.gateway.admin_port}`}`)
}

/** The text written for an xDS file, and for the bootstrap. */
export const fileText = (f: XdsFile) => `${JSON.stringify(f.response, null, 2)}\n`
export const bootstrapText = (r: RenderedMesh) => `${JSON.stringify(r.bootstrap, null, 2)}\n`

interface Step {
  file: XdsFile
  text: string
  /** Whether Envoy already has a subscription for it that will report the version. */
  watched: boolean
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
  const path = (f: XdsFile) => join(p.xdsDir, f.file)
  const previous = new Map<string, string | undefined>()
  for (const f of rendered.files) previous.set(f.file, await readIfExists(path(f)))
  const bootstrap = bootstrapText(rendered)
  const previousBootstrap = await readIfExists(p.bootstrap)
  const changed = rendered.files.filter((f) => previous.get(f.file) !== fileText(f))
  if (changed.length === 0 && previousBootstrap === bootstrap) return { status: 'unchanged', version: rendered.version }

  const admin = await adminFor(mesh)
  const running = !options.offline && (await admin.running())
  const written: string[] = []
  /** Puts back what Envoy had: old files restored, new ones removed. */
  const rollBack = async () => {
    for (const file of written.reverse()) {
      const old = previous.get(file)
      if (old !== undefined) await writeAtomic(join(p.xdsDir, file), old, OWNER_ONLY_FILE)
      else await rm(join(p.xdsDir, file), { force: true })
    }
  }
  try {
    if (running) {
      const timeoutMs = options.timeoutMs ?? 10_000
      const before = await admin.subscriptions()
      for (const step of plan(rendered, changed, previous, before)) {
        written.push(step.file.file)
        await writeAtomic(path(step.file), step.text, OWNER_ONLY_FILE)
        if (!step.watched) continue
        const taken = await admin.waitForVersion(
          step.file.statPrefix,
          step.file.response.version_info,
          before,
          timeoutMs,
        )
        if (!taken.ok) {
          await rollBack()
          return { status: 'refused', reason: taken.reason }
        }
      }
    } else {
      for (const f of changed) {
        written.push(f.file)
        await writeAtomic(path(f), fileText(f), OWNER_ONLY_FILE)
      }
    }
  } catch (e) {
    // Whatever failed (the disk, Envoy's admin), Envoy is handed back what it ran.
    await rollBack().catch(() => {})
    return { status: 'refused', reason: `apply failed and was rolled back: ${(e as Error).message}` }
  }
  await writeAtomic(p.bootstrap, bootstrap, OWNER_ONLY_FILE)
  const entry = await recordHistory(mesh.stateDir, mesh.text, {
    version: rendered.version,
    by: options.by,
    action: options.action,
  })
  return {
    status: 'applied',
    entry,
    envoy: running ? 'updated' : 'not running',
    bootstrapChanged: previousBootstrap !== undefined && previousBootstrap !== bootstrap,
  }
}

/** The order of writes for a running Envoy (see the module comment). */
function plan(
  rendered: RenderedMesh,
  changed: XdsFile[],
  previous: Map<string, string | undefined>,
  subscriptions: Map<string, Subscription>,
): Step[] {
  const steps: Step[] = []
  // A filter's ECDS subscription exists only while the running listener names the filter:
  // a filter the new listener adds is read when that listener is built, and not waited for.
  const runningListener = previous.get(LDS_FILE) ?? ''
  const watched = (file: XdsFile) =>
    file.kind === 'extension'
      ? runningListener.includes(`"${file.statPrefix.split('.').at(-1)}"`) &&
        subscriptions.get(file.statPrefix)?.version !== undefined
      : subscriptions.get(file.statPrefix)?.version !== undefined
  const step = (file: XdsFile): Step => ({ file, text: fileText(file), watched: watched(file) })
  const clusters = changed.find((f) => f.kind === 'clusters')
  if (clusters) {
    const old = previous.get(clusters.file)
    const names = new Set(rendered.clusters.map((c) => c.name))
    const removed = old
      ? (JSON.parse(old) as XdsFile['response']).resources.filter((c) => !names.has(c.name as string))
      : []
    // Old and new together first, so routes of either config find their clusters.
    steps.push(
      step(
        removed.length > 0
          ? xdsFile(clusters.file, 'clusters', clusters.statPrefix, [...clusters.response.resources, ...removed])
          : clusters,
      ),
    )
  }
  for (const kind of ['extension', 'routes', 'listeners'] as const)
    for (const f of changed) if (f.kind === kind) steps.push(step(f))
  if (clusters && steps[0]!.file !== clusters) steps.push(step(clusters))
  return steps
}
