// @module
// The SDK's one entry: what modules, plugins and fixtures may use. Imported
// as "<...>/sdk/assembly/index"; nothing outside sdk/ imports its other
// files (wasm-filters/layers.unit.test.ts checks). The raw host functions
// (imports.ts) and the context tables the callbacks dispatch through stay
// behind it.
//
// A module's entry file re-exports the callbacks Envoy calls: all of the
// lifecycle ones, and only the optional ones it needs (Envoy calls every
// callback a module exports, and each call costs microseconds per request):
//
//   export { proxy_abi_version_0_2_1, proxy_on_memory_allocate, proxy_on_context_create,
//     proxy_on_vm_start, proxy_on_configure, proxy_on_delete } from "../../sdk/assembly/index"
//   export { proxy_on_request_headers } from "../../sdk/assembly/index"

// The ABI: enums, contexts, and string-level wrappers over the host functions.
export { Action, BufferType, LogLevel, MapType, MetricType, Status } from "./constants"
export { HttpContext, RootContext, RootFactory, setRootContextFactory } from "./context"
export {
  appendBuffer, defineMetric, dequeue, dispatchHttpCall, enqueue, getBuffer, getHeader, getHeaderPairs, getProperty,
  getPropertyInt64, getSharedCounter, HeaderPairs, incrementMetric, log, orEmpty, recordMetric, registerQueue,
  removeHeader, resolveQueue, setHeader, setSharedCounter, setTickPeriod, SharedCounter,
} from "./host"
export { increment, labelValue } from "./metrics"

// Configuration: a strict JSON parser and located refusals.
export { configObject, FilterConfig, invalid, unknownField } from "./config"
export { JsonKind, JsonResult, JsonValue, parseConfigObject, parseJson } from "./json"

// Bytes and text.
export { ByteBuffer } from "./byte-buffer"
export { hexValue, isDigit } from "./chars"
export { completeLength, decodeUtf8 } from "./utf8"
export { Utf8Writer } from "./utf8-writer"
export { stableHash } from "./hash"

// The callbacks (see above: a module re-exports the ones it needs).
export { proxy_abi_version_0_2_1, proxy_on_configure, proxy_on_context_create, proxy_on_delete, proxy_on_memory_allocate, proxy_on_vm_start } from "./exports"
export { proxy_on_log, proxy_on_request_body, proxy_on_request_headers, proxy_on_response_body, proxy_on_response_headers } from "./exports-http"
export { proxy_on_http_call_response, proxy_on_queue_ready, proxy_on_tick } from "./exports-service"
