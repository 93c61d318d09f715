/**
 * @module
 * Periodic reports: every interval, one `host_saturation` event per loaded
 * model version (queue depth, instances running a batch, instances), so the
 * collector sees a saturated host even while no batch completes, and the
 * interval's host_stats records (host-stats.ts).
 */
import { HOST_EVENT_VERSION, type HostSaturationEvent } from '@model-mesh/contracts'
import type { HostStats } from './host-stats.ts'
import type { ModelState } from './model-manager.ts'
import type { HostEmitter } from './telemetry.ts'

/** One event per loaded version of every model, as things stand now. */
export function saturationEvents(models: readonly ModelState[], host: string, ts: number): HostSaturationEvent[] {
  const events: HostSaturationEvent[] = []
  for (const m of models) {
    for (const v of m.versions.values()) {
      events.push({
        v: HOST_EVENT_VERSION,
        kind: 'host_saturation',
        ts,
        host,
        model: v.model,
        version: v.version,
        queue_depth: v.batcher.queueDepth,
        busy_instances: v.batcher.running,
        instances: v.sessions.length,
      })
    }
  }
  return events
}

export interface SaturationReporter {
  stop(): void
}

/** Emits `saturationEvents` and flushes `stats` every `intervalMs` on an unref'd timer (it never keeps the process alive); a last flush when stopped. */
export function reportSaturation(
  source: { models(): ModelState[] },
  emitter: HostEmitter,
  stats: HostStats,
  hostName: () => string,
  intervalMs: number,
): SaturationReporter {
  const timer = setInterval(() => {
    const now = Date.now()
    for (const e of saturationEvents(source.models(), hostName(), now)) emitter.emit(e)
    stats.flush(hostName(), now)
  }, intervalMs).unref()
  return {
    stop: () => {
      clearInterval(timer)
      stats.flush(hostName())
    },
  }
}
