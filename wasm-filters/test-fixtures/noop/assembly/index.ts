// @module
// Benchmark fixture, not a filter: a module with no stream callbacks at
// all, only what Envoy needs to load it. Envoy still makes a context for it
// on every stream; bench:mesh runs it to show that floor.
export { proxy_abi_version_0_2_1, proxy_on_memory_allocate } from "../../../sdk/assembly/index"

export function proxy_on_configure(id: u32, size: usize): bool {
  return true
}
