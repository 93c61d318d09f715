/**
 * @module
 * Applying a validated mesh to a running Envoy without dropping a request.
 *
 * Envoy watches the xDS files and swaps in what it reads. Routes name
 * clusters, so the order matters: clusters first (old and new together, so
 * routes of either config resolve), then listeners, then the final set of
 * clusters once no route names the removed ones. Each step waits for Envoy
 * to report the version; if Envoy refuses a step, the files it had are put
 * back and the running config stays exactly as it was.
 */
import { readFile } from 'node:fs/promises'
import { CDS_FILE, discoveryResponse, LDS_FILE, renderMesh, type RenderedMesh } from './render.ts'
import { EnvoyAdmin } from './envoy-admin.ts'
import type { LoadedMesh } from './load.ts'
import { paths, readIfExists, recordHistory, writeAtomic, type HistoryEntry } from './state.ts'
import { join } from 'node:path'

export interface ApplyOptions {
  by: string
  action: string
  /** How long to wait for Envoy to take each step. */
  timeoutMs?: number
}

export type ApplyResult =
  | { status: 'applied'; entry: HistoryEntry; envoy: 'updated' | 'not running'; bootstrapChanged: boolean }
  | { status: 'unchanged'; version: string }
  | { status: 'refused'; reason: string }

export function renderFor(mesh: LoadedMesh): RenderedMesh {
  return renderMesh(mesh.config, { xdsDir: paths(mesh.stateDir).xdsDir })
}

/** Where this mesh's Envoy admin listens: the address Envoy wrote, else the configured port. */
export async function adminFor(mesh: LoadedMesh): Promise<EnvoyAdmin> {
  const written = (await readIfExists(paths(mesh.stateDir).adminAddress))?.trim()
  return new EnvoyAdmin(`http://${written || `127.0.0.1:${mesh.config.gateway.admin_port}`}`)
}

export async function applyMesh(mesh: LoadedMesh, options: ApplyOptions): Promise<ApplyResult> {
  let rendered: RenderedMesh
  try {
    rendered = renderFor(mesh)
  } catch (e) {
    return { status: 'refused', reason: (e as Error).message }
  }
  const p = paths(mesh.stateDir)
  const lds = join(p.xdsDir, LDS_FILE)
  const cds = join(p.xdsDir, CDS_FILE)
  const previous = { lds: await readIfExists(lds), cds: await readIfExists(cds) }
  const bootstrapText = `${JSON.stringify(rendered.bootstrap, null, 2)}\n`
  const bootstrapChanged = (await readIfExists(p.bootstrap)) !== bootstrapText
  const ldsText = `${JSON.stringify(discoveryResponse('listeners', rendered), null, 2)}\n`
  const cdsText = `${JSON.stringify(discoveryResponse('clusters', rendered), null, 2)}\n`
  if (!bootstrapChanged && previous.lds === ldsText && previous.cds === cdsText) return { status: 'unchanged', version: rendered.version }

  const admin = await adminFor(mesh)
  const running = await admin.reachable()
  if (running) {
    const timeoutMs = options.timeoutMs ?? 10_000
    const before = (await admin.xdsState()).rejected
    const oldClusters = previous.cds ? (JSON.parse(previous.cds) as { resources: { name: string }[] }).resources : []
    const names = new Set(rendered.clusters.map((c) => c.name))
    const bridge = { ...rendered, version: `${rendered.version}-bridge`, clusters: [...rendered.clusters, ...oldClusters.filter((c) => !names.has(c.name)).map(stripType)] }
    const steps: [string, string, string, 'listeners' | 'clusters'][] = [
      [cds, `${JSON.stringify(discoveryResponse('clusters', bridge), null, 2)}\n`, bridge.version, 'clusters'],
      [lds, ldsText, rendered.version, 'listeners'],
      [cds, cdsText, rendered.version, 'clusters'],
    ]
    for (const [file, text, version, kind] of steps) {
      await writeAtomic(file, text)
      const taken = await admin.waitForVersion(version, [kind], timeoutMs, before)
      if (!taken.ok) {
        // Put back what Envoy ran; it keeps running it (a refused file changes nothing in Envoy).
        if (previous.cds !== undefined) await writeAtomic(cds, previous.cds)
        if (previous.lds !== undefined) await writeAtomic(lds, previous.lds)
        return { status: 'refused', reason: taken.reason }
      }
    }
  } else {
    await writeAtomic(cds, cdsText)
    await writeAtomic(lds, ldsText)
  }
  await writeAtomic(p.bootstrap, bootstrapText)
  const entry = await recordHistory(mesh.stateDir, mesh.text, { version: rendered.version, by: options.by, action: options.action })
  return { status: 'applied', entry, envoy: running ? 'updated' : 'not running', bootstrapChanged: bootstrapChanged && previous.lds !== undefined }
}

/** The cluster as rendered, without the DiscoveryResponse's @type. */
function stripType(resource: { name: string }): Record<string, unknown> {
  const { ['@type']: _type, ...rest } = resource as Record<string, unknown>
  return rest
}

/** The mesh.yaml text of a history entry. */
export async function historyText(stateDir: string, id: number): Promise<string> {
  return readFile(paths(stateDir).historyText(id), 'utf8')
}
