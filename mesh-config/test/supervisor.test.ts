/** The supervisor with real child processes: restarts with doubling backoff, logs, and stops cleanly. */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Supervisor, type SupervisorEvent } from '../src/supervisor.ts'

describe('Supervisor', () => {
  const dirs: string[] = []
  const logDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'supervisor-'))
    dirs.push(d)
    return d
  }
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))

  it('restarts a child that keeps dying with doubling backoff, and keeps its output in a log file', async () => {
    const events: SupervisorEvent[] = []
    const dir = await logDir()
    const s = new Supervisor(dir, (e) => events.push(e))
    await s.start({ name: 'crasher', command: process.execPath, args: ['-e', 'console.log("starting"); process.exit(3)'], healthy: async () => true })
    await expect.poll(() => events.filter((e) => e.kind === 'exited').length, { timeout: 5000 }).toBeGreaterThanOrEqual(3)
    await s.stop()
    const exits = events.filter((e): e is Extract<SupervisorEvent, { kind: 'exited' }> => e.kind === 'exited')
    expect(exits.slice(0, 3).map((e) => [e.code, e.restartInMs])).toEqual([
      [3, 500],
      [3, 1000],
      [3, 2000],
    ])
    expect(s.restarts('crasher')).toBeGreaterThanOrEqual(2)
    expect((await readFile(join(dir, 'crasher.log'), 'utf8')).match(/starting/g)!.length).toBeGreaterThanOrEqual(3)
  })

  it('fails start() with the log file named when a child never becomes healthy, and stops it', async () => {
    const dir = await logDir()
    const s = new Supervisor(dir)
    const start = s.start({ name: 'sleeper', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], healthy: async () => false }, 500)
    await expect(start).rejects.toThrow(`sleeper was not healthy within 0.5 s; see ${join(dir, 'sleeper.log')}`)
    const pid = s.pid('sleeper')!
    await s.stop()
    expect(() => process.kill(pid, 0)).toThrow()
  })

  it('stops a child that ignores SIGTERM with SIGKILL after the grace period', async () => {
    const dir = await logDir()
    const s = new Supervisor(dir)
    // Healthy once it says so: its SIGTERM handler is in place by then.
    const healthy = () => readFile(join(dir, 'stubborn.log'), 'utf8').then((t) => t.includes('up'), () => false)
    await s.start({ name: 'stubborn', command: process.execPath, args: ['-e', 'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000)'], healthy })
    const pid = s.pid('stubborn')!
    const t = performance.now()
    await s.stop(300)
    expect(performance.now() - t).toBeGreaterThanOrEqual(250)
    expect(() => process.kill(pid, 0)).toThrow()
  })
})
