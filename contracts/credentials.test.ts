import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearerMatches, CredentialError, ensureToken, ownerOnlyDir, readToken, tokenFromFile } from './credentials.ts'

describe('token files', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'credentials-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('makes a token readable by its owner alone, and reads the same one again', async () => {
    const file = join(dir, 'made', 'token')
    const token = await ensureToken(file)
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(await ensureToken(file)).toBe(token)
    expect(await tokenFromFile(file, false)).toBe(token)
    expect(await tokenFromFile(join(dir, 'absent'), false)).toBeUndefined()
  })

  it('refuses a token file others may read, and leaves it as it is', async () => {
    const file = join(dir, 'shared-token')
    await writeFile(file, 'a-token-others-could-read-0123\n')
    await chmod(file, 0o644)
    const err = await readToken(file).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CredentialError)
    expect((err as Error).message).toBe(
      `${file}: others may read it (mode 0644), so its token may be known: remove the file to have a new token made, or put a new one in with mode 0600`,
    )
    await expect(ensureToken(file)).rejects.toThrow(/others may read it/)
    expect((await stat(file)).mode & 0o777).toBe(0o644)
    expect(await readFile(file, 'utf8')).toBe('a-token-others-could-read-0123\n')
  })

  it("reads a token its own group may read too (a Kubernetes Secret mounted for the pod's fsGroup), not another group's", async () => {
    const file = join(dir, 'group-token')
    await writeFile(file, 'a-token-for-the-pods-group-0123\n')
    await chmod(file, 0o440)
    expect(await readToken(file)).toBe('a-token-for-the-pods-group-0123')
    // Another group, or a group that may write it: refused.
    await chown(file, process.getuid!(), process.getgid!() + 4242)
    await expect(readToken(file)).rejects.toThrow(/others may read it \(mode 0440\)/)
    await chown(file, process.getuid!(), process.getgid!())
    await chmod(file, 0o460)
    await expect(readToken(file)).rejects.toThrow(/others may read it \(mode 0460\)/)
  })

  it('refuses a short token and one a bearer header cannot carry', async () => {
    for (const [content, reason] of [
      ['short', /at least 16/],
      ['has spaces in the middle of it', /may hold only/],
    ] as const) {
      const file = join(dir, `bad-${content.length}`)
      await writeFile(file, content, { mode: 0o600 })
      await expect(readToken(file)).rejects.toThrow(reason)
    }
  })

  it('matches a bearer header to the token and nothing else', () => {
    const token = 'operator-token-0123456789'
    expect(bearerMatches(`Bearer ${token}`, token)).toBe(true)
    expect(bearerMatches(`bearer ${token}`, token)).toBe(true)
    for (const header of [
      undefined,
      token,
      `Basic ${token}`,
      `Bearer ${token}x`,
      `Bearer ${token.slice(1)}`,
      'Bearer ',
    ])
      expect(bearerMatches(header, token)).toBe(false)
    expect(bearerMatches('Bearer x', undefined)).toBe(false)
    expect(bearerMatches('Bearer ', '')).toBe(false)
  })
})

describe('ownerOnlyDir', () => {
  it('creates a folder open to its owner alone, and narrows one that was open to others', async () => {
    const base = await mkdtemp(join(tmpdir(), 'owner-only-'))
    try {
      const made = join(base, 'a', 'b')
      ownerOnlyDir(made)
      expect((await stat(made)).mode & 0o777).toBe(0o700)
      const open = join(base, 'open')
      await mkdir(open, { mode: 0o755 })
      await chmod(open, 0o755)
      ownerOnlyDir(open)
      expect((await stat(open)).mode & 0o777).toBe(0o700)
    } finally {
      await rm(base, { recursive: true, force: true })
    }
  })
})
