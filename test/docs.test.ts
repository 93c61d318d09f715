/**
 * The docs name what exists: docs/architecture.md's files, its table of
 * what each component uses of the others, the contracts it lists,
 * mesh-config's table of its sources, the telemetry collector's table of
 * flags, the root README's benchmarks, and tsconfig's folders. Each check
 * reads the tree as it is, so a renamed file or a new dependency between
 * components fails here until the doc says so.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '@model-mesh/mesh-config'
import * as agent from '@model-mesh/telemetry-agent/cli'
import * as collector from '@model-mesh/telemetry-collector/cli'

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')
const COMPONENTS = ['model-host', 'wasm-filters', 'mesh-config', 'telemetry-collector', 'telemetry-agent']
/** The npm workspaces: the components and contracts/. */
const WORKSPACES = JSON.parse(read('package.json')).workspaces as string[]
const TOP = ['contracts', ...COMPONENTS, 'testkit', 'test', 'bench', 'docs', 'scripts']

/** The text of one `## heading` section of a Markdown file. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`)
  if (start < 0) throw new Error(`no section "${heading}"`)
  const end = markdown.indexOf('\n## ', start + 1)
  return markdown.slice(start, end < 0 ? undefined : end)
}

/** A Markdown table row's cells (`\|` is a bar inside a cell). */
const cells = (line: string) =>
  line
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim())

/** A Markdown table's body rows, as cells (header and rule skipped). */
const tableRows = (markdown: string): string[][] =>
  markdown
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .slice(2)
    .map(cells)

/** `code` spans of a text. */
const codeSpans = (text: string) => [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!)

describe('docs/architecture.md', () => {
  const doc = read('docs/architecture.md')

  it('names only files and folders that exist', () => {
    // Paths under the tree's top folders, wherever they appear (not package specifiers such as @model-mesh/testkit/envoy), and any `code` that is a relative path.
    const pathLike = new RegExp(`(?<!@model-mesh/)\\b(?:${TOP.join('|')})/[\\w./-]*[\\w/]`, 'g')
    const coded = codeSpans(doc).filter((s) => /^[\w.-]+\/[\w./-]*$/.test(s))
    const named = [...new Set([...[...doc.matchAll(pathLike)].map((m) => m[0]), ...coded])]
    expect(named.length).toBeGreaterThan(10)
    expect(named.filter((p) => !existsSync(join(ROOT, p)))).toEqual([])
  })

  it('lists every contracts/ module in its Contracts table', () => {
    const listed = tableRows(section(doc, 'Contracts')).flatMap((row) => codeSpans(row[1] ?? ''))
    const modules = readdirSync(join(ROOT, 'contracts'))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'index.ts')
      .map((f) => `contracts/${f}`)
    expect(modules.filter((m) => !listed.includes(m))).toEqual([])
  })

  it("lists each component's package.json dependencies on other components in Boundaries", () => {
    const listed = tableRows(section(doc, 'Boundaries')).map(([who, sources, tests]) => ({
      component: who!.replace(/\/$/, ''),
      dependencies: codeSpans(sources!).sort(),
      devDependencies: codeSpans(tests!).sort(),
    }))
    const declared = WORKSPACES.map((component) => {
      const pkg = JSON.parse(read(`${component}/package.json`)) as Record<string, Record<string, string> | undefined>
      return {
        component,
        dependencies: Object.keys(pkg.dependencies ?? {}).sort(),
        devDependencies: Object.keys(pkg.devDependencies ?? {}).sort(),
      }
    })
    expect(listed).toEqual(declared)
  })
})

describe('mesh-config/README.md', () => {
  it('names every source file in its Source table, and only those', () => {
    const named = tableRows(section(read('mesh-config/README.md'), 'Source'))
      .flatMap((row) => codeSpans(row[0] ?? ''))
      .sort()
    const files = readdirSync(join(ROOT, 'mesh-config/src'))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => `src/${f}`)
      .sort()
    expect(named).toEqual(files)
  })
})

describe('the telemetry READMEs', () => {
  // A flag table's rows: the only table whose rows start with a flag.
  const flagRows = (readme: string) =>
    read(readme)
      .split('\n')
      .filter((l) => l.startsWith('| `-'))
      .map(cells)
  const processes = [
    { readme: 'telemetry-collector/README.md', options: collector.OPTIONS, usage: collector.USAGE },
    { readme: 'telemetry-agent/README.md', options: agent.OPTIONS, usage: agent.USAGE },
  ]

  it.each(processes)(
    '$readme lists every flag its process accepts, each of which its --help names',
    ({ readme, options, usage }) => {
      const flags = flagRows(readme).map(([flag]) => codeSpans(flag!).at(-1)!.split(' ')[0]!)
      expect(flags.map((f) => f.replace(/^--/, '')).sort()).toEqual(Object.keys(options).sort())
      for (const flag of flags)
        expect({
          flag,
          named: usage.includes(`${flag} `) || usage.includes(`${flag}\n`) || usage.includes(`${flag},`),
        }).toEqual({ flag, named: true })
    },
  )
})

describe('README.md', () => {
  it('names every benchmark script of package.json in its layout table', () => {
    const scripts = Object.keys(JSON.parse(read('package.json')).scripts as Record<string, string>).filter((s) =>
      s.startsWith('bench:'),
    )
    const layout = section(read('README.md'), 'Layout')
    expect(scripts.length).toBeGreaterThan(0)
    expect(scripts.filter((s) => !layout.includes(s))).toEqual([])
  })
})

describe('tsconfig.json', () => {
  it('includes and excludes only folders that exist', () => {
    const { include, exclude } = JSON.parse(read('tsconfig.json')) as { include: string[]; exclude: string[] }
    const plain = [...include, ...exclude].filter((p) => !p.includes('*'))
    expect(plain.filter((p) => !existsSync(join(ROOT, p)))).toEqual([])
  })
})
