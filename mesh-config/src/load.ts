/**
 * @module
 * Reads mesh.yaml and reports every problem at once, in a stable order:
 * YAML syntax, then aliases (bounded: an alias bomb is one issue), then the schema, then the cross-checks against the whole
 * file and the model repository. Nothing is applied unless this comes back
 * without issues.
 */
import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { LineCounter, parseDocument } from 'yaml'
import type { z } from 'zod'
import { listModels, listVersions, readEntryConfig } from '@model-mesh/model-host'
import { crossCheck, type RepositoryView } from './checks.ts'
import { formatIssue, sortIssues, SourceMap, type ConfigIssue } from './issues.ts'
import { DEFAULT_STATE_DIR, meshConfigSchema, type MeshConfig } from './schema.ts'
import { aliasProblem } from './yaml-aliases.ts'

export interface LoadedMesh {
  config: MeshConfig
  /** The file as written, for history and digests. */
  text: string
  /** Absolute. */
  file: string
  /** Absolute paths the config names relative to its file. */
  repositoryDir: string
  stateDir: string
}

export type LoadResult = { ok: true; mesh: LoadedMesh } | { ok: false; issues: ConfigIssue[] }

/** Thrown by commands that need a valid config; the message lists every issue. */
export class MeshConfigError extends Error {
  override name = 'MeshConfigError'
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'))
  }
}

export async function loadMeshFile(file: string): Promise<LoadResult> {
  const shown = displayName(file)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    return {
      ok: false,
      issues: [
        {
          file: shown,
          line: 1,
          col: 1,
          path: '',
          message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        },
      ],
    }
  }
  return parseMesh(text, file)
}

/**
 * loadMeshFile for a caller that looks every second or so (the canary walk,
 * the collector's label lists): the file is read each time, but parsed and
 * checked again only when its text changed, or when the last check is older
 * than `maxAgeMs` (the model repository, which the checks read too, may
 * change under an unchanged file). Parsing is most of what a look costs.
 * The result is shared between calls: callers read it, never change it.
 */
export function meshFileReader(file: string, maxAgeMs = 30_000, now = Date.now): () => Promise<LoadResult> {
  let last: { text: string; at: number; result: LoadResult } | null = null
  return async () => {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch {
      last = null
      return loadMeshFile(file)
    }
    const at = now()
    if (last !== null && last.text === text && at - last.at < maxAgeMs) return last.result
    const result = await parseMesh(text, file)
    last = { text, at, result }
    return result
  }
}

/** Validates `text` as the contents of `file` (relative paths resolve against the file's folder). */
export async function parseMesh(text: string, file: string): Promise<LoadResult> {
  const shown = displayName(file)
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true })
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? { line: 1, col: 1 }
      return {
        file: shown,
        line: pos.line,
        col: pos.col,
        path: '',
        message: `invalid YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
      }
    })
    return { ok: false, issues: sortIssues(issues) }
  }
  const source = new SourceMap(shown, doc, lines)
  const aliases = aliasProblem(doc)
  if (aliases) return { ok: false, issues: [source.issue(aliases.path, aliases.message)] }
  // aliasProblem has bounded the expansion, so the library's own (unlocated) alias limit is not needed.
  const parsed = meshConfigSchema.safeParse(doc.toJS({ maxAliasCount: -1 }), { reportInput: true })
  if (!parsed.success) {
    return {
      ok: false,
      issues: sortIssues(parsed.error.issues.map((i) => source.issue(i.path as (string | number)[], messageOf(i)))),
    }
  }
  const config = parsed.data
  const base = dirname(resolve(file))
  const repositoryDir = resolve(base, config.repository)
  const issues = crossCheck(config, await readRepositoryView(repositoryDir, config.repository)).map((i) =>
    source.issue(i.path, i.message),
  )
  if (issues.length > 0) return { ok: false, issues: sortIssues(issues) }
  return {
    ok: true,
    mesh: { config, text, file: resolve(file), repositoryDir, stateDir: resolve(base, config.state_dir) },
  }
}

/** Absolute folders of the telemetry pipeline's state. */
export interface TelemetryPaths {
  /** The agent's disk spool: `telemetry.agent.spool.dir`, default `<state_dir>/agent-spool`. */
  spoolDir: string
  /** The collector's store: `telemetry.collector.store_dir`, default `<state_dir>/collector`. */
  storeDir: string
  /** The payload sink's Parquet files: `telemetry.collector.payloads.dir`, default `<state_dir>/payloads`. */
  payloadsDir: string
  /** The dashboard's operator token: `telemetry.collector.dashboard.token_file`, default `<state_dir>/dashboard-token`. */
  tokenFile: string
}

/**
 * Where the telemetry agent spools and the collector stores, as absolute
 * paths: configured ones relative to mesh.yaml's folder, like state_dir.
 *
 * @example telemetryPaths(mesh).spoolDir // '/srv/mesh/.local/mesh/agent-spool'
 */
export function telemetryPaths(mesh: LoadedMesh): TelemetryPaths {
  const base = dirname(resolve(mesh.file))
  const { agent, collector } = mesh.config.telemetry
  return {
    spoolDir: agent.spool.dir === undefined ? join(mesh.stateDir, 'agent-spool') : resolve(base, agent.spool.dir),
    storeDir: collector.store_dir === undefined ? join(mesh.stateDir, 'collector') : resolve(base, collector.store_dir),
    payloadsDir:
      collector.payloads.dir === undefined ? join(mesh.stateDir, 'payloads') : resolve(base, collector.payloads.dir),
    tokenFile:
      collector.dashboard.token_file === undefined
        ? join(mesh.stateDir, 'dashboard-token')
        : resolve(base, collector.dashboard.token_file),
  }
}

/** Like loadMeshFile, for commands that cannot go on without a valid config. */
export async function requireMesh(file: string): Promise<LoadedMesh> {
  const result = await loadMeshFile(file)
  if (!result.ok) throw new MeshConfigError(result.issues)
  return result.mesh
}

/**
 * The state directory a mesh.yaml names, read leniently: revert must work
 * when the file it replaces is broken.
 */
export async function stateDirOf(file: string): Promise<string> {
  let configured: unknown
  try {
    // parseDocument keeps what it could read around a syntax error.
    configured = parseDocument(await readFile(file, 'utf8')).get('state_dir')
  } catch {
    configured = undefined
  }
  return resolve(dirname(resolve(file)), typeof configured === 'string' && configured ? configured : DEFAULT_STATE_DIR)
}

/** What the cross-checks need from the model repository: versions and tensor signatures. */
export async function readRepositoryView(dir: string, shown = dir): Promise<RepositoryView | { error: string }> {
  let entries
  try {
    entries = await listModels(dir)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return {
      error: `cannot read the model repository "${shown}": ${code === 'ENOENT' ? 'no such directory' : (code ?? (e as Error).message)} (npm run models:build builds the example one)`,
    }
  }
  const view = new Map<string, { versions: Set<string>; signature: string }>()
  for (const entry of entries) {
    try {
      const config = await readEntryConfig(entry)
      const tensors = (ts: typeof config.inputs) =>
        ts.map((t) => `${t.name}:${t.datatype}:[${t.shape.join(',')}]`).join(' ')
      view.set(entry.name, {
        versions: new Set(await listVersions(entry.dir)),
        signature: `${tensors(config.inputs)} -> ${tensors(config.outputs)}`,
      })
    } catch {
      // A model whose own config is broken is the host's to report; routes to it fail as "no model".
    }
  }
  return view
}

/** zod's messages, phrased for operators. */
function messageOf(issue: z.core.$ZodIssue): string {
  const i = issue as z.core.$ZodIssue & {
    input?: unknown
    keys?: string[]
    expected?: string
    values?: unknown[]
    maximum?: number | bigint
    minimum?: number | bigint
    inclusive?: boolean
    origin?: string
  }
  if (i.code === 'unrecognized_keys')
    return `unknown field${i.keys!.length > 1 ? 's' : ''} ${i.keys!.map((k) => `"${k}"`).join(', ')}`
  if (i.input === undefined && (i.code === 'invalid_type' || i.code === 'invalid_value')) return 'required'
  if (i.code === 'invalid_type')
    return `must be ${EXPECTED[i.expected!] ?? `a ${i.expected}`}, got ${describe(i.input)}`
  if (i.code === 'invalid_value' && i.values && !i.message.startsWith('must'))
    return `must be ${i.values.length === 1 ? JSON.stringify(i.values[0]) : `one of ${i.values.map((v) => JSON.stringify(v)).join(', ')}`}, got ${describe(i.input)}`
  if (i.code === 'too_big' && !i.message.startsWith('must')) {
    return i.origin === 'array'
      ? `must have at most ${i.maximum} items`
      : `must be ${i.inclusive ? 'at most' : 'less than'} ${i.maximum}`
  }
  if (i.code === 'too_small' && !i.message.startsWith('must')) {
    if (i.origin === 'array') return `must have at least ${i.minimum} item${Number(i.minimum) === 1 ? '' : 's'}`
    if (i.origin === 'string') return i.minimum === 1 ? 'must not be empty' : `must be at least ${i.minimum} characters`
    return `must be ${i.inclusive ? 'at least' : 'more than'} ${i.minimum}`
  }
  return i.message
}

const EXPECTED: Record<string, string> = {
  array: 'a list',
  object: 'a mapping',
  int: 'a whole number',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  return `${typeof v} ${JSON.stringify(v)}`
}

function displayName(file: string): string {
  const rel = relative(process.cwd(), resolve(file))
  return rel.startsWith('..') || isAbsolute(rel) ? resolve(file) : rel
}
