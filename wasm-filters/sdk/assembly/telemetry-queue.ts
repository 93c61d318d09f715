// @module
// The bound on the telemetry exporter's shared queue. Envoy's shared queues
// are unbounded, so producers and the exporter keep a shared counter of
// waiting events, `<queue>.pending`: producers reserve a slot before
// enqueueing (or drop when the bound is reached), the exporter releases
// slots as it drains.
import { getSharedCounter, setSharedCounter } from "./host"

export const DEFAULT_EXPORTER_VM_ID = "telemetry-exporter"
export const DEFAULT_QUEUE = "mesh.telemetry"

export function pendingKey(queue: string): string {
  return queue + ".pending"
}

/** Reserves a slot; false when `max` events are already waiting. */
export function reserveSlot(queue: string, max: i64): bool {
  const key = pendingKey(queue)
  for (let attempt = 0; attempt < 4; attempt++) {
    const c = getSharedCounter(key)
    const n = c.value < 0 ? 0 : c.value
    if (n >= max) return false
    if (setSharedCounter(key, n + 1, c.cas)) return true
  }
  // Contended: let the event through; the bound is approximate under races.
  return true
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
