/**
 * @module
 * The state directory apply owns (mesh.yaml's `state_dir`):
 *
 *   bootstrap.json         Envoy's bootstrap (the local mesh starts Envoy with it)
 *   xds/                   the live xDS files Envoy watches (render.ts): lds.json
 *                          (the listener), rds.json (the routes),
 *                          ecds-mesh-filter.json (the mesh filter's
 *                          configuration), cds.json (the clusters)
 *   admin-address          written by Envoy: where its admin interface listens
 *   history.jsonl          one line per applied config
 *   history/<id>.yaml      the mesh.yaml text of each applied config
 *   apply.lock             held (with the pid) while an apply runs
 *
 * Every file is replaced atomically (written beside, then renamed), so
 * Envoy and readers never see half a file. The history's copies of
 * mesh.yaml hold its API keys: they are the owner's only (0600, in a 0700
 * folder), like the rendered files.
 */
import { createHash } from 'node:crypto'
import { appendFile, rm, writeFile } from 'node:fs/promises'
import { hostname, userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import { OWNER_ONLY_FILE, ownerOnlyDir, readIfExists, writeAtomic } from '@model-mesh/contracts'

// Where they used to live: mesh-config's modules import them from here.
export { readIfExists, writeAtomic }

export interface HistoryEntry {
  id: number
  time: string
  /** sha256 of the mesh.yaml text (first 16 hex digits). */
  digest: string
  /** The rendered xDS version Envoy reports. */
  version: string
  /** Who or what applied it: `--by`, $MESH_ACTOR, or user@host. */
  by: string
  /** What was done: apply, canary set credit-risk 2500, revert 3... */
  action: string
}

export const paths = (stateDir: string) => ({
  bootstrap: join(stateDir, 'bootstrap.json'),
  xdsDir: join(stateDir, 'xds'),
  adminAddress: join(stateDir, 'admin-address'),
  historyIndex: join(stateDir, 'history.jsonl'),
  historyText: (id: number) => join(stateDir, 'history', `${id}.yaml`),
})

export function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}

export function defaultActor(): string {
  if (process.env.MESH_ACTOR) return process.env.MESH_ACTOR
  try {
    return `${userInfo().username}@${hostname()}`
  } catch {
    return `uid ${process.getuid?.() ?? '?'}@${hostname()}`
  }
}

/** The history, oldest first. A line that does not parse (a write cut short) is skipped, not fatal. */
export async function readHistory(stateDir: string): Promise<HistoryEntry[]> {
  const text = (await readIfExists(paths(stateDir).historyIndex)) ?? ''
  return text.split('\n').flatMap((line) => {
    if (!line.trim()) return []
    try {
      const entry = JSON.parse(line) as HistoryEntry
      return Number.isInteger(entry.id) ? [entry] : []
    } catch {
      return []
    }
  })
}

export async function recordHistory(
  stateDir: string,
  text: string,
  entry: Omit<HistoryEntry, 'id' | 'time' | 'digest'>,
): Promise<HistoryEntry> {
  const history = await readHistory(stateDir)
  const full: HistoryEntry = {
    id: (history.at(-1)?.id ?? 0) + 1,
    time: new Date().toISOString(),
    digest: digestOf(text),
    ...entry,
  }
  const p = paths(stateDir)
  // The folder too (copies an older version left readable to all are then closed to others as well).
  ownerOnlyDir(dirname(p.historyText(full.id)))
  await writeAtomic(p.historyText(full.id), text, OWNER_ONLY_FILE)
  // A cut-short line from an earlier crash gets its own line end first, so this entry stays readable.
  const index = (await readIfExists(p.historyIndex)) ?? ''
  await appendFile(p.historyIndex, `${index && !index.endsWith('\n') ? '\n' : ''}${JSON.stringify(full)}\n`, {
    mode: OWNER_ONLY_FILE,
  })
  return full
}

/**
 * Runs `work` holding the state directory's apply lock (`apply.lock`, created
 * exclusively, holding the pid), so two applies never interleave their
 * writes or history ids. A lock left by a process that is gone is taken over.
 */
export async function withStateLock<T>(stateDir: string, work: () => Promise<T>): Promise<T> {
  const lock = join(stateDir, 'apply.lock')
  // Everything under it is the owner's: tokens, rendered keys, history, logs, the collector's store and samples.
  ownerOnlyDir(stateDir)
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' })
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const text = await readIfExists(lock)
      // Gone (just released) or empty (just created, its pid not written yet): someone else's turn; look again.
      // Only a lock naming a process that is gone is taken over: removing any other would let two in.
      if (text === undefined) continue
      const holder = text ? Number(text) : NaN
      if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) {
        await rm(lock, { force: true })
        continue
      }
      if (attempt >= 100)
        throw new Error(`another mesh command (pid ${holder}) is applying to ${stateDir}; try again when it is done`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  try {
    return await work()
  } finally {
    await rm(lock, { force: true })
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}
