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
import { instancesOf } from './schema.ts'
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
}

export async function meshStatus(mesh: LoadedMesh): Promise<MeshStatus> {
  const rendered = renderFor(mesh)
  const last = (await readHistory(mesh.stateDir)).at(-1)
  const admin = await adminFor(mesh)
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
  const hosts = await Promise.all(
    mesh.config.hosts.flatMap(instancesOf).map(async (i) => {
      const url = `http://${i.address}:${i.port}`
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
  }
}
