/**
 * No two source files import each other, directly or through others: a
 * cycle makes load order matter (a value read before its module has run is
 * undefined) and ties files that should stand apart. Types shared by files
 * that also import one another belong in a file of their own (as
 * model-host/src/runtime/types.ts). And no entry point loads a build script.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '@model-mesh/mesh-config'

const SKIP = new Set(['node_modules', 'models', '.local', '.git', 'build', 'dist', 'assembly'])
const SOURCE = /\.(ts|mts|mjs|tsx)$/
/** Relative specifiers of static imports, re-exports, dynamic imports and `new URL('./x', import.meta.url)`. */
const SPECIFIER = /(?:\bfrom|\bimport|new URL)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return []
    const path = join(dir, e.name)
    if (e.isDirectory()) return sourceFiles(path)
    return SOURCE.test(e.name) && !e.name.endsWith('.test.ts') ? [path] : []
  })
}

/** Each file's imports of other source files. */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const known = new Set(files)
  return new Map(
    files.map((f) => {
      const specifiers = [...readFileSync(f, 'utf8').matchAll(SPECIFIER)].map((m) => resolve(dirname(f), m[1]!))
      return [f, specifiers.filter((p) => known.has(p))]
    }),
  )
}

/** Every cycle a depth-first walk meets, each as the files around it. */
function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>()
  const cycles: string[][] = []
  const visit = (file: string, path: string[]) => {
    state.set(file, 'open')
    path.push(file)
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === 'open') cycles.push([...path.slice(path.indexOf(dep)), dep])
      else if (!state.has(dep)) visit(dep, path)
    }
    path.pop()
    state.set(file, 'done')
  }
  for (const file of graph.keys()) if (!state.has(file)) visit(file, [])
  return cycles
}

describe('imports', () => {
  it('finds a cycle where there is one', () => {
    expect(
      cyclesOf(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['a']],
        ]),
      ),
    ).toEqual([['a', 'b', 'c', 'a']])
    expect(
      cyclesOf(
        new Map([
          ['a', ['b', 'c']],
          ['b', ['c']],
          ['c', []],
        ]),
      ),
    ).toEqual([])
  })

  it('form no cycle between source files', () => {
    const files = sourceFiles(ROOT)
    expect(files.length).toBeGreaterThan(100)
    const cycles = cyclesOf(importGraph(files)).map((c) => c.map((f) => relative(ROOT, f)).join(' → '))
    expect(cycles).toEqual([])
  })

  it("reach no build script from a component's entry point: the mesh reads where modules lie, it never loads their compiler's driver", () => {
    const graph = importGraph(sourceFiles(ROOT))
    const workspaces = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).workspaces as string[]
    const reached = new Set<string>()
    const visit = (f: string) => {
      if (reached.has(f)) return
      reached.add(f)
      for (const dep of graph.get(f) ?? []) visit(dep)
    }
    for (const w of workspaces) visit(join(ROOT, w, 'index.ts'))
    expect(reached.size).toBeGreaterThan(50)
    expect([...reached].map((f) => relative(ROOT, f)).filter((f) => f.endsWith('/build.ts'))).toEqual([])
  })
})
