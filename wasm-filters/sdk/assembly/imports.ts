// @module
// Host functions of the proxy-wasm ABI 0.2.1 that the SDK uses. Every one
// returns a proxy_status_t; values come back through pointer arguments.
// Only ABI 0.2.1 names: a module importing anything Envoy does not provide
// (such as 0.1.0's proxy_clear_route_cache) fails to load.

@external("env", "proxy_log")
export declare function proxy_log(level: u32, message: usize, size: usize): u32

@external("env", "proxy_get_buffer_bytes")
export declare function proxy_get_buffer_bytes(buffer: u32, start: usize, max: usize, returnData: usize, returnSize: usize): u32

@external("env", "proxy_get_header_map_value")
export declare function proxy_get_header_map_value(map: u32, key: usize, keySize: usize, returnData: usize, returnSize: usize): u32

@external("env", "proxy_replace_header_map_value")
export declare function proxy_replace_header_map_value(map: u32, key: usize, keySize: usize, value: usize, valueSize: usize): u32

@external("env", "proxy_remove_header_map_value")
export declare function proxy_remove_header_map_value(map: u32, key: usize, keySize: usize): u32

@external("env", "proxy_get_property")
export declare function proxy_get_property(path: usize, pathSize: usize, returnData: usize, returnSize: usize): u32

@external("env", "proxy_call_foreign_function")
export declare function proxy_call_foreign_function(name: usize, nameSize: usize, args: usize, argsSize: usize, returnData: usize, returnSize: usize): u32

@external("env", "proxy_define_metric")
export declare function proxy_define_metric(type: u32, name: usize, nameSize: usize, returnId: usize): u32

@external("env", "proxy_increment_metric")
export declare function proxy_increment_metric(id: u32, offset: i64): u32

@external("env", "proxy_record_metric")
export declare function proxy_record_metric(id: u32, value: u64): u32

@external("env", "proxy_resolve_shared_queue")
export declare function proxy_resolve_shared_queue(vmId: usize, vmIdSize: usize, name: usize, nameSize: usize, returnId: usize): u32

@external("env", "proxy_enqueue_shared_queue")
export declare function proxy_enqueue_shared_queue(id: u32, data: usize, size: usize): u32

@external("env", "proxy_get_shared_data")
export declare function proxy_get_shared_data(key: usize, keySize: usize, returnData: usize, returnSize: usize, returnCas: usize): u32

@external("env", "proxy_set_shared_data")
export declare function proxy_set_shared_data(key: usize, keySize: usize, value: usize, valueSize: usize, cas: u32): u32

@external("env", "proxy_register_shared_queue")
export declare function proxy_register_shared_queue(name: usize, nameSize: usize, returnId: usize): u32

@external("env", "proxy_dequeue_shared_queue")
export declare function proxy_dequeue_shared_queue(id: u32, returnData: usize, returnSize: usize): u32

@external("env", "proxy_set_tick_period_milliseconds")
export declare function proxy_set_tick_period_milliseconds(period: u32): u32

@external("env", "proxy_http_call")
export declare function proxy_http_call(
  upstream: usize, upstreamSize: usize,
  headers: usize, headersSize: usize,
  body: usize, bodySize: usize,
  trailers: usize, trailersSize: usize,
  timeoutMs: u32, returnToken: usize,
): u32

@external("env", "proxy_get_header_map_pairs")
export declare function proxy_get_header_map_pairs(map: u32, returnData: usize, returnSize: usize): u32
