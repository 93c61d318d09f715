/**
 * The Node.js the project runs on: 22 or later (package.json's engines). Where
 * the machine's Node is older, scripts/setup.sh installs Node 24 LTS into
 * .local/node and scripts/node-path.sh puts it first on PATH for the scripts,
 * so `npm test` runs vitest, and every process the tests start, on it.
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..')
const major = (version: string) => Number(version.replace(/^v/, '').split('.')[0])

describe('Node runtime', () => {
  it("runs on a Node that package.json's engines allows (the test command puts setup's Node first)", () => {
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } })
      .engines.node
    const [, least] = /^>=(\d+)$/.exec(engines) ?? []
    expect(least, `engines.node is ${engines}`).toBeDefined()
    expect(
      major(process.versions.node),
      `vitest runs on ${process.execPath} (${process.version})`,
    ).toBeGreaterThanOrEqual(Number(least))
  })

  describe('scripts/node-path.sh', () => {
    // A repository of its own with the helper and a .local/node/bin/node, and
    // two machines' Nodes: stand-ins that answer the helper's version check
    // as a Node older than 22 (exit 1) and one of 22 or later (exit 0) do.
    const repo = mkdtempSync(join(tmpdir(), 'node-path-'))
    afterAll(() => rmSync(repo, { recursive: true, force: true }))
    const node = (dir: string, code: number) => {
      mkdirSync(join(repo, dir), { recursive: true })
      writeFileSync(join(repo, dir, 'node'), `#!/bin/sh\nexit ${code}\n`, { mode: 0o755 })
      return join(repo, dir)
    }
    mkdirSync(join(repo, 'scripts'))
    copyFileSync(join(ROOT, 'scripts/node-path.sh'), join(repo, 'scripts/node-path.sh'))
    const local = node('.local/node/bin', 0)
    const old = node('machine-old', 1)
    const current = node('machine-current', 0)

    /** PATH and `command -v node` after sourcing the helper (twice) in sh, as npm's scripts do. */
    const source = (path: string) => {
      const out = execFileSync(
        'sh',
        ['-c', '. scripts/node-path.sh && . scripts/node-path.sh && printf "%s\\n%s" "$PATH" "$(command -v node)"'],
        {
          cwd: repo,
          env: { PATH: path },
          encoding: 'utf8',
        },
      )
      const [after, found] = out.split('\n')
      return { path: after, node: found }
    }

    it("puts .local/node first, once, where the machine's Node is older than 22", () => {
      const path = `${old}:/usr/bin:/bin`
      expect(source(path)).toEqual({ path: `${local}:${path}`, node: join(local, 'node') })
    })

    it("leaves PATH as it is where the machine's Node is 22 or later", () => {
      const path = `${current}:/usr/bin:/bin`
      expect(source(path)).toEqual({ path, node: join(current, 'node') })
    })
  })
})
