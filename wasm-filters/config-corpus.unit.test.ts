/**
 * Every configuration parser against one corpus of bad configurations, in
 * the TypeScript proxy-wasm host: each section of the mesh filter's one
 * configuration and the telemetry exporter's. Malformed numbers and escapes
 * (RFC 8259's grammar, not parseFloat's), duplicate keys and unknown keys,
 * at the top and nested, are refused, and the log names the field with its
 * full path. Good edge cases of the grammar are accepted. And the telemetry
 * producers refuse a VM id the exporter's counter cannot be shared under.
 */
import { describe, expect, it } from 'vitest'
import { TELEMETRY_VM_ID } from '@model-mesh/contracts'
import { wasmPath } from './modules.ts'
import { ProxyWasmHost } from './test-host/proxy-wasm-host.ts'
import { MESH_FILTER } from './mesh-filter/config.ts'

interface Corpus {
  /** The module that parses it. */
  module: string
  /** A valid configuration with a number field (`$N`), a string field (`$S`) and a nested object. */
  template: string
  /** The path of `$N` and of `$S` as an error names them. */
  numberField: string
  stringField: string
  /** A duplicate key and an unknown key at the top, and a duplicate inside the nested object, each with its path. */
  bad: [string, string][]
}

const route = '{"model":"m","stable_version":"1","canary_version":"2","canary_weight_bp":1}'
const CORPORA: Record<string, Corpus> = {
  'mesh-filter canary': {
    module: MESH_FILTER,
    template: '{"canary":{"routes":[{"model":$S,"stable_version":"1","canary_version":"2","canary_weight_bp":$N}]}}',
    numberField: 'canary.routes[0].canary_weight_bp',
    stringField: 'canary.routes[0].model',
    bad: [
      [`{"canary":{"routes":[${route}],"routes":[]}}`, 'canary.routes: duplicate key'],
      [`{"canary":{"routes":[${route}],"alow_override":true}}`, 'canary.alow_override: unknown field'],
      [
        '{"canary":{"routes":[{"model":"m","model":"n","stable_version":"1","canary_version":"2","canary_weight_bp":1}]}}',
        'canary.routes[0].model: duplicate key',
      ],
      [
        `{"canary":{"routes":[${route}, {"model":"n","stable_version":"1","canary_version":"2","canary_weight_bp":1,"canary_weight_bp":2}]}}`,
        'canary.routes[1].canary_weight_bp: duplicate key',
      ],
      [`{"canary":{"routes":[${route}]},"canary":{"routes":[${route}]}}`, 'canary: duplicate key'],
      [
        `{"canary":{"routes":[${route}]},"canery":{}}`,
        'canery: unknown field (sections: telemetry, canary, sampling, golden_signals)',
      ],
    ],
  },
  'mesh-filter golden_signals': {
    module: MESH_FILTER,
    template: '{"golden_signals":{"service":$S,"batch_events":$N,"models":["m"]}}',
    numberField: 'golden_signals.batch_events',
    stringField: 'golden_signals.service',
    bad: [
      ['{"golden_signals":{"service":"a","service":"b"}}', 'golden_signals.service: duplicate key'],
      ['{"golden_signals":{"sevrice":"a"}}', 'golden_signals.sevrice: unknown field'],
      ['{"golden_signals":{"models":["a","a"]}}', 'golden_signals.models[1]: duplicate model "a"'],
      ['{"golden_signals":{"max_pending_events":5}}', 'golden_signals.max_pending_events: unknown field'],
    ],
  },
  'mesh-filter sampling': {
    module: MESH_FILTER,
    template: '{"sampling":{"routes":[{"model":$S,"sample_rate_bp":$N}]}}',
    numberField: 'sampling.routes[0].sample_rate_bp',
    stringField: 'sampling.routes[0].model',
    bad: [
      [
        '{"sampling":{"routes":[{"model":"m"}],"max_capture_bytes":1,"max_capture_bytes":2}}',
        'sampling.max_capture_bytes: duplicate key',
      ],
      ['{"sampling":{"routes":[{"model":"m"}],"pii_feilds":[]}}', 'sampling.pii_feilds: unknown field'],
      [
        '{"sampling":{"routes":[{"model":"m","sample_rate_bp":1,"sample_rate_bp":2}]}}',
        'sampling.routes[0].sample_rate_bp: duplicate key',
      ],
    ],
  },
  'mesh-filter telemetry': {
    module: MESH_FILTER,
    template: '{"telemetry":{"queue_name":$S,"max_pending_events":$N},"golden_signals":{}}',
    numberField: 'telemetry.max_pending_events',
    stringField: 'telemetry.queue_name',
    bad: [
      ['{"telemetry":{"queue_name":"a","queue_name":"b"},"golden_signals":{}}', 'telemetry.queue_name: duplicate key'],
      ['{"telemetry":{"queue":"a"},"golden_signals":{}}', 'telemetry.queue: unknown field'],
      ['{"telemetry":[],"golden_signals":{}}', 'telemetry: must be an object'],
    ],
  },
  'telemetry-exporter': {
    module: 'telemetry-exporter',
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
const BAD_NUMBERS = [
  '10-00',
  '2-1',
  '1e',
  '1e+',
  '0100',
  '01',
  '-',
  '--1',
  '1.',
  '.5',
  '+1',
  '1.e3',
  '0x10',
  'Infinity',
  'NaN',
  '1e999',
  '1_000',
]
/** Not escapes in RFC 8259. */
const BAD_ESCAPES = ['\\uZZZZ', '\\u12', '\\u12G4', '\\x41', "\\'", '\\U0041']

const load = (module: string, text: string, vmId = TELEMETRY_VM_ID) =>
  ProxyWasmHost.load(wasmPath(module), { pluginConfiguration: text, vmId })
const fill = (c: Corpus, n: string, s = '"m"') => c.template.replace('$N', n).replace('$S', s)

async function refusal(module: string, text: string): Promise<string> {
  const host = await load(module, text)
  expect(host.configured, text).toBe(false)
  const line = host
    .logText()
    .split('\n')
    .find((l) => l.includes(`${module}: invalid configuration: `))
  expect(line, host.logText()).toBeDefined()
  return line!.slice(line!.indexOf('invalid configuration: ') + 'invalid configuration: '.length)
}

describe.each(Object.keys(CORPORA))('%s configuration (TypeScript host)', (name) => {
  const f = CORPORA[name]!
  const filter = f.module

  it('accepts the template with good numbers and escapes', async () => {
    for (const n of ['1', '1e3', '1E+3', '10.0e0', '1000.0', '2e-0'])
      expect((await load(filter, fill(f, n))).configured, n).toBe(true)
    expect((await load(filter, fill(f, '1', '"\\u006d\\/x"'))).configured).toBe(true)
  })

  it.each(BAD_NUMBERS)('refuses the number %s, naming the field', async (n) => {
    expect(await refusal(filter, fill(f, n))).toMatch(new RegExp(`^${escapeRegExp(f.numberField)}: `))
  })

  it.each(BAD_ESCAPES)('refuses the escape %s, naming the field', async (e) => {
    expect(await refusal(filter, fill(f, '1', `"m${e}"`))).toMatch(
      new RegExp(`^${escapeRegExp(f.stringField)}: invalid JSON: `),
    )
  })

  it.each(f.bad)('refuses %s, naming the field', async (text, message) => {
    expect(await refusal(filter, text)).toBe(message)
  })
})

describe.each([
  ['golden_signals', '{"golden_signals":{}}'],
  ['sampling', '{"sampling":{"routes":[{"model":"m"}]}}'],
])('the mesh filter with %s, a telemetry producer (TypeScript host)', (_, config) => {
  it("refuses to run under a VM id other than the exporter's, naming telemetry.exporter_vm_id", async () => {
    // The filter's default exporter_vm_id (DEFAULT_EXPORTER_VM_ID in AssemblyScript, which cannot import
    // contracts/) must be the contract's TELEMETRY_VM_ID: the first and last checks here fail otherwise.
    // Envoy scopes shared data by VM id: the exporter would never count this producer's events out of the bound.
    const wrong = await load(MESH_FILTER, config, 'elsewhere')
    expect(wrong.configured).toBe(false)
    expect(wrong.logText()).toContain(
      `mesh-filter: invalid configuration: telemetry.exporter_vm_id: is "${TELEMETRY_VM_ID}" but this plugin runs with vm_config.vm_id "elsewhere"`,
    )
    const moved = JSON.stringify({ ...JSON.parse(config), telemetry: { exporter_vm_id: 'telemetry-b' } })
    expect((await load(MESH_FILTER, moved, 'telemetry-b')).configured).toBe(true)
    expect((await load(MESH_FILTER, config)).configured).toBe(true)
  })
})

describe('the mesh filter with the canary plugin alone (TypeScript host)', () => {
  it('runs under any VM id: it produces no telemetry', async () => {
    expect((await load(MESH_FILTER, fill(CORPORA['mesh-filter canary']!, '1'), 'canary-only')).configured).toBe(true)
  })
})

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
