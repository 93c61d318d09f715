/**
 * @module
 * The repository index (Triton's repository extension): every model on
 * disk, each version of it with whether it serves and, when not, why. One
 * listing for `POST /v2/repository/index` and gRPC's RepositoryIndex.
 */
import type { ModelManager } from '../model-manager.ts'
import { listModels, listVersions } from './repository.ts'

export interface IndexRow {
  name: string
  version?: string
  state: 'READY' | 'UNAVAILABLE'
  reason?: string
}

export async function repositoryIndex(manager: ModelManager): Promise<IndexRow[]> {
  const rows: IndexRow[] = []
  for (const entry of await listModels(manager.repository)) {
    const m = manager.get(entry.name)
    const versions = await listVersions(entry.dir).catch(() => [])
    if (!m) {
      rows.push({ name: entry.name, state: 'UNAVAILABLE', reason: 'unloaded' })
      continue
    }
    for (const v of versions) {
      const reason = m.versionErrors.get(v) ?? (m.state !== 'READY' ? m.reason : undefined)
      const state = m.versions.has(v) && m.state === 'READY' ? 'READY' : 'UNAVAILABLE'
      rows.push({
        name: entry.name,
        version: v,
        state,
        ...(state === 'READY' ? {} : { reason: reason ?? 'not loaded (not in config versions)' }),
      })
    }
    if (versions.length === 0) rows.push({ name: entry.name, state: 'UNAVAILABLE', reason: m.reason ?? 'no versions' })
  }
  return rows
}
