/**
 * @module
 * Components meet only at their front doors: every import of another
 * component goes through its package name and an entry its package.json
 * exports (`@model-mesh/mesh-config`, `@model-mesh/mesh-config/cli`), never a
 * relative path into its folder nor `@model-mesh/<name>/<deep path>`. Inside a
 * component anything goes. The testkit (`@model-mesh/testkit/<module>`, the
 * harness that runs the real parts) is for tests and benches only. Each
 * component's package.json names the components it uses:
 * `dependencies` for its sources, `devDependencies` for what only its tests use.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '@model-mesh/mesh-config'

const SCOPE = '@model-mesh/'
const SKIP = new Set(['node_modules', 'models', '.local', '.git', 'build', 'dist', 'assembly'])
const SOURCE = /\.(ts|mts|mjs|tsx)$/
/** Specifiers of static imports, re-exports, side-effect and dynamic imports. */
const SPECIFIER = /(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"\s]+)['"]/g

/** The test support every component's tests share: tests and benches only. */
const TESTKIT = `${SCOPE}testkit`

interface Component {
  folder: string
  name: string
  /** Subpaths its package.json exports, as written there ('.', './cli'). */
  exports: string[]
  dependencies: string[]
  devDependencies: string[]
}

/** Tests and benches: what may import the testkit. */
const isTest = (file: string) =>
  /\.test\.ts$/.test(file) || file.startsWith('bench/') || file.split('/').includes('test')

/** Why an import of `specifier` from `file` (both relative to the root) breaks a boundary, or undefined when it does not. */
function violation(components: readonly Component[], file: string, specifier: string): string | undefined {
  const componentOf = (path: string) => components.find((c) => path.startsWith(`${c.folder}/`))
  const from = componentOf(file)
  if (specifier.startsWith('.')) {
    const target = relative('.', join(dirname(file), specifier))
    const to = componentOf(target)
    if (!to || to === from) return undefined
    return `${file} imports ${target}, inside ${to.folder}/: import ${to.name} instead`
  }
  if (!specifier.startsWith(SCOPE)) return undefined
  const [scope, name, ...rest] = specifier.split('/')
  const to = components.find((c) => c.name === `${scope}/${name}`)
  if (!to) return `${file} imports ${specifier}, which is no component`
  const subpath = ['.', ...rest].join('/')
  if (!to.exports.includes(subpath))
    return `${file} imports ${specifier}, past ${to.name}'s entry points (${to.exports.join(', ')})`
  if (to.name === TESTKIT && !isTest(file) && from !== to)
    return `${file} imports ${specifier}, test support, in a source file`
  if (from && from !== to) {
    const declared = isTest(file) ? [...from.dependencies, ...from.devDependencies] : from.dependencies
    if (!declared.includes(to.name))
      return `${file} imports ${to.name}, which ${from.folder}/package.json does not list in ${isTest(file) ? '(dev)' : ''}dependencies`
  }
  return undefined
}

function readComponents(): Component[] {
  const folders = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).workspaces as string[]
  return folders.map((folder) => {
    const pkg = JSON.parse(readFileSync(join(ROOT, folder, 'package.json'), 'utf8'))
    return {
      folder,
      name: pkg.name,
      exports: Object.keys(pkg.exports ?? {}),
      dependencies: Object.keys(pkg.dependencies ?? {}),
      devDependencies: Object.keys(pkg.devDependencies ?? {}),
    }
  })
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return []
    const path = join(dir, e.name)
    if (e.isDirectory()) return sourceFiles(path)
    return SOURCE.test(e.name) ? [relative(ROOT, path)] : []
  })
}

const importsOf = (file: string) => [...readFileSync(join(ROOT, file), 'utf8').matchAll(SPECIFIER)].map((m) => m[1]!)
const componentsImported = (files: readonly string[]) =>
  [
    ...new Set(
      files
        .flatMap(importsOf)
        .filter((s) => s.startsWith(SCOPE))
        .map((s) => s.split('/').slice(0, 2).join('/')),
    ),
  ].sort()

describe('component boundaries', () => {
  const components = readComponents()
  const files = sourceFiles(ROOT)

  it('finds an import past an entry point where there is one', () => {
    const mesh: Component = {
      folder: 'mesh-config',
      name: '@model-mesh/mesh-config',
      exports: ['.', './cli'],
      dependencies: [],
      devDependencies: [TESTKIT],
    }
    const collector: Component = {
      folder: 'telemetry-collector',
      name: '@model-mesh/telemetry-collector',
      exports: ['.'],
      dependencies: [mesh.name],
      devDependencies: [],
    }
    const testkit: Component = {
      folder: 'testkit',
      name: TESTKIT,
      exports: ['./envoy'],
      dependencies: [mesh.name],
      devDependencies: [],
    }
    const check = (file: string, specifier: string) => violation([mesh, collector, testkit], file, specifier)
    expect(check('telemetry-collector/src/api.ts', '../../mesh-config/src/load.ts')).toContain('inside mesh-config/')
    expect(check('test/drift.test.ts', '../mesh-config/src/load.ts')).toContain('inside mesh-config/')
    expect(check('telemetry-collector/src/api.ts', '@model-mesh/mesh-config/src/load.ts')).toContain(
      'past @model-mesh/mesh-config',
    )
    expect(check('mesh-config/src/render.ts', '@model-mesh/telemetry-collector')).toContain('does not list')
    expect(check('telemetry-collector/src/api.ts', '@model-mesh/nowhere')).toContain('no component')
    expect(check('mesh-config/src/render.ts', '@model-mesh/testkit/envoy')).toContain('in a source file')
    expect(check('mesh-config/src/render.ts', '../../testkit/envoy.ts')).toContain('inside testkit/')
    expect(check('telemetry-collector/test/x.test.ts', '@model-mesh/testkit/envoy')).toContain('does not list')
    expect(check('testkit/envoy.ts', '../mesh-config/src/local-mesh.ts')).toContain('inside mesh-config/')
    expect(check('telemetry-collector/src/api.ts', '@model-mesh/mesh-config')).toBeUndefined()
    expect(check('test/drift.test.ts', '@model-mesh/mesh-config/cli')).toBeUndefined()
    expect(check('telemetry-collector/src/api.ts', './store.ts')).toBeUndefined()
    expect(check('mesh-config/test/live.test.ts', '@model-mesh/testkit/envoy')).toBeUndefined()
    expect(check('bench/mesh.bench.ts', '@model-mesh/testkit/envoy')).toBeUndefined()
    expect(check('testkit/envoy.ts', '@model-mesh/mesh-config')).toBeUndefined()
  })

  it('has no import of another component except through its entry points', () => {
    expect(files.length).toBeGreaterThan(100)
    const found = files.flatMap((file) =>
      importsOf(file)
        .map((s) => violation(components, file, s))
        .filter((v) => v !== undefined),
    )
    expect(found).toEqual([])
  })

  it("lists in each component's package.json exactly the components it imports", () => {
    for (const c of components) {
      const own = files.filter((f) => f.startsWith(`${c.folder}/`))
      const sources = componentsImported(own.filter((f) => !isTest(f))).filter((n) => n !== c.name)
      const tests = componentsImported(own.filter(isTest)).filter((n) => n !== c.name && !sources.includes(n))
      expect({
        component: c.folder,
        dependencies: c.dependencies.sort(),
        devDependencies: c.devDependencies.sort(),
      }).toEqual({ component: c.folder, dependencies: sources, devDependencies: tests })
    }
  })

  it('each entry point exists; every component but the testkit has one at "."', () => {
    for (const c of components) {
      if (c.name !== TESTKIT) expect(c.exports).toContain('.')
      const pkg = JSON.parse(readFileSync(join(ROOT, c.folder, 'package.json'), 'utf8'))
      for (const target of Object.values(pkg.exports as Record<string, string>))
        expect(files).toContain(join(c.folder, target))
    }
  })
})
