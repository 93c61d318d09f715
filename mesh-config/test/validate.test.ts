/**
 * Validation: the malformed-config corpus (each file ends with the issues it
 * must produce, `# expect: line:col: path: reason`), the example mesh.yaml,
 * the CLI's output and exit codes, and the published JSON Schema.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { run } from '../src/cli.ts'
import { meshJsonSchema, SCHEMA_FILE } from '../src/json-schema.ts'
import { loadMeshFile, meshFileReader, parseMesh, telemetryPaths, type LoadedMesh } from '../src/load.ts'
import { ROOT } from '../src/local-mesh.ts'
import { MAX_ALIASES } from '../src/yaml-aliases.ts'
import { meshModels, nodesOf } from '../src/schema.ts'

const CORPUS = join(import.meta.dirname, 'malformed')
const files = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.yaml'))
  .sort()

function capture() {
  const out: string[] = []
  const err: string[] = []
  return {
    io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) },
    out: () => out.join(''),
    err: () => err.join(''),
  }
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
      expect.stringMatching(
        /several-problems-at-once\.yaml:12:24: routes\[0\]\.stable\.version: must be a positive whole number/,
      ),
      expect.stringMatching(/:13:13: routes\[0\]\.canary: unknown field "shadow"$/),
      expect.stringMatching(/:13:35: routes\[0\]\.canary\.weight: must be 0-10000 \(basis points\)$/),
    ])
    expect(lines[3]).toBe('3 problems; nothing was changed.')
  })

  it('answers --json with the issues, and 0 for a valid config', async () => {
    const bad = capture()
    expect(await run(['validate', join(CORPUS, files[0]!), '--json'], bad.io)).toBe(1)
    const body = JSON.parse(bad.out()) as {
      ok: boolean
      issues: { line: number; col: number; path: string; message: string }[]
    }
    expect(body.ok).toBe(false)
    expect(body.issues[0]).toMatchObject({ line: 13, col: 56 })
    const good = capture()
    expect(await run(['validate', join(ROOT, 'mesh.yaml'), '--json'], good.io)).toBe(0)
    expect(JSON.parse(good.out())).toEqual({ ok: true, routes: 1, hosts: 3 })
  })

  it('an alias bomb is a located issue and exits 1, not an unlocated failure', async () => {
    const c = capture()
    expect(await run(['validate', join(CORPUS, '73-yaml-alias-bomb.yaml')], c.io)).toBe(1)
    expect(c.err()).toMatch(
      /73-yaml-alias-bomb\.yaml:11:36: d\[7\]: alias \*c makes the file's aliases expand to more than 10000 values/,
    )
    expect(c.err()).toContain('1 problem; nothing was changed.')
  })

  it('many small aliases are a located issue past MAX_ALIASES, and the file is refused without converting it', async () => {
    // Each alias adds one value, far under the expansion bound; converting 10,000 of them took the yaml library seconds.
    const aliases = (n: number) => `version: 1\nx: &x 1\nxs:\n${Array.from({ length: n }, () => '  - *x\n').join('')}`
    const started = performance.now()
    const result = await parseMesh(aliases(10_000), 'many-aliases.yaml')
    expect(performance.now() - started).toBeLessThan(1000)
    expect(result.ok ? [] : result.issues.map((i) => `${i.line}:${i.col}: ${i.path}: ${i.message}`)).toEqual([
      `${4 + MAX_ALIASES}:5: xs[${MAX_ALIASES}]: alias *x is one more than the ${MAX_ALIASES} aliases a file may hold; refused`,
    ])
    // At the bound, the aliases are no problem (the file is refused only for what it lacks).
    const atBound = await parseMesh(aliases(MAX_ALIASES), 'many-aliases.yaml')
    expect(atBound.ok ? [] : atBound.issues.filter((i) => /alias/.test(i.message))).toEqual([])
  })

  it('aliases within the bound are expanded as usual', async () => {
    const text = `version: 1
gateway: { port: 18080, admin_port: 19901 }
repository: repository
hosts:
  - { name: stable, port: 18001 }
  - { name: fallback, port: 18003, role: fallback }
routes:
  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: &stable [stable] }
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
    retries: &retries { attempts: 2 }
  - name: credit-risk-by-header
    match: { header: { name: x-model, value: credit-risk } }
    model: credit-risk
    stable: { version: 1, hosts: *stable }
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
    retries: *retries
`
    const result = await parseMesh(text, join(import.meta.dirname, 'fixtures', 'mesh.yaml'))
    expect(result.ok ? [] : result.issues).toEqual([])
    if (!result.ok) return
    expect(result.mesh.config.routes.map((r) => r.stable.hosts)).toEqual([['stable'], ['stable']])
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

describe('telemetry settings', () => {
  const FIXTURES = join(import.meta.dirname, 'fixtures')
  const mesh = async (telemetry: string, extra = ''): Promise<LoadedMesh> => {
    const text = `version: 1
gateway: { port: 18080, admin_port: 19901 }
repository: repository
hosts:
  - { name: stable, port: 18001 }
  - { name: fallback, port: 18003, role: fallback }
  - { name: scorer, port: 18004, models: [text-scorer, credit-risk] }
routes:
  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
${extra}${telemetry}`
    const result = await parseMesh(text, join(FIXTURES, 'mesh.yaml'))
    if (!result.ok) throw new Error(result.issues.map((i) => `${i.line}:${i.col}: ${i.path}: ${i.message}`).join('\n'))
    return result.mesh
  }

  it('defaults every field, so a file without telemetry stays valid', async () => {
    const m = await mesh('')
    expect(m.config.telemetry).toEqual({
      nats_url: 'nats://127.0.0.1:4222',
      agent: { address: '127.0.0.1', port: 4195, spool: { memory_mb: 64, disk_mb: 1024 } },
      collector: {
        address: '127.0.0.1',
        port: 4196,
        payloads: { flush_s: 60, max_rows: 10_000, retention_days: 14 },
        dashboard: { enabled: true, address: '127.0.0.1', port: 4197, refresh_ms: 1000 },
      },
      streams: { duplicate_window_s: 120, max_mb: { requests: 4096, payloads: 2048, host: 2048, review: 512 } },
    })
    expect(m.config.quality).toEqual({
      drift: { window_minutes: 60, max_rows: 5000, min_samples: 200, psi: 0.2, ks: 0.15 },
      models: {},
    })
    expect(telemetryPaths(m)).toEqual({
      spoolDir: join(FIXTURES, '.local/mesh/agent-spool'),
      storeDir: join(FIXTURES, '.local/mesh/collector'),
      payloadsDir: join(FIXTURES, '.local/mesh/payloads'),
      tokenFile: join(FIXTURES, '.local/mesh/dashboard-token'),
    })
  })

  it('takes partial sections and fractional sizes; spool and store dirs resolve against the file like state_dir', async () => {
    const m = await mesh(
      'telemetry:\n  agent: { spool: { memory_mb: 0.5, dir: spool } }\n  collector: { port: 14196, store_dir: /var/lib/mesh-collector, payloads: { dir: parquet }, dashboard: { port: 14197, token_file: secrets/token } }\n  streams: { max_mb: { review: 0.25 } }\n',
      'state_dir: state\n',
    )
    expect(m.config.telemetry.agent).toEqual({
      address: '127.0.0.1',
      port: 4195,
      spool: { memory_mb: 0.5, disk_mb: 1024, dir: 'spool' },
    })
    expect(m.config.telemetry.collector.port).toBe(14196)
    expect(m.config.telemetry.streams).toEqual({
      duplicate_window_s: 120,
      max_mb: { requests: 4096, payloads: 2048, host: 2048, review: 0.25 },
    })
    expect(m.config.telemetry.collector.dashboard).toEqual({
      enabled: true,
      address: '127.0.0.1',
      port: 14197,
      refresh_ms: 1000,
      token_file: 'secrets/token',
    })
    expect(telemetryPaths(m)).toEqual({
      spoolDir: join(FIXTURES, 'spool'),
      storeDir: '/var/lib/mesh-collector',
      payloadsDir: join(FIXTURES, 'parquet'),
      tokenFile: join(FIXTURES, 'secrets/token'),
    })
    expect((await mesh('', 'state_dir: state\n')).stateDir).toBe(join(FIXTURES, 'state'))
    expect(telemetryPaths(await mesh('', 'state_dir: state\n')).spoolDir).toBe(join(FIXTURES, 'state/agent-spool'))
  })

  it('meshModels lists every model the file names, sorted, once each', async () => {
    expect(meshModels((await mesh('')).config)).toEqual(['credit-risk', 'credit-risk-fallback', 'text-scorer'])
    const example = await loadMeshFile(join(ROOT, 'mesh.yaml'))
    expect(example.ok && meshModels(example.mesh.config)).toEqual(['credit-risk', 'credit-risk-fallback'])
  })
})

describe('nodes', () => {
  const base = readFileSync(join(ROOT, 'mesh.yaml'), 'utf8')
  const parsed = async (text: string) => {
    const r = await parseMesh(text, join(ROOT, 'mesh.yaml'))
    if (!r.ok) throw new Error(JSON.stringify(r.issues))
    return r.mesh.config
  }

  it('leaves a mesh without nodes as one node, and makes N of every host for --nodes N, collectors on two', async () => {
    const config = await parsed(base)
    expect(config.nodes).toBeUndefined()
    expect(nodesOf(config)).toBeUndefined()
    expect(nodesOf(config, 3)).toEqual([
      { name: 'n1', hosts: ['stable', 'canary', 'fallback'], collector: true },
      { name: 'n2', hosts: ['stable', 'canary', 'fallback'], collector: true },
      { name: 'n3', hosts: ['stable', 'canary', 'fallback'], collector: false },
    ])
  })

  it("takes mesh.yaml's own nodes, with defaults, over --nodes", async () => {
    const config = await parsed(
      base.replace(
        'routes:\n',
        'nodes:\n  - { name: a, hosts: [stable, canary, fallback], collector: true }\n  - { name: b, hosts: [stable] }\n\nroutes:\n',
      ),
    )
    expect(nodesOf(config, 3)).toEqual([
      { name: 'a', hosts: ['stable', 'canary', 'fallback'], collector: true },
      { name: 'b', hosts: ['stable'], collector: false },
    ])
  })
})

describe('JSON Schema', () => {
  it('mesh-config/mesh.schema.json is current (npm run mesh:schema writes it)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(meshJsonSchema())
  })

  it('the example mesh.yaml names it for editors', () => {
    expect(readFileSync(join(ROOT, 'mesh.yaml'), 'utf8').split('\n')[0]).toBe(
      '# yaml-language-server: $schema=./mesh-config/mesh.schema.json',
    )
  })
})

describe('meshFileReader', () => {
  afterEach(() => vi.unstubAllEnvs())

  it('parses again only when the text changed or the last check is too old, and reports an unreadable file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mesh-reader-')), 'mesh.yaml')
    const fixture = readFileSync(join(import.meta.dirname, 'fixtures/full-mesh.yaml'), 'utf8')
    const text = fixture.replace(
      'repository: repository',
      `repository: ${join(import.meta.dirname, 'fixtures/repository')}`,
    )
    writeFileSync(file, text)
    vi.stubEnv('MESH_TEST_BATCH_KEY', 'batch-key-0123456789abcdef')
    let clock = 0
    const look = meshFileReader(file, 30_000, () => clock)
    const first = await look()
    expect(first.ok ? [] : first.issues).toEqual([])
    clock = 29_999
    expect(await look()).toBe(first)
    writeFileSync(file, text.replace('service: edge', 'service: edge2'))
    const changed = await look()
    expect(changed).not.toBe(first)
    expect(changed.ok && changed.mesh.config.gateway.service).toBe('edge2')
    clock += 30_000
    const aged = await look()
    expect(aged).not.toBe(changed)
    expect(aged).toEqual(changed)
    writeFileSync(file, 'version: [')
    expect((await look()).ok).toBe(false)
    writeFileSync(file, text)
    expect(await look()).toEqual(first)
  })
})
