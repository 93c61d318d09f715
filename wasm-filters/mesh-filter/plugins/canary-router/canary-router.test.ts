/**
 * The mesh filter's canary plugin in real Envoy: the variant it picks is what the route table
 * acts on (the route cache is recomputed after the header change), the
 * split matches the weight, keys are sticky across workers and instances,
 * and a bad configuration is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  envoyVersion,
  EnvoyExitError,
  httpListener,
  startEnvoy,
  staticCluster,
  wasmHttpFilter,
  type RunningEnvoy,
} from '@model-mesh/testkit/envoy'
import { startUpstream, type Upstream } from '@model-mesh/testkit/upstream'
import { ProxyWasmHost } from '../../../test-host/proxy-wasm-host.ts'
import { MESH_FILTER, meshFilterWasm } from '../../config.ts'

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
    { model: 'no-key-stable', stable_version: '1', canary_version: '2', canary_weight_bp: 5000, missing_key: 'stable' },
  ],
}

function bootstrap(stable: Upstream, canary: Upstream, filterConfig: unknown = config) {
  const routes = [
    {
      match: { prefix: '/', headers: [{ name: 'x-mesh-variant', string_match: { exact: 'canary' } }] },
      route: { cluster: 'canary' },
    },
    { match: { prefix: '/' }, route: { cluster: 'stable' } },
  ]
  return {
    static_resources: {
      listeners: [
        httpListener('gateway', routes, [wasmHttpFilter(MESH_FILTER, meshFilterWasm(), { canary: filterConfig })]),
      ],
      clusters: [staticCluster('stable', stable.port), staticCluster('canary', canary.port)],
    },
  }
}

interface Seen {
  upstream: string
  variant: string
  version: string
  requestId: string
}

async function send(base: string, model: string, headers: Record<string, string> = {}): Promise<Seen> {
  const res = await fetch(`${base}/v2/models/${model}/infer`, { method: 'POST', headers, body: '{}' })
  const body = (await res.json()) as { upstream: string; headers: Record<string, string> }
  return {
    upstream: body.upstream,
    variant: body.headers['x-mesh-variant'] ?? '',
    version: body.headers['x-model-version'] ?? '',
    requestId: body.headers['x-request-id'] ?? '',
  }
}

/** Runs `count` requests with bounded concurrency. */
async function many<T>(count: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count)
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++
        results[i] = await one(i)
      }
    }),
  )
  return results
}

describe('canary plugin in Envoy', () => {
  let stable: Upstream
  let canary: Upstream
  let envoy: RunningEnvoy
  let gateway: string

  beforeAll(async () => {
    console.log(`Envoy ${await envoyVersion()}`)
    stable = await startUpstream('stable')
    canary = await startUpstream('canary')
    envoy = await startEnvoy(bootstrap(stable, canary))
    gateway = envoy.listenerUrl('gateway')
  })
  afterAll(async () => {
    await envoy?.stop()
    await stable?.close()
    await canary?.close()
  })

  it('splits 10,000 keys within one percentage point of the weight, and the route follows the header', async () => {
    const seen = await many(10_000, 16, (i) => send(gateway, 'credit-risk', { 'x-user-id': `user-${i}` }))
    for (const s of seen) {
      expect(s.upstream).toBe(s.variant) // the cluster chosen is the variant the filter set
      expect(s.version).toBe(s.variant === 'canary' ? '2' : '1')
    }
    const share = seen.filter((s) => s.variant === 'canary').length / seen.length
    expect(Math.abs(share - 0.1)).toBeLessThan(0.01)
  }, 120_000)

  it('decides exactly as the TypeScript host does, key by key', async () => {
    const ts = await ProxyWasmHost.load(meshFilterWasm(), { pluginConfiguration: JSON.stringify({ canary: config }) })
    const keys = Array.from({ length: 300 }, (_, i) => `agree-${i}`)
    const inEnvoy = await many(keys.length, 8, (i) => send(gateway, 'credit-risk-xl', { 'x-user-id': keys[i]! }))
    const inHost = keys.map((k) => {
      const stream = ts.newStream()
      stream.sendRequestHeaders({ ':path': '/v2/models/credit-risk-xl/infer', 'x-user-id': k })
      return stream.requestHeaders.get('x-mesh-variant')
    })
    expect(inEnvoy.map((s) => s.variant)).toEqual(inHost)
  })

  it('keeps a key on its variant across connections, workers and Envoy instances', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `sticky-${i}`)
    const first = await Promise.all(keys.map((k) => send(gateway, 'credit-risk-xl', { 'x-user-id': k })))
    for (let round = 0; round < 3; round++) {
      const again = await Promise.all(keys.map((k) => send(gateway, 'credit-risk-xl', { 'x-user-id': k })))
      expect(again.map((s) => s.variant)).toEqual(first.map((s) => s.variant))
    }
    const other = await startEnvoy(bootstrap(stable, canary), { concurrency: 1 })
    try {
      const elsewhere = await Promise.all(
        keys.map((k) => send(other.listenerUrl('gateway'), 'credit-risk-xl', { 'x-user-id': k })),
      )
      expect(elsewhere.map((s) => s.variant)).toEqual(first.map((s) => s.variant))
    } finally {
      await other.stop()
    }
    // At 50% both variants occur among 40 keys.
    expect(new Set(first.map((s) => s.variant))).toEqual(new Set(['stable', 'canary']))
  })

  it('honours the override header only where the configuration allows it', async () => {
    const allowed = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        send(gateway, 'credit-risk-xl', { 'x-user-id': `o-${i}`, 'x-mesh-variant-override': 'canary' }),
      ),
    )
    expect(allowed.every((s) => s.upstream === 'canary' && s.version === '7')).toBe(true)
    const refused = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        send(gateway, 'credit-risk', { 'x-user-id': `o-${i}`, 'x-mesh-variant-override': 'canary' }),
      ),
    )
    const withoutOverride = await Promise.all(
      Array.from({ length: 200 }, (_, i) => send(gateway, 'credit-risk', { 'x-user-id': `o-${i}` })),
    )
    expect(refused.map((s) => s.variant)).toEqual(withoutOverride.map((s) => s.variant))
  })

  it('ignores a variant and version the caller set, and routes unconfigured models to stable', async () => {
    const s = await send(gateway, 'other-model', { 'x-mesh-variant': 'canary', 'x-model-version': '99' })
    expect(s.upstream).toBe('stable')
    expect(s.variant).toBe('')
    // What is reported (golden signals) trusts x-model-version only from the router: a caller's does not pass.
    expect(s.version).toBe('')
    const forged = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        send(gateway, 'credit-risk', { 'x-user-id': `f-${i}`, 'x-mesh-variant': 'canary' }),
      ),
    )
    const honest = await Promise.all(
      Array.from({ length: 50 }, (_, i) => send(gateway, 'credit-risk', { 'x-user-id': `f-${i}` })),
    )
    expect(forged.map((x) => x.upstream)).toEqual(honest.map((x) => x.upstream))
  })

  it('without the sticky header, splits by request id, or sends to stable when so configured', async () => {
    const byRequestId = await many(400, 8, () => send(gateway, 'credit-risk-xl'))
    // Each request as its id decides (the TypeScript host hashing the id Envoy generated), not just a share near the weight.
    const ts = await ProxyWasmHost.load(meshFilterWasm(), { pluginConfiguration: JSON.stringify({ canary: config }) })
    for (const s of byRequestId) {
      const stream = ts.newStream()
      stream.sendRequestHeaders({ ':path': '/v2/models/credit-risk-xl/infer', 'x-request-id': s.requestId })
      expect([s.requestId.length > 0, s.variant]).toEqual([true, stream.requestHeaders.get('x-mesh-variant')])
    }
    // At 50%, both variants among 400 ids (a share outside 0.3-0.7 would take 8 standard deviations).
    const share = byRequestId.filter((s) => s.variant === 'canary').length / byRequestId.length
    expect(share).toBeGreaterThan(0.3)
    expect(share).toBeLessThan(0.7)
    const toStable = await many(100, 8, () => send(gateway, 'no-key-stable'))
    expect(toStable.every((s) => s.upstream === 'stable')).toBe(true)
  })

  it.each([
    [
      { routes: [{ ...config.routes[0], canary_weight_bp: 10_001 }] },
      'canary.routes[0].canary_weight_bp: required, an integer from 0 to 10000',
    ],
    [
      { routes: [{ ...config.routes[0], stable_version: '' }] },
      'canary.routes[0].stable_version: required, a non-empty string',
    ],
    [{ routes: [{ ...config.routes[0], colour: 'blue' }] }, 'canary.routes[0].colour: unknown field'],
    [{ routes: [] }, 'canary.routes: required, a non-empty array'],
    ['{"canary": {"routes": [', 'canary.routes[0]: invalid JSON: unexpected end of input'],
    [
      '{"canary": {"routes": [{"model": "m", "stable_version": "1", "canary_version": "2", "canary_weight_bp": 10-00}]}}',
      'canary.routes[0].canary_weight_bp: invalid JSON: malformed number',
    ],
    [{ ...config, alow_override: true }, 'canary.alow_override: unknown field'],
  ])('refuses a bad configuration, naming the field (%#)', async (bad, message) => {
    const raw = typeof bad === 'string'
    const boot = bootstrap(stable, canary, raw ? {} : bad)
    if (raw)
      (
        boot.static_resources.listeners[0] as any
      ).filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config.configuration.value = bad
    const err = await startEnvoy(boot).then(
      async (e) => {
        await e.stop()
        return undefined
      },
      (e) => e,
    )
    expect(err).toBeInstanceOf(EnvoyExitError)
    expect(err.output).toContain(`mesh-filter: invalid configuration: ${message}`)
  })
})
