/**
 * Validation: the malformed-config corpus (each file ends with the issues it
 * must produce, `# expect: line:col: path: reason`), the example mesh.yaml,
 * the CLI's output and exit codes, and the published JSON Schema.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { run } from '../src/cli.ts'
import { meshJsonSchema, SCHEMA_FILE } from '../src/json-schema.ts'
import { loadMeshFile } from '../src/load.ts'
import { ROOT } from '../src/local-mesh.ts'

const CORPUS = join(import.meta.dirname, 'malformed')
const files = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.yaml'))
  .sort()

function capture() {
  const out: string[] = []
  const err: string[] = []
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out: () => out.join(''), err: () => err.join('') }
}

describe('malformed configs', () => {
  it('the corpus holds at least 30 configs', () => {
    expect(files.length).toBeGreaterThanOrEqual(30)
  })

  it.each(files)('%s is refused with exactly its expected issues', async (name) => {
    const file = join(CORPUS, name)
    const expected = [...readFileSync(file, 'utf8').matchAll(/^# expect: (.*)$/gm)].map((m) => m[1])
    expect(expected.length).toBeGreaterThan(0)
    const result = await loadMeshFile(file)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.issues.map((i) => `${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ''}${i.message}`)).toEqual(expected)
    for (const issue of result.issues) expect(issue.file.endsWith(name)).toBe(true)
  })
})

describe('mesh validate', () => {
  it('accepts the example mesh.yaml', async () => {
    const result = await loadMeshFile(join(ROOT, 'mesh.yaml'))
    expect(result.ok ? [] : result.issues).toEqual([])
  })

  it('prints every issue as file:line:col: path: reason and exits 1', async () => {
    const c = capture()
    const code = await run(['validate', join(CORPUS, files.find((f) => f.includes('several-problems'))!)], c.io)
    expect(code).toBe(1)
    const lines = c.err().trim().split('\n')
    expect(lines.slice(0, 3)).toEqual([
      expect.stringMatching(/several-problems-at-once\.yaml:12:24: routes\[0\]\.stable\.version: must be a positive whole number/),
      expect.stringMatching(/:13:13: routes\[0\]\.canary: unknown field "shadow"$/),
      expect.stringMatching(/:13:35: routes\[0\]\.canary\.weight: must be 0-10000 \(basis points\)$/),
    ])
    expect(lines[3]).toBe('3 problems; nothing was changed.')
  })

  it('answers --json with the issues, and 0 for a valid config', async () => {
    const bad = capture()
    expect(await run(['validate', join(CORPUS, files[0]!), '--json'], bad.io)).toBe(1)
    const body = JSON.parse(bad.out()) as { ok: boolean; issues: { line: number; col: number; path: string; message: string }[] }
    expect(body.ok).toBe(false)
    expect(body.issues[0]).toMatchObject({ line: 13, col: 56 })
    const good = capture()
    expect(await run(['validate', join(ROOT, 'mesh.yaml'), '--json'], good.io)).toBe(0)
    expect(JSON.parse(good.out())).toEqual({ ok: true, routes: 1, hosts: 3 })
  })

  it('a missing file is one clear issue; bad usage exits 2 with help', async () => {
    const c = capture()
    expect(await run(['validate', '/nonexistent/mesh.yaml'], c.io)).toBe(1)
    expect(c.err()).toContain('/nonexistent/mesh.yaml:1:1: cannot read: ENOENT')
    const u = capture()
    expect(await run(['render', join(ROOT, 'mesh.yaml')], u.io)).toBe(2)
    expect(u.err()).toContain('render needs --out <dir>')
    expect(await run(['launch'], u.io)).toBe(2)
    const h = capture()
    expect(await run(['canary', '--help'], h.io)).toBe(0)
    expect(h.out()).toContain('mesh canary set <route> <weight>')
  })
})

describe('JSON Schema', () => {
  it('mesh-config/mesh.schema.json is current (npm run mesh:schema writes it)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(meshJsonSchema())
  })

  it('the example mesh.yaml names it for editors', () => {
    expect(readFileSync(join(ROOT, 'mesh.yaml'), 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=./mesh-config/mesh.schema.json')
  })
})
