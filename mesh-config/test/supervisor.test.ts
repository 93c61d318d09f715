/** The supervisor with real child processes: restarts with doubling backoff, logs, stops cleanly, and stops and starts one child on purpose. */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Supervisor, type ChildSpec, type SupervisorEvent } from '../src/supervisor.ts'
import { alive } from '@model-mesh/testkit/process'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

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
    await s.start({
      name: 'crasher',
      command: process.execPath,
      args: ['-e', 'console.log("starting"); process.exit(3)'],
      healthy: async () => true,
    })
    await expect
      .poll(() => events.filter((e) => e.kind === 'exited').length, { timeout: 5000 })
      .toBeGreaterThanOrEqual(3)
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
    const start = s.start(
      {
        name: 'sleeper',
        command: process.execPath,
        args: ['-e', 'setInterval(() => {}, 1000)'],
        healthy: async () => false,
      },
      500,
    )
    await expect(start).rejects.toThrow(`sleeper was not healthy within 0.5 s; see ${join(dir, 'sleeper.log')}`)
    const pid = s.pid('sleeper')!
    await s.stop()
    expect(() => process.kill(pid, 0)).toThrow()
  })

  it('stops a child that ignores SIGTERM with SIGKILL after the grace period', async () => {
    const dir = await logDir()
    const s = new Supervisor(dir)
    // Healthy once it says so: its SIGTERM handler is in place by then.
    const healthy = () =>
      readFile(join(dir, 'stubborn.log'), 'utf8').then(
        (t) => t.includes('up'),
        () => false,
      )
    await s.start({
      name: 'stubborn',
      command: process.execPath,
      args: ['-e', 'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000)'],
      healthy,
    })
    const pid = s.pid('stubborn')!
    const t = performance.now()
    await s.stop(300)
    expect(performance.now() - t).toBeGreaterThanOrEqual(250)
    expect(() => process.kill(pid, 0)).toThrow()
  })

  describe('stopChild and startChild', () => {
    /**
     * A child that serves until killed, healthy once the process the
     * supervisor holds now has said so in its log (so a health check passes
     * for the new process, never on the old one's line).
     */
    const server = (s: Supervisor, dir: string, name: string, script = ''): ChildSpec => ({
      name,
      command: process.execPath,
      args: ['-e', `${script}; console.log("up " + process.pid); setInterval(() => {}, 1000)`],
      healthy: async () => {
        const pid = s.pid(name)
        return pid !== undefined && (await readFile(join(dir, `${name}.log`), 'utf8')).includes(`up ${pid}\n`)
      },
    })
    const of = (events: SupervisorEvent[], kind: SupervisorEvent['kind'], name: string) =>
      events.filter((e) => e.kind === kind && e.name === name)

    it('keeps a stopped child down past the restart backoff while the others run, and brings it back healthy with a new pid that is supervised again', async () => {
      const events: SupervisorEvent[] = []
      const dir = await logDir()
      const s = new Supervisor(dir, (e) => events.push(e))
      await s.start(server(s, dir, 'first'))
      await s.start(server(s, dir, 'second'))
      const [first, second] = [s.pid('first')!, s.pid('second')!]

      await s.stopChild('first')
      expect(alive(first)).toBe(false)
      expect(s.pid('first')).toBeUndefined()
      expect(of(events, 'stopped', 'first')).toEqual([
        { kind: 'stopped', name: 'first', code: null, signal: 'SIGTERM' },
      ])
      // Four times the first backoff (500 ms): a restart would have come by now.
      await sleep(2000)
      expect(of(events, 'started', 'first')).toHaveLength(1)
      expect(of(events, 'exited', 'first')).toEqual([])
      expect(s.pid('first')).toBeUndefined()
      expect(s.restarts('first')).toBe(0)
      expect(s.pid('second')).toBe(second)
      expect(alive(second)).toBe(true)
      // Stopping it again is the same stop.
      await s.stopChild('first')
      expect(of(events, 'stopped', 'first')).toHaveLength(1)

      const healthyBefore = of(events, 'healthy', 'first').length
      await s.startChild('first')
      const again = s.pid('first')!
      expect(again).not.toBe(first)
      expect(alive(again)).toBe(true)
      expect(await server(s, dir, 'first').healthy()).toBe(true)
      expect(of(events, 'healthy', 'first')).toHaveLength(healthyBefore + 1)
      await expect(s.startChild('first')).rejects.toThrow('first is not stopped')

      // An unexpected exit after startChild is restarted, with the first backoff.
      process.kill(again, 'SIGKILL')
      await expect.poll(() => s.pid('first') !== again && s.pid('first') !== undefined, { timeout: 5000 }).toBe(true)
      expect(of(events, 'exited', 'first')).toEqual([
        { kind: 'exited', name: 'first', code: null, signal: 'SIGKILL', restartInMs: 500 },
      ])
      expect(s.restarts('first')).toBe(1)

      const last = s.pid('first')!
      await s.stop()
      expect([last, second].filter(alive)).toEqual([])
    })

    it('kills a stopped child that ignores SIGTERM after the grace period, and stop() still stops the rest', async () => {
      const events: SupervisorEvent[] = []
      const dir = await logDir()
      const s = new Supervisor(dir, (e) => events.push(e))
      await s.start(server(s, dir, 'other'))
      await s.start(server(s, dir, 'stubborn', 'process.on("SIGTERM", () => {})'))
      const [other, stubborn] = [s.pid('other')!, s.pid('stubborn')!]
      const t = performance.now()
      await s.stopChild('stubborn', 300)
      expect(performance.now() - t).toBeGreaterThanOrEqual(250)
      expect(alive(stubborn)).toBe(false)
      expect(of(events, 'stopped', 'stubborn')).toEqual([
        { kind: 'stopped', name: 'stubborn', code: null, signal: 'SIGKILL' },
      ])
      expect(alive(other)).toBe(true)

      await s.stop()
      expect(alive(other)).toBe(false)
      expect(of(events, 'exited', 'other')).toEqual([])
      await expect(s.startChild('stubborn')).rejects.toThrow('the supervisor is stopped')
    })

    it('cancels the pending restart of a child that died, and startChild refuses a child that was not stopped', async () => {
      const events: SupervisorEvent[] = []
      const dir = await logDir()
      const s = new Supervisor(dir, (e) => events.push(e))
      await s.start({
        name: 'crasher',
        command: process.execPath,
        args: ['-e', 'process.exit(3)'],
        healthy: async () => true,
      })
      await expect(s.startChild('crasher')).rejects.toThrow('crasher is not stopped')
      await expect.poll(() => of(events, 'exited', 'crasher').length, { timeout: 5000 }).toBe(1)
      // Down and waiting out its backoff: the stop cancels the restart.
      await s.stopChild('crasher')
      expect(of(events, 'stopped', 'crasher')).toEqual([{ kind: 'stopped', name: 'crasher', code: null, signal: null }])
      await sleep(1500)
      expect(of(events, 'started', 'crasher')).toHaveLength(1)
      expect(s.restarts('crasher')).toBe(0)
      await s.stop()
    })
  })
})
