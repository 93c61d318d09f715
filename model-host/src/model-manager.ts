/**
 * @module
 * The models this host serves: loading from the repository, switching the
 * live version, unloading, and answering a request with its primary model or,
 * when that cannot serve it, the model's fallback.
 *
 * A model's state is replaced as a whole (one assignment), so a request
 * either sees the old versions or the new ones; requests already queued keep
 * the version they were given and finish before it is retired.
 */
import { join } from 'node:path'

import type { ModelConfig, TensorSpec } from './config.ts'
import type { ClientGone } from './batcher.ts'
import { BatchRejection, InferenceError, IntegrityError, type RejectReason } from './errors.ts'
import { LoadedVersion, type BatchResult, type VersionDeps } from './loaded-version.ts'
import { verifyVersion } from './repository/manifest.ts'
import { CONFIG_FILE, listModels, listVersions, pruneVersions, readEntryConfig } from './repository/repository.ts'
import type { RequestTensors } from './runtime/tensor-batch.ts'

export type ModelStateName = 'READY' | 'UNAVAILABLE' | 'UNLOADING'

export interface ModelState {
  name: string
  state: ModelStateName
  reason?: string
  config?: ModelConfig
  live?: string
  versions: ReadonlyMap<string, LoadedVersion>
  /** Versions on disk that could not be loaded, with why. */
  versionErrors: ReadonlyMap<string, string>
}

export interface InferInput {
  requestId: string
  /** The request's W3C traceparent header as it arrived, "" when it had none (reported in events). */
  traceparent: string
  rows: number
  tensors: RequestTensors
  shapeKey: string
  /** Absolute deadline in performance.now() milliseconds. */
  deadline: number
  priority: number | undefined
  client?: ClientGone
}

export interface InferOutcome {
  served: LoadedVersion
  outputs: BatchResult
  /** Set when a fallback model answered, with why. */
  fallbackReason?: RejectReason
}

/** Requests answered by fallback (by reason) and refused, per model. */
export interface ModelCounters {
  fallback: Partial<Record<RejectReason, number>>
  refused: Partial<Record<RejectReason, number>>
}

export interface ManagerDeps extends VersionDeps {
  /**
   * `fallback`: a host in the mesh's fallback pool, which Envoy uses when a
   * model's own hosts are all down. It answers every request with the
   * requested model's fallback, marked as such.
   */
  role?: 'primary' | 'fallback'
}

export class ModelManager {
  readonly #repo: string
  readonly #deps: ManagerDeps
  readonly #models = new Map<string, ModelState>()
  readonly counters = new Map<string, ModelCounters>()
  /** Serialises load/unload per model. */
  readonly #locks = new Map<string, Promise<unknown>>()

  constructor(repo: string, deps: ManagerDeps) {
    this.#repo = repo
    this.#deps = deps
  }

  get repository(): string {
    return this.#repo
  }

  /**
   * Loads every model of the repository, or only those named in `only`
   * (with their fallbacks); failures leave that model UNAVAILABLE with a reason.
   */
  async loadAll(only?: readonly string[]): Promise<void> {
    const entries = await listModels(this.#repo).catch((e: NodeJS.ErrnoException) => {
      throw new Error(
        `cannot read the model repository ${this.#repo}: ${e.code === 'ENOENT' ? 'no such directory' : e.message}`,
      )
    })
    const missing = only?.filter((name) => !entries.some((e) => e.name === name)) ?? []
    if (missing.length > 0)
      throw new Error(`no model ${missing.map((m) => `"${m}"`).join(', ')} in the repository ${this.#repo}`)
    // A model comes with its fallback, so the host can still fall back in-process.
    const wanted = new Set(only ?? entries.map((e) => e.name))
    for (const e of entries) {
      if (!only?.includes(e.name)) continue
      const fallback = await readEntryConfig(e).then(
        (c) => c.fallback,
        () => undefined,
      )
      if (fallback) wanted.add(fallback)
    }
    await Promise.all(entries.filter((e) => wanted.has(e.name)).map((e) => this.load(e.name).catch(() => {})))
  }

  models(): ModelState[] {
    return [...this.#models.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  get(name: string): ModelState | undefined {
    return this.#models.get(name)
  }

  /** Ready when every known model is; a host with no model is not ready. */
  ready(): boolean {
    return this.#models.size > 0 && [...this.#models.values()].every((m) => m.state === 'READY')
  }

  /** The version that answers a request for `name` (and optionally `version`). */
  resolve(name: string, version?: string): LoadedVersion {
    const m = this.#models.get(name)
    if (!m || m.state === 'UNLOADING') throw new InferenceError(`unknown model "${name}"`, 404)
    if (m.state !== 'READY')
      throw new InferenceError(`model "${name}" is not ready: ${m.reason ?? 'unavailable'}`, 503, 1)
    const v = version ?? m.live!
    const loaded = m.versions.get(v)
    if (!loaded) {
      const why = m.versionErrors.get(v)
      throw new InferenceError(`unknown version "${v}" of model "${name}"${why ? `: ${why}` : ''}`, 404)
    }
    return loaded
  }

  /**
   * (Re)loads a model from disk: reads its config, prunes old versions, verifies
   * and loads versions (reusing unchanged ones), then swaps it in at once. On a
   * config error the previous state keeps serving and the error is thrown.
   */
  load(name: string): Promise<ModelState> {
    return this.#serialise(name, () => this.#load(name))
  }

  unload(name: string): Promise<void> {
    return this.#serialise(name, async () => {
      const m = this.#models.get(name)
      if (!m) throw new InferenceError(`unknown model "${name}"`, 404)
      this.#models.set(name, { ...m, state: 'UNLOADING' })
      await Promise.all([...m.versions.values()].map((v) => v.retire()))
      this.#models.delete(name)
      this.#deps.logger.info({ model: name }, 'model unloaded')
    })
  }

  async close(): Promise<void> {
    await Promise.all([...this.#models.keys()].map((n) => this.unload(n).catch(() => {})))
  }

  /**
   * Whether this host runs a model's versions (creates their sessions). A
   * fallback-role host answers every request with the requested model's
   * fallback, so it runs only the models some model names as its fallback;
   * the others it loads without sessions, to resolve the requests it answers for.
   */
  async #runs(name: string): Promise<boolean> {
    if (this.#deps.role !== 'fallback') return true
    const configs = await Promise.all(
      (await listModels(this.#repo)).map((e) => readEntryConfig(e).catch(() => undefined)),
    )
    return configs.some((c) => c?.fallback === name)
  }

  async #load(name: string): Promise<ModelState> {
    const log = this.#deps.logger.child({ model: name })
    const entry = (await listModels(this.#repo)).find((e) => e.name === name)
    if (!entry) throw new InferenceError(`no model "${name}" in the repository (no ${name}/${CONFIG_FILE})`, 404)
    const previous = this.#models.get(name)
    let config: ModelConfig
    try {
      config = await readEntryConfig(entry)
    } catch (e) {
      const reason = (e as Error).message
      log.error({ err: reason }, 'model config refused')
      if (!previous)
        this.#models.set(name, { name, state: 'UNAVAILABLE', reason, versions: new Map(), versionErrors: new Map() })
      throw new InferenceError(`failed to load "${name}": ${reason}`, 400)
    }

    const onDisk = await listVersions(entry.dir).catch(() => [] as string[])
    const highest = onDisk.at(-1)
    const pruned = await pruneVersions(
      entry.dir,
      config.retained_versions,
      new Set([config.live_version ?? highest ?? ''].filter(Boolean)),
    )
    if (pruned.length) log.info({ pruned }, `pruned versions beyond the last ${config.retained_versions}`)

    const wanted = (config.versions ?? (await listVersions(entry.dir))).filter((v) => !pruned.includes(v))
    const run = await this.#runs(name)
    const versions = new Map<string, LoadedVersion>()
    const versionErrors = new Map<string, string>()
    const reused = new Set<LoadedVersion>()
    for (const v of wanted) {
      try {
        const { manifest, modelBytes } = await verifyVersion(join(entry.dir, v), name, v)
        const digest = manifest.files['model.onnx']!
        const old = previous?.versions.get(v)
        if (old && old.digest === digest && sameRuntime(old.config, config) && old.sessions.length > 0 === run) {
          versions.set(v, old)
          reused.add(old)
          continue
        }
        const loaded = await LoadedVersion.create(name, v, config, modelBytes, digest, this.#deps, run)
        versions.set(v, loaded)
        log.info({ version: v, device: loaded.device, instances: loaded.sessions.length }, 'version loaded')
      } catch (e) {
        const reason = e instanceof IntegrityError ? e.reason : (e as Error).message
        versionErrors.set(v, reason)
        log.error({ version: v, err: reason }, 'version refused')
      }
    }

    const live = config.live_version ?? [...versions.keys()].sort((a, b) => Number(a) - Number(b)).at(-1)
    const liveProblem = !live
      ? 'no loadable version'
      : !versions.has(live)
        ? `live version "${live}" is not loadable${versionErrors.has(live) ? `: ${versionErrors.get(live)}` : ''}`
        : undefined
    if (liveProblem) {
      await Promise.all([...versions.values()].filter((v) => !reused.has(v)).map((v) => v.retire()))
      if (previous?.state !== 'READY') {
        this.#models.set(name, {
          name,
          state: 'UNAVAILABLE',
          reason: liveProblem,
          config,
          versions: new Map(),
          versionErrors,
        })
      }
      log.error({ reason: liveProblem }, 'model load refused')
      throw new InferenceError(`failed to load "${name}": ${liveProblem}`, 400)
    }

    const state: ModelState = { name, state: 'READY', config, live, versions, versionErrors }
    this.#models.set(name, state)
    if (!this.counters.has(name)) this.counters.set(name, { fallback: {}, refused: {} })
    log.info({ live, versions: [...versions.keys()] }, 'model ready')
    // Replaced versions finish what they hold, then free their sessions.
    for (const old of previous?.versions.values() ?? []) if (!reused.has(old)) void old.retire()
    return state
  }

  /**
   * Answers with the primary version, or with the model's fallback when the
   * primary cannot: its queue is full, the deadline cannot be met, or the run failed.
   */
  async infer(target: LoadedVersion, input: InferInput): Promise<InferOutcome> {
    if (this.#deps.role === 'fallback') return this.#fallback(target, input, 'fallback_role')
    const expected = target.batcher.estimateCompletionMs(input.rows)
    if (expected !== undefined && performance.now() + expected > input.deadline) {
      return this.#fallback(target, input, 'deadline')
    }
    try {
      const outputs = await target.batcher.submit(payloadOf(input), submitOptions(target, input))
      return { served: target, outputs }
    } catch (e) {
      if (!(e instanceof BatchRejection)) throw e
      if (e.reason === 'cancelled') throw new InferenceError('client closed the request', 499)
      if (e.reason === 'runtime_error') {
        this.#deps.logger.error(
          { model: target.model, version: target.version, err: String((e.cause as Error)?.message ?? e.cause) },
          'batch failed; failing over per request',
        )
      }
      return this.#fallback(target, input, e.reason, e)
    }
  }

  /** The fallback's live version, if configured, loaded and compatible. */
  fallbackFor(target: LoadedVersion, rows = 1): LoadedVersion | undefined {
    const name = this.#models.get(target.model)?.config?.fallback ?? target.config.fallback
    if (!name) return undefined
    const m = this.#models.get(name)
    if (m?.state !== 'READY') return undefined
    const fb = m.versions.get(m.live!)
    return fb && compatible(target.config, fb.config) && rows <= fb.config.max_batch_size ? fb : undefined
  }

  async #fallback(
    target: LoadedVersion,
    input: InferInput,
    reason: RejectReason,
    cause?: unknown,
  ): Promise<InferOutcome> {
    const counters = this.counters.get(target.model)
    const fb = this.fallbackFor(target, input.rows)
    // Reported once the outcome is known: a fallback that fails too makes it a refusal.
    const report = (fallbackModel: string | null) =>
      this.#deps.reporter.fallback({
        kind: 'host_fallback',
        ts: Date.now(),
        host: this.#deps.hostName(),
        model: target.model,
        version: target.version,
        request_id: input.requestId,
        traceparent: input.traceparent,
        fallback_model: fallbackModel,
        reason,
      })
    if (fb) {
      try {
        // The fallback gets a budget of its own: it is there to answer when the primary cannot.
        const budget = { ...input, deadline: performance.now() + fb.config.dynamic_batching.default_timeout_ms }
        const outputs = await fb.batcher.submit(payloadOf(input), submitOptions(fb, budget))
        if (counters) counters.fallback[reason] = (counters.fallback[reason] ?? 0) + 1
        report(fb.model)
        return { served: fb, outputs, fallbackReason: reason }
      } catch (e) {
        if (e instanceof BatchRejection && e.reason === 'cancelled')
          throw new InferenceError('client closed the request', 499)
        cause = e
      }
    }
    if (counters) counters.refused[reason] = (counters.refused[reason] ?? 0) + 1
    report(null)
    throw refusal(target, reason, cause)
  }

  #serialise<T>(name: string, work: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(name) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(work)
    this.#locks.set(name, next)
    return next
  }
}

const payloadOf = (input: InferInput) => ({
  requestId: input.requestId,
  traceparent: input.traceparent,
  rows: input.rows,
  tensors: input.tensors,
})

function submitOptions(v: LoadedVersion, input: InferInput) {
  const b = v.config.dynamic_batching
  return {
    rows: input.rows,
    priority: input.priority ?? b.default_priority_level,
    deadline: input.deadline,
    client: input.client,
    shapeKey: input.shapeKey,
  }
}

function refusal(target: LoadedVersion, reason: RejectReason, cause: unknown): InferenceError {
  const who = `model "${target.model}" version "${target.version}"`
  switch (reason) {
    case 'queue_full':
      return new InferenceError(
        `${who}: queue is full (max_queue_size ${target.config.dynamic_batching.max_queue_size}) and no fallback could answer`,
        503,
        1,
        true,
      )
    case 'deadline':
      return new InferenceError(`${who}: the request deadline cannot be met and no fallback could answer`, 504)
    case 'unloaded':
      return new InferenceError(`${who} was unloaded`, 503, 1)
    case 'fallback_role':
      return new InferenceError(
        `${who}: this host answers only with fallbacks, and the model has none that can answer`,
        503,
      )
    default:
      return new InferenceError(`${who}: inference failed: ${String((cause as Error)?.message ?? cause)}`, 500)
  }
}

/** Config fields that decide how a version's sessions and batcher are built. */
function sameRuntime(a: ModelConfig, b: ModelConfig): boolean {
  const pick = (c: ModelConfig) =>
    JSON.stringify([
      c.max_batch_size,
      c.instance_count,
      c.session_thread,
      c.execution_providers,
      c.intra_op_threads,
      c.inputs,
      c.outputs,
      c.dynamic_batching,
    ])
  return pick(a) === pick(b)
}

const sameTensors = (a: TensorSpec[], b: TensorSpec[]) =>
  a.length === b.length &&
  a.every((t) =>
    b.some(
      (u) => u.name === t.name && u.datatype === t.datatype && JSON.stringify(u.shape) === JSON.stringify(t.shape),
    ),
  )

/** A fallback must take the same inputs and give the same outputs. */
export function compatible(primary: ModelConfig, fallback: ModelConfig): boolean {
  return sameTensors(primary.inputs, fallback.inputs) && sameTensors(primary.outputs, fallback.outputs)
}
