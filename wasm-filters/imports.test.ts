/**
 * Every built module imports only what Envoy provides: the proxy-wasm ABI
 * 0.2.1 host functions and the WASI calls Envoy implements. Any other import
 * makes Envoy refuse to load the module.
 */
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { MODULES, wasmPath } from './modules.ts'

const WASI_ALLOWED = [
  'fd_write',
  'proc_exit',
  'random_get',
  'clock_time_get',
  'environ_get',
  'environ_sizes_get',
  'args_get',
  'args_sizes_get',
]
const ABI_0_2_1 = new Set([
  'proxy_log',
  'proxy_get_log_level',
  'proxy_get_current_time_nanoseconds',
  'proxy_set_tick_period_milliseconds',
  'proxy_get_buffer_bytes',
  'proxy_set_buffer_bytes',
  'proxy_get_buffer_status',
  'proxy_get_header_map_size',
  'proxy_get_header_map_pairs',
  'proxy_set_header_map_pairs',
  'proxy_get_header_map_value',
  'proxy_add_header_map_value',
  'proxy_replace_header_map_value',
  'proxy_remove_header_map_value',
  'proxy_continue_stream',
  'proxy_close_stream',
  'proxy_send_local_response',
  'proxy_get_status',
  'proxy_get_property',
  'proxy_set_property',
  'proxy_done',
  'proxy_set_effective_context',
  'proxy_get_shared_data',
  'proxy_set_shared_data',
  'proxy_register_shared_queue',
  'proxy_resolve_shared_queue',
  'proxy_enqueue_shared_queue',
  'proxy_dequeue_shared_queue',
  'proxy_http_call',
  'proxy_define_metric',
  'proxy_increment_metric',
  'proxy_record_metric',
  'proxy_get_metric',
  'proxy_call_foreign_function',
])

describe('built filter modules', async () => {
  const names = MODULES
  it('exist for every filter', () => expect(names.length).toBeGreaterThan(0))

  it.each(names)('%s imports only ABI 0.2.1 host functions and Envoy-provided WASI calls', async (name) => {
    const module = new WebAssembly.Module(await readFile(wasmPath(name)))
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.module === 'wasi_snapshot_preview1')
        expect(WASI_ALLOWED, `${name} imports ${imp.module}.${imp.name}`).toContain(imp.name)
      else {
        expect(imp.module).toBe('env')
        expect(ABI_0_2_1.has(imp.name), `${name} imports env.${imp.name}`).toBe(true)
      }
    }
    const exports = WebAssembly.Module.exports(module).map((e) => e.name)
    expect(exports).toContain('proxy_abi_version_0_2_1')
    expect(exports).toContain('proxy_on_memory_allocate')
  })
})
