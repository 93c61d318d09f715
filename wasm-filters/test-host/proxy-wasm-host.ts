/**
 * @module
 * A proxy-wasm host in TypeScript for unit tests: loads the same .wasm files
 * Envoy runs and implements the ABI 0.2.1 calls the filters use, with a
 * controllable clock, injectable headers, bodies and properties, and
 * inspection of logs, metrics, shared queues and HTTP calls, in the way
 * proxy-wasm-go-sdk's proxytest serves Go filters. Behaviour that Envoy
 * decides (routing, stats naming) stays in the Envoy integration tests.
 */
import { readFile } from 'node:fs/promises'
import { deserializePairs, serializePairs, type HeaderPairs } from './serialization.ts'

export enum Status {
  Ok = 0,
  NotFound = 1,
  BadArgument = 2,
  Empty = 7,
  Unimplemented = 12,
}

export enum MapType {
  RequestHeaders = 0,
  RequestTrailers = 1,
  ResponseHeaders = 2,
  ResponseTrailers = 3,
  HttpCallResponseHeaders = 6,
}

export enum BufferType {
  RequestBody = 0,
  ResponseBody = 1,
  HttpCallResponseBody = 4,
  VmConfiguration = 6,
  PluginConfiguration = 7,
}

export enum MetricType {
  Counter = 0,
  Gauge = 1,
  Histogram = 2,
}

export interface LogEntry {
  level: number
  message: string
}

export interface Metric {
  type: MetricType
  name: string
  value: bigint
  /** Every value recorded, for histograms. */
  samples: bigint[]
}

export interface HttpCall {
  token: number
  cluster: string
  headers: HeaderPairs
  body: Uint8Array
  timeoutMs: number
}

export interface HostOptions {
  pluginConfiguration?: string
  vmConfiguration?: string
  /** Properties by dotted path, e.g. "request.duration"; values are raw bytes or strings. */
  properties?: Record<string, Uint8Array | string>
  /** Nanoseconds since the epoch returned by clock_time_get. */
  now?: () => bigint
  /** The VM id this plugin's queues are registered under. */
  vmId?: string
  /** Makes proxy_http_call fail at once, as Envoy does for a cluster with no healthy host. */
  dispatchFails?: boolean
  /** What WASI environ_get shows the VM: in Envoy, the variables `vm_config.environment_variables` names. */
  env?: Record<string, string>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Shared between hosts of one test, as Envoy shares them between VMs; data keys are scoped by VM id. */
export class SharedState {
  /** `owner` registered the queue and hears proxy_on_queue_ready. */
  readonly queues = new Map<number, { vmId: string; name: string; items: Uint8Array[]; owner?: ProxyWasmHost }>()
  readonly data = new Map<string, { value: Uint8Array; cas: number }>()
  nextQueueId = 1
  /**
   * Contention, for tests: this many of the next conditional (CAS) writes to
   * shared data fail with CAS_MISMATCH, as when another worker wrote first.
   */
  casMismatches = 0

  /** Shared data as plugins with VM id `vmId` see it. */
  getData(vmId: string, key: string): string | undefined {
    const entry = this.data.get(`${vmId}\u0000${key}`)
    return entry && new TextDecoder().decode(entry.value)
  }

  setData(vmId: string, key: string, value: string): void {
    const k = `${vmId}\u0000${key}`
    this.data.set(k, { value: new TextEncoder().encode(value), cas: (this.data.get(k)?.cas ?? 0) + 1 })
  }
}

export class ProxyWasmHost {
  readonly logs: LogEntry[] = []
  readonly metrics = new Map<number, Metric>()
  readonly httpCalls: HttpCall[] = []
  readonly properties = new Map<string, Uint8Array>()
  tickPeriodMs = 0
  /** The current root context; replaceRoot() moves it on, as a live configuration update does. */
  rootId = 1
  configured = false

  #instance!: WebAssembly.Instance
  #nextContextId = 2
  #nextMetricId = 1
  #nextToken = 1
  #active: HttpStream | undefined
  #callResponse: { headers: HeaderPairs; body: Uint8Array } | undefined
  readonly #options: HostOptions
  readonly shared: SharedState

  private constructor(options: HostOptions, shared: SharedState) {
    this.#options = options
    this.shared = shared
    // Envoy exposes the plugin's vm_config.vm_id as a property.
    if (options.vmId !== undefined) this.setProperty('plugin_vm_id', options.vmId)
    for (const [k, v] of Object.entries(options.properties ?? {})) this.setProperty(k, v)
  }

  /** Instantiates a module, starts it and configures its root context. */
  static async load(wasmFile: string, options: HostOptions = {}, shared = new SharedState()): Promise<ProxyWasmHost> {
    const host = new ProxyWasmHost(options, shared)
    const module = await WebAssembly.compile(await readFile(wasmFile))
    host.#instance = await WebAssembly.instantiate(module, host.#imports())
    host.#call('_start')
    host.#call('proxy_on_context_create', host.rootId, 0)
    const vm = encoder.encode(options.vmConfiguration ?? '')
    host.#buffers.set(BufferType.VmConfiguration, vm)
    if (!host.#call('proxy_on_vm_start', host.rootId, vm.length))
      throw new Error(`proxy_on_vm_start refused:\n${host.logText()}`)
    const plugin = encoder.encode(options.pluginConfiguration ?? '')
    host.#buffers.set(BufferType.PluginConfiguration, plugin)
    host.configured = Boolean(host.#call('proxy_on_configure', host.rootId, plugin.length))
    return host
  }

  /**
   * A live update of the plugin configuration (ECDS), as Envoy 1.40 does it:
   * in the same VM, a new root context is created, started and configured;
   * when it accepts the configuration, the old root gets proxy_on_done and
   * proxy_on_delete and later streams belong to the new one. When it refuses,
   * Envoy rejects the update: the new root is deleted and the old one stays.
   */
  replaceRoot(pluginConfiguration: string): boolean {
    const old = this.rootId
    const id = this.#nextContextId++
    this.#call('proxy_on_context_create', id, 0)
    const vm = this.#buffers.get(BufferType.VmConfiguration) ?? new Uint8Array(0)
    const plugin = encoder.encode(pluginConfiguration)
    this.#buffers.set(BufferType.PluginConfiguration, plugin)
    const accepted =
      Boolean(this.#call('proxy_on_vm_start', id, vm.length)) &&
      Boolean(this.#call('proxy_on_configure', id, plugin.length))
    const gone = accepted ? old : id
    if (accepted) this.rootId = id
    this.#call('proxy_on_done', gone)
    this.#call('proxy_on_delete', gone)
    return accepted
  }

  setProperty(path: string, value: Uint8Array | string): void {
    this.properties.set(path, typeof value === 'string' ? encoder.encode(value) : value)
  }

  logText(): string {
    return this.logs.map((l) => l.message).join('\n')
  }

  /** The plugin's linear memory in bytes (its high-water mark: Wasm memory never shrinks). */
  get memoryBytes(): number {
    return this.#memory.buffer.byteLength
  }

  metricByName(name: string): Metric | undefined {
    return [...this.metrics.values()].find((m) => m.name === name)
  }

  newStream(): HttpStream {
    const id = this.#nextContextId++
    this.#call('proxy_on_context_create', id, this.rootId)
    return new HttpStream(this, id)
  }

  tick(): void {
    this.#call('proxy_on_tick', this.rootId)
  }

  /** @internal Envoy tells the queue's owner that an item arrived. */
  queueReady(queueId: number): void {
    this.#call('proxy_on_queue_ready', this.rootId, queueId)
  }

  /** Answers an HTTP call the plugin dispatched. */
  respondToHttpCall(token: number, headers: HeaderPairs, body: Uint8Array | string = ''): void {
    const b = typeof body === 'string' ? encoder.encode(body) : body
    this.#callResponse = { headers, body: b }
    this.#buffers.set(BufferType.HttpCallResponseBody, b)
    this.#call('proxy_on_http_call_response', this.rootId, token, headers.length, b.length, 0)
    this.#callResponse = undefined
  }

  // --- internals used by HttpStream ---

  readonly #buffers = new Map<number, Uint8Array>()

  /** @internal */
  invoke(stream: HttpStream | undefined, name: string, ...args: number[]): number {
    this.#active = stream
    try {
      return this.#call(name, ...args)
    } finally {
      this.#active = undefined
    }
  }

  /** @internal */
  setBuffer(type: BufferType, bytes: Uint8Array): void {
    this.#buffers.set(type, bytes)
  }

  #call(name: string, ...args: number[]): number {
    const fn = this.#instance.exports[name] as ((...a: number[]) => number) | undefined
    if (!fn) return 0
    return fn(...args) as number
  }

  get #memory(): WebAssembly.Memory {
    return this.#instance.exports.memory as WebAssembly.Memory
  }

  #bytes(ptr: number, size: number): Uint8Array {
    return new Uint8Array(this.#memory.buffer, ptr, size).slice()
  }

  #string(ptr: number, size: number): string {
    return decoder.decode(new Uint8Array(this.#memory.buffer, ptr, size))
  }

  /** Copies bytes into memory the plugin allocates, and writes (pointer, size) to the return slots. */
  #return(bytes: Uint8Array, ptrPtr: number, sizePtr: number): number {
    const ptr = bytes.length ? (this.#call('proxy_on_memory_allocate', bytes.length) as number) : 0
    if (bytes.length) new Uint8Array(this.#memory.buffer, ptr, bytes.length).set(bytes)
    const view = new DataView(this.#memory.buffer)
    view.setUint32(ptrPtr, ptr, true)
    view.setUint32(sizePtr, bytes.length, true)
    return Status.Ok
  }

  #u32(ptr: number, value: number): void {
    new DataView(this.#memory.buffer).setUint32(ptr, value, true)
  }

  #headerMap(map: number): Map<string, string> | undefined {
    if (map === MapType.HttpCallResponseHeaders)
      return this.#callResponse ? new Map(this.#callResponse.headers) : undefined
    const s = this.#active
    if (!s) return undefined
    if (map === MapType.RequestHeaders) return s.requestHeaders
    if (map === MapType.ResponseHeaders) return s.responseHeaders
    if (map === MapType.RequestTrailers) return s.requestTrailers
    if (map === MapType.ResponseTrailers) return s.responseTrailers
    return undefined
  }

  #imports(): WebAssembly.Imports {
    const host = this
    const env = {
      proxy_log(level: number, ptr: number, size: number) {
        host.logs.push({ level, message: host.#string(ptr, size) })
        return Status.Ok
      },
      proxy_get_log_level(ptr: number) {
        host.#u32(ptr, 0)
        return Status.Ok
      },
      proxy_get_current_time_nanoseconds(ptr: number) {
        new DataView(host.#memory.buffer).setBigUint64(ptr, host.#now(), true)
        return Status.Ok
      },
      proxy_set_tick_period_milliseconds(period: number) {
        host.tickPeriodMs = period
        return Status.Ok
      },
      proxy_get_buffer_bytes(type: number, start: number, max: number, ptrPtr: number, sizePtr: number) {
        const buffer =
          type === BufferType.RequestBody || type === BufferType.ResponseBody
            ? host.#active?.bodyBuffer(type)
            : host.#buffers.get(type)
        if (!buffer) return Status.NotFound
        return host.#return(buffer.subarray(start, start + max), ptrPtr, sizePtr)
      },
      proxy_get_buffer_status(type: number, sizePtr: number, flagsPtr: number) {
        const buffer = host.#buffers.get(type)
        if (!buffer) return Status.NotFound
        host.#u32(sizePtr, buffer.length)
        host.#u32(flagsPtr, 0)
        return Status.Ok
      },
      proxy_set_buffer_bytes() {
        return Status.Unimplemented
      },
      proxy_get_header_map_value(map: number, kPtr: number, kSize: number, ptrPtr: number, sizePtr: number) {
        const m = host.#headerMap(map)
        if (!m) return Status.BadArgument
        const v = m.get(host.#string(kPtr, kSize))
        return v === undefined ? Status.NotFound : host.#return(encoder.encode(v), ptrPtr, sizePtr)
      },
      proxy_replace_header_map_value(map: number, kPtr: number, kSize: number, vPtr: number, vSize: number) {
        const m = host.#headerMap(map)
        if (!m) return Status.BadArgument
        m.set(host.#string(kPtr, kSize), host.#string(vPtr, vSize))
        return Status.Ok
      },
      proxy_add_header_map_value(map: number, kPtr: number, kSize: number, vPtr: number, vSize: number) {
        const m = host.#headerMap(map)
        if (!m) return Status.BadArgument
        const k = host.#string(kPtr, kSize)
        const prev = m.get(k)
        m.set(k, prev === undefined ? host.#string(vPtr, vSize) : `${prev},${host.#string(vPtr, vSize)}`)
        return Status.Ok
      },
      proxy_remove_header_map_value(map: number, kPtr: number, kSize: number) {
        const m = host.#headerMap(map)
        if (!m) return Status.BadArgument
        m.delete(host.#string(kPtr, kSize))
        return Status.Ok
      },
      proxy_get_header_map_pairs(map: number, ptrPtr: number, sizePtr: number) {
        const m = host.#headerMap(map)
        if (!m) return Status.BadArgument
        return host.#return(serializePairs([...m]), ptrPtr, sizePtr)
      },
      proxy_set_header_map_pairs(map: number, ptr: number, size: number) {
        const m = host.#headerMap(map)
        if (!m) return Status.BadArgument
        m.clear()
        for (const [k, v] of deserializePairs(host.#bytes(ptr, size))) m.set(k, v)
        return Status.Ok
      },
      proxy_get_header_map_size(map: number, sizePtr: number) {
        const m = host.#headerMap(map)
        if (!m) return Status.BadArgument
        host.#u32(sizePtr, serializePairs([...m]).length)
        return Status.Ok
      },
      proxy_get_property(pathPtr: number, pathSize: number, ptrPtr: number, sizePtr: number) {
        const path = host.#string(pathPtr, pathSize).split('\0').filter(Boolean).join('.')
        const v = host.#active?.properties.get(path) ?? host.properties.get(path)
        return v === undefined ? Status.NotFound : host.#return(v, ptrPtr, sizePtr)
      },
      proxy_set_property() {
        return Status.Unimplemented
      },
      proxy_continue_stream() {
        return Status.Ok
      },
      proxy_close_stream() {
        return Status.Ok
      },
      proxy_send_local_response() {
        return Status.Unimplemented
      },
      proxy_done() {
        return Status.Ok
      },
      proxy_set_effective_context() {
        return Status.Ok
      },
      proxy_call_foreign_function() {
        return Status.NotFound
      },
      proxy_define_metric(type: number, namePtr: number, nameSize: number, idPtr: number) {
        const name = host.#string(namePtr, nameSize)
        let id = [...host.metrics].find(([, m]) => m.name === name)?.[0]
        if (id === undefined) {
          id = host.#nextMetricId++
          host.metrics.set(id, { type, name, value: 0n, samples: [] })
        }
        host.#u32(idPtr, id)
        return Status.Ok
      },
      proxy_increment_metric(id: number, offset: bigint) {
        const m = host.metrics.get(id)
        if (!m) return Status.NotFound
        m.value += offset
        return Status.Ok
      },
      proxy_record_metric(id: number, value: bigint) {
        const m = host.metrics.get(id)
        if (!m) return Status.NotFound
        if (m.type === MetricType.Histogram) m.samples.push(value)
        m.value = value
        return Status.Ok
      },
      proxy_get_metric(id: number, ptr: number) {
        const m = host.metrics.get(id)
        if (!m) return Status.NotFound
        new DataView(host.#memory.buffer).setBigUint64(ptr, m.value, true)
        return Status.Ok
      },
      proxy_register_shared_queue(namePtr: number, nameSize: number, idPtr: number) {
        const name = host.#string(namePtr, nameSize)
        const vmId = host.#options.vmId ?? ''
        let id = [...host.shared.queues].find(([, q]) => q.name === name && q.vmId === vmId)?.[0]
        if (id === undefined) {
          id = host.shared.nextQueueId++
          host.shared.queues.set(id, { vmId, name, items: [] })
        }
        host.shared.queues.get(id)!.owner = host
        host.#u32(idPtr, id)
        return Status.Ok
      },
      proxy_resolve_shared_queue(vmPtr: number, vmSize: number, namePtr: number, nameSize: number, idPtr: number) {
        const vmId = host.#string(vmPtr, vmSize)
        const name = host.#string(namePtr, nameSize)
        const id = [...host.shared.queues].find(([, q]) => q.name === name && q.vmId === vmId)?.[0]
        if (id === undefined) return Status.NotFound
        host.#u32(idPtr, id)
        return Status.Ok
      },
      proxy_enqueue_shared_queue(id: number, ptr: number, size: number) {
        const q = host.shared.queues.get(id)
        if (!q) return Status.NotFound
        q.items.push(host.#bytes(ptr, size))
        q.owner?.queueReady(id)
        return Status.Ok
      },
      proxy_dequeue_shared_queue(id: number, ptrPtr: number, sizePtr: number) {
        const q = host.shared.queues.get(id)
        if (!q) return Status.NotFound
        const item = q.items.shift()
        if (!item) return Status.Empty
        return host.#return(item, ptrPtr, sizePtr)
      },
      proxy_get_shared_data(kPtr: number, kSize: number, ptrPtr: number, sizePtr: number, casPtr: number) {
        const entry = host.shared.data.get(host.#sharedKey(host.#string(kPtr, kSize)))
        if (!entry) return Status.NotFound
        host.#u32(casPtr, entry.cas)
        return host.#return(entry.value, ptrPtr, sizePtr)
      },
      proxy_set_shared_data(kPtr: number, kSize: number, vPtr: number, vSize: number, cas: number) {
        const key = host.#sharedKey(host.#string(kPtr, kSize))
        const entry = host.shared.data.get(key)
        if (cas !== 0 && host.shared.casMismatches > 0) {
          host.shared.casMismatches--
          return 8 // CAS_MISMATCH
        }
        if (cas !== 0 && entry && entry.cas !== cas) return 8 // CAS_MISMATCH
        host.shared.data.set(key, { value: host.#bytes(vPtr, vSize), cas: (entry?.cas ?? 0) + 1 })
        return Status.Ok
      },
      proxy_http_call(
        cPtr: number,
        cSize: number,
        hPtr: number,
        hSize: number,
        bPtr: number,
        bSize: number,
        _tPtr: number,
        _tSize: number,
        timeoutMs: number,
        tokenPtr: number,
      ) {
        if (host.#options.dispatchFails) return Status.BadArgument
        const token = host.#nextToken++
        host.httpCalls.push({
          token,
          cluster: host.#string(cPtr, cSize),
          headers: deserializePairs(host.#bytes(hPtr, hSize)),
          body: host.#bytes(bPtr, bSize),
          timeoutMs,
        })
        host.#u32(tokenPtr, token)
        return Status.Ok
      },
    }
    const wasi = {
      fd_write(fd: number, iovs: number, count: number, writtenPtr: number) {
        const view = new DataView(host.#memory.buffer)
        let text = ''
        let written = 0
        for (let i = 0; i < count; i++) {
          const ptr = view.getUint32(iovs + i * 8, true)
          const len = view.getUint32(iovs + i * 8 + 4, true)
          text += host.#string(ptr, len)
          written += len
        }
        host.logs.push({ level: fd === 2 ? 4 : 2, message: text })
        view.setUint32(writtenPtr, written, true)
        return 0
      },
      proc_exit(code: number) {
        throw new Error(`proc_exit(${code}):\n${host.logText()}`)
      },
      clock_time_get(_clock: number, _precision: bigint, ptr: number) {
        new DataView(host.#memory.buffer).setBigUint64(ptr, host.#now(), true)
        return 0
      },
      environ_sizes_get(countPtr: number, sizePtr: number) {
        const entries = host.#environ()
        host.#u32(countPtr, entries.length)
        host.#u32(
          sizePtr,
          entries.reduce((n, e) => n + e.length, 0),
        )
        return 0
      },
      environ_get(pointersPtr: number, dataPtr: number) {
        let at = dataPtr
        host.#environ().forEach((entry, i) => {
          host.#u32(pointersPtr + i * 4, at)
          new Uint8Array(host.#memory.buffer, at, entry.length).set(entry)
          at += entry.length
        })
        return 0
      },
      random_get(ptr: number, size: number) {
        crypto.getRandomValues(new Uint8Array(host.#memory.buffer, ptr, size))
        return 0
      },
    }
    return { env, wasi_snapshot_preview1: wasi }
  }

  /** The environment as WASI lays it out: `KEY=value\0` each. */
  #environ(): Uint8Array[] {
    return Object.entries(this.#options.env ?? {}).map(([k, v]) => encoder.encode(`${k}=${v}\0`))
  }

  /** Envoy scopes shared data by VM id: plugins see each other's data only with the same VM id. */
  #sharedKey(key: string): string {
    return `${this.#options.vmId ?? ''}\u0000${key}`
  }

  #now(): bigint {
    return this.#options.now?.() ?? BigInt(Date.now()) * 1_000_000n
  }
}

/** One HTTP stream (request and response) through the plugin. */
export class HttpStream {
  readonly requestHeaders = new Map<string, string>()
  readonly responseHeaders = new Map<string, string>()
  readonly requestTrailers = new Map<string, string>()
  readonly responseTrailers = new Map<string, string>()
  /** Per-stream properties (request.duration, response.code, ...), over the host's. */
  readonly properties = new Map<string, Uint8Array>()
  #requestBody: Uint8Array = new Uint8Array(0)
  #responseBody: Uint8Array = new Uint8Array(0)

  constructor(
    readonly host: ProxyWasmHost,
    readonly id: number,
  ) {}

  setProperty(path: string, value: Uint8Array | string): this {
    this.properties.set(path, typeof value === 'string' ? encoder.encode(value) : value)
    return this
  }

  /** @internal */
  bodyBuffer(type: BufferType): Uint8Array | undefined {
    return type === BufferType.RequestBody ? this.#requestBody : this.#responseBody
  }

  sendRequestHeaders(headers: Record<string, string>, endOfStream = false): number {
    for (const [k, v] of Object.entries(headers)) this.requestHeaders.set(k.toLowerCase(), v)
    return this.host.invoke(this, 'proxy_on_request_headers', this.id, this.requestHeaders.size, endOfStream ? 1 : 0)
  }

  sendRequestBody(chunk: Uint8Array | string, endOfStream = false): number {
    this.#requestBody = typeof chunk === 'string' ? encoder.encode(chunk) : chunk
    return this.host.invoke(this, 'proxy_on_request_body', this.id, this.#requestBody.length, endOfStream ? 1 : 0)
  }

  sendResponseHeaders(headers: Record<string, string>, endOfStream = false): number {
    for (const [k, v] of Object.entries(headers)) this.responseHeaders.set(k.toLowerCase(), v)
    return this.host.invoke(this, 'proxy_on_response_headers', this.id, this.responseHeaders.size, endOfStream ? 1 : 0)
  }

  sendResponseBody(chunk: Uint8Array | string, endOfStream = false): number {
    this.#responseBody = typeof chunk === 'string' ? encoder.encode(chunk) : chunk
    return this.host.invoke(this, 'proxy_on_response_body', this.id, this.#responseBody.length, endOfStream ? 1 : 0)
  }

  /** Ends the stream as Envoy does: done, log, delete. */
  complete(): void {
    this.host.invoke(this, 'proxy_on_done', this.id)
    this.host.invoke(this, 'proxy_on_log', this.id)
    this.host.invoke(this, 'proxy_on_delete', this.id)
  }
}

/** Little-endian 8-byte integer, as Envoy encodes numeric properties. */
export function int64Property(value: number | bigint): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigInt64(0, BigInt(value), true)
  return out
}
