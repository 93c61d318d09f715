import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IntegrityError } from '../errors.ts'
import { sha256, verifyVersion } from './manifest.ts'
import { pruneVersions, versionsToPrune } from './repository.ts'

describe('versionsToPrune', () => {
  const versions = Array.from({ length: 12 }, (_, i) => String(i + 1))
  it('keeps the newest N', () => {
    expect(versionsToPrune(versions, 10, new Set())).toEqual(['1', '2'])
    expect(versionsToPrune(['1', '2'], 10, new Set())).toEqual([])
  })
  it('never prunes a protected (live) version, and still keeps N in all', () => {
    expect(versionsToPrune(versions, 10, new Set(['1']))).toEqual(['2', '3'])
  })
})

describe('repository on disk', () => {
  async function version(dir: string, files: Record<string, string>, manifestFiles?: Record<string, string>) {
    await mkdir(dir, { recursive: true })
    for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text)
    const listed =
      manifestFiles ??
      Object.fromEntries(Object.entries(files).map(([f, text]) => [f, sha256(new TextEncoder().encode(text))]))
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ model: 'm', version: '1', files: listed }))
  }

  it('accepts a version whose files match its manifest', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'repo-')), 'm', '1')
    await version(dir, { 'model.onnx': 'bytes', 'baseline.json': '{}' })
    const { modelBytes } = await verifyVersion(dir, 'm', '1')
    expect(new TextDecoder().decode(modelBytes)).toBe('bytes')
  })

  it('refuses a version whose bytes changed, an unlisted file, and a missing one', async () => {
    const root = await mkdtemp(join(tmpdir(), 'repo-'))
    const changed = join(root, 'a')
    await version(changed, { 'model.onnx': 'bytes' })
    await writeFile(join(changed, 'model.onnx'), 'tampered')
    await expect(verifyVersion(changed, 'm', '1')).rejects.toThrow(
      /model\.onnx has sha256 .* manifest says .*immutable/,
    )

    const extra = join(root, 'b')
    await version(extra, { 'model.onnx': 'bytes' })
    await writeFile(join(extra, 'notes.txt'), 'hi')
    await expect(verifyVersion(extra, 'm', '1')).rejects.toThrow(/files not in manifest.json: notes.txt/)

    const missing = join(root, 'c')
    await version(
      missing,
      { 'model.onnx': 'bytes' },
      { 'model.onnx': sha256(new TextEncoder().encode('bytes')), 'baseline.json': '0'.repeat(64) },
    )
    const err = await verifyVersion(missing, 'm', '1').catch((e) => e)
    expect(err).toBeInstanceOf(IntegrityError)
    expect(err.message).toMatch(/baseline.json is listed in manifest.json but missing/)
  })

  it('prunes folders beyond retention on disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'repo-'))
    for (let v = 1; v <= 4; v++) await mkdir(join(dir, String(v)))
    expect(await pruneVersions(dir, 2, new Set(['1']))).toEqual(['2', '3'])
    expect((await readdir(dir)).sort()).toEqual(['1', '4'])
  })
})
