/**
 * Every filter's configuration parser against one corpus of bad
 * configurations, in the TypeScript proxy-wasm host: malformed numbers and
 * escapes (RFC 8259's grammar, not parseFloat's), duplicate keys and unknown
 * keys, at the top and nested, are refused, and the log names the field.
 * Good edge cases of the grammar are accepted. And the telemetry producers
 * refuse a VM id the exporter's counter cannot be shared under.
 */
import { describe, expect, it } from 'vitest'
import { wasmPath } from './build.ts'
import { ProxyWasmHost } from './host/proxy-wasm-host.ts'

/** Producers and the exporter share a VM id (telemetry-queue.ts). */
const VM_ID = 'mesh-telemetry'

interface Filter {
  /** A valid configuration with a number field (`$N`), a string field (`$S`) and a nested object. */
  template: string
  /** The path of `$N` and of `$S` as an error names them. */
  numberField: string
  stringField: string
  /** A duplicate key and an unknown key at the top, and a duplicate inside the nested object, each with its path. */
  bad: [string, string][]
}

const route = '{"model":"m","stable_version":"1","canary_version":"2","canary_weight_bp":1}'
const FILTERS: Record<string, Filter> = {
  'canary-router': {
    template: '{"routes":[{"model":$S,"stable_version":"1","canary_version":"2","canary_weight_bp":$N}]}',
    numberField: 'routes[0].canary_weight_bp',
    stringField: 'routes[0].model',
    bad: [
      [`{"routes":[${route}],"routes":[]}`, 'routes: duplicate key'],
      [`{"routes":[${route}],"alow_override":true}`, 'alow_override: unknown field'],
      ['{"routes":[{"model":"m","model":"n","stable_version":"1","canary_version":"2","canary_weight_bp":1}]}', 'routes[0].model: duplicate key'],
      [`{"routes":[${route}, {"model":"n","stable_version":"1","canary_version":"2","canary_weight_bp":1,"canary_weight_bp":2}]}`, 'routes[1].canary_weight_bp: duplicate key'],
    ],
  },
  'golden-signals': {
    template: '{"service":$S,"max_pending_events":$N,"models":["m"]}',
    numberField: 'max_pending_events',
    stringField: 'service',
    bad: [
      ['{"service":"a","service":"b"}', 'service: duplicate key'],
      ['{"sevrice":"a"}', 'sevrice: unknown field'],
      ['{"models":["a","a"]}', 'models[1]: duplicate model "a"'],
    ],
  },
  'payload-sampler': {
    template: '{"routes":[{"model":$S,"sample_rate_bp":$N}]}',
    numberField: 'routes[0].sample_rate_bp',
    stringField: 'routes[0].model',
    bad: [
      ['{"routes":[{"model":"m"}],"max_capture_bytes":1,"max_capture_bytes":2}', 'max_capture_bytes: duplicate key'],
      ['{"routes":[{"model":"m"}],"pii_feilds":[]}', 'pii_feilds: unknown field'],
      ['{"routes":[{"model":"m","sample_rate_bp":1,"sample_rate_bp":2}]}', 'routes[0].sample_rate_bp: duplicate key'],
    ],
  },
  'telemetry-exporter': {
    template: '{"cluster":$S,"timeout_ms":$N}',
    numberField: 'timeout_ms',
    stringField: 'cluster',
    bad: [
      ['{"cluster":"a","cluster":"b"}', 'cluster: duplicate key'],
      ['{"cluster":"a","colour":1}', 'colour: unknown field'],
    ],
  },
}

/** Not numbers in RFC 8259, though parseFloat reads most of them. */
const BAD_NUMBERS = ['10-00', '2-1', '1e', '1e+', '0100', '01', '-', '--1', '1.', '.5', '+1', '1.e3', '0x10', 'Infinity', 'NaN', '1e999', '1_000']
/** Not escapes in RFC 8259. */
const BAD_ESCAPES = ['\\uZZZZ', '\\u12', '\\u12G4', '\\x41', "\\'", '\\U0041']

const load = (filter: string, text: string) => ProxyWasmHost.load(wasmPath(filter), { pluginConfiguration: text, vmId: VM_ID })
const fill = (f: Filter, n: string, s = '"m"') => f.template.replace('$N', n).replace('$S', s)

async function refusal(filter: string, text: string): Promise<string> {
  const host = await load(filter, text)
  expect(host.configured, text).toBe(false)
  const line = host.logText().split('\n').find((l) => l.includes(`${filter}: invalid configuration: `))
  expect(line, host.logText()).toBeDefined()
  return line!.slice(line!.indexOf('invalid configuration: ') + 'invalid configuration: '.length)
}

describe.each(Object.keys(FILTERS))('%s configuration (TypeScript host)', (filter) => {
  const f = FILTERS[filter]!

  it('accepts the template with good numbers and escapes', async () => {
    for (const n of ['1', '1e3', '1E+3', '10.0e0', '1000.0', '2e-0']) expect((await load(filter, fill(f, n))).configured, n).toBe(true)
    expect((await load(filter, fill(f, '1', '"\\u006d\\/x"'))).configured).toBe(true)
  })

  it.each(BAD_NUMBERS)('refuses the number %s, naming the field', async (n) => {
    expect(await refusal(filter, fill(f, n))).toMatch(new RegExp(`^${escape(f.numberField)}: `))
  })

  it.each(BAD_ESCAPES)('refuses the escape %s, naming the field', async (e) => {
    expect(await refusal(filter, fill(f, '1', `"m${e}"`))).toMatch(new RegExp(`^${escape(f.stringField)}: invalid JSON: `))
  })

  it.each(f.bad)('refuses %s, naming the field', async (text, message) => {
    expect(await refusal(filter, text)).toBe(message)
  })
})

describe.each([
  ['golden-signals', '{}'],
  ['payload-sampler', '{"routes":[{"model":"m"}]}'],
])('%s, a telemetry producer (TypeScript host)', (filter, config) => {
  it("refuses to run under a VM id other than the exporter's, naming exporter_vm_id", async () => {
    // Envoy scopes shared data by VM id: the exporter would never count this producer's events out of the bound.
    const wrong = await ProxyWasmHost.load(wasmPath(filter), { pluginConfiguration: config, vmId: filter })
    expect(wrong.configured).toBe(false)
    expect(wrong.logText()).toContain(`${filter}: invalid configuration: exporter_vm_id: is "mesh-telemetry" but this plugin runs with vm_config.vm_id "${filter}"`)
    const moved = JSON.stringify({ ...JSON.parse(config), exporter_vm_id: 'telemetry-b' })
    expect((await ProxyWasmHost.load(wasmPath(filter), { pluginConfiguration: moved, vmId: 'telemetry-b' })).configured).toBe(true)
    expect((await load(filter, config)).configured).toBe(true)
  })
})

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
