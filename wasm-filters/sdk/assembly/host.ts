// @module
// Typed wrappers over the host functions: strings in, strings out. Memory
// the host returns was allocated through proxy_on_memory_allocate; it is
// copied into a string (or a ByteBuffer) and freed here, so callers own
// nothing. Text from the host is decoded as UTF-8 with validation: an
// invalid byte becomes U+FFFD and never swallows the bytes after it.
import * as abi from "./imports"
import { ByteBuffer } from "./byte-buffer"
import { BufferType, LogLevel, MapType, Status } from "./constants"
import { decodeUtf8 } from "./utf8"

// Scratch slots for the host's (pointer, size) return values.
const returnData = memory.data(8)
const returnSize = memory.data(8)

function takeString(): string {
  const ptr = load<usize>(returnData)
  const size = load<usize>(returnSize)
  if (ptr == 0) return ""
  const s = decodeUtf8(ptr, size)
  heap.free(ptr)
  return s
}

/** "" for an absent header or property. */
export function orEmpty(s: string | null): string {
  return s === null ? "" : s
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

/**
 * Appends the first `size` bytes of a buffer (a body chunk) to `into`, as
 * bytes, up to its cap: no decoding, which a chunk boundary inside a
 * character would break. False when the host has no such buffer.
 */
export function appendBuffer(type: BufferType, size: usize, into: ByteBuffer): void {
  // Room first, then the host's copy: see ByteBuffer on allocation order.
  const n = into.reserve(<i32>min(size, <usize>i32.MAX_VALUE))
  if (n == 0) return
  if (abi.proxy_get_buffer_bytes(type, 0, <usize>n, returnData, returnSize) != Status.Ok) return
  const ptr = load<usize>(returnData)
  if (ptr == 0) return
  into.append(ptr, <i32>load<usize>(returnSize))
  heap.free(ptr)
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

const returnId = memory.data(8)
const returnCas = memory.data(8)

/** A numeric property (Envoy encodes integers and durations as 8 little-endian bytes); -1 when absent. */
export function getPropertyInt64(path: string[]): i64 {
  const p = utf8(path.join("\0"))
  const status = abi.proxy_get_property(changetype<usize>(p), p.byteLength, returnData, returnSize)
  if (status != Status.Ok) return -1
  const ptr = load<usize>(returnData)
  const size = load<usize>(returnSize)
  const value: i64 = size >= 8 ? load<i64>(ptr) : -1
  if (ptr != 0) heap.free(ptr)
  return value
}

/** Defines (or finds) a metric by name; returns its id, 0 on failure. */
export function defineMetric(type: u32, name: string): u32 {
  const n = utf8(name)
  if (abi.proxy_define_metric(type, changetype<usize>(n), n.byteLength, returnId) != Status.Ok) return 0
  return load<u32>(returnId)
}

export function incrementMetric(id: u32, offset: i64): void {
  abi.proxy_increment_metric(id, offset)
}

export function recordMetric(id: u32, value: u64): void {
  abi.proxy_record_metric(id, value)
}

/** The id of a queue another VM registered, or 0 when it does not exist (yet). */
export function resolveQueue(vmId: string, name: string): u32 {
  const v = utf8(vmId)
  const n = utf8(name)
  if (abi.proxy_resolve_shared_queue(changetype<usize>(v), v.byteLength, changetype<usize>(n), n.byteLength, returnId) != Status.Ok) return 0
  return load<u32>(returnId)
}

/** Enqueues `length` bytes at `data`. */
export function enqueue(queue: u32, data: usize, length: usize): Status {
  return abi.proxy_enqueue_shared_queue(queue, data, length)
}

/** A shared counter (decimal text) and its CAS token; value -1 when absent. */
export class SharedCounter {
  constructor(
    readonly value: i64,
    readonly cas: u32,
  ) {}
}

export function getSharedCounter(key: string): SharedCounter {
  const k = utf8(key)
  const status = abi.proxy_get_shared_data(changetype<usize>(k), k.byteLength, returnData, returnSize, returnCas)
  if (status != Status.Ok) return new SharedCounter(-1, 0)
  const text = takeString()
  return new SharedCounter(I64.parseInt(text), load<u32>(returnCas))
}

/** Sets a shared counter if nobody changed it since `cas` was read (0: unconditionally). */
export function setSharedCounter(key: string, value: i64, cas: u32): bool {
  const k = utf8(key)
  const v = utf8(value.toString())
  return abi.proxy_set_shared_data(changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength, cas) == Status.Ok
}

export function registerQueue(name: string): u32 {
  const n = utf8(name)
  if (abi.proxy_register_shared_queue(changetype<usize>(n), n.byteLength, returnId) != Status.Ok) return 0
  return load<u32>(returnId)
}

/** The next item of a queue, or null when it is empty (or gone). */
export function dequeue(queue: u32): string | null {
  if (abi.proxy_dequeue_shared_queue(queue, returnData, returnSize) != Status.Ok) return null
  return takeString()
}

export function setTickPeriod(ms: u32): void {
  abi.proxy_set_tick_period_milliseconds(ms)
}

/** Serialises header pairs in the proxy-wasm map format. */
function serializePairs(keys: string[], values: string[]): ArrayBuffer {
  const ks = new Array<ArrayBuffer>(keys.length)
  const vs = new Array<ArrayBuffer>(keys.length)
  let size = 4 + keys.length * 8
  for (let i = 0; i < keys.length; i++) {
    ks[i] = utf8(keys[i])
    vs[i] = utf8(values[i])
    size += ks[i].byteLength + vs[i].byteLength + 2
  }
  const out = new ArrayBuffer(size)
  const base = changetype<usize>(out)
  store<u32>(base, keys.length)
  let offset: usize = 4
  for (let i = 0; i < keys.length; i++) {
    store<u32>(base + offset, ks[i].byteLength)
    store<u32>(base + offset + 4, vs[i].byteLength)
    offset += 8
  }
  for (let i = 0; i < keys.length; i++) {
    memory.copy(base + offset, changetype<usize>(ks[i]), ks[i].byteLength)
    offset += ks[i].byteLength
    store<u8>(base + offset, 0)
    offset += 1
    memory.copy(base + offset, changetype<usize>(vs[i]), vs[i].byteLength)
    offset += vs[i].byteLength
    store<u8>(base + offset, 0)
    offset += 1
  }
  return out
}

/**
 * Starts an HTTP call to a cluster; returns its token, or 0 when the host
 * refused it at once (unknown cluster, no healthy host): then no callback comes.
 */
export function dispatchHttpCall(cluster: string, headerKeys: string[], headerValues: string[], body: string, timeoutMs: u32): u32 {
  const c = utf8(cluster)
  const h = serializePairs(headerKeys, headerValues)
  const b = utf8(body)
  const t = serializePairs([], [])
  const status = abi.proxy_http_call(
    changetype<usize>(c), c.byteLength, changetype<usize>(h), h.byteLength,
    changetype<usize>(b), b.byteLength, changetype<usize>(t), t.byteLength, timeoutMs, returnId,
  )
  return status == Status.Ok ? load<u32>(returnId) : 0
}

/**
 * A header map read in one host call (cheaper than one
 * proxy_get_header_map_value per header when a callback reads several),
 * kept in the host's serialized form and searched in place: only the values
 * asked for become strings, so reading a map allocates once.
 */
export class HeaderPairs {
  constructor(private readonly pairs: ArrayBuffer) {}

  /** A header's value (names are lower-case ASCII), null when absent. */
  get(name: string): string | null {
    const base = changetype<usize>(this.pairs)
    const end = base + <usize>this.pairs.byteLength
    if (end - base < 4) return null
    const count = load<u32>(base)
    let sizes = base + 4
    let at = sizes + <usize>count * 8
    for (let i: u32 = 0; i < count && at <= end; i++) {
      const k = <usize>load<u32>(sizes)
      const v = <usize>load<u32>(sizes + 4)
      sizes += 8
      // Each name and value is followed by a NUL.
      if (at + k + v + 2 > end) return null
      if (asciiEquals(at, k, name)) return decodeUtf8(at + k + 1, v)
      at += k + v + 2
    }
    return null
  }

  /** A header's value, "" when absent. */
  value(name: string): string {
    return orEmpty(this.get(name))
  }
}

function asciiEquals(bytes: usize, length: usize, s: string): bool {
  if (length != <usize>s.length) return false
  for (let i = 0; i < s.length; i++) {
    if (<i32>load<u8>(bytes + i) != s.charCodeAt(i)) return false
  }
  return true
}

/** All pairs of a header map (empty when the map is unavailable). */
export function getHeaderPairs(map: MapType): HeaderPairs {
  if (abi.proxy_get_header_map_pairs(map, returnData, returnSize) != Status.Ok) return new HeaderPairs(new ArrayBuffer(0))
  const ptr = load<usize>(returnData)
  if (ptr == 0) return new HeaderPairs(new ArrayBuffer(0))
  const size = load<usize>(returnSize)
  const copy = new ArrayBuffer(<i32>size)
  memory.copy(changetype<usize>(copy), ptr, size)
  heap.free(ptr)
  return new HeaderPairs(copy)
}
