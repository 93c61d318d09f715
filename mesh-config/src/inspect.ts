/**
 * @module
 * Read-only views for operators: what would change (`mesh diff`) and what
 * runs now (`mesh status`).
 */
import { createTwoFilesPatch } from 'diff'
import { join } from 'node:path'
import { adminFor, renderFor } from './apply.ts'
import type { LoadedMesh } from './load.ts'
import type { XdsFile } from './render.ts'
import { httpOk } from './local-mesh.ts'
import { adminAt, agentStatus, type EnvoyAdmin, type MeshRevision } from '@model-mesh/contracts'
import { entryOf, newestRevision, type NodeMeshRecord, nodeDir, runningNodeMesh } from './node-config.ts'
import { httpUrl, instancesOf, nodeInstanceName } from './schema.ts'
import { currentReplicas, type PoolStatus, readAutoscaleStatus, withReplicas } from './replicas.ts'
import { paths, readHistory, readIfExists } from './state.ts'

export interface MeshDiff {
  /** Unified diff of the last applied mesh.yaml against the file now. */
  text: string
  /** Envoy resources by kind and name. */
  resources: { kind: XdsFile['kind']; name: string; change: 'added' | 'removed' | 'changed' }[]
  version: { applied?: string; now: string }
}

export async function diffMesh(mesh: LoadedMesh): Promise<MeshDiff> {
  const p = paths(mesh.stateDir)
  const last = (await readHistory(mesh.stateDir)).at(-1)
  const appliedText = last ? ((await readIfExists(p.historyText(last.id))) ?? '') : ''
  const text =
    appliedText === mesh.text
      ? ''
      : createTwoFilesPatch(
          last ? `applied #${last.id}` : '(nothing applied)',
          mesh.file,
          appliedText,
          mesh.text,
          undefined,
          undefined,
          { context: 2 },
        )
  const resources: MeshDiff['resources'] = []
  const rendered = renderFor(mesh)
  for (const f of rendered.files) {
    const before = new Map<string, string>()
    const applied = await readIfExists(join(p.xdsDir, f.file))
    for (const r of applied ? (JSON.parse(applied) as XdsFile['response']).resources : [])
      before.set(String(r.name), JSON.stringify(r))
    for (const r of f.response.resources) {
      const name = String(r.name)
      const old = before.get(name)
      if (old === undefined) resources.push({ kind: f.kind, name, change: 'added' })
      else if (old !== JSON.stringify(r)) resources.push({ kind: f.kind, name, change: 'changed' })
      before.delete(name)
    }
    for (const name of before.keys()) resources.push({ kind: f.kind, name, change: 'removed' })
  }
  return { text, resources, version: { applied: last?.version, now: rendered.version } }
}

export interface MeshStatus {
  config: {
    file: string
    version: string
    applied?: { id: number; time: string; by: string; action: string; version: string }
  }
  envoy:
    | { running: false; adminUrl: string }
    | {
        running: true
        adminUrl: string
        version: string
        state: string
        /** Per xDS file: the version mesh.yaml renders and the one Envoy runs. */
        files: { file: string; wanted: string; running?: string }[]
        inSync: boolean
      }
  routes: {
    name: string
    model: string
    stable: string
    canary?: { version: string; weight: number }
    fallback?: string
    clusters: Record<string, { address: string; healthy: boolean; flags: string }[]>
  }[]
  hosts: { name: string; role: string; url: string; ready: boolean }[]
  /** The autoscaled pools as the local autoscaler last wrote them: replicas, signal, target, last decision. */
  autoscale: PoolStatus[]
  /** When the mesh runs as several nodes: each node (then `envoy`, the routes' hosts and `hosts` are node 1's view). */
  nodes?: NodeStatus[]
}

export interface NodeStatus {
  node: string
  address: string
  /** Its telemetry agent answers (the node is reachable and runs). */
  up: boolean
  /** The revision its agent handed its Envoy, the newest it has seen, and why it runs an older one. */
  revision: number | null
  latest: number | null
  error: string | null
  /** Its Envoy runs every file of the shared history's newest revision, as rendered for this node. */
  envoy: { running: boolean; inSync: boolean }
  hosts: { name: string; url: string; ready: boolean }[]
}

export async function meshStatus(mesh: LoadedMesh): Promise<MeshStatus> {
  const record = await runningNodeMesh(mesh.stateDir)
  const newest = record ? await newestRevision(mesh.stateDir, record).catch(() => undefined) : undefined
  const firstNode = record?.nodes[0]
  // Several nodes: mesh.yaml as node 1 renders it, and node 1's Envoy.
  const rendered = firstNode && newest ? newest.nodes[firstNode.name]! : renderFor(mesh)
  const last = record ? newest && entryOf(newest) : (await readHistory(mesh.stateDir)).at(-1)
  const admin = firstNode ? await nodeAdmin(mesh.stateDir, firstNode.name) : await adminFor(mesh)
  const running = await admin.running()
  const health = running ? await admin.clusterHealth() : new Map()
  let envoy: MeshStatus['envoy'] = { running: false, adminUrl: admin.url }
  if (running) {
    const [info, subs] = await Promise.all([admin.serverInfo(), admin.subscriptions()])
    const files = rendered.files.map((f) => ({
      file: f.file,
      wanted: f.response.version_info,
      running: subs.get(f.statPrefix)?.version,
    }))
    envoy = { running: true, adminUrl: admin.url, ...info, files, inSync: files.every((f) => f.wanted === f.running) }
  }
  const autoscale = record ? [] : readAutoscaleStatus(mesh.stateDir)
  const hosts = await Promise.all(
    withReplicas(mesh.config, record ? {} : currentReplicas(mesh.stateDir))
      .hosts.flatMap((h) => instancesOf(h))
      .map(async (i) => {
        const url = httpUrl(firstNode?.address ?? i.address, i.port)
        return { name: i.name, role: i.host.role, url, ready: await httpOk(`${url}/v2/health/ready`) }
      }),
  )
  const routes = mesh.config.routes.map((r) => {
    const names = [
      `${r.name}.stable`,
      ...(r.canary ? [`${r.name}.canary`] : []),
      ...(r.fallback ? [`${r.name}.fallback`] : []),
    ]
    return {
      name: r.name,
      model: r.model,
      stable: r.stable.version,
      ...(r.canary ? { canary: { version: r.canary.version, weight: r.canary.weight } } : {}),
      ...(r.fallback ? { fallback: r.fallback.model } : {}),
      clusters: Object.fromEntries(names.map((n) => [n, health.get(n) ?? []])),
    }
  })
  return {
    config: {
      file: mesh.file,
      version: rendered.version,
      ...(last
        ? { applied: { id: last.id, time: last.time, by: last.by, action: last.action, version: last.version } }
        : {}),
    },
    envoy,
    routes,
    hosts,
    autoscale,
    ...(record ? { nodes: await Promise.all(record.nodes.map((n) => nodeStatus(mesh, n, newest))) } : {}),
  }
}

/** A node's Envoy admin, where that Envoy wrote it (read only: the folder is the node's). */
async function nodeAdmin(stateDir: string, node: string): Promise<EnvoyAdmin> {
  return (await adminAt(join(nodeDir(stateDir, node), 'admin-address'), 'unknown'))!
}

async function nodeStatus(
  mesh: LoadedMesh,
  n: NodeMeshRecord['nodes'][number],
  newest: MeshRevision | undefined,
): Promise<NodeStatus> {
  const [agent, admin] = await Promise.all([
    agentStatus(httpUrl(n.address, mesh.config.telemetry.agent.port), 1000),
    nodeAdmin(mesh.stateDir, n.name),
  ])
  const running = await admin.running()
  const subs = running ? await admin.subscriptions() : new Map()
  const wanted = newest?.nodes[n.name]?.files ?? []
  const hosts = await Promise.all(
    mesh.config.hosts
      .filter((h) => n.hosts.includes(h.name))
      .flatMap(instancesOf)
      .map(async (i) => {
        const url = httpUrl(n.address, i.port)
        return { name: nodeInstanceName(n.name, i.name), url, ready: await httpOk(`${url}/v2/health/ready`) }
      }),
  )
  const config = 'error' in agent ? undefined : agent.config
  return {
    node: n.name,
    address: n.address,
    up: !('error' in agent),
    revision: config?.revision ?? null,
    latest: config?.latest ?? null,
    error: 'error' in agent ? `agent: ${agent.error}` : (config?.error ?? null),
    envoy: {
      running,
      inSync:
        running &&
        wanted.length > 0 &&
        wanted.every((f) => subs.get(f.statPrefix)?.version === f.response.version_info),
    },
    hosts,
  }
}
