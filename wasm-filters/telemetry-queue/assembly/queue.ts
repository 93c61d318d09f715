// @module
// The bound on the telemetry exporter's shared queue. Envoy's shared queues
// are unbounded, so producers and the exporter keep a shared counter,
// `<queue>.pending`, of the events in the queue, and nothing else: a
// producer adds a batch's events just before it enqueues the batch (or
// drops what does not fit under the bound), the exporter subtracts what it
// dequeues. Events still gathering in a worker are not counted, so a root
// context or VM that goes away leaves nothing counted behind: the count is
// right by construction, not by clean-up. Envoy scopes shared data (and
// queue names) by VM id, so producers and the exporter must run with the
// same vm_config.vm_id, DEFAULT_EXPORTER_VM_ID unless configured otherwise
// (exporterVmIdError refuses a producer that does not).
//
// The mesh filter's producers (mesh-filter/plugin-api/assembly/event-batcher.ts)
// and the telemetry exporter both build on this file, and on nothing of each other.
import { getProperty, getSharedCounter, setSharedCounter } from "../../sdk/assembly/index"

/** contracts/telemetry-exporter.ts's TELEMETRY_VM_ID, spelled again because AssemblyScript cannot import it (config-corpus.unit.test.ts checks they agree). */
export const DEFAULT_EXPORTER_VM_ID = "mesh-telemetry"
export const DEFAULT_QUEUE = "mesh.telemetry"

export function pendingKey(queue: string): string {
  return queue + ".pending"
}

/**
 * Counts up to `want` more events into the queue and returns how many fit
 * (0 when `max` are already waiting). A CAS mismatch means another worker's
 * update went through first, so it retries until its own goes through too:
 * it never gives up, and never grants an event it did not count.
 */
export function reserveSlots(queue: string, max: i64, want: i64): i64 {
  const key = pendingKey(queue)
  while (true) {
    const c = getSharedCounter(key)
    const n = c.value < 0 ? 0 : c.value
    if (n >= max) return 0
    const granted = min(want, max - n)
    if (setSharedCounter(key, n + granted, c.cas)) return granted
  }
}

/** Counts `count` events out of the queue (drained, or never enqueued after all); retries until it goes through. */
export function releaseSlots(queue: string, count: i64): void {
  const key = pendingKey(queue)
  while (true) {
    const c = getSharedCounter(key)
    const n = c.value < 0 ? 0 : c.value
    if (setSharedCounter(key, n > count ? n - count : 0, c.cas)) return
  }
}

/** Sets the count to 0: the exporter does, before it registers the queue, which is then empty. */
export function resetSlots(queue: string): void {
  setSharedCounter(pendingKey(queue), 0, 0)
}

/**
 * Why a producer configured with `exporterVmId` cannot reach the exporter's
 * counter, or "" when it can: Envoy scopes shared data by the plugin's own
 * vm_config.vm_id (the `plugin_vm_id` property, which Envoy 1.40 gives ABI
 * 0.2.1 modules), so a producer under any other VM id would count events the
 * exporter never counts out, and drop everything once the bound is reached.
 * A host that does not tell the VM id is given the benefit of the doubt.
 */
export function exporterVmIdError(exporterVmId: string): string {
  const own = getProperty(["plugin_vm_id"])
  if (own === null || own == exporterVmId) return ""
  return "is \"" + exporterVmId + "\" but this plugin runs with vm_config.vm_id \"" + own +
    "\": producers must run with the exporter's VM id (Envoy scopes the queue's shared counter by VM id)"
}

/** How a request_stats record says how many requests it counts; no other line holds it (a quote inside a JSON string is escaped). */
const REQUESTS_FIELD = ",\"requests\":"

/**
 * The requests the request_stats records in `ndjson` count: what is lost
 * when they are dropped. A dropped story loses no count (its request is in a
 * record too), so losses are counted in requests, not only in lines.
 */
export function requestsIn(ndjson: string): i64 {
  let total: i64 = 0
  let at = ndjson.indexOf(REQUESTS_FIELD)
  while (at >= 0) {
    let i = at + REQUESTS_FIELD.length
    let n: i64 = 0
    for (; i < ndjson.length; i++) {
      const c = ndjson.charCodeAt(i) - 48
      if (c < 0 || c > 9) break
      n = n * 10 + c
    }
    total += n
    at = ndjson.indexOf(REQUESTS_FIELD, i)
  }
  return total
}
