// @module
// The bound on the telemetry exporter's shared queue. Envoy's shared queues
// are unbounded, so producers and the exporter keep a shared counter of
// waiting events, `<queue>.pending`: producers reserve a slot before
// enqueueing (or drop when the bound is reached), the exporter releases
// slots as it drains. Envoy scopes shared data (and queue names) by VM id,
// so producers and the exporter must run with the same vm_config.vm_id,
// DEFAULT_VM_ID unless configured otherwise.
import { getSharedCounter, setSharedCounter } from "./host"

export const DEFAULT_EXPORTER_VM_ID = "mesh-telemetry"
export const DEFAULT_QUEUE = "mesh.telemetry"

export function pendingKey(queue: string): string {
  return queue + ".pending"
}

/**
 * Reserves up to `want` slots at once and returns how many it got (0 when
 * `max` events are already waiting). Producers reserve in blocks because
 * shared data takes a lock across workers: one round trip per block, not
 * per event. Unused reservations of a VM that goes away stay counted until
 * the exporter's next release brings the counter down.
 */
export function reserveSlots(queue: string, max: i64, want: i64): i64 {
  const key = pendingKey(queue)
  for (let attempt = 0; attempt < 4; attempt++) {
    const c = getSharedCounter(key)
    const n = c.value < 0 ? 0 : c.value
    if (n >= max) return 0
    const granted = min(want, max - n)
    if (setSharedCounter(key, n + granted, c.cas)) return granted
  }
  // Contended: let one event through; the bound is approximate under races.
  return 1
}

/** Releases `count` slots after draining. */
export function releaseSlots(queue: string, count: i64): void {
  const key = pendingKey(queue)
  for (let attempt = 0; attempt < 8; attempt++) {
    const c = getSharedCounter(key)
    const n = c.value < 0 ? 0 : c.value
    if (setSharedCounter(key, n > count ? n - count : 0, c.cas)) return
  }
}
