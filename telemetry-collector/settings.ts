/**
 * @module
 * The collector's settings, from mesh.yaml (validated by mesh-config's
 * loader, so it reads the file as the mesh CLI does).
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  httpUrl,
  maxInstancesOf,
  loadMeshFile,
  meshFileReader,
  meshModels,
  nodeInstanceName,
  telemetryPaths,
  type LoadedMesh,
  type MeshNode,
} from '@model-mesh/mesh-config'
import { VERSION_TOKEN, type KnownLabels } from './state/aggregator.ts'
import type { CollectorOptions } from './collector.ts'
import type { DriftConfig, DriftSettings } from './analysis/drift-monitor.ts'
import type { StreamLimits } from '@model-mesh/contracts'

const MB = 1024 * 1024

/** Loads mesh.yaml or exits 1 with every issue, located, as the mesh CLI does. */
export async function loadMeshOrExit(file: string): Promise<LoadedMesh> {
  const loaded = await loadMeshFile(file)
  if (!loaded.ok) {
    process.stderr.write(
      `${loaded.issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.path}: ${i.message}`).join('\n')}\n`,
    )
    process.exit(1)
  }
  return loaded.mesh
}

export function streamLimitsOf(mesh: LoadedMesh): StreamLimits {
  const s = mesh.config.telemetry.streams
  return {
    duplicateWindowS: s.duplicate_window_s,
    maxBytes: {
      requests: Math.round(s.max_mb.requests * MB),
      payloads: Math.round(s.max_mb.payloads * MB),
      host: Math.round(s.max_mb.host * MB),
      review: Math.round(s.max_mb.review * MB),
    },
  }
}

/**
 * Where the collector runs: the mesh's nodes when it has several (mesh.yaml's,
 * or npm start's `--nodes N`), the address it listens on, and the agents the
 * dashboard asks (every node's), each where not mesh.yaml's.
 */
export interface CollectorPlacement {
  nodes?: readonly MeshNode[]
  address?: string
  agents?: string[]
  /** Every collector's API URL, when several share the work. */
  collectors?: string[]
}

/** Copies of each stream in a cluster: one per node, three at most (losing one node loses nothing). */
const MAX_REPLICAS = 3

export function collectorOptionsOf(mesh: LoadedMesh, placement?: CollectorPlacement): CollectorOptions {
  const t = mesh.config.telemetry
  const lookAgain = meshFileReader(mesh.file)
  const nodes = placement?.nodes ?? []
  return {
    address: placement?.address ?? t.collector.address,
    port: t.collector.port,
    natsUrl: t.nats_url,
    storeDir: telemetryPaths(mesh).storeDir,
    models: meshModels(mesh.config),
    labels: knownLabelsOf(mesh, nodes),
    reloadLabels: async () => {
      const again = await lookAgain()
      return again.ok ? knownLabelsOf(again.mesh, nodes) : null
    },
    streams: {
      ...streamLimitsOf(mesh),
      ...(nodes.length > 1 ? { replicas: Math.min(MAX_REPLICAS, nodes.length) } : {}),
    },
    // Several nodes, several collectors: they share the models through leases, and take over a dead one's.
    ...(nodes.length > 1
      ? { shared: { replicas: Math.min(MAX_REPLICAS, nodes.length), collectors: placement?.collectors ?? [] } }
      : {}),
    repository: mesh.repositoryDir,
    meshFile: mesh.file,
    drift: driftConfigOf(mesh),
    dashboard: t.collector.dashboard.enabled
      ? {
          address: placement?.address ?? t.collector.dashboard.address,
          port: t.collector.dashboard.port,
          refreshMs: t.collector.dashboard.refresh_ms,
          agents: placement?.agents ?? [httpUrl(t.agent.address, t.agent.port)],
          // Every collector's dashboard listens on the same port at its node's address.
          peers: (placement?.collectors ?? [])
            .map((api) => withPort(api, t.collector.dashboard.port))
            .filter(
              (u) => u !== httpUrl(placement?.address ?? t.collector.dashboard.address, t.collector.dashboard.port),
            ),
        }
      : undefined,
    payloads: {
      dir: telemetryPaths(mesh).payloadsDir,
      flushMs: t.collector.payloads.flush_s * 1000,
      maxRows: t.collector.payloads.max_rows,
      retentionDays: t.collector.payloads.retention_days,
    },
  }
}

/** `url` (an origin) with another port. */
function withPort(url: string, port: number): string {
  const u = new URL(url)
  u.port = String(port)
  return u.origin
}

const NO_VERSIONS: ReadonlySet<string> = new Set()

/** How long a model's version folders are trusted before a version not among them is looked for again. */
const VERSIONS_FRESH_MS = 10_000

/**
 * The label values mesh.yaml names: its routes, its host instances (by name
 * and by address:port, as hosts report themselves; on several nodes, by
 * `<node>-<instance>` too), and per model the
 * versions its routes name and its repository holds. A model's folder is
 * listed again at most every 10 s, so a version added while the collector
 * runs gets its own label.
 */
export function knownLabelsOf(mesh: LoadedMesh, nodes: readonly MeshNode[] = []): Omit<KnownLabels, 'models'> {
  const c = mesh.config
  const named = new Map<string, Set<string>>()
  for (const r of c.routes)
    for (const v of [r.stable.version, r.canary?.version])
      if (v !== undefined) named.set(r.model, (named.get(r.model) ?? new Set()).add(String(v)))
  const listed = new Map<string, { at: number; versions: Set<string> }>()
  const models = new Set(meshModels(c))
  const list = (model: string) => {
    try {
      return new Set(
        readdirSync(join(mesh.repositoryDir, model), { withFileTypes: true })
          .filter((d) => d.isDirectory() && VERSION_TOKEN.test(d.name))
          .map((d) => d.name),
      )
    } catch {
      return new Set<string>()
    }
  }
  return {
    routes: c.routes.map((r) => r.name),
    hosts: [
      ...c.hosts.flatMap((h) => maxInstancesOf(h).flatMap((i) => [i.name, `${i.address}:${i.port}`])),
      // On Kubernetes every pod of a host reports as the host (render --target kubernetes).
      ...c.hosts.map((h) => h.name),
      // On several nodes each instance names itself after its node too.
      ...nodes.flatMap((n) =>
        c.hosts
          .filter((h) => n.hosts.includes(h.name))
          .flatMap((h) => maxInstancesOf(h).map((i) => nodeInstanceName(n.name, i.name))),
      ),
    ],
    // Asked for every event: the named and listed versions are merged once per listing, not per call.
    versions: (model) => {
      if (!models.has(model)) return NO_VERSIONS
      const now = Date.now()
      let l = listed.get(model)
      if (!l || now - l.at > VERSIONS_FRESH_MS)
        listed.set(model, (l = { at: now, versions: new Set([...(named.get(model) ?? []), ...list(model)]) }))
      return l.versions
    },
  }
}

/** quality.drift as the defaults, each of quality.models' drift over them. */
export function driftConfigOf(mesh: LoadedMesh): DriftConfig {
  const q = mesh.config.quality
  const defaults: DriftSettings = {
    windowMs: q.drift.window_minutes * 60_000,
    maxRows: q.drift.max_rows,
    minSamples: q.drift.min_samples,
    psi: q.drift.psi,
    ks: q.drift.ks,
  }
  const models: Record<string, DriftSettings> = {}
  for (const [model, { drift: own = {} }] of Object.entries(q.models)) {
    models[model] = {
      ...defaults,
      minSamples: own.min_samples ?? defaults.minSamples,
      psi: own.psi ?? defaults.psi,
      ks: own.ks ?? defaults.ks,
    }
  }
  return { defaults, models }
}
