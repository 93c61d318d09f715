/**
 * @module
 * Bundles the dashboard page with esbuild into dist/: index.html, app.js
 * (Preact and the views), a chunk with uPlot (loaded with the first chart)
 * and app.css. Nothing is fetched at run
 * time: the collector serves these files. Setup runs this; it does
 * nothing when dist/ is newer than every source.
 */
import { build } from 'esbuild'
import { copyFile, mkdir, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'

const HERE = import.meta.dirname
const APP = join(HERE, 'app')
export const DIST = join(HERE, 'dist')

/** Newest modification time under `dir` (and of the shared files the page imports). */
async function newest(paths: string[]): Promise<number> {
  let max = 0
  for (const p of paths) {
    const s = await stat(p)
    if (s.isDirectory()) max = Math.max(max, await newest((await readdir(p)).map((f) => join(p, f))))
    else max = Math.max(max, s.mtimeMs)
  }
  return max
}

export async function buildDashboard(force = false): Promise<'built' | 'up to date'> {
  // The lockfile too: a new preact or uplot is a new page.
  const sources = [APP, join(HERE, 'ranges.ts'), join(HERE, 'build.ts'), join(HERE, '../../package-lock.json')]
  const built = await stat(join(DIST, 'app.js')).then(
    (s) => s.mtimeMs,
    () => 0,
  )
  if (!force && built > (await newest(sources))) return 'up to date'
  // Old chunks go: their names change with their contents.
  await rm(DIST, { recursive: true, force: true })
  await mkdir(DIST, { recursive: true })
  await build({
    entryPoints: { app: join(APP, 'main.tsx') },
    outdir: DIST,
    bundle: true,
    minify: true,
    format: 'esm',
    // Code loaded later (uPlot, with the first chart) goes to chunks of its own.
    splitting: true,
    chunkNames: 'chunk-[hash]',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
  })
  await copyFile(join(APP, 'index.html'), join(DIST, 'index.html'))
  return 'built'
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outcome = await buildDashboard(process.argv.includes('--force'))
  if (outcome === 'built') process.stderr.write(`[dashboard] built ${DIST}\n`)
}
