/**
 * mesh.yaml's secrets (the API keys) outside the file itself (issue 17,
 * finding 3): the text anyone may be shown has them redacted, comments and
 * layout kept; every file mesh-config writes with them is its owner's only
 * (history copies, rendered files), an edit keeps mesh.yaml's own mode, and
 * `mesh validate` and `npm start` warn when mesh.yaml holds keys others may read.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Alias } from 'yaml'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { canaryRouteYaml, localMeshYaml } from '@model-mesh/testkit/mesh-yaml'
import { run } from '../src/cli.ts'
import { applyMeshText } from '../src/edit-apply.ts'
import { setCanaryWeight } from '../src/edit.ts'
import { redactIssues, redactMeshText } from '../src/redact.ts'
import { paths, recordHistory } from '../src/state.ts'
import { MAX_ALIASES } from '../src/yaml-aliases.ts'

const modeOf = async (file: string) => (await stat(file)).mode & 0o777

describe('redactMeshText', () => {
  it('replaces every API key of a valid file, however written, and nothing else: comments, layout and the rest as they were', () => {
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
routes: [] # after
`
    expect(redactMeshText(text, { valid: true })).toBe(`# the mesh
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
routes: [] # after
`)
  })

  it('hides every value under auth of a file that does not validate, and any field name auth does not have: a key may be in any of them', () => {
    // Each a way an operator could have written a key where the schema does not expect one (the file is then not valid).
    const cases: Record<string, [string, string]> = {
      'a key written as the client': [
        '    - { client: client-secret-0123456789 }\n',
        '    - { client: "<redacted>" }\n',
      ],
      'a key written as key_env': [
        '    - { client: a, key_env: env-secret-0123456789 }\n',
        '    - { client: "<redacted>", key_env: "<redacted>" }\n',
      ],
      'a key written as a field name': ['    - mapkey-secret-0123456789: a\n', '    - "<redacted>": "<redacted>"\n'],
      'a bare key in the list': ['    - bare-secret-0123456789 # no client\n', '    - "<redacted>" # no client\n'],
      'two misspelt fields': [
        '    - { cliet: a, kee: typo-secret-0123456789 }\n',
        '    - { "<redacted>": "<redacted>", "<redacted>": "<redacted>" }\n',
      ],
    }
    for (const [name, [entry, shown]] of Object.entries(cases)) {
      expect([name, redactMeshText(`auth:\n  header: x-api-key\n  api_keys:\n${entry}`)]).toEqual([
        name,
        `auth:\n  header: "<redacted>"\n  api_keys:\n${shown}`,
      ])
    }
    // auth misspelt, and then its api_keys too: a section mesh.yaml does not have is hidden but for its name.
    expect(redactMeshText('version: 1\nauht:\n  apikeys:\n    - { client: a, kee: typo-secret-0123456789 }\n')).toBe(
      'version: 1\nauht:\n  "<redacted>":\n    - { client: "<redacted>", "<redacted>": "<redacted>" }\n',
    )
    // What the other sections say stays readable, the clients a route names too.
    expect(
      redactMeshText(
        'version: 1\nroutes:\n  - { name: a, auth: { clients: [web-app-frontend] } }\nauth: { api_keys: [{ client: web-app-frontend, key: short }] }\n',
      ),
    ).toBe(
      'version: 1\nroutes:\n  - { name: a, auth: { clients: [web-app-frontend] } }\nauth: { api_keys: [{ client: "<redacted>", key: "<redacted>" }] }\n',
    )
  })

  it('hides the anchored value an alias under auth stands for, where it is written, and each map it merges', () => {
    expect(
      redactMeshText('x: &k alias-secret-0123456789\nauth:\n  api_keys:\n    - { client: a, key: *k }\n', {
        valid: true,
      }),
    ).toBe('x: &k "<redacted>"\nauth:\n  api_keys:\n    - { client: a, key: *k }\n')
    expect(
      redactMeshText('base: &b { client: web, key: merge-secret-0123456789 }\nauth:\n  api_keys:\n    - <<: *b\n'),
    ).toBe('base: &b { client: "<redacted>", key: "<redacted>" }\nauth:\n  api_keys:\n    - <<: *b\n')
    // An anchor in a section that holds no secrets, used under auth.
    expect(redactMeshText('routes:\n  - name: &n route-secret-0123456789\nauth:\n  api_keys:\n    - *n\n')).toBe(
      'routes:\n  - name: &n "<redacted>"\nauth:\n  api_keys:\n    - *n\n',
    )
  })

  it("hides a URL's user:password (a nats_url's), valid file or not", () => {
    for (const valid of [true, false]) {
      expect(
        redactMeshText('telemetry:\n  nats_url: nats://user:nats-secret-0123@127.0.0.1:4222 # the local NATS\n', {
          valid,
        }),
      ).toBe('telemetry:\n  nats_url: "nats://<redacted>@127.0.0.1:4222" # the local NATS\n')
    }
    expect(redactMeshText('telemetry:\n  nats_url: "nats://127.0.0.1:4222"\n', { valid: true })).toBe(
      'telemetry:\n  nats_url: "nats://127.0.0.1:4222"\n',
    )
  })

  it("resolves every alias from one walk, never by the library's alias.resolve (a walk of the whole file per alias), and shows nothing of an alias bomb", () => {
    const file = (n: number) =>
      `auth:\n  api_keys:\n    - { client: web, key: key-0123456789abcdef }\nsampling:\n  pii_fields: [&a ssn, ${Array(n).fill('*a').join(', ')}]\n`
    const resolve = vi.spyOn(Alias.prototype, 'resolve')
    try {
      // (Not toBe: a failure would print a thousand aliases.)
      expect(
        redactMeshText(file(MAX_ALIASES - 1), { valid: true }) ===
          file(MAX_ALIASES - 1).replace('key-0123456789abcdef', '"<redacted>"'),
      ).toBe(true)
      expect(resolve).not.toHaveBeenCalled()
    } finally {
      resolve.mockRestore()
    }
    // Past the bound mesh-config puts on aliases (an alias bomb, refused as a config issue): not shown, and at once
    // (loose: a tenth of a second here; resolving each of them took 30 s).
    const started = performance.now()
    expect(redactMeshText(file(20_000), { valid: true })).toBeNull()
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  it('hides thousands of keys in one pass (each key was a copy and a search of the whole file: 20,000 took 17 s), and shows nothing where a hidden value is also written elsewhere', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `key-${i}-0123456789abcdef`)
    const file = `auth:\n  api_keys:\n${keys.map((k, i) => `    - { client: c${i}, key: ${k} }\n`).join('')}`
    const started = performance.now()
    const out = redactMeshText(file, { valid: true })
    // Loose: about a second here.
    expect(performance.now() - started).toBeLessThan(10_000)
    expect(out === file.replace(/key: key-\d+-0123456789abcdef/g, 'key: "<redacted>"')).toBe(true)
    // A key also in a comment (or any value shown): nothing is shown rather than that.
    expect(
      redactMeshText(
        'auth:\n  api_keys:\n    - { client: a, key: dup-secret-0123456789 } # was dup-secret-0123456789\n',
        { valid: true },
      ),
    ).toBeNull()
    expect(
      redactMeshText(
        'auth:\n  api_keys:\n    - { client: a, key: "dup-secret-0123456789" } # was dup-secret-0123456789\n',
        { valid: false },
      ),
    ).toBeNull()
  })

  it('shows no text that does not parse (a key could hide anywhere in it), and issues on keys do not quote them', () => {
    expect(redactMeshText('auth:\n  api_keys: [{ client: a, key: secret-0123456789abcdef }\n')).toBeNull()
    expect(redactMeshText('a: 1\na: 2\n')).toBeNull()
    const issue = {
      file: 'mesh.yaml',
      line: 4,
      col: 10,
      path: 'auth.api_keys[0].key',
      message: 'must be a string, got number 98765432109876',
    }
    expect(
      redactIssues([issue, { ...issue, path: 'routes[0].name', message: 'must be a string, got number 7' }]).map(
        (i) => i.message,
      ),
    ).toEqual(['must be a string', 'must be a string, got number 7'])
    // A key written as a field's name is named by the issue on it: not quoted either.
    const unknown = { ...issue, path: 'auth.api_keys[0]', message: 'unknown fields "mapkey-secret-0123456789", "key"' }
    expect(redactIssues([unknown])).toEqual([{ ...unknown, message: 'unknown fields "<redacted>", "key"' }])
    expect(redactIssues([{ ...issue, path: 'auth.api_keys[0].alias-secret-0123456789.x' }])[0]!.path).toBe(
      'auth.api_keys[0].<redacted>',
    )
    expect(redactIssues([{ ...issue, path: 'auth.api_keys[0].key' }])[0]!.path).toBe('auth.api_keys[0].key')
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
    await writeFile(
      paths(stateDir).historyIndex,
      `${JSON.stringify({ id: 1, time: new Date().toISOString(), digest: 'x', version: 'v1', by: 'test', action: 'apply' })}\n`,
    )
    const entry = await recordHistory(stateDir, 'auth: { api_keys: [{ client: a, key: secret-0123456789abcdef }] }\n', {
      version: 'v2',
      by: 'test',
      action: 'apply',
    })
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
      expect(
        await run(['render', join(import.meta.dirname, 'fixtures/full-mesh.yaml'), '--out', out, '--json'], {
          out: (t) => void lines.push(t),
          err: (t) => void lines.push(t),
        }),
      ).toBe(0)
      const { files } = JSON.parse(lines.join('')) as { files: string[] }
      expect(await readFile(join(out, 'lds.json'), 'utf8')).toContain('web-app-key-0123456789')
      expect(await Promise.all(files.map(async (f) => [f, await modeOf(f)]))).toEqual(files.map((f) => [f, 0o600]))
    } finally {
      delete process.env.MESH_TEST_BATCH_KEY
    }
  })

  it("an edit applied through mesh-config keeps mesh.yaml's own mode (0600 stays 0600)", async () => {
    const file = join(dir, 'mesh.yaml')
    const text = localMeshYaml(
      { gateway: 18080, stable: 18001, canary: 18002, fallback: 18003, nats: 14222, agent: 14195, collector: 14196 },
      canaryRouteYaml(2500, 'interval_s: 60'),
    )
    await writeFile(file, text, { mode: 0o600 })
    expect(
      (
        await applyMeshText(
          file,
          setCanaryWeight(text, 'credit-risk', 5000),
          'canary set credit-risk 5000',
          'test',
          text,
        )
      ).status,
    ).toBe('applied')
    expect(await readFile(file, 'utf8')).toContain('weight: 5000')
    expect(await modeOf(file)).toBe(0o600)
  })

  it('mesh validate warns when mesh.yaml holds API keys and others may read it, naming the mode; not when only its owner can', async () => {
    const file = join(dir, 'keys.yaml')
    const text = `${localMeshYaml(
      { gateway: 18080, stable: 18001, canary: 18002, fallback: 18003, nats: 14222, agent: 14195, collector: 14196 },
      canaryRouteYaml(2500, 'interval_s: 60'),
    )}auth:\n  api_keys:\n    - { client: web-app, key: web-app-key-0123456789 }\n    - { client: batch, key: batch-key-0123456789ab }\n`
    await writeFile(file, text, { mode: 0o644 })
    await chmod(file, 0o644)
    const validate = async () => {
      const err: string[] = []
      const code = await run(['validate', file], { out: () => {}, err: (t: string) => void err.push(t) })
      return { code, err: err.join('') }
    }
    const open = await validate()
    expect(open.code).toBe(0)
    expect(open.err).toContain(
      `warning: ${file}: holds 2 API keys in the file and other users may read it (mode 0644): chmod 600 it, or give the keys as key_env`,
    )
    await chmod(file, 0o600)
    expect((await validate()).err).toBe('')
  })
})
