/**
 * @module
 * The configuration of a mesh that runs as several nodes, kept in NATS: a
 * JetStream key-value bucket whose one key's history is the config history
 * (contracts' mesh-revision.ts). An apply renders mesh.yaml for every node
 * and publishes one revision, compare-and-set on the revision it was made
 * from, so two appliers anywhere can never both win; each node's telemetry
 * agent hands its node's part to its own Envoy, and the apply waits until
 * every node that answers says it runs it. A node that is down or cut off
 * takes it when it is back. Nothing here writes into a node's folders.
 *
 * Why a key-value bucket: it replicates over the JetStream cluster the
 * telemetry already runs on, keeps the history, offers compare-and-set,
 * and a watcher starts from the last value (a returning node converges).
 * `mesh up --nodes` records where the mesh runs (`nodes/mesh.json` under
 * the state directory), so every other command addresses the whole mesh.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Kvm, type KV } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import {
  agentStatus,
  CONFIG_BUCKET,
  CONFIG_HISTORY,
  CONFIG_KEY,
  encodeMeshRevision,
  MAX_REVISION_BYTES,
  type MeshRevision,
  OWNER_ONLY_FILE,
  parseMeshRevision,
} from '@model-mesh/contracts'
import { createHash } from 'node:crypto'
import type { LoadedMesh } from './load.ts'
import { natsCredential } from './nats-auth.ts'
import { renderMesh } from './render.ts'
import { httpUrl } from './schema.ts'
import { digestOf, type HistoryEntry, paths, readHistory, readIfExists, writeAtomic } from './state.ts'

/** Where a running node mesh is, as `mesh up --nodes` records it. */
export interface NodeMeshRecord {
  /** The supervising `mesh up`: the record counts only while it lives. */
  pid: number
  nats_urls: string
  nodes: { name: string; address: string; hosts: string[]; collector: boolean }[]
}

/** What one node did with a revision the apply published. */
export interface NodeOutcome {
  node: string
  state: 'applied' | 'refused' | 'pending' | 'unreachable'
  /** Applied: how long after it was published its agent reported it running. */
  ms?: number
  detail?: string
}

export type NodesApplyResult =
  | { status: 'applied'; entry: HistoryEntry; nodes: NodeOutcome[] }
  | { status: 'unchanged'; version: string }
  | { status: 'refused'; reason: string }

export const nodeMeshFile = (stateDir: string) => join(stateDir, 'nodes', 'mesh.json')
/** A node's own folder: its Envoy's bootstrap and xDS files, written by its agent. */
export const nodeDir = (stateDir: string, node: string) => join(stateDir, 'nodes', node)

export async function writeNodeMeshRecord(stateDir: string, record: NodeMeshRecord): Promise<void> {
  await writeAtomic(nodeMeshFile(stateDir), `${JSON.stringify(record, null, 2)}\n`, OWNER_ONLY_FILE)
}

export async function removeNodeMeshRecord(stateDir: string): Promise<void> {
  await rm(nodeMeshFile(stateDir), { force: true })
}

/** The node mesh running from this state directory, if one is. */
export async function runningNodeMesh(stateDir: string): Promise<NodeMeshRecord | null> {
  const text = await readIfExists(nodeMeshFile(stateDir))
  if (text === undefined) return null
  try {
    const record = JSON.parse(text) as NodeMeshRecord
    if (!Number.isInteger(record.pid) || !Array.isArray(record.nodes)) return null
    process.kill(record.pid, 0)
    return record
  } catch {
    // Unreadable, or its `mesh up` is gone (killed without its cleanup): no node mesh runs.
    return null
  }
}

/** The bucket, over a connection as the operator (the local mesh's `mesh-operator`); `create` makes it when missing. */
export async function openConfigBucket(
  stateDir: string,
  record: NodeMeshRecord,
  create?: { replicas: number },
): Promise<{ nc: NatsConnection; kv: KV }> {
  const nc = await connect({
    servers: record.nats_urls.split(','),
    ...(await natsCredential(stateDir, 'operator')),
    name: 'mesh config',
    timeout: 2000,
  })
  try {
    const kvm = new Kvm(nc)
    const kv = create
      ? await kvm.create(CONFIG_BUCKET, {
          history: CONFIG_HISTORY,
          replicas: create.replicas,
          maxValueSize: MAX_REVISION_BYTES,
          // Reads from the leader: a node back from a partition must not take its own stale replica's answer for the newest.
          allow_direct: false,
        })
      : await kvm.open(CONFIG_BUCKET)
    return { nc, kv }
  } catch (e) {
    await nc.close().catch(() => {})
    throw e
  }
}

/** Every node's part of `mesh`, rendered for where it runs. */
export function renderNodes(mesh: LoadedMesh, record: NodeMeshRecord): MeshRevision['nodes'] {
  const nodes: MeshRevision['nodes'] = {}
  for (const n of record.nodes) {
    const rendered = renderMesh(mesh.config, {
      xdsDir: join(nodeDir(mesh.stateDir, n.name), 'xds'),
      telemetryCredential: true,
      placement: { node: n.name, nodes: record.nodes },
    })
    nodes[n.name] = { version: rendered.version, bootstrap: rendered.bootstrap, files: rendered.files }
  }
  return nodes
}

/**
 * Publishes `mesh` as the next revision, unless the newest one already says
 * the same. Refused when another apply published since the newest was read.
 */
export async function publishRevision(
  kv: KV,
  mesh: LoadedMesh,
  record: NodeMeshRecord,
  what: { by: string; action: string },
): Promise<{ status: 'published' | 'unchanged'; revision: MeshRevision }> {
  const nodes = renderNodes(mesh, record)
  const version = createHash('sha256')
    .update(JSON.stringify(Object.values(nodes).map((n) => n.version)))
    .digest('hex')
    .slice(0, 16)
  const latest = await kv.get(CONFIG_KEY)
  const previous = latest ? parseMeshRevision(latest.value) : undefined
  if (previous?.ok && JSON.stringify(previous.revision.nodes) === JSON.stringify(nodes))
    return { status: 'unchanged', revision: previous.revision }
  const revision: MeshRevision = {
    id: (previous?.ok ? previous.revision.id : (latest?.revision ?? 0)) + 1,
    time: new Date().toISOString(),
    by: what.by,
    action: what.action,
    digest: digestOf(mesh.text),
    version,
    mesh_text: mesh.text,
    nodes,
  }
  const bytes = encodeMeshRevision(revision)
  if (bytes.length > MAX_REVISION_BYTES)
    throw new Error(`the rendered configuration is ${bytes.length} bytes, over the ${MAX_REVISION_BYTES} NATS carries`)
  try {
    if (latest) await kv.update(CONFIG_KEY, bytes, latest.revision)
    else await kv.create(CONFIG_KEY, bytes)
  } catch (e) {
    if (/wrong last sequence|key exists/i.test((e as Error).message))
      throw new Error('another apply published a revision meanwhile; nothing was applied: look again and retry')
    throw e
  }
  return { status: 'published', revision }
}

/** Waits until every node's agent runs revision `id`, refused it, or `timeoutMs` passed (a node that never answers: 3 s). */
export async function waitForNodes(
  mesh: LoadedMesh,
  record: NodeMeshRecord,
  id: number,
  timeoutMs = 10_000,
): Promise<NodeOutcome[]> {
  const started = Date.now()
  const port = mesh.config.telemetry.agent.port
  return Promise.all(
    record.nodes.map(async ({ name, address }): Promise<NodeOutcome> => {
      for (;;) {
        const s = await agentStatus(httpUrl(address, port), 1000)
        const waited = Date.now() - started
        if ('error' in s) {
          if (waited > Math.min(3000, timeoutMs))
            return { node: name, state: 'unreachable', detail: `${s.error}; it takes revision ${id} when back` }
        } else if ((s.config?.revision ?? 0) >= id) {
          return { node: name, state: 'applied', ms: waited }
        } else if (s.config?.error?.startsWith(`revision ${id} `)) {
          return { node: name, state: 'refused', detail: s.config.error }
        } else if (waited > timeoutMs) {
          return { node: name, state: 'pending', detail: `it runs revision ${s.config?.revision ?? 'none'}` }
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    }),
  )
}

/** Validated `mesh` to every node: published, then waited for. */
export async function applyToNodes(
  mesh: LoadedMesh,
  record: NodeMeshRecord,
  what: { by: string; action: string; timeoutMs?: number },
): Promise<NodesApplyResult> {
  let bucket: { nc: NatsConnection; kv: KV }
  try {
    bucket = await openConfigBucket(mesh.stateDir, record)
  } catch (e) {
    return { status: 'refused', reason: `cannot reach the mesh's configuration in NATS: ${(e as Error).message}` }
  }
  try {
    const published = await publishRevision(bucket.kv, mesh, record, what)
    const r = published.revision
    if (published.status === 'unchanged') return { status: 'unchanged', version: r.version }
    return {
      status: 'applied',
      entry: entryOf(r),
      nodes: await waitForNodes(mesh, record, r.id, what.timeoutMs),
    }
  } catch (e) {
    return { status: 'refused', reason: (e as Error).message }
  } finally {
    await bucket.nc.close().catch(() => {})
  }
}

export const entryOf = (r: MeshRevision): HistoryEntry => ({
  id: r.id,
  time: r.time,
  digest: r.digest,
  version: r.version,
  by: r.by,
  action: r.action,
})

/** The newest revision in the shared history, if any. */
export async function newestRevision(stateDir: string, record: NodeMeshRecord): Promise<MeshRevision | undefined> {
  const { nc, kv } = await openConfigBucket(stateDir, record)
  try {
    const latest = await kv.get(CONFIG_KEY)
    const parsed = latest && parseMeshRevision(latest.value)
    return parsed?.ok ? parsed.revision : undefined
  } finally {
    await nc.close().catch(() => {})
  }
}

/** The history the commands show: the nodes' shared one when the mesh runs as nodes, else the state directory's. */
export async function meshHistory(stateDir: string): Promise<HistoryEntry[]> {
  const record = await runningNodeMesh(stateDir)
  if (!record) return readHistory(stateDir)
  return (await nodeHistory(stateDir, record)).map((h) => h.entry)
}

/** The mesh.yaml text of history entry `id`, from the same history as meshHistory. */
export async function meshHistoryText(stateDir: string, id: number): Promise<string | undefined> {
  const record = await runningNodeMesh(stateDir)
  if (!record) {
    if (!(await readHistory(stateDir)).some((e) => e.id === id)) return undefined
    return readIfExists(paths(stateDir).historyText(id))
  }
  return (await nodeHistory(stateDir, record)).find((h) => h.entry.id === id)?.text
}

/** The shared history, oldest first (the bucket keeps the last CONFIG_HISTORY), with each revision's mesh.yaml text. */
export async function nodeHistory(
  stateDir: string,
  record: NodeMeshRecord,
): Promise<{ entry: HistoryEntry; text: string }[]> {
  const { nc, kv } = await openConfigBucket(stateDir, record)
  try {
    const out: { entry: HistoryEntry; text: string }[] = []
    for await (const e of await kv.history({ key: CONFIG_KEY })) {
      if (e.operation !== 'PUT') continue
      const parsed = parseMeshRevision(e.value)
      if (parsed.ok) out.push({ entry: entryOf(parsed.revision), text: parsed.revision.mesh_text })
    }
    return out
  } finally {
    await nc.close().catch(() => {})
  }
}
