/**
 * mesh.yaml's secrets (the API keys) outside the file itself (issue 17,
 * finding 3): the text anyone may be shown has them redacted, comments and
 * layout kept; every file mesh-config writes with them is its owner's only
 * (history copies, rendered files), and an edit keeps mesh.yaml's own mode.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canaryRouteYaml, localMeshYaml } from '../../test/support/mesh-yaml.ts'
import { run } from '../src/cli.ts'
import { applyMeshText } from '../src/edit-apply.ts'
import { setCanaryWeight } from '../src/edit.ts'
import { redactIssues, redactMeshText } from '../src/redact.ts'
import { paths, recordHistory } from '../src/state.ts'

const modeOf = async (file: string) => (await stat(file)).mode & 0o777

describe('redactMeshText', () => {
  it('replaces every API key, however written, and nothing else: comments, layout and the rest as they were', () => {
    const text = `# the mesh
auth:
  header: x-api-key   # which header
  api_keys:
    - { client: web-app, key: &web web-app-key-0123456789 } # flow style, anchored
    - client: batch
      key: !!str "batch-key-0123456789abc"   # tagged, quoted
    - client: nightly
      key: |
        nightly-key-0123456789abc
    - client: copy
      key: *web
    - client: from-env
      key_env: MESH_KEY
    - bare-key-in-the-list-0123456789
routes: [] # after
`
    expect(redactMeshText(text)).toBe(`# the mesh
auth:
  header: x-api-key   # which header
  api_keys:
    - { client: web-app, key: &web "<redacted>" } # flow style, anchored
    - client: batch
      key: !!str "<redacted>"   # tagged, quoted
    - client: nightly
      key: "<redacted>"
    - client: copy
      key: *web
    - client: from-env
      key_env: MESH_KEY
    - "<redacted>"
routes: [] # after
`)
  })

  it('shows no text that does not parse (a key could hide anywhere in it), and issues on keys do not quote them', () => {
    expect(redactMeshText('auth:\n  api_keys: [{ client: a, key: secret-0123456789abcdef }\n')).toBeNull()
    expect(redactMeshText('a: 1\na: 2\n')).toBeNull()
    const issue = { file: 'mesh.yaml', line: 4, col: 10, path: 'auth.api_keys[0].key', message: 'must be a string, got number 98765432109876' }
    expect(redactIssues([issue, { ...issue, path: 'routes[0].name', message: 'must be a string, got number 7' }]).map((i) => i.message)).toEqual(['must be a string', 'must be a string, got number 7'])
  })
})

describe('files holding the API keys', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mesh-secrets-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it("writes the history's copies of mesh.yaml 0600 in a 0700 folder, closing one an older version left open", async () => {
    const stateDir = join(dir, 'state')
    // A copy from before: readable by everyone.
    await mkdir(join(stateDir, 'history'), { recursive: true, mode: 0o755 })
    await writeFile(paths(stateDir).historyText(1), 'key: old-secret', { mode: 0o644 })
    await chmod(join(stateDir, 'history'), 0o755)
    await writeFile(paths(stateDir).historyIndex, `${JSON.stringify({ id: 1, time: new Date().toISOString(), digest: 'x', version: 'v1', by: 'test', action: 'apply' })}\n`)
    const entry = await recordHistory(stateDir, 'auth: { api_keys: [{ client: a, key: secret-0123456789abcdef }] }\n', { version: 'v2', by: 'test', action: 'apply' })
    expect(await modeOf(paths(stateDir).historyText(entry.id))).toBe(0o600)
    expect(await modeOf(join(stateDir, 'history'))).toBe(0o700)
  })

  it('mesh render --out writes every file 0600 (the listeners hold the keys), over files that were 0644', async () => {
    const out = join(dir, 'rendered')
    await mkdir(out)
    await writeFile(join(out, 'lds.json'), '{}', { mode: 0o644 })
    process.env.MESH_TEST_BATCH_KEY = 'batch-key-from-the-environment'
    try {
      const lines: string[] = []
      expect(await run(['render', join(import.meta.dirname, 'fixtures/full-mesh.yaml'), '--out', out, '--json'], { out: (t) => void lines.push(t), err: (t) => void lines.push(t) })).toBe(0)
      const { files } = JSON.parse(lines.join('')) as { files: string[] }
      expect(await readFile(join(out, 'lds.json'), 'utf8')).toContain('web-app-key-0123456789')
      expect(await Promise.all(files.map(async (f) => [f, await modeOf(f)]))).toEqual(files.map((f) => [f, 0o600]))
    } finally {
      delete process.env.MESH_TEST_BATCH_KEY
    }
  })

  it("an edit applied through mesh-config keeps mesh.yaml's own mode (0600 stays 0600)", async () => {
    const file = join(dir, 'mesh.yaml')
    const text = localMeshYaml({ gateway: 18080, stable: 18001, canary: 18002, fallback: 18003, nats: 14222, agent: 14195, collector: 14196 }, canaryRouteYaml(2500, 'interval_s: 60'))
    await writeFile(file, text, { mode: 0o600 })
    expect((await applyMeshText(file, setCanaryWeight(text, 'credit-risk', 5000), 'canary set credit-risk 5000', 'test', text)).status).toBe('applied')
    expect(await readFile(file, 'utf8')).toContain('weight: 5000')
    expect(await modeOf(file)).toBe(0o600)
  })
})
