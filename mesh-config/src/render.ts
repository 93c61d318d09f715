/**
 * @module
 * mesh.yaml → Envoy. Pure: the same config renders the same bytes. The
 * output is a bootstrap (admin on loopback, stats tags, the telemetry
 * exporter service) that reads everything else from files, file-based xDS
 * through path_config_source, so a changed mesh reaches a running Envoy by
 * replacing files:
 *
 *   lds.json   the gateway listener: HTTP filters, routes by RDS
 *   rds.json   the route table
 *   ecds-mesh-filter.json  the mesh filter's configuration (ECDS)
 *   cds.json   the clusters
 *
 * Routes (RDS) and filter configurations (ECDS) change in place: the next
 * request on every open connection sees them. Only a change to the
 * listener itself (auth keys, rate limiting switched on or off,
 * the port) replaces the listener, whose connections then drain.
 *
 * Per route, Envoy's route table holds two entries under the route's name:
 * `x-mesh-variant: canary` (set by the mesh filter's canary plugin) → the canary
 * cluster, anything else → the stable cluster. Each entry rewrites the OIP
 * infer path to the variant's version, so the hosts need no routing logic.
 * With a fallback, each variant's cluster is an aggregate of its own pool
 * and the fallback pool: Envoy moves traffic to the fallback hosts when
 * the pool has no healthy host left (health checks, outlier detection).
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { headers as H, TELEMETRY_VM_ID, type XdsFile } from '@model-mesh/contracts'
import { GOLDEN_STATS_TAGS, MESH_FILTER, wasmPath, type MeshFilterConfig } from '@model-mesh/wasm-filters'
import { TELEMETRY_TOKEN_ENV } from './credentials.ts'
import {
  dnsCluster,
  duration,
  type EndpointGroup,
  hcmListener,
  localityCluster,
  socketAddress,
  staticCluster,
  typed,
  wasmHttpFilter,
  wasmService,
} from './envoy-resources.ts'
import { escapeRegex, servedPathPattern } from './oip-paths.ts'
import { cidrParts, instancesOf, meshModels, type Host, type MeshConfig, type Route } from './schema.ts'

export type { XdsFile }

export const GATEWAY_LISTENER = 'gateway'
export const AGENT_CLUSTER = 'telemetry-agent'
export const LDS_FILE = 'lds.json'
export const CDS_FILE = 'cds.json'
export const RDS_FILE = 'rds.json'
export const ROUTE_CONFIG = 'gateway-routes'
export const ecdsFile = (filter: string) => `ecds-${filter}.json`

export interface RenderOptions {
  /** Where the xDS files live (the bootstrap names them). */
  xdsDir: string
  /** Resolves a filter name to its .wasm file; defaults to wasm-filters/build/. */
  wasmFile?: (filter: string) => string
  /** API keys from `key_env` variables. */
  env?: Record<string, string | undefined>
  /**
   * Whether Envoy's exporter shows the agent the node's telemetry credential,
   * which it reads from Envoy's environment (TELEMETRY_TOKEN_ENV): the
   * bootstrap names the variable, never the token.
   */
  telemetryCredential?: boolean
  /**
   * The node this Envoy runs on, in a mesh of several, and where every node
   * is: it listens on its node's address, posts telemetry to its node's
   * agent, and reaches each host on every node that runs it, its own
   * node's instances first (priority 0) and the others' as those fail
   * (priority 1), so a retry after its own node's host failed goes to
   * another node's before the fallback pool.
   */
  placement?: Placement
  /**
   * The gateway as a Kubernetes pod (render --target kubernetes): it
   * listens on every address of its pod, reaches each host pool through its
   * headless Service (`host-<name>`, every ready pod), posts telemetry to
   * the agent beside it, and watches its files' folder, where the kubelet
   * swaps a Secret's files in at once.
   */
  kubernetes?: { namespace: string }
}

/** The Service that names a host's ready pods (mesh-config/src/kubernetes.ts renders it). */
export const hostService = (host: string) => `host-${host}`

export interface Placement {
  node: string
  nodes: readonly { name: string; address: string; hosts: readonly string[] }[]
}

type Json = Record<string, unknown>

export interface RenderedMesh {
  bootstrap: Json
  listeners: Json[]
  clusters: Json[]
  routes: Json
  /** Wasm filter configurations served by ECDS, by filter name. */
  extensions: Record<string, Json>
  files: XdsFile[]
  /** Digest of everything Envoy reads from the files. */
  version: string
}

type Variant = 'stable' | 'canary'

export function renderMesh(config: MeshConfig, options: RenderOptions): RenderedMesh {
  // On one node of several, where it listens, reports and is administered: checked once, first.
  const nodeAt = options.placement && nodeAddress(options.placement)
  const k8s = options.kubernetes
  const wasmFile = options.wasmFile ?? wasmPath
  const pathSource = (file: string) => ({
    resource_api_version: 'V3',
    path_config_source: {
      path: join(options.xdsDir, file),
      ...(k8s ? { watched_directory: { path: options.xdsDir } } : {}),
    },
  })
  const extensions = wasmFilters(config, wasmFile)
  const listeners = [
    renderGateway(
      config,
      Object.keys(extensions),
      pathSource,
      options.env ?? process.env,
      k8s ? '0.0.0.0' : (nodeAt ?? config.gateway.address),
    ),
  ]
  const routes = renderRoutes(config)
  const clusters = renderClusters(
    config,
    options.placement,
    k8s ? '127.0.0.1' : (nodeAt ?? config.telemetry.agent.address),
    k8s,
  )
  const files: XdsFile[] = [
    xdsFile(
      LDS_FILE,
      'listeners',
      'listener_manager.lds',
      listeners.map((l) => typed(LISTENER_TYPE, l)),
    ),
    xdsFile(RDS_FILE, 'routes', `http.${GATEWAY_LISTENER}.rds.${ROUTE_CONFIG}`, [typed(ROUTE_CONFIG_TYPE, routes)]),
    ...Object.entries(extensions).map(([name, filter]) =>
      xdsFile(ecdsFile(name), 'extension', `extension_config_discovery.http_filter.${name}`, [
        typed(EXTENSION_TYPE, { name, typed_config: filter }),
      ]),
    ),
    xdsFile(
      CDS_FILE,
      'clusters',
      'cluster_manager.cds',
      clusters.map((c) => typed(CLUSTER_TYPE, c)),
    ),
  ]
  const version = digest(files.map((f) => f.response.version_info))
  // The exporter reads the credential from Envoy's environment: the bootstrap, which /config_dump shows, holds only the variable's name.
  const tokenEnv = options.telemetryCredential ? TELEMETRY_TOKEN_ENV : undefined
  const bootstrap = {
    node: {
      id: `${config.gateway.service}-envoy${options.placement ? `-${options.placement.node}` : ''}`,
      cluster: config.gateway.service,
    },
    // Loopback; on one node of several, its node's address: the local mesh in the root namespace checks it is ready.
    admin: {
      address: socketAddress(nodeAt ?? '127.0.0.1', config.gateway.admin_port),
    },
    stats_config: { stats_tags: GOLDEN_STATS_TAGS },
    dynamic_resources: { lds_config: pathSource(LDS_FILE), cds_config: pathSource(CDS_FILE) },
    // Runtime values come from this file only: without an admin layer, /runtime_modify cannot switch a route's rate limit off.
    layered_runtime: { layers: [{ name: 'static', static_layer: {} }] },
    overload_manager: overloadManager(config.gateway),
    bootstrap_extensions: [
      wasmService(
        'telemetry-exporter',
        wasmFile('telemetry-exporter'),
        { cluster: AGENT_CLUSTER, ...(tokenEnv ? { token_env: tokenEnv } : {}) },
        { vmId: TELEMETRY_VM_ID, failurePolicy: 'FAIL_OPEN', hostEnvKeys: tokenEnv ? [tokenEnv] : [] },
      ),
    ],
  }
  return { bootstrap, listeners, clusters, routes, extensions, files, version }
}

/**
 * Envoy's own limits, so an overload is refused rather than fatal: a cap on
 * downstream connections (all listeners but admin), and the heap, where it
 * frees what it can at 95% and refuses new requests at 98%.
 */
function overloadManager(gateway: MeshConfig['gateway']): Json {
  const HEAP = 'envoy.resource_monitors.fixed_heap'
  return {
    refresh_interval: '0.25s',
    resource_monitors: [
      {
        name: HEAP,
        typed_config: typed('envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig', {
          max_heap_size_bytes: gateway.max_heap_mb * 1024 * 1024,
        }),
      },
      {
        name: 'envoy.resource_monitors.global_downstream_max_connections',
        typed_config: typed(
          'envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig',
          { max_active_downstream_connections: gateway.max_connections },
        ),
      },
    ],
    actions: [
      { name: 'envoy.overload_actions.shrink_heap', triggers: [{ name: HEAP, threshold: { value: 0.95 } }] },
      {
        name: 'envoy.overload_actions.stop_accepting_requests',
        triggers: [{ name: HEAP, threshold: { value: 0.98 } }],
      },
    ],
  }
}

/**
 * The same resources as one static bootstrap (no files): `envoy --mode
 * validate` then builds every listener, filter and cluster, which it does
 * not do for resources it would read from files.
 */
export function inlinedBootstrap(rendered: RenderedMesh): Json {
  const inline = (listener: Json): Json =>
    JSON.parse(JSON.stringify(listener), (_key, value) => {
      if (value && typeof value === 'object' && 'rds' in value) {
        const { rds: _rds, ...rest } = value as Json
        return { ...rest, route_config: rendered.routes }
      }
      if (value && typeof value === 'object' && 'config_discovery' in value)
        return { name: value.name, typed_config: rendered.extensions[value.name] }
      return value
    })
  const { dynamic_resources: _dynamic, ...bootstrap } = rendered.bootstrap
  return { ...bootstrap, static_resources: { listeners: rendered.listeners.map(inline), clusters: rendered.clusters } }
}

export function xdsFile(file: string, kind: XdsFile['kind'], statPrefix: string, resources: Json[]): XdsFile {
  return { file, kind, statPrefix, response: { version_info: digest(resources), resources } }
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16)
}

/**
 * The Wasm HTTP filters and their configurations, in chain order: the one
 * mesh filter, its plugins configured by section (sampling only when a
 * route samples), under the exporter's VM id, which its producers share.
 */
function wasmFilters(config: MeshConfig, wasmFile: (filter: string) => string): Record<string, Json> {
  const sampled = config.routes.filter(
    (r) => r.sampling && (r.sampling.rate_bp > 0 || r.sampling.confidence_threshold > 0),
  )
  const meshFilter: MeshFilterConfig = {
    telemetry: { exporter_vm_id: TELEMETRY_VM_ID },
    canary: canaryConfig(config),
    ...(sampled.length > 0 ? { sampling: samplingConfig(config, sampled) } : {}),
    golden_signals: goldenSignalsConfig(config),
  }
  const filter = wasmHttpFilter(MESH_FILTER, wasmFile(MESH_FILTER), meshFilter, {
    vmId: TELEMETRY_VM_ID,
    failurePolicy: 'FAIL_OPEN',
  })
  return { [filter.name]: filter.typed_config }
}

function renderGateway(
  config: MeshConfig,
  wasm: string[],
  pathSource: (file: string) => Json,
  env: Record<string, string | undefined>,
  address: string,
) {
  const filters: unknown[] = []
  if (config.routes.some((r) => r.rate_limit)) {
    // Off unless a route turns it on with its own bucket.
    filters.push({
      name: LOCAL_RATELIMIT,
      typed_config: typed(LOCAL_RATELIMIT_TYPE, { stat_prefix: 'gateway_rate_limit' }),
    })
  }
  if (config.auth) {
    const credentials = config.auth.api_keys.map((k) => ({
      client: k.client,
      key: k.key ?? requireEnv(env, k.key_env!),
    }))
    filters.push({
      name: API_KEY_AUTH,
      typed_config: typed(API_KEY_AUTH_TYPE, { credentials, key_sources: [{ header: config.auth.header }] }),
    })
  }
  for (const name of wasm) {
    filters.push({
      name,
      config_discovery: { config_source: pathSource(ecdsFile(name)), type_urls: [`type.googleapis.com/${WASM_TYPE}`] },
    })
  }
  return hcmListener(
    GATEWAY_LISTENER,
    address,
    config.gateway.port,
    { rds: { route_config_name: ROUTE_CONFIG, config_source: pathSource(RDS_FILE) } },
    filters,
    {
      ...edgePaths,
      ...requestIds(config.gateway.trusted_callers),
      common_http_protocol_options: { idle_timeout: '60s' },
    },
  )
}

/**
 * Paths are made canonical before any filter or route sees them (RFC 3986
 * dot segments, percent-decoded unreserved characters, backslashes), with
 * doubled slashes merged and escaped slashes refused: the routes then match
 * the path the hosts will resolve, not a spelling of another one.
 */
const edgePaths = {
  normalize_path: true,
  merge_slashes: true,
  path_with_escaped_slashes_action: 'REJECT_REQUEST',
}

/**
 * Who chooses a request's id, which draws its canary variant (without a
 * sticky header), whether it is rate-sampled and its review-queue key: the
 * gateway makes a new one for every caller but those mesh.yaml trusts
 * (`gateway.trusted_callers`, such as an edge proxy in front), whose ids are
 * kept. Callers learn the id from the response for correlation. Envoy also
 * honours only trusted callers' x-envoy-* headers (timeouts, retries) and
 * x-forwarded-for.
 */
function requestIds(trusted: readonly string[]) {
  return {
    use_remote_address: true,
    preserve_external_request_id: false,
    always_set_request_id_in_response: true,
    // Envoy takes an empty list as "loopback and private ranges", so no one trusted is a range no caller comes from.
    internal_address_config: {
      unix_sockets: false,
      cidr_ranges: trusted.length > 0 ? trusted.map(cidrRange) : [NO_CALLER],
    },
  }
}

/** The unspecified address: never a connection's source. */
const NO_CALLER = { address_prefix: '0.0.0.0', prefix_len: 32 }

function cidrRange(cidr: string) {
  const { address, bits } = cidrParts(cidr)!
  return { address_prefix: address, prefix_len: bits }
}

function renderRoutes(config: MeshConfig): Json {
  const routes = config.routes.flatMap((r) =>
    r.canary ? [envoyRoute(config, r, 'canary'), envoyRoute(config, r, 'stable')] : [envoyRoute(config, r, 'stable')],
  )
  return { name: ROUTE_CONFIG, virtual_hosts: [{ name: 'all', domains: ['*'], routes }] }
}

function envoyRoute(config: MeshConfig, r: Route, variant: Variant) {
  const version = variant === 'canary' ? r.canary!.version : r.stable.version
  const model = escapeRegex(r.model)
  const variantMatch = variant === 'canary' ? [{ name: H.MESH_VARIANT, string_match: { exact: 'canary' } }] : []
  const headers = [...variantMatch, ...prefixMatch(r), ...headerMatch(r)]
  const perFilter: Record<string, unknown> = {}
  if (r.rate_limit) {
    const pct = { default_value: { numerator: 100, denominator: 'HUNDRED' }, runtime_key: `mesh.rate_limit.${r.name}` }
    perFilter[LOCAL_RATELIMIT] = typed(LOCAL_RATELIMIT_TYPE, {
      stat_prefix: `route_${r.name}`,
      token_bucket: {
        max_tokens: r.rate_limit.burst ?? r.rate_limit.requests_per_second,
        tokens_per_fill: r.rate_limit.requests_per_second,
        fill_interval: '1s',
      },
      filter_enabled: pct,
      filter_enforced: pct,
    })
  }
  if (config.auth) {
    perFilter[API_KEY_AUTH] = r.auth
      ? typed(API_KEY_AUTH_PER_ROUTE_TYPE, { allowed_clients: r.auth.clients })
      : typed('envoy.config.route.v3.FilterConfig', { disabled: true })
  }
  return {
    // Both entries carry the mesh route's name: the golden-signals plugin labels by it.
    name: r.name,
    match: { safe_regex: { regex: servedPathPattern(r) }, ...(headers.length > 0 ? { headers } : {}) },
    route: {
      cluster: clusterName(r, variant),
      timeout: duration(r.timeout_ms),
      regex_rewrite: {
        pattern: { regex: `^/v2/models/${model}(?:/versions/[^/]+)?/infer$` },
        substitution: `/v2/models/${r.model}/versions/${version}/infer`,
      },
      ...(r.retries || r.fallback ? { retry_policy: retryPolicy(r) } : {}),
    },
    ...(Object.keys(perFilter).length > 0 ? { typed_per_filter_config: perFilter } : {}),
  }
}

/** A prefix route takes, of its model's paths, those under its prefix (the path is matched as a pseudo-header). */
function prefixMatch(r: Route) {
  return r.match.prefix === undefined ? [] : [{ name: ':path', string_match: { prefix: r.match.prefix } }]
}

function headerMatch(r: Route) {
  const h = r.match.header
  if (!h) return []
  return [
    h.value === undefined ? { name: h.name, present_match: true } : { name: h.name, string_match: { exact: h.value } },
  ]
}

/**
 * The route's retries. With a fallback, a failed attempt is retried at the
 * next priority of the aggregate cluster (the fallback pool), so a request
 * whose host just died is answered by the fallback instead of failing.
 */
function retryPolicy(r: Route) {
  const retryOn = new Set(r.retries?.retry_on ?? [])
  if (r.fallback) for (const c of ['connect-failure', 'refused-stream', 'reset'] as const) retryOn.add(c)
  return {
    retry_on: [...retryOn].join(','),
    num_retries: Math.max(r.retries?.attempts ?? 0, r.fallback ? 1 : 0),
    ...(r.retries?.per_try_timeout_ms ? { per_try_timeout: duration(r.retries.per_try_timeout_ms) } : {}),
    retry_host_predicate: [
      {
        name: 'envoy.retry_host_predicates.previous_hosts',
        typed_config: typed('envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate', {}),
      },
    ],
    host_selection_retry_max_attempts: 3,
    ...(r.fallback
      ? {
          retry_priority: {
            name: 'envoy.retry_priorities.previous_priorities',
            typed_config: typed('envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig', {
              update_frequency: 1,
            }),
          },
        }
      : {}),
  }
}

/** Retries at once a variant's aggregate cluster allows: enough for every request in flight to fail over. */
const FAILOVER_MAX_RETRIES = 10_000

/** The cluster a variant's requests go to: its pool, or the aggregate of its pool and the fallback pool. */
export function clusterName(r: Route, variant: Variant): string {
  return r.fallback ? `${r.name}.${variant}-or-fallback` : `${r.name}.${variant}`
}

function renderClusters(
  config: MeshConfig,
  placement: Placement | undefined,
  agentAddress: string,
  k8s: RenderOptions['kubernetes'],
) {
  const hosts = new Map(config.hosts.map((h) => [h.name, h]))
  const clusters: Record<string, unknown>[] = []
  for (const r of config.routes) {
    const pools: [string, readonly string[]][] = [[`${r.name}.stable`, r.stable.hosts]]
    if (r.canary) pools.push([`${r.name}.canary`, r.canary.hosts])
    if (r.fallback) pools.push([`${r.name}.fallback`, r.fallback.hosts])
    for (const [name, refs] of pools)
      clusters.push(
        hostPool(
          name,
          refs.map((ref) => hosts.get(ref)!),
          r,
          placement,
          k8s,
        ),
      )
    if (r.fallback) {
      for (const variant of r.canary ? (['stable', 'canary'] as const) : (['stable'] as const)) {
        clusters.push({
          name: clusterName(r, variant),
          connect_timeout: '1s',
          lb_policy: 'CLUSTER_PROVIDED',
          cluster_type: {
            name: 'envoy.clusters.aggregate',
            typed_config: typed('envoy.extensions.clusters.aggregate.v3.ClusterConfig', {
              clusters: [`${r.name}.${variant}`, `${r.name}.fallback`],
            }),
          },
          // Retries are counted against the route's cluster, this one, and its retries are the failover:
          // when the variant's pool dies, every one of its requests needs one until the health checks see it,
          // and Envoy's default (3 retries at once) would answer the rest 503. A retry budget cannot serve here:
          // an aggregate counts no active requests of its own (they are its pools'), so its budget is always the minimum.
          // Each request still retries at most `attempts` times.
          circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_retries: FAILOVER_MAX_RETRIES }] },
        })
      }
    }
  }
  clusters.push(staticCluster(AGENT_CLUSTER, [[agentAddress, config.telemetry.agent.port]]))
  return clusters
}

function nodeAddress(p: Placement): string {
  const own = p.nodes.find((n) => n.name === p.node)
  if (!own) throw new Error(`placement: no node "${p.node}" among ${p.nodes.map((n) => n.name).join(', ')}`)
  return own.address
}

/**
 * A pool's endpoints by node: each node that runs one of the hosts, their
 * instances at the node's address, its own node at priority 0, the others at 1.
 */
function poolGroups(hosts: Host[], p: Placement): EndpointGroup[] {
  return p.nodes.flatMap((n) => {
    const endpoints = hosts
      .filter((h) => n.hosts.includes(h.name))
      .flatMap((h) => instancesOf(h).map((i) => [n.address, i.port] as const))
    return endpoints.length > 0 ? [{ zone: n.name, priority: n.name === p.node ? 0 : 1, endpoints }] : []
  })
}

function hostPool(
  name: string,
  hosts: Host[],
  r: Route,
  placement: Placement | undefined,
  k8s: RenderOptions['kubernetes'],
) {
  const od = r.outlier_detection
  const extra = {
    connect_timeout: '0.5s',
    // Active checks against the host's readiness: a stopped host leaves its pool within seconds, traffic or not.
    health_checks: [
      {
        timeout: '1s',
        interval: '2s',
        unhealthy_threshold: 2,
        healthy_threshold: 1,
        http_health_check: { path: '/v2/health/ready' },
      },
    ],
    ...(od
      ? {
          outlier_detection: {
            consecutive_5xx: od.consecutive_5xx,
            interval: duration(od.interval_ms),
            base_ejection_time: duration(od.base_ejection_ms),
            max_ejection_percent: od.max_ejection_percent,
          },
        }
      : {}),
    ...(r.retries
      ? {
          circuit_breakers: {
            thresholds: [
              {
                priority: 'DEFAULT',
                retry_budget: { budget_percent: { value: r.retries.budget_percent }, min_retry_concurrency: 3 },
              },
            ],
          },
        }
      : {}),
  }
  if (k8s)
    return dnsCluster(
      name,
      hosts.map((h) => [`${hostService(h.name)}.${k8s.namespace}.svc.cluster.local`, h.port] as const),
      extra,
    )
  return placement
    ? localityCluster(name, poolGroups(hosts, placement), extra)
    : staticCluster(
        name,
        hosts.flatMap(instancesOf).map((i) => [i.address, i.port] as const),
        extra,
      )
}

function canaryConfig(config: MeshConfig): MeshFilterConfig['canary'] {
  const seen = new Set<string>()
  const routes = []
  for (const r of config.routes) {
    // Routes to one model agree on its variants (checks.ts): one entry per model.
    if (seen.has(r.model)) continue
    seen.add(r.model)
    const c = r.canary
    routes.push({
      model: r.model,
      stable_version: r.stable.version,
      canary_version: c?.version ?? r.stable.version,
      canary_weight_bp: c?.weight ?? 0,
      sticky_header: c?.sticky_header ?? 'x-user-id',
      missing_key: c?.when_missing ?? 'request_id',
      allow_override: c?.allow_override ?? false,
    })
  }
  return { routes }
}

/** Metric names label only the models the mesh names (routes, fallbacks, host lists); any other is "other". */
function goldenSignalsConfig(config: MeshConfig): MeshFilterConfig['golden_signals'] {
  return {
    service: config.gateway.service,
    models: meshModels(config),
    // Each route's story rules: slower than its p99 objective, or asked for where it allows.
    routes: config.routes
      .filter((r) => r.slo || r.trace_header)
      .map((r) => ({ name: r.name, slow_ms: r.slo?.p99_ms ?? 0, trace_header: r.trace_header })),
  }
}

function samplingConfig(config: MeshConfig, sampled: Route[]): MeshFilterConfig['sampling'] {
  const seen = new Set<string>()
  const routes = []
  for (const r of sampled) {
    if (seen.has(r.model)) continue
    seen.add(r.model)
    routes.push({
      model: r.model,
      sample_rate_bp: r.sampling!.rate_bp,
      confidence_threshold: r.sampling!.confidence_threshold,
    })
  }
  return {
    routes,
    max_capture_bytes: config.sampling.max_capture_bytes,
    ...(config.sampling.pii_fields ? { pii_fields: config.sampling.pii_fields } : {}),
  }
}

function requireEnv(env: Record<string, string | undefined>, name: string): string {
  const value = env[name]
  if (!value) throw new Error(`auth.api_keys: environment variable ${name} is not set`)
  return value
}

const LISTENER_TYPE = 'envoy.config.listener.v3.Listener'
const CLUSTER_TYPE = 'envoy.config.cluster.v3.Cluster'
const ROUTE_CONFIG_TYPE = 'envoy.config.route.v3.RouteConfiguration'
const EXTENSION_TYPE = 'envoy.config.core.v3.TypedExtensionConfig'
const WASM_TYPE = 'envoy.extensions.filters.http.wasm.v3.Wasm'
const LOCAL_RATELIMIT = 'envoy.filters.http.local_ratelimit'
const LOCAL_RATELIMIT_TYPE = 'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit'
const API_KEY_AUTH = 'envoy.filters.http.api_key_auth'
const API_KEY_AUTH_TYPE = 'envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth'
const API_KEY_AUTH_PER_ROUTE_TYPE = 'envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuthPerRoute'
