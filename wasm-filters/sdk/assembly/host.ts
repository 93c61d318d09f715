// @module
// Typed wrappers over the host functions: strings in, strings out. Memory
// the host returns was allocated through proxy_on_memory_allocate; it is
// copied into a string and freed here, so callers own nothing.
import * as abi from "./imports"
import { BufferType, LogLevel, MapType, Status } from "./constants"

// Scratch slots for the host's (pointer, size) return values.
const returnData = memory.data(8)
const returnSize = memory.data(8)

function takeString(): string {
  const ptr = load<usize>(returnData)
  const size = load<usize>(returnSize)
  if (ptr == 0) return ""
  const s = String.UTF8.decodeUnsafe(ptr, size)
  heap.free(ptr)
  return s
}

function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s)
}

export function log(level: LogLevel, message: string): void {
  const b = utf8(message)
  abi.proxy_log(level, changetype<usize>(b), b.byteLength)
}

/** The whole of a buffer (plugin configuration, body chunk...), or null when absent. */
export function getBuffer(type: BufferType, size: usize): string | null {
  if (size == 0) return ""
  const status = abi.proxy_get_buffer_bytes(type, 0, size, returnData, returnSize)
  if (status != Status.Ok) return null
  return takeString()
}

export function getHeader(map: MapType, name: string): string | null {
  const k = utf8(name)
  const status = abi.proxy_get_header_map_value(map, changetype<usize>(k), k.byteLength, returnData, returnSize)
  if (status != Status.Ok) return null
  return takeString()
}

export function setHeader(map: MapType, name: string, value: string): void {
  const k = utf8(name)
  const v = utf8(value)
  abi.proxy_replace_header_map_value(map, changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength)
}

export function removeHeader(map: MapType, name: string): void {
  const k = utf8(name)
  abi.proxy_remove_header_map_value(map, changetype<usize>(k), k.byteLength)
}

/** A property by its path segments, e.g. ["request", "path"]; null when absent. */
export function getProperty(path: string[]): string | null {
  const joined = path.join("\0")
  const p = utf8(joined)
  const status = abi.proxy_get_property(changetype<usize>(p), p.byteLength, returnData, returnSize)
  if (status != Status.Ok) return null
  return takeString()
}

/** Calls a host-specific function by name (Envoy: "clear_route_cache", ...). */
export function callForeign(name: string, args: string): Status {
  const n = utf8(name)
  const a = utf8(args)
  const status = abi.proxy_call_foreign_function(changetype<usize>(n), n.byteLength, changetype<usize>(a), a.byteLength, returnData, returnSize)
  if (status == Status.Ok) takeString()
  return status
}
