/**
 * Rendering: what Envoy gets from mesh.yaml, and that real Envoy accepts it
 * (`envoy --mode validate`, for the bootstrap with its xDS files and for
 * the same resources inlined, which makes Envoy build every listener,
 * filter and cluster).
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeFile } from 'node:fs/promises'
import { run } from '../src/cli.ts'
import { TELEMETRY_TOKEN_ENV } from '../src/credentials.ts'
import { requireMesh, type LoadedMesh } from '../src/load.ts'
import { ENVOY_BIN, ROOT } from '../src/local-mesh.ts'
import { servedPathPattern } from '../src/oip-paths.ts'
import { inlinedBootstrap, renderMesh } from '../src/render.ts'
import { envoyVersion } from '@model-mesh/testkit/envoy'

const FULL = join(import.meta.dirname, 'fixtures/full-mesh.yaml')
const env = { MESH_TEST_BATCH_KEY: 'batch-key-0123456789abcdef' }

async function envoyValidate(bootstrapFile: string): Promise<string> {
  const { stdout, stderr } = await promisify(execFile)(ENVOY_BIN, [
    '--mode',
    'validate',
    '-c',
    bootstrapFile,
    '--disable-hot-restart',
    '--log-level',
    'error',
  ])
  return stdout + stderr
}

type Json = Record<string, any>

describe('render', () => {
  let dir: string
  let full: LoadedMesh
  beforeAll(async () => {
    process.stderr.write(`render tests: Envoy ${await envoyVersion()}\n`)
    dir = await mkdtemp(join(tmpdir(), 'mesh-render-'))
    // Validation checks that key_env variables are set, as rendering needs them.
    process.env.MESH_TEST_BATCH_KEY = env.MESH_TEST_BATCH_KEY
    full = await requireMesh(FULL)
  })
  afterAll(async () => {
    delete process.env.MESH_TEST_BATCH_KEY
    await rm(dir, { recursive: true, force: true })
  })

  it('mesh render writes a bootstrap and xDS files that envoy --mode validate accepts', async () => {
    const out = join(dir, 'example')
    const lines: string[] = []
    expect(
      await run(['render', join(ROOT, 'mesh.yaml'), '--out', out, '--json'], {
        out: (t) => void lines.push(t),
        err: (t) => void lines.push(t),
      }),
    ).toBe(0)
    const report = JSON.parse(lines.join('')) as { version: string; files: string[] }
    expect(report.files.map((f) => f.slice(out.length + 1))).toEqual([
      'bootstrap.json',
      'lds.json',
      'rds.json',
      'ecds-mesh-filter.json',
      'cds.json',
    ])
    const bootstrap = JSON.parse(await readFile(join(out, 'bootstrap.json'), 'utf8')) as Json
    expect(bootstrap.dynamic_resources.lds_config.path_config_source.path).toBe(join(out, 'lds.json'))
    expect(bootstrap.admin.address.socket_address.address).toBe('127.0.0.1')
    expect((JSON.parse(await readFile(join(out, 'rds.json'), 'utf8')) as Json).resources[0].name).toBe('gateway-routes')
    expect(await envoyValidate(join(out, 'bootstrap.json'))).toContain('OK')
  })

  it.each([
    ['the example mesh.yaml', join(ROOT, 'mesh.yaml')],
    ['a mesh with every feature (auth, rate limits, header and prefix routes, retries, outlier detection)', FULL],
  ])('Envoy builds every listener, filter and cluster of %s', async (_, file) => {
    const mesh = await requireMesh(file)
    // As the local mesh renders it (the exporter names its credential's variable): Envoy validates it without the variable set.
    const r = renderMesh(mesh.config, { xdsDir: dir, env, telemetryCredential: true })
    const inlined = join(dir, `inlined-${r.version}.json`)
    await writeFile(inlined, JSON.stringify(inlinedBootstrap(r)))
    expect(await envoyValidate(inlined)).toContain('OK')
  })

  it('is deterministic, and any change gives a new version', () => {
    const a = renderMesh(full.config, { xdsDir: dir, env })
    const b = renderMesh(structuredClone(full.config), { xdsDir: dir, env })
    expect(JSON.stringify(b)).toBe(JSON.stringify(a))
    const changed = structuredClone(full.config)
    changed.routes[0]!.canary!.weight = 2600
    expect(renderMesh(changed, { xdsDir: dir, env }).version).not.toBe(a.version)
    // Only the mesh filter's configuration changed: one file, served by ECDS, changes version.
    const c = renderMesh(changed, { xdsDir: dir, env })
    expect(
      c.files.filter((f, i) => f.response.version_info !== a.files[i]!.response.version_info).map((f) => f.file),
    ).toEqual(['ecds-mesh-filter.json'])
    // So does sampling switched off: the listener keeps its filters (and its connections).
    const unsampled = structuredClone(full.config)
    for (const route of unsampled.routes) delete route.sampling
    const d = renderMesh(unsampled, { xdsDir: dir, env })
    expect(
      d.files.filter((f, i) => f.response.version_info !== a.files[i]!.response.version_info).map((f) => f.file),
    ).toEqual(['ecds-mesh-filter.json'])
  })

  it('routes canary-marked requests to the canary cluster and rewrites the infer path to each variant version', () => {
    const r = renderMesh(full.config, { xdsDir: dir, env })
    const hcm = (r.listeners[0] as Json).filter_chains[0].filters[0].typed_config
    expect(hcm.rds).toMatchObject({ route_config_name: 'gateway-routes' })
    const routes = (r.routes as Json).virtual_hosts[0].routes as Json[]
    expect(routes.map((x) => [x.name, x.route.cluster])).toEqual([
      ['credit-risk', 'credit-risk.canary-or-fallback'],
      ['credit-risk', 'credit-risk.stable-or-fallback'],
      ['scoring-by-header', 'scoring-by-header.canary'],
      ['scoring-by-header', 'scoring-by-header.stable'],
      ['fallback-direct', 'fallback-direct.stable'],
    ])
    expect(routes[0]!.match).toEqual({
      safe_regex: { regex: servedPathPattern(full.config.routes[0]!) },
      headers: [{ name: 'x-mesh-variant', string_match: { exact: 'canary' } }],
    })
    // Only the model's metadata, readiness and inference, at the versions the route serves (stable 1, canary 2).
    const served = new RegExp(routes[0]!.match.safe_regex.regex)
    expect(
      [
        '/v2/models/credit-risk',
        '/v2/models/credit-risk/ready',
        '/v2/models/credit-risk/infer',
        '/v2/models/credit-risk/versions/1/infer',
        '/v2/models/credit-risk/versions/2/ready',
      ].filter((p) => !served.test(p)),
    ).toEqual([])
    expect(
      [
        '/v2/models/credit-risk/versions/3/infer',
        '/v2/models/credit-risk/config',
        '/v2/models/credit-risk/stats',
        '/v2/models/credit-risk/',
        '/v2/models/credit-riskX/infer',
        '/v2/models/credit-risk-fallback/infer',
        '/v2/repository/models/credit-risk/unload',
        '/v2/models/credit-risk/infer/x',
      ].filter((p) => served.test(p)),
    ).toEqual([])
    // A prefix route serves its model's paths under the prefix.
    expect(routes[4]!.match.headers).toEqual([
      { name: ':path', string_match: { prefix: '/v2/models/credit-risk-fallback' } },
    ])
    expect(routes[2]!.match.headers).toEqual([
      { name: 'x-mesh-variant', string_match: { exact: 'canary' } },
      { name: 'x-model', string_match: { exact: 'credit-risk' } },
    ])
    expect(routes[0]!.route.regex_rewrite.substitution).toBe('/v2/models/credit-risk/versions/2/infer')
    expect(routes[1]!.route.regex_rewrite.substitution).toBe('/v2/models/credit-risk/versions/1/infer')
    const pattern = new RegExp(routes[0]!.route.regex_rewrite.pattern.regex)
    expect(
      [
        '/v2/models/credit-risk/infer',
        '/v2/models/credit-risk/versions/7/infer',
        '/v2/models/credit-risk/ready',
        '/v2/models/credit-riskX/infer',
      ].map((p) => pattern.test(p)),
    ).toEqual([true, true, false, false])
    // A fallback adds fail-over retries to the next priority (the fallback pool).
    expect(routes[0]!.route.retry_policy).toMatchObject({
      num_retries: 2,
      per_try_timeout: '0.7s',
      retry_priority: { name: 'envoy.retry_priorities.previous_priorities' },
    })
    expect(routes[0]!.route.retry_policy.retry_on.split(',').sort()).toEqual([
      '5xx',
      'connect-failure',
      'refused-stream',
      'reset',
    ])
    expect(routes[4]!.route.retry_policy).toBeUndefined()
    // Auth is off where a route asks for none; the rate limit is per route.
    expect(routes[4]!.typed_per_filter_config['envoy.filters.http.api_key_auth']).toMatchObject({ disabled: true })
    expect(routes[0]!.typed_per_filter_config['envoy.filters.http.api_key_auth']).toMatchObject({
      allowed_clients: ['web-app', 'batch'],
    })
    expect(routes[0]!.typed_per_filter_config['envoy.filters.http.local_ratelimit'].token_bucket).toEqual({
      max_tokens: 200,
      tokens_per_fill: 100,
      fill_interval: '1s',
    })
  })

  it('configures the one mesh filter from the mesh, fail-open, on the exporter VM', () => {
    const r = renderMesh(full.config, { xdsDir: dir, env })
    const filters = (r.listeners[0] as Json).filter_chains[0].filters[0].typed_config.http_filters as Json[]
    expect(filters.map((f) => f.name)).toEqual([
      'envoy.filters.http.local_ratelimit',
      'envoy.filters.http.api_key_auth',
      'mesh-filter',
      'envoy.filters.http.router',
    ])
    expect(filters.find((f) => f.name === 'mesh-filter')!.config_discovery.config_source.path_config_source.path).toBe(
      join(dir, 'ecds-mesh-filter.json'),
    )
    const config = (r.extensions['mesh-filter'] as Json).config
    expect(JSON.parse(config.configuration.value)).toEqual({
      telemetry: { exporter_vm_id: 'mesh-telemetry' },
      canary: {
        routes: [
          {
            model: 'credit-risk',
            stable_version: '1',
            canary_version: '2',
            canary_weight_bp: 2500,
            sticky_header: 'x-account',
            missing_key: 'stable',
            allow_override: true,
          },
          {
            model: 'credit-risk-fallback',
            stable_version: '1',
            canary_version: '1',
            canary_weight_bp: 0,
            sticky_header: 'x-user-id',
            missing_key: 'request_id',
            allow_override: false,
          },
        ],
      },
      sampling: {
        routes: [{ model: 'credit-risk', sample_rate_bp: 500, confidence_threshold: 0.6 }],
        max_capture_bytes: 4096,
        pii_fields: ['email', 'ssn'],
      },
      // Golden signals label metrics with the models mesh.yaml names (fallbacks too), "other" for the rest.
      // A route's story rules: slower than its p99 objective; x-mesh-trace where it allows it.
      golden_signals: {
        service: full.config.gateway.service,
        models: ['credit-risk', 'credit-risk-fallback'],
        routes: [
          { name: 'credit-risk', slow_ms: 80, trace_header: false },
          { name: 'scoring-by-header', slow_ms: 0, trace_header: true },
        ],
      },
    })
    expect(config.failure_policy).toBe('FAIL_OPEN')
    expect(config.vm_config.vm_id).toBe('mesh-telemetry')
    const exporter = (r.bootstrap.bootstrap_extensions as Json[])[0]!.typed_config
    expect(exporter).toMatchObject({ singleton: true, config: { vm_config: { vm_id: 'mesh-telemetry' } } })
    expect(JSON.parse(exporter.config.configuration.value)).toEqual({ cluster: 'telemetry-agent' })
  })

  it("names the telemetry credential's environment variable in the exporter's configuration, never the credential", () => {
    const r = renderMesh(full.config, { xdsDir: dir, env, telemetryCredential: true })
    const exporter = (r.bootstrap.bootstrap_extensions as Json[])[0]!.typed_config
    expect(JSON.parse(exporter.config.configuration.value)).toEqual({
      cluster: 'telemetry-agent',
      token_env: TELEMETRY_TOKEN_ENV,
    })
    expect(exporter.config.vm_config.environment_variables).toEqual({ host_env_keys: [TELEMETRY_TOKEN_ENV] })
    expect((r.bootstrap.stats_config as Json).stats_tags.map((t: Json) => t.tag_name)).toEqual([
      'route',
      'model',
      'version',
      'variant',
      'status_class',
    ])
  })

  it('builds an aggregate cluster per variant: own pool first, then the fallback pool', () => {
    const r = renderMesh(full.config, { xdsDir: dir, env })
    const cluster = (name: string) => r.clusters.find((c) => c.name === name) as Json
    expect(cluster('credit-risk.canary-or-fallback').cluster_type.typed_config.clusters).toEqual([
      'credit-risk.canary',
      'credit-risk.fallback',
    ])
    // Its retries are the failover: not capped at Envoy's default of 3 at once (the outage test in test/canary-analysis.test.ts).
    expect(cluster('credit-risk.canary-or-fallback').circuit_breakers).toEqual({
      thresholds: [{ priority: 'DEFAULT', max_retries: 10_000 }],
    })
    expect(
      cluster('credit-risk.stable').load_assignment.endpoints[0].lb_endpoints.map(
        (e: Json) => e.endpoint.address.socket_address.port_value,
      ),
    ).toEqual([18101, 18102, 18103])
    expect(cluster('credit-risk.stable').outlier_detection).toEqual({
      consecutive_5xx: 3,
      interval: '2s',
      base_ejection_time: '10s',
      max_ejection_percent: 100,
    })
    expect(cluster('credit-risk.stable').circuit_breakers.thresholds[0].retry_budget.budget_percent).toEqual({
      value: 25,
    })
    expect(
      cluster('telemetry-agent').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
        .port_value,
    ).toBe(14195)
  })

  describe('for one node of several (placement)', () => {
    const placement = {
      node: 'n2',
      nodes: [
        { name: 'n1', address: '10.77.0.11', hosts: ['stable-a', 'stable-b', 'canary', 'fallback'] },
        { name: 'n2', address: '10.77.0.12', hosts: ['stable-a', 'fallback'] },
        { name: 'n3', address: '10.77.0.13', hosts: ['stable-b', 'canary'] },
      ],
    }
    const groups = (r: ReturnType<typeof renderMesh>, name: string) =>
      (r.clusters.find((c) => c.name === name) as Json).load_assignment.endpoints.map((g: Json) => ({
        zone: g.locality?.zone,
        priority: g.priority,
        endpoints: g.lb_endpoints.map(
          (e: Json) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`,
        ),
      }))

    it("reaches every node's instances of a pool, its own node's first, and listens and reports on its node's address", () => {
      const r = renderMesh(full.config, { xdsDir: dir, env, placement })
      expect(groups(r, 'credit-risk.stable')).toEqual([
        { zone: 'n1', priority: 1, endpoints: ['10.77.0.11:18101', '10.77.0.11:18102', '10.77.0.11:18103'] },
        { zone: 'n2', priority: 0, endpoints: ['10.77.0.12:18101'] },
        { zone: 'n3', priority: 1, endpoints: ['10.77.0.13:18102', '10.77.0.13:18103'] },
      ])
      // No instance of the canary on this node: every canary request crosses to another.
      expect(groups(r, 'credit-risk.canary')).toEqual([
        { zone: 'n1', priority: 1, endpoints: ['10.77.0.11:18105'] },
        { zone: 'n3', priority: 1, endpoints: ['10.77.0.13:18105'] },
      ])
      expect(groups(r, 'telemetry-agent')).toEqual([{ endpoints: ['10.77.0.12:14195'] }])
      const gateway = r.listeners.find((l) => l.name === 'gateway') as Json
      expect(gateway.address.socket_address.address).toBe('10.77.0.12')
      // The same canary split on every node: stickiness holds whichever gateway a caller reaches.
      const n1 = renderMesh(full.config, { xdsDir: dir, env, placement: { ...placement, node: 'n1' } })
      expect(n1.extensions).toEqual(r.extensions)
    })

    it("Envoy builds the node's clusters", async () => {
      const r = renderMesh(full.config, { xdsDir: dir, env, telemetryCredential: true, placement })
      const inlined = join(dir, `inlined-placed-${r.version}.json`)
      await writeFile(inlined, JSON.stringify(inlinedBootstrap(r)))
      expect(await envoyValidate(inlined)).toContain('OK')
    })

    it('refuses a placement on a node it does not list', () => {
      expect(() => renderMesh(full.config, { xdsDir: dir, env, placement: { ...placement, node: 'n9' } })).toThrow(
        'placement: no node "n9" among n1, n2, n3',
      )
    })
  })

  it('refuses to render an API key whose environment variable is unset', () => {
    expect(() => renderMesh(full.config, { xdsDir: dir, env: {} })).toThrow(
      'auth.api_keys: environment variable MESH_TEST_BATCH_KEY is not set',
    )
  })
})
