/**
 * @module
 * Progressive delivery: for each route whose canary has `analysis.mode:
 * auto`, the collector walks the canary's weight up through `steps`,
 * moving on only when a step has lasted `step_interval_s` and the analysis
 * says promote; at the end it promotes the canary; `failure_threshold`
 * failed checks in a row roll it back at once. Every change goes through
 * mesh-config's own validated path (the edit `npx mesh canary` makes,
 * applied, written back only once applied). A manual change during a walk
 * wins: the walk sees a weight or version it did not set, stops, and says
 * so. Each walk (one per route and canary version) and its every step,
 * verdict change and outcome are kept in the store.
 */
import type { Log } from '@model-mesh/contracts'
import {
  applyMeshText,
  loadMeshFile,
  meshFileReader,
  promoteCanary,
  rollbackCanary,
  setCanaryWeight,
  type Route,
} from '@model-mesh/mesh-config'
import type { CanaryAnalysis } from './canary-stats.ts'

export type WalkStatus = 'walking' | 'promoted' | 'rolled_back' | 'overridden' | 'failed'

export interface Walk {
  route: string
  canary_version: string
  stable_version: string
  steps: number[]
  /** Index into steps of the weight set last. */
  step: number
  /** The weight the walk set last: any other in mesh.yaml is a manual change. */
  weight: number
  status: WalkStatus
  started_at: number
  step_started_at: number
  last_check_at: number
  /** Failed checks in a row. */
  failures: number
  last_verdict: string | null
}

export interface WalkEvent {
  ts: number
  route: string
  canary_version: string
  action: 'start' | 'step' | 'verdict' | 'promote' | 'rollback' | 'overridden' | 'error'
  weight: number
  verdict: string | null
  reasons: string[]
}

/** Where walks are kept (the collector's store): a walk's state and what it did are saved together. */
export interface WalkLog {
  load(): Promise<Walk[]>
  save(w: Walk, e: WalkEvent): Promise<void>
  events(route: string): Promise<WalkEvent[]>
}

export interface WalkerOptions {
  meshFile: string
  /** The analysis of a route's canary now, counting only what came `since` (the walk's start). */
  analyse: (route: Route & { canary: NonNullable<Route['canary']> }, now: number, since: number) => CanaryAnalysis
  walks: WalkLog
  /** Who the history names as having applied the changes. */
  by?: string
  log: Log
}

type CanaryRoute = Route & { canary: NonNullable<Route['canary']> }

export class CanaryWalker {
  readonly #walks = new Map<string, Walk>()
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> = Promise.resolve()
  readonly by: string
  /** What each tick looks at: parsed again only when the file changed (a tick a second would otherwise parse it a second). */
  readonly #look: () => ReturnType<typeof loadMeshFile>

  constructor(readonly opts: WalkerOptions) {
    this.by = opts.by ?? 'telemetry-collector (canary walk)'
    this.#look = meshFileReader(opts.meshFile)
  }

  async start(tickMs = 1000): Promise<void> {
    for (const w of await this.opts.walks.load()) this.#walks.set(keyOf(w.route, w.canary_version), w)
    this.#timer = setInterval(() => void this.tick(), tickMs)
    this.#timer.unref()
  }

  async close(): Promise<void> {
    clearInterval(this.#timer)
    await this.#running
  }

  /** Walks by route and status (every walk the store holds, so counts survive restarts). */
  counts(): { route: string; status: WalkStatus; walks: number }[] {
    const by = new Map<string, { route: string; status: WalkStatus; walks: number }>()
    for (const w of this.#walks.values()) {
      const k = keyOf(w.route, w.status)
      const e = by.get(k) ?? { route: w.route, status: w.status, walks: 0 }
      e.walks++
      by.set(k, e)
    }
    return [...by.values()]
  }

  /** When the walk of this route's current canary version started (what its analysis counts from), if one is under way. */
  walkingSince(route: string, canaryVersion: string): number | undefined {
    const w = this.#walks.get(keyOf(route, canaryVersion))
    return w?.status === 'walking' ? w.started_at : undefined
  }

  /**
   * The newest walk of a route, with its history; null when it never had
   * one. From the store, where a walk's state and its events are committed
   * together: memory may be a step ahead of what is recorded.
   */
  async walkOf(route: string): Promise<(Walk & { history: WalkEvent[] }) | null> {
    const walks = (await this.opts.walks.load())
      .filter((w) => w.route === route)
      .sort((a, b) => b.started_at - a.started_at)
    return walks[0] ? { ...walks[0], history: await this.opts.walks.events(route) } : null
  }

  /** One look at every auto route; `now` is read when the tick runs (tests pass their own). */
  tick(now?: number): Promise<void> {
    this.#running = this.#running
      .then(() => this.#tick(now ?? Date.now()))
      .catch((e) => this.opts.log('warn', 'canary walk failed', { err: e }))
    return this.#running
  }

  async #tick(now: number): Promise<void> {
    const loaded = await this.#look()
    if (!loaded.ok) return
    const routes = loaded.mesh.config.routes
    // Walks in progress whose route went away, left auto mode, or whose canary or stable version someone changed, stop.
    for (const w of this.#walks.values()) {
      if (w.status !== 'walking') continue
      const r = routes.find((x) => x.name === w.route)
      const why = !r
        ? 'the route is gone from mesh.yaml'
        : r.canary?.analysis.mode !== 'auto'
          ? 'the route left auto mode'
          : r.canary.version !== w.canary_version || r.stable.version !== w.stable_version
            ? `a manual change took over (canary v${r.canary.version}, stable v${r.stable.version})`
            : null
      if (why) await this.#end(w, 'overridden', now, [`${why}: the walk stopped`])
    }
    for (const r of routes) {
      if (r.canary?.analysis.mode !== 'auto' || r.canary.version === r.stable.version) continue
      await this.#advance({ ...r, canary: r.canary }, now)
    }
  }

  async #advance(r: CanaryRoute, now: number): Promise<void> {
    const a = r.canary.analysis
    const w = this.#walks.get(keyOf(r.name, r.canary.version))
    if (!w) return this.#begin(r, now)
    if (w.status !== 'walking') return
    if (r.canary.weight !== w.weight || r.stable.version !== w.stable_version) {
      return this.#end(w, 'overridden', now, [
        `a manual change took over (weight ${r.canary.weight}, stable v${r.stable.version}; the walk had set weight ${w.weight}): the walk stopped`,
      ])
    }
    if (now - w.last_check_at < a.check_interval_s * 1000) return
    w.last_check_at = now
    const judged = this.opts.analyse(r, now, w.started_at)
    if (judged.verdict === 'rollback') {
      w.failures++
      if (w.failures >= a.failure_threshold) {
        if (
          await this.#change(
            w,
            r,
            rollbackCanary,
            `canary rollback ${r.name} (walk: ${judged.reasons.join('; ')})`,
            now,
          )
        ) {
          w.weight = 0
          await this.#end(w, 'rolled_back', now, judged.reasons, 'rollback', judged.verdict)
        }
        return
      }
    } else w.failures = 0
    const stepDone = now - w.step_started_at >= a.step_interval_s * 1000
    if (judged.verdict === 'promote' && stepDone) {
      if (w.step + 1 < w.steps.length) {
        const weight = w.steps[w.step + 1]!
        if (
          await this.#change(
            w,
            r,
            (text, route) => setCanaryWeight(text, route, weight),
            `canary set ${r.name} ${weight} (walk step ${w.step + 2} of ${w.steps.length})`,
            now,
          )
        ) {
          w.step++
          w.weight = weight
          w.step_started_at = now
          w.last_verdict = judged.verdict
          await this.#record(w, now, 'step', judged.verdict, judged.reasons)
        }
      } else if (
        await this.#change(
          w,
          r,
          (text, route) => promoteCanary(text, route).text,
          `canary promote ${r.name} (walk)`,
          now,
        )
      ) {
        w.weight = 0
        await this.#end(w, 'promoted', now, judged.reasons, 'promote', judged.verdict)
      }
      return
    }
    if (judged.verdict !== w.last_verdict) {
      w.last_verdict = judged.verdict
      await this.#record(w, now, 'verdict', judged.verdict, judged.reasons)
    }
  }

  async #begin(r: CanaryRoute, now: number): Promise<void> {
    const steps = r.canary.analysis.steps
    // From the first step at or above where the canary stands (the last, if it stands above them all).
    const at = steps.findIndex((s) => s >= r.canary.weight)
    const step = at < 0 ? steps.length - 1 : at
    const w: Walk = {
      route: r.name,
      canary_version: r.canary.version,
      stable_version: r.stable.version,
      steps,
      step,
      weight: steps[step]!,
      status: 'walking',
      started_at: now,
      step_started_at: now,
      last_check_at: now,
      failures: 0,
      last_verdict: null,
    }
    this.#walks.set(keyOf(w.route, w.canary_version), w)
    if (
      r.canary.weight !== w.weight &&
      !(await this.#change(
        w,
        r,
        (text, route) => setCanaryWeight(text, route, w.weight),
        `canary set ${r.name} ${w.weight} (walk start)`,
        now,
      ))
    )
      return
    await this.#record(w, now, 'start', null, [
      `walking canary v${w.canary_version} of ${r.name} through ${steps.join(', ')}`,
    ])
  }

  async #end(
    w: Walk,
    status: WalkStatus,
    now: number,
    reasons: string[],
    action: WalkEvent['action'] = 'overridden',
    verdict: string | null = null,
  ): Promise<void> {
    w.status = status
    await this.#record(w, now, action, verdict, reasons)
  }

  /** One edit of mesh.yaml through the validated path; false when refused (the walk failed, and says why) or when another change came first (the next tick sees it). */
  async #change(
    w: Walk,
    r: CanaryRoute,
    edit: (text: string, route: string) => string,
    action: string,
    now: number,
  ): Promise<boolean> {
    let outcome: Awaited<ReturnType<typeof applyMeshText>> | null = null
    let why = 'mesh.yaml is not valid'
    try {
      const loaded = await loadMeshFile(this.opts.meshFile)
      if (loaded.ok)
        outcome = await applyMeshText(
          this.opts.meshFile,
          edit(loaded.mesh.text, r.name),
          action,
          this.by,
          loaded.mesh.text,
        )
    } catch (e) {
      // The edit itself refused (EditError: the route is not in the file as expected).
      why = (e as Error).message
    }
    if (outcome && (outcome.status === 'applied' || outcome.status === 'unchanged')) {
      this.opts.log('info', action)
      return true
    }
    if (outcome?.status === 'conflict') {
      // Someone changed mesh.yaml while the walk did: the next tick sees their change (a manual change wins).
      this.opts.log('warn', `${action}: mesh.yaml changed meanwhile`, { reason: outcome.reason })
      return false
    }
    if (outcome?.status === 'invalid') why = outcome.issues.map((i) => i.message).join('; ')
    else if (outcome?.result.status === 'refused') why = outcome.result.reason
    await this.#end(w, 'failed', now, [`${action}: ${why}`], 'error')
    return false
  }

  async #record(
    w: Walk,
    now: number,
    action: WalkEvent['action'],
    verdict: string | null,
    reasons: string[],
  ): Promise<void> {
    await this.opts.walks.save(w, {
      ts: now,
      route: w.route,
      canary_version: w.canary_version,
      action,
      weight: w.weight,
      verdict,
      reasons,
    })
  }
}

const keyOf = (route: string, version: string) => `${route}\u0000${version}`
