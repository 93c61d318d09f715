/**
 * @module
 * The VM id the telemetry producers (the mesh filter's sampling and golden
 * signals plugins) and the Wasm telemetry exporter share. Envoy scopes
 * shared data and shared queues by VM id, so all of them must run under it:
 * mesh-config renders it into Envoy's configuration, and the filters
 * default their `telemetry.exporter_vm_id` to it. AssemblyScript cannot
 * import this file, so wasm-filters/telemetry-queue/assembly/queue.ts spells
 * it once more (DEFAULT_EXPORTER_VM_ID), and
 * wasm-filters/config-corpus.unit.test.ts checks the built filter's default
 * equals it.
 */
export const TELEMETRY_VM_ID = 'mesh-telemetry'
