/**
 * @module
 * `npm run build:filters`: compiles every module (`<module>/assembly/index.ts`:
 * the mesh filter and the telemetry exporter) with AssemblyScript into
 * `build/<module>.wasm`, optimised, and reports sizes; test fixtures
 * (`test-fixtures/<name>/assembly/index.ts`) become `build/fixture-<name>.wasm`.
 * The mesh filter's plugins (`mesh-filter/plugins/<plugin>/assembly/plugin.ts`)
 * are compiled into it. A module is rebuilt only when its sources (its
 * folder's, plugins included), the SDK's or the telemetry queue's changed (a stamp of their hashes
 * sits beside each module); `--force` rebuilds all.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { promisify } from 'node:util'
import { BUILD_DIR, FILTERS_DIR, MODULES, wasmPath } from './modules.ts'

const ROOT = join(FILTERS_DIR, '..')

/** Test-only modules, built as `fixture-<name>`. */
export async function fixtureNames(): Promise<string[]> {
  const dir = join(FILTERS_DIR, 'test-fixtures')
  if (!(await exists(dir))) return []
  const names: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory() && (await exists(join(dir, e.name, 'assembly', 'index.ts')))) names.push(`fixture-${e.name}`)
  }
  return names.sort()
}

/** Where a module's sources live: `<filter>/` or `test-fixtures/<name>/`. */
const sourceDir = (module: string) =>
  module.startsWith('fixture-')
    ? join(FILTERS_DIR, 'test-fixtures', module.slice('fixture-'.length))
    : join(FILTERS_DIR, module)

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  )
}

/** The AssemblyScript sources under `dir`: every .ts file inside an `assembly/` folder, at any depth. */
async function assemblySources(dir: string): Promise<string[]> {
  const files = await readdir(dir, { recursive: true })
  return files
    .filter((f) => f.endsWith('.ts') && f.split(sep).includes('assembly'))
    .map((f) => join(dir, f))
    .sort()
}

async function sourcesDigest(filter: string): Promise<string> {
  const hash = createHash('sha256')
  // A fixture may test any module's code (the latency sketch is the mesh filter's): it depends on all of it.
  const dirs = filter.startsWith('fixture-')
    ? [FILTERS_DIR]
    : [join(FILTERS_DIR, 'sdk'), join(FILTERS_DIR, 'telemetry-queue'), sourceDir(filter)]
  for (const dir of dirs) {
    for (const f of await assemblySources(dir)) hash.update(relative(FILTERS_DIR, f)).update(await readFile(f))
  }
  hash.update(await readFile(join(ROOT, 'node_modules/assemblyscript/package.json')))
  return hash.digest('hex')
}

export async function buildFilter(
  filter: string,
  force = false,
): Promise<{ filter: string; bytes: number; built: boolean }> {
  const out = wasmPath(filter)
  const stampFile = `${out}.stamp`
  const digest = await sourcesDigest(filter)
  const current = (await exists(out)) && (await readFile(stampFile, 'utf8').catch(() => '')) === digest
  if (!current || force) {
    await mkdir(BUILD_DIR, { recursive: true })
    // Paths relative to the root: the WASI shim's config resolves its library from there.
    await promisify(execFile)(
      process.execPath,
      [
        'node_modules/assemblyscript/bin/asc.js',
        relative(ROOT, join(sourceDir(filter), 'assembly', 'index.ts')),
        '--config',
        'node_modules/@assemblyscript/wasi-shim/asconfig.json',
        '--optimizeLevel',
        '3',
        '--shrinkLevel',
        '1',
        '--noAssert',
        '--runtime',
        'incremental',
        '--outFile',
        relative(ROOT, out),
      ],
      { cwd: ROOT },
    )
    await writeFile(stampFile, digest)
  }
  return { filter, bytes: (await stat(out)).size, built: !current || force }
}

export async function buildAll(force = false) {
  const results = []
  for (const f of [...MODULES, ...(await fixtureNames())]) results.push(await buildFilter(f, force))
  return results
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await buildAll(process.argv.includes('--force'))) {
    console.log(
      `${r.filter.padEnd(20)} ${(r.bytes / 1024).toFixed(1).padStart(7)} KiB  ${r.built ? 'built' : 'up to date'}`,
    )
  }
}
