/**
 * @module
 * The model repository on disk, in the spirit of Triton's:
 * `<repo>/<model>/config.yaml` and `<repo>/<model>/<version>/` (decimal version
 * names) holding model.onnx, preprocessing.json, baseline.json and manifest.json.
 */
import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { readModelConfig, type ModelConfig } from '../config.ts'

export const CONFIG_FILE = 'config.yaml'

export interface ModelEntry {
  name: string
  dir: string
  configFile: string
}

/** Models are the folders of the repository that hold a config file. */
export async function listModels(repo: string): Promise<ModelEntry[]> {
  const entries = await readdir(repo, { withFileTypes: true })
  const models: ModelEntry[] = []
  for (const e of entries) {
    if (!e.isDirectory()) continue
    const configFile = join(repo, e.name, CONFIG_FILE)
    if (await exists(configFile)) models.push({ name: e.name, dir: join(repo, e.name), configFile })
  }
  return models.sort((a, b) => a.name.localeCompare(b.name))
}

/** Version folders of a model, oldest first. */
export async function listVersions(modelDir: string): Promise<string[]> {
  const entries = await readdir(modelDir, { withFileTypes: true })
  return entries
    .filter((e) => e.isDirectory() && /^[1-9][0-9]*$/.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => Number(a) - Number(b))
}

/** Pure: which versions to delete so that `keep` remain, never the protected ones. */
export function versionsToPrune(versions: readonly string[], keep: number, protect: ReadonlySet<string>): string[] {
  const newestFirst = [...versions].sort((a, b) => Number(b) - Number(a))
  const kept = new Set(newestFirst.slice(0, keep))
  for (const v of protect) if (versions.includes(v)) kept.add(v)
  // Protected versions count against the budget: drop the oldest unprotected to make room.
  const overflow = kept.size - keep
  const droppable = newestFirst.filter((v) => kept.has(v) && !protect.has(v)).reverse()
  for (let i = 0; i < overflow && i < droppable.length; i++) kept.delete(droppable[i]!)
  return versions.filter((v) => !kept.has(v))
}

/** Deletes versions beyond the configured retention, keeping the live one. */
export async function pruneVersions(modelDir: string, keep: number, protect: ReadonlySet<string>): Promise<string[]> {
  const doomed = versionsToPrune(await listVersions(modelDir), keep, protect)
  for (const v of doomed) await rm(join(modelDir, v), { recursive: true, force: true })
  return doomed
}

export async function readEntryConfig(entry: ModelEntry): Promise<ModelConfig> {
  return readModelConfig(entry.configFile, entry.name)
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}
