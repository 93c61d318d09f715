/**
 * @module
 * Drift per model version: the rate-sampled payloads of a rolling window
 * (their input rows and prediction scores, decoded from the OIP bodies),
 * judged against the baseline.json the version ships with in the model
 * repository. Only samples taken by the request-id rate count: those taken
 * for low confidence are not a fair draw of the traffic.
 */
import { readFileSync } from 'node:fs'
import { resolve, sep } from 'node:path'
import { baselineSchema, type Baseline, type PayloadSampleEvent } from '@model-mesh/contracts'
import { VERSION_TOKEN } from '../state/aggregator.ts'
import { DEFAULT_DRIFT_THRESHOLDS, distributionDrift, type DistributionDrift, type DriftThresholds } from './drift.ts'
import { inputRows, outputColumn } from './oip-tensors.ts'

export interface DriftSettings extends DriftThresholds {
  windowMs: number
  /** Newest rows kept per model version. */
  maxRows: number
}

export const DEFAULT_DRIFT_SETTINGS: DriftSettings = { ...DEFAULT_DRIFT_THRESHOLDS, windowMs: 3_600_000, maxRows: 5000 }

/** The settings every model gets, and those of models with their own. */
export interface DriftConfig {
  defaults: DriftSettings
  models: Record<string, DriftSettings>
}

/** Model versions whose windows a restart refills from the store, at most (the store's query is bounded by it). */
const RESTORED_VERSIONS = 32

export interface FeatureDrift extends DistributionDrift {
  feature: string
}

/** The feature label of the predicted score's distribution in the drift metrics and alerts. */
export const PREDICTION_FEATURE = '_prediction'

export interface VersionDrift {
  model: string
  version: string
  /** drift: at least one feature drifted; no_baseline: the version ships none (or it could not be read). */
  status: 'ok' | 'drift' | 'insufficient_data' | 'no_baseline'
  /** Sampled rows in the window. */
  rows: number
  thresholds: DriftThresholds
  features: FeatureDrift[]
  /** The predicted score's distribution against the baseline's. */
  prediction: DistributionDrift | null
  /** Mean x-model-confidence of the window's rate samples, null when none said. */
  meanConfidence: number | null
  /** Features with verdict drift. */
  drifting: string[]
  baselineError?: string
}

interface Observation {
  ts: number
  rows: number[][]
  scores: number[] | null
}

interface VersionWindow {
  model: string
  version: string
  /** In arrival order; those before `first` have left the window (dropped in bulk, not one by one). */
  observations: Observation[]
  first: number
  rows: number
  /** Confidence per minute: a sum and a count, so any number of samples costs a few entries. */
  confidence: { minute: number; sum: number; n: number }[]
}

const MINUTE_MS = 60_000
/** A model name that is one path segment (mesh-config's own rule is stricter); a version is a plain token (VERSION_TOKEN). */
const MODEL_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
/**
 * Without mesh.yaml's list: any model that is one plain path segment and
 * any plain version token. The collector passes its label policy's
 * knownVersion, so only the model versions mesh.yaml names are tracked.
 */
const plainModelVersion = (model: string, version: string) =>
  MODEL_SEGMENT.test(model) && !model.includes('..') && VERSION_TOKEN.test(version)
const versionKey = (model: string, version: string) => `${model}\u0000${version}`

/** Whether an OIP response's model_name is the sample's model ("other": a fallback answered), or says nothing. */
function answeredBy(response: string, model: string): 'model' | 'other' | 'unknown' {
  const m = /"model_name"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(response)
  if (!m) return 'unknown'
  return m[1] === model ? 'model' : 'other'
}

/** Samples taken by the request id's hash (reason rate or rate+low_confidence). */
export const isRateSample = (e: Pick<PayloadSampleEvent, 'reason'>) => e.reason.startsWith('rate')

export class DriftMonitor {
  readonly #windows = new Map<string, VersionWindow>()
  readonly #baselines = new Map<string, { baseline: Baseline } | { error: string }>()

  constructor(
    /** The model repository the baselines are read from (`<repository>/<model>/<version>/baseline.json`). */
    readonly repository: string,
    readonly config: DriftConfig = { defaults: DEFAULT_DRIFT_SETTINGS, models: {} },
    /**
     * Whether a sample's model version is one to track (and whose baseline to
     * read): the collector's label policy, so a client can neither grow the
     * windows without bound nor name a path.
     */
    readonly known: (model: string, version: string) => boolean = plainModelVersion,
  ) {}

  settingsOf(model: string): DriftSettings {
    // hasOwn: a sample naming its model `constructor` must not find Object.prototype's.
    return Object.hasOwn(this.config.models, model) ? this.config.models[model]! : this.config.defaults
  }

  /** What a restart must read back to refill every window: samples since then, at most this many. */
  restoreWindow(now = Date.now()): { since: number; limit: number } {
    const all = [this.config.defaults, ...Object.values(this.config.models)]
    return {
      since: now - Math.max(...all.map((s) => s.windowMs)),
      limit: Math.max(...all.map((s) => s.maxRows)) * RESTORED_VERSIONS,
    }
  }

  /** A sample event, in stream order; what cannot be decoded is left out (its request still counts elsewhere). */
  observe(e: PayloadSampleEvent): void {
    if (!this.#tracked(e.model, e.version)) return
    const w = this.#window(e.model, e.version)
    // Only a fair draw counts; and a fallback model's answer (the response names it) says nothing of this version.
    if (!isRateSample(e) || answeredBy(e.response, e.model) === 'other') return
    if (e.confidence !== null) {
      const minute = e.ts - (e.ts % MINUTE_MS)
      const last = w.confidence.at(-1)
      if (last && last.minute === minute) {
        last.sum += e.confidence
        last.n++
      } else w.confidence.push({ minute, sum: e.confidence, n: 1 })
    }
    if (e.request_truncated) return
    const b = this.baseline(e.model, e.version)
    if (!('baseline' in b)) return
    const rows = inputRows(e.request, b.baseline.features.length)
    if (!rows || rows.length === 0) return
    const scores = e.response_truncated
      ? null
      : outputColumn(e.response, b.baseline.prediction.output, b.baseline.prediction.class_index)
    w.observations.push({ ts: e.ts, rows, scores: scores && scores.length === rows.length ? scores : null })
    w.rows += rows.length
    this.#trim(w, Date.now())
  }

  /** A version's rate-sampled scores and mean confidence since `from` (ms): what canary analysis compares. */
  recent(model: string, version: string, from: number): { scores: number[]; meanConfidence: number | null } {
    const w = this.#windows.get(versionKey(model, version))
    if (!w) return { scores: [], meanConfidence: null }
    const scores = w.observations
      .slice(w.first)
      .filter((o) => o.ts >= from)
      .flatMap((o) => o.scores ?? [])
    const c = w.confidence
      .filter((m) => m.minute + MINUTE_MS > from)
      .reduce((a, m) => ({ sum: a.sum + m.sum, n: a.n + m.n }), { sum: 0, n: 0 })
    return { scores, meanConfidence: c.n > 0 ? c.sum / c.n : null }
  }

  /** Every model version seen, judged now. */
  report(now = Date.now()): VersionDrift[] {
    return [...this.#windows.values()].map((w) => this.#judge(w, now))
  }

  /**
   * A version's baseline, read once. Only a tracked model version is looked
   * up, and only inside the repository; an error names the file relative to
   * the repository and never quotes what it holds (the API serves it).
   */
  baseline(model: string, version: string): { baseline: Baseline } | { error: string } {
    if (!this.#tracked(model, version)) return { error: 'not a model version mesh.yaml names' }
    const key = versionKey(model, version)
    let b = this.#baselines.get(key)
    if (!b) {
      b = readBaseline(this.repository, model, version)
      this.#baselines.set(key, b)
    }
    return b
  }

  #tracked(model: string, version: string): boolean {
    return version !== '' && plainModelVersion(model, version) && this.known(model, version)
  }

  #window(model: string, version: string): VersionWindow {
    const key = versionKey(model, version)
    let w = this.#windows.get(key)
    if (!w) this.#windows.set(key, (w = { model, version, observations: [], first: 0, rows: 0, confidence: [] }))
    return w
  }

  #trim(w: VersionWindow, now: number): void {
    const { windowMs, maxRows } = this.settingsOf(w.model)
    const from = now - windowMs
    const obs = w.observations
    while (w.first < obs.length && (obs[w.first]!.ts < from || w.rows - obs[w.first]!.rows.length >= maxRows)) {
      w.rows -= obs[w.first]!.rows.length
      w.first++
    }
    if (w.first > 1024 && w.first * 2 > obs.length) {
      obs.splice(0, w.first)
      w.first = 0
    }
    while (w.confidence.length > 0 && w.confidence[0]!.minute + MINUTE_MS <= from) w.confidence.shift()
  }

  #judge(w: VersionWindow, now: number): VersionDrift {
    this.#trim(w, now)
    const settings = this.settingsOf(w.model)
    const thresholds: DriftThresholds = { minSamples: settings.minSamples, psi: settings.psi, ks: settings.ks }
    const confidences = w.confidence.reduce((a, c) => ({ sum: a.sum + c.sum, n: a.n + c.n }), { sum: 0, n: 0 })
    const meanConfidence = confidences.n > 0 ? confidences.sum / confidences.n : null
    const window = w.observations.slice(w.first)
    const base = { model: w.model, version: w.version, rows: w.rows, thresholds, meanConfidence }
    const b = this.baseline(w.model, w.version)
    if (!('baseline' in b))
      return { ...base, status: 'no_baseline', features: [], prediction: null, drifting: [], baselineError: b.error }
    const { baseline } = b
    const features = baseline.features.map((f, j) => ({
      feature: f.name,
      ...distributionDrift(
        f,
        baseline.rows,
        window.flatMap((o) => o.rows.map((r) => r[j]!)),
        thresholds,
      ),
    }))
    const scores = window.flatMap((o) => o.scores ?? [])
    const prediction = distributionDrift(baseline.prediction, baseline.rows, scores, thresholds)
    const drifting = features.filter((f) => f.verdict === 'drift').map((f) => f.feature)
    const status = w.rows < thresholds.minSamples ? 'insufficient_data' : drifting.length > 0 ? 'drift' : 'ok'
    return { ...base, status, features, prediction, drifting }
  }
}

/** `<repository>/<model>/<version>/baseline.json`, checked; errors say what is wrong, never the file's bytes or its absolute path. */
function readBaseline(repository: string, model: string, version: string): { baseline: Baseline } | { error: string } {
  const name = `${model}/${version}/baseline.json`
  const root = resolve(repository)
  const file = resolve(root, model, version, 'baseline.json')
  if (!file.startsWith(root + sep)) return { error: `${name}: outside the model repository` }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return { error: code === 'ENOENT' ? `${name}: no such file` : `${name}: cannot be read (${code ?? 'error'})` }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    // JSON.parse's message quotes the text it choked on.
    return { error: `${name}: not valid JSON` }
  }
  const parsed = baselineSchema.safeParse(value)
  if (parsed.success) return { baseline: parsed.data }
  const issue = parsed.error.issues[0]!
  return { error: `${name}: ${issue.path.join('.') || '(baseline)'}: ${issue.message}` }
}
