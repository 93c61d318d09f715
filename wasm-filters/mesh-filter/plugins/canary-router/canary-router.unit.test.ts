/**
 * The mesh filter's canary plugin in the TypeScript proxy-wasm host: the
 * decisions, the 10,000-key split and configuration refusal, fast and
 * without Envoy. canary-router.test.ts runs the same scenarios in real Envoy.
 */
import { describe, expect, it } from 'vitest'
import { ProxyWasmHost } from '../../../test-host/proxy-wasm-host.ts'
import { meshFilterWasm } from '../../config.ts'

const config = {
  routes: [
    {
      model: 'credit-risk',
      stable_version: '1',
      canary_version: '2',
      canary_weight_bp: 1000,
      sticky_header: 'x-user-id',
    },
    { model: 'credit-risk-xl', stable_version: '1', canary_version: '7', canary_weight_bp: 5000, allow_override: true },
  ],
}
/** The mesh filter with only the canary plugin (`c` its section); a string is the whole configuration as written. */
const load = (c: unknown = config) =>
  ProxyWasmHost.load(meshFilterWasm(), {
    pluginConfiguration: typeof c === 'string' ? c : JSON.stringify({ canary: c }),
  })

function route(host: ProxyWasmHost, headers: Record<string, string>) {
  const stream = host.newStream()
  const action = stream.sendRequestHeaders({ ':method': 'POST', ...headers })
  stream.complete()
  return {
    action,
    variant: stream.requestHeaders.get('x-mesh-variant'),
    version: stream.requestHeaders.get('x-model-version'),
  }
}

describe('canary plugin (TypeScript host)', () => {
  it('configures and continues every request', async () => {
    const host = await load()
    expect(host.configured).toBe(true)
    expect(host.logText()).toContain('mesh-filter: configured canary')
    expect(route(host, { ':path': '/v2/models/credit-risk/infer', 'x-user-id': 'u1' }).action).toBe(0)
  })

  it('splits 10,000 keys within one percentage point of the weight, versions matching variants', async () => {
    const host = await load()
    let canary = 0
    for (let i = 0; i < 10_000; i++) {
      const r = route(host, { ':path': '/v2/models/credit-risk/infer', 'x-user-id': `user-${i}` })
      expect(r.version).toBe(r.variant === 'canary' ? '2' : '1')
      if (r.variant === 'canary') canary++
    }
    expect(Math.abs(canary / 10_000 - 0.1)).toBeLessThan(0.01)
  })

  it('gives a key the same variant in separate VMs', async () => {
    const [a, b] = await Promise.all([load(), load()])
    for (let i = 0; i < 200; i++) {
      const h = { ':path': '/v2/models/credit-risk-xl/versions/1/infer', 'x-user-id': `k${i}` }
      expect(route(a, h).variant).toBe(route(b, h).variant)
    }
  })

  it('reads the model from the path, with or without a version and query', async () => {
    const host = await load({ routes: [{ ...config.routes[0], canary_weight_bp: 10_000 }] })
    for (const path of [
      '/v2/models/credit-risk/infer',
      '/v2/models/credit-risk/versions/3/infer',
      '/v2/models/credit-risk?x=1',
    ]) {
      expect(route(host, { ':path': path, 'x-user-id': 'u' }).variant).toBe('canary')
    }
    expect(
      route(host, { ':path': '/v2/models/credit-risk-2/infer', 'x-user-id': 'u', 'x-mesh-variant': 'canary' }).variant,
    ).toBeUndefined()
    expect(route(host, { ':path': '/health', 'x-mesh-variant': 'canary' }).variant).toBeUndefined()
  })

  it("removes a caller's x-mesh-variant and x-model-version for models it does not route, and overwrites them for those it does", async () => {
    const host = await load()
    const forged = { 'x-mesh-variant': 'canary', 'x-model-version': '99', 'x-user-id': 'u' }
    expect(route(host, { ':path': '/v2/models/unknown/infer', ...forged })).toMatchObject({
      variant: undefined,
      version: undefined,
    })
    const r = route(host, { ':path': '/v2/models/credit-risk/infer', ...forged })
    expect([r.variant, r.version]).toEqual(r.variant === 'canary' ? ['canary', '2'] : ['stable', '1'])
  })

  it('weight 0 sends everyone to stable; weight 10000 everyone to canary', async () => {
    const none = await load({ routes: [{ ...config.routes[0], canary_weight_bp: 0 }] })
    const all = await load({ routes: [{ ...config.routes[0], canary_weight_bp: 10_000 }] })
    for (let i = 0; i < 100; i++) {
      expect(route(none, { ':path': '/v2/models/credit-risk/infer', 'x-user-id': `${i}` }).variant).toBe('stable')
      expect(route(all, { ':path': '/v2/models/credit-risk/infer', 'x-user-id': `${i}` }).variant).toBe('canary')
    }
  })

  it('honours the override only where allowed', async () => {
    const host = await load()
    expect(
      route(host, { ':path': '/v2/models/credit-risk-xl/infer', 'x-user-id': 'a', 'x-mesh-variant-override': 'canary' })
        .variant,
    ).toBe('canary')
    expect(
      route(host, { ':path': '/v2/models/credit-risk-xl/infer', 'x-user-id': 'a', 'x-mesh-variant-override': 'stable' })
        .variant,
    ).toBe('stable')
    const ids = Array.from({ length: 50 }, (_, i) => `n${i}`)
    const plain = ids.map((id) => route(host, { ':path': '/v2/models/credit-risk/infer', 'x-user-id': id }).variant)
    const overridden = ids.map(
      (id) =>
        route(host, { ':path': '/v2/models/credit-risk/infer', 'x-user-id': id, 'x-mesh-variant-override': 'canary' })
          .variant,
    )
    expect(overridden).toEqual(plain)
  })

  it.each([
    [
      { routes: [{ ...config.routes[0], canary_weight_bp: 10.5 }] },
      'canary.routes[0].canary_weight_bp: required, an integer from 0 to 10000',
    ],
    [
      { routes: [{ ...config.routes[0], sticky_header: 'X-User' }] },
      'canary.routes[0].sticky_header: must be a lower-case header name',
    ],
    [{ routes: [config.routes[0], config.routes[0]] }, 'canary.routes[1].model: duplicate model "credit-risk"'],
    [
      { routes: [{ ...config.routes[0], missing_key: 'random' }] },
      'canary.routes[0].missing_key: must be "request_id" or "stable"',
    ],
    [
      { routes: [{ ...config.routes[0], allow_override: 'yes' }] },
      'canary.routes[0].allow_override: must be true or false',
    ],
    ['[1, 2]', '(configuration): must be a JSON object'],
    ['', '(configuration): invalid JSON: unexpected end of input'],
    ['{"canary": {"routes": [{"model": "a\\u00e9"}]}', '(configuration): invalid JSON'],
    [{ ...config, alow_override: true }, 'canary.alow_override: unknown field'],
    [{ ...config, routes: [], extra: 1 }, 'canary.extra: unknown field'],
    [[1, 2], 'canary: must be an object'],
    [
      JSON.stringify({ canary: config, canery: config }),
      'canery: unknown field (sections: telemetry, canary, sampling, golden_signals)',
    ],
    ['{}', '(configuration): names no plugin: give one of canary, sampling, golden_signals'],
  ])('refuses configuration %#, naming the field', async (bad, message) => {
    const host = await load(bad)
    expect(host.configured).toBe(false)
    expect(host.logText()).toContain(`mesh-filter: invalid configuration: ${message}`)
  })
})
