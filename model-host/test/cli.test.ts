/**
 * Integration: the `model-host` bin's interface.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { EXAMPLE_MODELS, ROOT, spawnHost } from '@model-mesh/testkit/host-process'

const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, [join(ROOT, 'bin/model-host.mjs'), ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
  )

describe('model-host CLI', () => {
  it('--help prints usage and exits 0', async () => {
    const r = await run('--help')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^Usage: model-host --models <repository dir>/)
  })

  it('refuses a missing --models, a bad port, role or agent URL with exit code 2', async () => {
    const missing = await run('--port', '1234')
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/--models is required/)
    const badPort = await run('--models', '.', '--port', 'x')
    expect(badPort.code).toBe(2)
    expect(badPort.stderr).toMatch(/--port must be 0-65535, got "x"/)
    const unknown = await run('--modles', 'x')
    expect(unknown.code).toBe(2)
    const badRole = await run('--models', '.', '--role', 'backup')
    expect(badRole.code).toBe(2)
    expect(badRole.stderr).toMatch(/--role must be primary or fallback, got "backup"/)
    const badAgent = await run('--models', '.', '--telemetry-agent', 'nats://127.0.0.1:4222')
    expect(badAgent.code).toBe(2)
    expect(badAgent.stderr).toMatch(/--telemetry-agent must be an http:\/\/ URL, got "nats:\/\/127.0.0.1:4222"/)
  })
})

describe('model-host CLI start-up errors', () => {
  it('exits 1 with a clear message when the repository does not exist', async () => {
    const r = await run('--models', '/nonexistent/models', '--port', '0')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot read the model repository \/nonexistent\/models: no such directory/)
  })

  it('exits 1 naming the models --only asks for that the repository lacks', async () => {
    const r = await run('--models', EXAMPLE_MODELS, '--port', '0', '--only', 'credit-risk,fraud')
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`no model "fraud" in the repository ${EXAMPLE_MODELS}`)
  })
})

describe('model-host --only', () => {
  it('loads the models named and their fallbacks, and leaves the others unloaded', async () => {
    const host = await spawnHost(EXAMPLE_MODELS, {}, ['--only', 'credit-risk'])
    try {
      const index = (await fetch(`${host.url}/v2/repository/index`, { method: 'POST' }).then((r) => r.json())) as {
        name: string
        version?: string
        state: string
      }[]
      expect(index.map((m) => [m.name, m.version ?? '', m.state])).toEqual([
        ['credit-risk', '1', 'READY'],
        ['credit-risk', '2', 'READY'],
        ['credit-risk', '3', 'READY'],
        ['credit-risk-fallback', '1', 'READY'],
        ['credit-risk-xl', '', 'UNAVAILABLE'],
      ])
    } finally {
      await host.stop()
    }
  })
})
