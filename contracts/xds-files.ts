/**
 * @module
 * Handing a running Envoy a new set of xDS files without dropping a request,
 * for whoever owns a node's files: mesh-config's apply on one machine, each
 * node's telemetry agent when the configuration comes through NATS.
 *
 * Envoy watches the files and swaps in what it reads. Only files whose
 * contents changed are written, one at a time, each followed by a wait
 * until Envoy's stats show it took that version. The order keeps every
 * reference resolvable: clusters first (old and new together, when some go
 * away), then filter configurations, routes and the listener, then the
 * final clusters once no route names the removed ones. If Envoy refuses a
 * step, every file written so far is put back, and Envoy, which ignored the
 * refused file and took the others back, runs exactly what it ran before.
 */
import { createHash } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { readIfExists, writeAtomic } from './atomic-file.ts'
import { OWNER_ONLY_FILE } from './credentials.ts'
import type { EnvoyAdmin, Subscription } from './envoy-admin.ts'

type Json = Record<string, unknown>

/** One file-based xDS resource file: a DiscoveryResponse whose version_info is the digest of its resources. */
export interface XdsFile {
  file: string
  kind: 'listeners' | 'clusters' | 'routes' | 'extension'
  /** Where Envoy's stats say which version it took (`<prefix>.version_text`) and what it refused. */
  statPrefix: string
  response: { version_info: string; resources: Json[] }
}

/** The text written for an xDS file, and for a bootstrap. */
export const fileText = (f: XdsFile) => `${JSON.stringify(f.response, null, 2)}\n`
export const bootstrapText = (bootstrap: Json) => `${JSON.stringify(bootstrap, null, 2)}\n`

export type XdsSwapResult =
  | { status: 'unchanged' }
  | { status: 'written'; envoy: 'updated' | 'not running' }
  | { status: 'refused'; reason: string }

export interface XdsSwapOptions {
  /** The folder Envoy's bootstrap reads the files from. */
  dir: string
  files: readonly XdsFile[]
  /** The Envoy that runs them; absent or not answering: every changed file is written at once (it reads them when it starts). */
  admin?: EnvoyAdmin
  /** How long to wait for Envoy to take each step (default 10 s). */
  timeoutMs?: number
}

interface Step {
  file: XdsFile
  text: string
  /** Whether Envoy already has a subscription for it that will report the version. */
  watched: boolean
}

/** Writes what changed in the order above; the files (written 0600: they hold API keys) and Envoy end as they were when it is refused. */
export async function swapXdsFiles(options: XdsSwapOptions): Promise<XdsSwapResult> {
  const { dir, files } = options
  const path = (f: string) => join(dir, f)
  const previous = new Map<string, string | undefined>()
  for (const f of files) previous.set(f.file, await readIfExists(path(f.file)))
  const changed = files.filter((f) => previous.get(f.file) !== fileText(f))
  if (changed.length === 0) return { status: 'unchanged' }

  const running = (await options.admin?.running()) ?? false
  const written: string[] = []
  /** Puts back what Envoy had: old files restored, new ones removed. */
  const rollBack = async () => {
    for (const file of written.reverse()) {
      const old = previous.get(file)
      if (old !== undefined) await writeAtomic(path(file), old, OWNER_ONLY_FILE)
      else await rm(path(file), { force: true })
    }
  }
  try {
    if (running && options.admin) {
      const admin = options.admin
      const before = await admin.subscriptions()
      for (const step of plan(files, changed, previous, before)) {
        written.push(step.file.file)
        await writeAtomic(path(step.file.file), step.text, OWNER_ONLY_FILE)
        if (!step.watched) continue
        const taken = await admin.waitForVersion(
          step.file.statPrefix,
          step.file.response.version_info,
          before,
          options.timeoutMs ?? 10_000,
        )
        if (!taken.ok) {
          await rollBack()
          return { status: 'refused', reason: taken.reason }
        }
      }
    } else {
      for (const f of changed) {
        written.push(f.file)
        await writeAtomic(path(f.file), fileText(f), OWNER_ONLY_FILE)
      }
    }
  } catch (e) {
    // Whatever failed (the disk, Envoy's admin), Envoy is handed back what it ran.
    await rollBack().catch(() => {})
    return { status: 'refused', reason: `apply failed and was rolled back: ${(e as Error).message}` }
  }
  return { status: 'written', envoy: running ? 'updated' : 'not running' }
}

/** The order of writes for a running Envoy (see the module comment). */
function plan(
  files: readonly XdsFile[],
  changed: XdsFile[],
  previous: Map<string, string | undefined>,
  subscriptions: Map<string, Subscription>,
): Step[] {
  const steps: Step[] = []
  // A filter's ECDS subscription exists only while the running listener names the filter:
  // a filter the new listener adds is read when that listener is built, and not waited for.
  const listeners = files.find((f) => f.kind === 'listeners')
  const runningListener = (listeners && previous.get(listeners.file)) ?? ''
  const watched = (file: XdsFile) =>
    file.kind === 'extension'
      ? runningListener.includes(`"${file.statPrefix.split('.').at(-1)}"`) &&
        subscriptions.get(file.statPrefix)?.version !== undefined
      : subscriptions.get(file.statPrefix)?.version !== undefined
  const step = (file: XdsFile): Step => ({ file, text: fileText(file), watched: watched(file) })
  const clusters = changed.find((f) => f.kind === 'clusters')
  if (clusters) {
    const old = previous.get(clusters.file)
    const names = new Set(clusters.response.resources.map((c) => c.name))
    const removed = old
      ? (JSON.parse(old) as XdsFile['response']).resources.filter((c) => !names.has(c.name as string))
      : []
    // Old and new together first, so routes of either config find their clusters.
    steps.push(
      step(
        removed.length > 0
          ? { ...clusters, response: withResources([...clusters.response.resources, ...removed]) }
          : clusters,
      ),
    )
  }
  for (const kind of ['extension', 'routes', 'listeners'] as const)
    for (const f of changed) if (f.kind === kind) steps.push(step(f))
  if (clusters && steps[0]!.file !== clusters) steps.push(step(clusters))
  return steps
}

/** The clusters file with old and new clusters together, its version the digest of them all (as render gives every file). */
function withResources(resources: Json[]): XdsFile['response'] {
  return { version_info: createHash('sha256').update(JSON.stringify(resources)).digest('hex').slice(0, 16), resources }
}
