/**
 * Dependencies between the AssemblyScript sources run one way: the SDK
 * (the proxy-wasm interface) → the telemetry queue → what the mesh
 * filter's plugins build on (mesh-filter/plugin-api/) → the plugins → the
 * mesh filter's root (mesh-filter/assembly/), beside the telemetry exporter
 * and the test fixtures. A file may import its own unit or a lower layer,
 * never a higher one nor another unit of its layer (a plugin never imports
 * another plugin, nor the root). From outside sdk/, the SDK is imported
 * through its entry file only.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FILTERS_DIR } from './modules.ts'

/** Layers, lowest first, each as a path prefix (relative to wasm-filters/, with '/'); `*` is one folder, a unit of its own. */
const LAYERS: readonly (readonly string[])[] = [
  ['sdk/'],
  ['telemetry-queue/'],
  ['mesh-filter/plugin-api/'],
  ['mesh-filter/plugins/*/'],
  ['mesh-filter/assembly/', 'telemetry-exporter/', 'test-fixtures/*/'],
]
const SDK_ENTRY = 'sdk/assembly/index.ts'

/** The layer and unit of a file: the unit is the prefix it matched, `*` filled in. */
function unitOf(file: string): { layer: number; unit: string } | undefined {
  for (const [layer, prefixes] of LAYERS.entries()) {
    for (const prefix of prefixes) {
      const pattern = new RegExp(`^${prefix.replaceAll('*', '[^/]+')}`)
      const m = pattern.exec(file)
      if (m) return { layer, unit: m[0] }
    }
  }
  return undefined
}

/** Relative specifiers of imports and re-exports (`from "./x"`, `import "./x"`). */
const SPECIFIER = /\b(?:from|import)\s+["'](\.{1,2}\/[^"']+)["']/g

/** Each import that breaks the layering, as a sentence; `sources` maps paths (relative to wasm-filters/) to their text. */
function layerViolations(sources: ReadonlyMap<string, string>): string[] {
  const problems: string[] = []
  for (const [file, text] of sources) {
    const from = unitOf(file)
    for (const [, specifier] of text.matchAll(SPECIFIER)) {
      const base = relative(FILTERS_DIR, resolve(FILTERS_DIR, dirname(file), specifier!))
        .split(sep)
        .join('/')
      const target = [`${base}.ts`, `${base}/index.ts`, base].find((p) => sources.has(p))
      if (target === undefined) {
        problems.push(`${file} imports ${specifier}, which is no AssemblyScript source here`)
        continue
      }
      const to = unitOf(target)
      if (!from || !to) {
        problems.push(`${file} imports ${target}: ${!from ? file : target} is in no layer (add it to LAYERS)`)
        continue
      }
      if (from.unit === to.unit) continue
      if (to.layer >= from.layer)
        problems.push(
          `${file} imports ${target}: ${from.unit} may not depend on ${to.unit} (dependencies run sdk → telemetry-queue → plugin-api → plugins → root)`,
        )
      else if (to.unit === 'sdk/' && target !== SDK_ENTRY)
        problems.push(`${file} imports ${target}: outside sdk/, import the SDK through ${SDK_ENTRY}`)
    }
  }
  return problems
}

/** Every AssemblyScript source: the .ts files inside `assembly/` folders (build outputs aside). */
function assemblySources(): Map<string, string> {
  const files = readdirSync(FILTERS_DIR, { recursive: true, encoding: 'utf8' })
    .map((f) => f.split(sep).join('/'))
    .filter((f) => f.endsWith('.ts') && f.split('/').includes('assembly') && !f.startsWith('build/'))
  return new Map(files.sort().map((f) => [f, readFileSync(join(FILTERS_DIR, f), 'utf8')]))
}

describe('layers of the AssemblyScript sources', () => {
  it('finds an import that runs the wrong way', () => {
    const tree = new Map([
      ['sdk/assembly/index.ts', 'export { log } from "./host"'],
      ['sdk/assembly/host.ts', 'import { Plugin } from "../../mesh-filter/plugin-api/assembly/plugin"'],
      ['mesh-filter/plugin-api/assembly/plugin.ts', 'import { log } from "../../../sdk/assembly/index"'],
      [
        'mesh-filter/plugins/a/assembly/plugin.ts',
        'import { Plugin } from "../../../plugin-api/assembly/plugin"\nimport { B } from "../../b/assembly/plugin"\nimport { root } from "../../../assembly/index"',
      ],
      ['mesh-filter/plugins/b/assembly/plugin.ts', 'import { log } from "../../../../sdk/assembly/host"'],
      ['mesh-filter/assembly/index.ts', 'import { A } from "../plugins/a/assembly/plugin"'],
    ])
    expect(layerViolations(tree)).toEqual([
      'sdk/assembly/host.ts imports mesh-filter/plugin-api/assembly/plugin.ts: sdk/ may not depend on mesh-filter/plugin-api/ (dependencies run sdk → telemetry-queue → plugin-api → plugins → root)',
      'mesh-filter/plugins/a/assembly/plugin.ts imports mesh-filter/plugins/b/assembly/plugin.ts: mesh-filter/plugins/a/ may not depend on mesh-filter/plugins/b/ (dependencies run sdk → telemetry-queue → plugin-api → plugins → root)',
      'mesh-filter/plugins/a/assembly/plugin.ts imports mesh-filter/assembly/index.ts: mesh-filter/plugins/a/ may not depend on mesh-filter/assembly/ (dependencies run sdk → telemetry-queue → plugin-api → plugins → root)',
      'mesh-filter/plugins/b/assembly/plugin.ts imports sdk/assembly/host.ts: outside sdk/, import the SDK through sdk/assembly/index.ts',
    ])
  })

  it('run one way in the tree', () => {
    const sources = assemblySources()
    expect(sources.size).toBeGreaterThan(40)
    expect(layerViolations(sources)).toEqual([])
  })
})
