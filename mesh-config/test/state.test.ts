/** The state directory: the apply lock and the history's tolerance of a damaged index. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { paths, readHistory, recordHistory, withStateLock } from '../src/state.ts'

describe('state directory', () => {
  const dirs: string[] = []
  const stateDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'mesh-state-'))
    dirs.push(d)
    return d
  }
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))

  it('runs applies one at a time, so concurrent ones get distinct history ids', async () => {
    const dir = await stateDir()
    const order: string[] = []
    const apply = (name: string) =>
      withStateLock(dir, async () => {
        order.push(`${name} start`)
        await new Promise((r) => setTimeout(r, 50))
        const entry = await recordHistory(dir, `text ${name}`, { version: name, by: 'test', action: name })
        order.push(`${name} end`)
        return entry.id
      })
    const ids = await Promise.all([apply('a'), apply('b'), apply('c')])
    expect(new Set(ids)).toEqual(new Set([1, 2, 3]))
    // Never two inside at once: every start is followed by its own end.
    for (let i = 0; i < order.length; i += 2) expect(order[i + 1]).toBe(order[i]!.replace('start', 'end'))
  })

  it('takes over a lock left by a process that is gone', async () => {
    const dir = await stateDir()
    await writeFile(join(dir, 'apply.lock'), '2147483646') // no such pid
    await expect(withStateLock(dir, async () => 'done')).resolves.toBe('done')
    await expect(readFile(join(dir, 'apply.lock'), 'utf8')).rejects.toThrow(/ENOENT/)
  })

  it('skips a history line cut short, and the next entry still reads', async () => {
    const dir = await stateDir()
    await recordHistory(dir, 'one', { version: 'v1', by: 'test', action: 'apply' })
    await writeFile(paths(dir).historyIndex, `${await readFile(paths(dir).historyIndex, 'utf8')}{"id": 2, "ti`)
    const next = await recordHistory(dir, 'two', { version: 'v2', by: 'test', action: 'apply' })
    expect(next.id).toBe(2)
    expect((await readHistory(dir)).map((e) => [e.id, e.version])).toEqual([
      [1, 'v1'],
      [2, 'v2'],
    ])
  })
})
