/**
 * @module
 * Keeps a set of child processes running: starts each, waits until its
 * health check passes, restarts one that dies (with backoff, reset once it
 * has stayed up), and stops them all in reverse order. One child can be
 * stopped on purpose (it stays down) and started again from its spec while
 * the others run. Children's output goes to one log file each, so the
 * terminal shows only what matters.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { setPriority } from 'node:os'
import { join } from 'node:path'
import { OWNER_ONLY_FILE, ownerOnlyDir } from '@model-mesh/contracts'

export interface ChildSpec {
  name: string
  command: string
  args: string[]
  /** Resolves true once the child serves. */
  healthy(): Promise<boolean>
  env?: Record<string, string>
  /** Nice value to run at (a child that must never take the CPU from the data plane). */
  nice?: number
}

export type SupervisorEvent =
  | { kind: 'started'; name: string; pid: number }
  | { kind: 'exited'; name: string; code: number | null; signal: string | null; restartInMs: number }
  | { kind: 'healthy'; name: string }
  /** Stopped with stopChild(): it has exited (code and signal null if it was already down) and stays down until startChild(). */
  | { kind: 'stopped'; name: string; code: number | null; signal: string | null }

const MIN_BACKOFF_MS = 500
const MAX_BACKOFF_MS = 30_000
/** A child that stayed up this long has its backoff reset. */
const STABLE_AFTER_MS = 30_000

class Supervised {
  child?: ChildProcess
  backoffMs = MIN_BACKOFF_MS
  startedAt = 0
  restartTimer?: NodeJS.Timeout
  restarts = 0
  /** The current child has exited and its output is drained. */
  closed = true
  /** Set by stopChild() (the stop under way, then done), cleared by startChild(): while set, an exit is not restarted. */
  stopped?: Promise<void>

  constructor(
    readonly spec: ChildSpec,
    readonly log: WriteStream,
  ) {}
}

export class Supervisor {
  readonly #children: Supervised[] = []
  #stopping = false

  constructor(
    readonly logDir: string,
    readonly onEvent: (e: SupervisorEvent) => void = () => {},
  ) {
    // Envoy's debug logs can show request headers (API keys).
    ownerOnlyDir(logDir)
  }

  /** Starts a child and waits until it is healthy (or fails if it cannot get there in time). */
  async start(spec: ChildSpec, timeoutMs = 60_000): Promise<void> {
    const log = createWriteStream(join(this.logDir, `${spec.name}.log`), { flags: 'a', mode: OWNER_ONLY_FILE })
    // A log that cannot be written must not take the supervisor down.
    log.on('error', () => {})
    const s = new Supervised(spec, log)
    this.#children.push(s)
    this.#spawn(s)
    await this.waitHealthy(spec.name, timeoutMs)
  }

  async waitHealthy(name: string, timeoutMs = 60_000): Promise<void> {
    const s = this.#find(name)
    const deadline = Date.now() + timeoutMs
    while (!(await s.spec.healthy().catch(() => false))) {
      if (this.#stopping || s.stopped) throw new Error(`stopped while waiting for ${name}`)
      if (Date.now() > deadline)
        throw new Error(`${name} was not healthy within ${timeoutMs / 1000} s; see ${join(this.logDir, `${name}.log`)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    this.onEvent({ kind: 'healthy', name })
  }

  /** The current child's pid (a dead one's until it is restarted); undefined once stopChild() has stopped it. */
  /** Every child's name, in the order they were started. */
  names(): string[] {
    return this.#children.map((c) => c.spec.name)
  }

  pid(name: string): number | undefined {
    return this.#find(name).child?.pid
  }

  restarts(name: string): number {
    return this.#find(name).restarts
  }

  /**
   * Stops one child and keeps it stopped while the others run: SIGTERM, then
   * SIGKILL after the grace period, as stop() does; resolves once it has
   * exited (a pending restart is cancelled). Stopping a stopped child waits
   * for that stop. Its log stays open for startChild().
   *
   * @example
   *   await supervisor.stopChild('telemetry-agent')
   *   // ... the mesh runs without it ...
   *   await supervisor.startChild('telemetry-agent')
   */
  stopChild(name: string, graceMs = 5000): Promise<void> {
    const s = this.#find(name)
    s.stopped ??= (async () => {
      clearTimeout(s.restartTimer)
      const exit = await this.#terminate(s, graceMs)
      s.child = undefined
      this.onEvent({ kind: 'stopped', name, code: exit?.code ?? null, signal: exit?.signal ?? null })
    })()
    return s.stopped
  }

  /**
   * Starts a child stopped with stopChild() again, from its original spec,
   * and waits until it is healthy, as start() does. Its backoff starts
   * afresh; restarts() counts only restarts after unexpected exits.
   */
  async startChild(name: string, timeoutMs = 60_000): Promise<void> {
    const s = this.#find(name)
    if (this.#stopping) throw new Error(`the supervisor is stopped; cannot start ${name}`)
    if (!s.stopped) throw new Error(`${name} is not stopped`)
    await s.stopped
    // Another startChild() may have got here first while the stop finished.
    if (!s.stopped || this.#stopping) throw new Error(`${name} is not stopped`)
    s.stopped = undefined
    s.backoffMs = MIN_BACKOFF_MS
    this.#spawn(s)
    await this.waitHealthy(name, timeoutMs)
  }

  /** Stops every child, last started first: SIGTERM, then SIGKILL after a grace period. */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopping = true
    for (const s of [...this.#children].reverse()) {
      clearTimeout(s.restartTimer)
      // A stopChild() under way finishes first, so nothing writes to the log after it ends.
      await s.stopped
      await this.#terminate(s, graceMs)
      s.log.end()
    }
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves with how it exited once it has (undefined if it was not running). */
  async #terminate(
    s: Supervised,
    graceMs: number,
  ): Promise<{ code: number | null; signal: string | null } | undefined> {
    const child = s.child
    if (!child || s.closed) return undefined
    // 'close' comes after the child's output is drained, so nothing writes to the log after it ends.
    const closed = new Promise<{ code: number | null; signal: string | null }>((r) =>
      child.once('close', (code, signal) => r({ code, signal })),
    )
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    const exit = await closed
    clearTimeout(timer)
    return exit
  }

  #find(name: string): Supervised {
    const s = this.#children.find((c) => c.spec.name === name)
    if (!s) throw new Error(`no child named ${name}`)
    return s
  }

  #spawn(s: Supervised): void {
    const child = spawn(s.spec.command, s.spec.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...s.spec.env },
    })
    s.child = child
    s.closed = false
    s.startedAt = Date.now()
    child.stdout!.pipe(s.log, { end: false })
    child.stderr!.pipe(s.log, { end: false })
    child.once('spawn', () => {
      if (s.spec.nice !== undefined) setPriority(child.pid!, s.spec.nice)
      this.onEvent({ kind: 'started', name: s.spec.name, pid: child.pid! })
    })
    child.once('error', (e) => s.log.write(`[supervisor] could not start ${s.spec.command}: ${e.message}\n`))
    child.once('close', (code, signal) => {
      s.closed = true
      if (this.#stopping || s.stopped) return
      if (Date.now() - s.startedAt > STABLE_AFTER_MS) s.backoffMs = MIN_BACKOFF_MS
      const delay = s.backoffMs
      s.backoffMs = Math.min(s.backoffMs * 2, MAX_BACKOFF_MS)
      this.onEvent({ kind: 'exited', name: s.spec.name, code, signal, restartInMs: delay })
      s.restartTimer = setTimeout(() => {
        s.restarts++
        this.#spawn(s)
      }, delay)
    })
  }
}
