/**
 * Integration: the `model-host` bin's interface.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ROOT } from './host-process.ts'

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

  it('refuses a missing --models, a bad port or a bad role with exit code 2', async () => {
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
  })
})

describe('model-host CLI start-up errors', () => {
  it('exits 1 with a clear message when the repository does not exist', async () => {
    const r = await run('--models', '/nonexistent/models', '--port', '0')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot read the model repository \/nonexistent\/models: no such directory/)
  })
})
