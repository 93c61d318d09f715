// @module
// The lifecycle callbacks every plugin exports (proxy-wasm ABI 0.2.1),
// dispatched to contexts. A filter's entry file re-exports everything from
// here, plus only the optional callbacks it needs from exports-http.ts and
// exports-service.ts: Envoy calls only what a module exports, and each call
// into the VM costs microseconds on every request.
import { BufferType } from "./constants"
import { createContext, roots, streams } from "./context"
import { getBuffer } from "./host"

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_memory_allocate(size: usize): usize {
  return heap.alloc(size)
}

export function proxy_on_context_create(id: u32, parent: u32): void {
  createContext(id, parent)
}

export function proxy_on_vm_start(id: u32, size: usize): bool {
  if (!roots.has(id)) return true
  const config = getBuffer(BufferType.VmConfiguration, size)
  return roots.get(id).onVmStart(config === null ? "" : config)
}

export function proxy_on_configure(id: u32, size: usize): bool {
  if (!roots.has(id)) return false
  const config = getBuffer(BufferType.PluginConfiguration, size)
  return roots.get(id).onConfigure(config === null ? "" : config)
}

export function proxy_on_delete(id: u32): void {
  if (streams.has(id)) {
    streams.delete(id)
  } else if (roots.has(id)) {
    roots.get(id).onDelete()
    roots.delete(id)
  }
}
