/**
 * @module
 * One loaded model version: its sessions (one per instance), its batcher and
 * its statistics. Immutable once built; replacing a version builds a new one.
 */
import type { Logger } from '@model-mesh/contracts'
import { Batcher } from './batcher.ts'
import type { ModelConfig } from './config.ts'
import { concatBatch, splitBatch, type RequestTensors } from './runtime/tensor-batch.ts'
import { createSession } from './runtime/session.ts'
import type { OrtTensor, Session } from './runtime/types.ts'
import type { HostReporter } from './host-stats.ts'
import { warmUp } from './warm-up.ts'

export interface BatchPayload {
  requestId: string
  /** The request's W3C traceparent header, "" when it had none. */
  traceparent: string
  rows: number
  tensors: RequestTensors
}

export type BatchResult = Record<string, OrtTensor>

/** What a version needs to report its batches. */
export interface VersionDeps {
  reporter: HostReporter
  logger: Logger
  /** The name events carry in `host`; read per event, since the default (`<address>:<port>`) is known only once the server listens. */
  hostName: () => string
}

/** Triton-style statistics, served at `GET /v2/models/{m}/stats`. */
export interface VersionStats {
  inference_count: number
  execution_count: number
  failed_executions: number
  /** batch size (rows) -> how many batches of that size ran */
  batch_stats: Map<number, number>
  queue_ms_total: number
  compute_ms_total: number
}

/** The device of a version loaded without sessions. */
export const NO_DEVICE = 'none'

/** Why CUDA could not be used, once a session found out: later sessions go straight to the CPU. */
let cudaUnavailable: string | undefined

export class LoadedVersion {
  readonly stats: VersionStats = {
    inference_count: 0,
    execution_count: 0,
    failed_executions: 0,
    batch_stats: new Map(),
    queue_ms_total: 0,
    compute_ms_total: 0,
  }
  readonly batcher: Batcher<BatchPayload, BatchResult>

  private constructor(
    readonly model: string,
    readonly version: string,
    readonly config: ModelConfig,
    readonly digest: string,
    readonly sessions: Session[],
    deps: VersionDeps,
  ) {
    const b = config.dynamic_batching
    const outputNames = config.outputs.map((o) => o.name)
    const device = sessions[0]?.device ?? NO_DEVICE
    this.batcher = new Batcher<BatchPayload, BatchResult>(
      {
        maxBatchSize: config.max_batch_size,
        maxQueueDelayMs: b.max_queue_delay_ms,
        preferredBatchSizes: b.preferred_batch_sizes,
        maxQueueSize: b.max_queue_size,
        priorityLevels: b.priority_levels,
        instances: sessions.length,
      },
      async (payloads, info) => {
        const rows = payloads.map((p) => p.rows)
        const total = rows.reduce((a, r) => a + r, 0)
        const stats = this.stats
        stats.batch_stats.set(total, (stats.batch_stats.get(total) ?? 0) + 1)
        stats.execution_count++
        stats.queue_ms_total += info.oldestWaitMs
        let ok = false
        let executionMs = 0
        try {
          const result = await sessions[info.instance]!.run(concatBatch(payloads.map((p) => p.tensors)), outputNames)
          executionMs = result.executionMs
          stats.compute_ms_total += executionMs
          stats.inference_count += total
          ok = true
          return splitBatch(result.outputs, rows)
        } catch (e) {
          stats.failed_executions++
          throw e
        } finally {
          deps.reporter.batch({
            kind: 'host_batch',
            ts: Date.now(),
            host: deps.hostName(),
            model,
            version,
            batch_id: `${model}/${version}/${info.batchId}`,
            request_ids: payloads.map((p) => p.requestId),
            traceparents: payloads.map((p) => p.traceparent),
            rows: total,
            max_batch_rows: config.max_batch_size,
            queue_wait_ms: info.oldestWaitMs,
            execution_ms: executionMs,
            queue_depth: this.batcher.queueDepth,
            device,
            ok,
          })
        }
      },
    )
  }

  get device(): string {
    return this.sessions[0]?.device ?? NO_DEVICE
  }

  /**
   * Creates the version's sessions; each checks the model's tensor names
   * against the config. With `run: false` it creates none: the version
   * answers metadata and resolves requests whose answer comes from its
   * fallback (a fallback-role host), and never runs a batch.
   */
  static async create(
    model: string,
    version: string,
    config: ModelConfig,
    modelBytes: Uint8Array,
    digest: string,
    deps: VersionDeps,
    run = true,
  ): Promise<LoadedVersion> {
    if (!run) return new LoadedVersion(model, version, config, digest, [], deps)
    const sessions: Session[] = []
    try {
      const providers = cudaUnavailable
        ? config.execution_providers.filter((p) => p !== 'cuda')
        : config.execution_providers
      for (let i = 0; i < config.instance_count; i++) {
        sessions.push(
          await createSession(modelBytes, {
            providers: providers.length ? providers : ['cpu'],
            intraOpThreads: config.intra_op_threads,
            thread: config.session_thread,
          }),
        )
      }
      const s = sessions[0]!
      if (s.notes.length && !cudaUnavailable) {
        cudaUnavailable = s.notes.join('; ')
        deps.logger.warn({ model, version }, cudaUnavailable)
      }
      for (const [key, names] of [
        ['inputs', s.inputNames],
        ['outputs', s.outputNames],
      ] as const) {
        config[key].forEach((spec, i) => {
          if (!names.includes(spec.name))
            throw new Error(`config ${key}[${i}].name: "${spec.name}" is not in the model (it has ${names.join(', ')})`)
        })
      }
      // Ready only once warm: the first callers of a new instance get steady-state latency.
      let warmMs = 0
      for (const session of sessions) {
        const { ms, failed } = await warmUp(session, config)
        warmMs += ms
        for (const f of failed)
          deps.logger.warn({ model, version, rows: f.rows, err: f.error }, 'warm-up batch failed; loading anyway')
      }
      deps.logger.info({ model, version, warm_up_ms: Math.round(warmMs) }, 'warmed up')
      return new LoadedVersion(model, version, config, digest, sessions, deps)
    } catch (e) {
      await Promise.all(sessions.map((s) => s.close()))
      throw e
    }
  }

  /** Lets queued and running requests finish, then frees the sessions. */
  async retire(): Promise<void> {
    await this.batcher.drain()
    await Promise.all(this.sessions.map((s) => s.close()))
  }
}
