/**
 * @module
 * The local mesh's autoscaler: mesh.yaml's hosts[].autoscale carried out by
 * the supervisor, as KEDA carries out the same policy on Kubernetes. Once a
 * second it reads each autoscaled pool's signal from its instances'
 * `/metrics` (the same series Prometheus scrapes there), asks the policy
 * (autoscale-policy.ts) and acts:
 *
 * - up: starts the next instance (on the next port) and waits until it is
 *   ready, which a host is only once its models are loaded and warmed
 *   (warm-up runs every batch size it will see); only then does Envoy
 *   learn of it, through the same file swap an apply makes;
 * - down: Envoy first stops sending to the pool's last instance, which
 *   then finishes what it holds (drains) before it is stopped.
 *
 * What it decided, and why, goes to `<state_dir>/autoscale.json` for
 * `mesh status`, and to the log.
 */
import { metricSum } from '@model-mesh/contracts'
import { applyReplicas } from './apply.ts'
import { desiredReplicas, NO_WINDOWS, scaleReason, scaleStep, type ScaleWindows } from './autoscale-policy.ts'
import { meshFileReader, type LoadedMesh } from './load.ts'
import { type PoolStatus, type ScaleDecision, writeAutoscaleStatus, writeReplicas } from './replicas.ts'
import { type Host, type HostInstance, httpUrl, instancesAt } from './schema.ts'
import type { ChildSpec, Supervisor } from './supervisor.ts'

export interface AutoscalerOptions {
  mesh: LoadedMesh
  supervisor: Supervisor
  /** How the supervisor runs an instance (local-mesh.ts's hostChild). */
  childOf: (instance: HostInstance) => ChildSpec
  /** How long a new instance may take to be ready (load and warm its models). */
  startTimeoutMs: number
  log: (line: string) => void
  /** Hands Envoy the pools' sizes (default: applyReplicas, the local mesh's swap). */
  apply?: (mesh: LoadedMesh) => Promise<void>
  intervalMs?: number
  /** The queue-wait signal's window: the mean over the batches of the last this many ms. */
  waitWindowMs?: number
  /** A removed instance gets at least this long to finish what it holds once Envoy stopped sending to it. */
  drainMs?: number
}

/** One reading of an instance's counters (queue_wait is their rate over a window). */
interface Counters {
  at: number
  batches: number
  waitS: number
}

interface Pool {
  replicas: number
  windows: ScaleWindows
  value: number | null
  last: ScaleDecision | null
  /** Per instance port, its counters over the window, oldest first. */
  history: Map<number, Counters[]>
}

/** An instance's `/metrics`, or null when it does not answer within a second. */
function metricsOf(i: HostInstance): Promise<string | null> {
  return fetch(`${httpUrl(i.address, i.port)}/metrics`, { signal: AbortSignal.timeout(1000) })
    .then((r) => (r.ok ? r.text() : null))
    .catch(() => null)
}

/** How long past its drain a removed instance may still hold requests before it is stopped anyway (its SIGTERM drains too). */
const DRAIN_CAP_MS = 30_000

export class LocalAutoscaler {
  readonly #pools = new Map<string, Pool>()
  readonly #look: ReturnType<typeof meshFileReader>
  #timer: NodeJS.Timeout | undefined
  /** The look under way, if any: a start or a drain can outlast the interval, and the next look waits its turn. */
  #running: Promise<void> | null = null
  #closed = false
  /** The pools' policies as mesh.yaml last said them (an operator may change a target while it runs). */
  #hosts: Host[]

  constructor(readonly opts: AutoscalerOptions) {
    this.#look = meshFileReader(opts.mesh.file)
    this.#hosts = opts.mesh.config.hosts
    for (const h of opts.mesh.config.hosts)
      if (h.autoscale)
        this.#pools.set(h.name, {
          replicas: h.instances,
          windows: NO_WINDOWS,
          value: null,
          last: null,
          history: new Map(),
        })
  }

  /** Whether mesh.yaml asks for any pool to be scaled. */
  get active(): boolean {
    return this.#pools.size > 0
  }

  async start(): Promise<void> {
    await this.#persist()
    this.#timer = setInterval(() => {
      // One look at a time; a look due while one runs is skipped, not queued.
      if (this.#running) return
      this.#running = this.tick()
        .catch((e) => this.opts.log(`autoscaler: ${e instanceof Error ? e.message : e}`))
        .finally(() => (this.#running = null))
    }, this.opts.intervalMs ?? 1000)
  }

  /** Stops looking; a start or drain under way finishes first (a start within its timeout). */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    await this.#running
  }

  /** Every pool's size, signal and last decision. */
  status(): PoolStatus[] {
    return this.#hosts.flatMap((h) => {
      const p = this.#pools.get(h.name)
      if (!p || !h.autoscale) return []
      const a = h.autoscale
      return [
        {
          host: h.name,
          replicas: p.replicas,
          min: a.min,
          max: a.max,
          signal: a.signal,
          target: a.target,
          value: p.value,
          last: p.last,
        },
      ]
    })
  }

  /** One look at every pool; exported for tests that step the clock themselves. */
  async tick(now = Date.now()): Promise<void> {
    const loaded = await this.#look()
    // The policy as mesh.yaml says now (an operator may change a target while it runs); the file invalid: as it was.
    // Where the instances listen stays as the mesh started them.
    if (loaded.ok) {
      const now = new Map(loaded.mesh.config.hosts.map((h) => [h.name, h]))
      this.#hosts = this.opts.mesh.config.hosts.map((h) => {
        const a = now.get(h.name)?.autoscale
        return a ? { ...h, autoscale: a } : h
      })
    }
    for (const host of this.#hosts) {
      const pool = this.#pools.get(host.name)
      if (!pool || !host.autoscale || this.#closed) continue
      const value = await this.#signal(host, pool, now)
      pool.value = value
      const { windows, to } = scaleStep(
        host.autoscale,
        pool.windows,
        pool.replicas,
        desiredReplicas(host.autoscale, pool.replicas, value),
        now,
      )
      pool.windows = windows
      if (to === null) continue
      const from = pool.replicas
      const reason = scaleReason(host.autoscale, value, from, to)
      this.opts.log(`autoscaler: ${host.name} ${from} -> ${to} replicas: ${reason}`)
      pool.windows = NO_WINDOWS
      const done = to > from ? await this.#up(host, pool, to) : await this.#down(host, pool, to)
      if (done) pool.last = { at: Date.now(), from, to, reason }
    }
    await this.#persist()
  }

  /** The pool's signal now: requests waiting per replica, or the mean queue wait (ms) of its batches over the window. */
  async #signal(host: Host, pool: Pool, now: number): Promise<number> {
    const instances = instancesAt(host, pool.replicas)
    const texts = await Promise.all(instances.map(metricsOf))
    if (host.autoscale!.signal === 'pending') {
      const pending = texts.reduce((n: number, t) => n + (t == null ? 0 : metricSum(t, 'model_host_queue_depth')), 0)
      return pending / pool.replicas
    }
    const windowMs = this.opts.waitWindowMs ?? 5000
    let batches = 0
    let waitS = 0
    instances.forEach((i, k) => {
      const t = texts[k]
      if (t == null) return
      const reading = {
        at: now,
        batches: metricSum(t, 'model_host_batches_total'),
        waitS: metricSum(t, 'model_host_batch_queue_wait_seconds_total'),
      }
      const seen = pool.history.get(i.port) ?? []
      // The oldest reading still inside the window is the base; a restarted instance (counters went down) starts over.
      while (seen.length > 1 && now - seen[1]!.at >= windowMs) seen.shift()
      const base = seen[0]
      if (base && reading.batches >= base.batches) {
        batches += reading.batches - base.batches
        waitS += reading.waitS - base.waitS
      }
      pool.history.set(i.port, base && reading.batches >= base.batches ? [...seen, reading] : [reading])
    })
    return batches === 0 ? 0 : (waitS / batches) * 1000
  }

  /** Starts the instances up to `to`, then tells Envoy; on a failure, stops what it started and the pool stays as it was. */
  async #up(host: Host, pool: Pool, to: number): Promise<boolean> {
    const added = instancesAt(host, to).slice(pool.replicas)
    const names = added.map((i) => this.opts.childOf(i).name)
    try {
      for (const [k, i] of added.entries()) {
        // Ready means loaded and warmed: Envoy hears of it only after.
        if (this.opts.supervisor.names().includes(names[k]!))
          await this.opts.supervisor.startChild(names[k]!, this.opts.startTimeoutMs)
        else await this.opts.supervisor.start(this.opts.childOf(i), this.opts.startTimeoutMs)
      }
      pool.replicas = to
      await this.#announce()
      return true
    } catch (e) {
      this.opts.log(
        `autoscaler: ${host.name} stays at ${pool.replicas} replicas: ${e instanceof Error ? e.message : e}`,
      )
      pool.replicas = Math.min(pool.replicas, to - added.length)
      for (const name of names)
        if (this.opts.supervisor.names().includes(name)) await this.opts.supervisor.stopChild(name).catch(() => {})
      return false
    }
  }

  /** Tells Envoy first, so no new request reaches the instances past `to`; then each finishes what it holds and stops. */
  async #down(host: Host, pool: Pool, to: number): Promise<boolean> {
    const from = pool.replicas
    const removed = instancesAt(host, from).slice(to)
    pool.replicas = to
    try {
      await this.#announce()
    } catch (e) {
      // Envoy still sends to them: they keep running.
      pool.replicas = from
      this.opts.log(`autoscaler: ${host.name} stays at ${from} replicas: ${e instanceof Error ? e.message : e}`)
      return false
    }
    const drainMs = this.opts.drainMs ?? 2000
    const drainUntil = Date.now() + drainMs
    for (const i of removed) {
      // Until it holds nothing, at least drainMs, at most DRAIN_CAP_MS more (a stuck batch must not hold the pool).
      while (Date.now() < drainUntil + DRAIN_CAP_MS) {
        const text = (await metricsOf(i)) ?? ''
        const busy = metricSum(text, 'model_host_queue_depth') + metricSum(text, 'model_host_busy_instances')
        if (Date.now() >= drainUntil && busy === 0) break
        await new Promise((r) => setTimeout(r, 200))
      }
      await this.opts.supervisor.stopChild(this.opts.childOf(i).name)
      pool.history.delete(i.port)
    }
    return true
  }

  async #announce(): Promise<void> {
    const replicas = Object.fromEntries([...this.#pools].map(([name, p]) => [name, p.replicas]))
    await writeReplicas(this.opts.mesh.stateDir, replicas)
    await (this.opts.apply ?? applyReplicas)(this.opts.mesh)
  }

  async #persist(): Promise<void> {
    await writeAutoscaleStatus(this.opts.mesh.stateDir, this.status())
  }
}
