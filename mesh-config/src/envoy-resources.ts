/**
 * @module
 * Small builders for the Envoy v3 resources the mesh uses, shared by the
 * renderer, the tests and the benchmarks. Plain JSON objects: Envoy checks
 * them (`envoy --mode validate` in the tests).
 */

const TYPE = 'type.googleapis.com/'

export const routerFilter = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': `${TYPE}envoy.extensions.filters.http.router.v3.Router` },
}

export function socketAddress(address: string, port: number) {
  return { socket_address: { address, port_value: port } }
}

/** `1500` → `"1.5s"`, Envoy's Duration in JSON. */
export function duration(ms: number): string {
  return `${ms / 1000}s`
}

type Endpoints = readonly (readonly [string, number])[]

/** Endpoints of one locality (a node) at one priority: 0 is used first, higher ones as the lower fail. */
export interface EndpointGroup {
  zone: string
  priority: number
  endpoints: Endpoints
}

/** A static cluster over loopback endpoints (`port` or `[address, port]` pairs). */
export function staticCluster(name: string, endpoints: number | Endpoints, extra: Record<string, unknown> = {}) {
  const list = typeof endpoints === 'number' ? [['127.0.0.1', endpoints] as const] : endpoints
  return cluster(name, [{ lb_endpoints: lbEndpoints(list) }], extra)
}

/** A static cluster whose endpoints are grouped by locality and priority (a pool that spans nodes, its own node's first). */
export function localityCluster(name: string, groups: readonly EndpointGroup[], extra: Record<string, unknown> = {}) {
  const endpoints = groups.map((g) => ({
    locality: { zone: g.zone },
    priority: g.priority,
    lb_endpoints: lbEndpoints(g.endpoints),
  }))
  return cluster(name, endpoints, extra)
}

/**
 * A cluster of DNS names, each resolved to every address it has (a
 * Kubernetes headless Service names its ready pods): Envoy health-checks and
 * balances the pods themselves, and sees a pod come or go within the refresh.
 */
export function dnsCluster(name: string, endpoints: Endpoints, extra: Record<string, unknown> = {}) {
  return cluster(name, [{ lb_endpoints: lbEndpoints(endpoints) }], {
    type: 'STRICT_DNS',
    dns_lookup_family: 'V4_PREFERRED',
    dns_refresh_rate: '5s',
    respect_dns_ttl: false,
    ...extra,
  })
}

function cluster(name: string, endpoints: unknown[], extra: Record<string, unknown>) {
  return { name, type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: name, endpoints }, ...extra }
}

const lbEndpoints = (list: Endpoints) =>
  list.map(([address, port]) => ({ endpoint: { address: socketAddress(address, port) } }))

interface PluginOptions {
  /** Defaults to the name; modules that share data or queues with another must share its VM id. */
  vmId?: string
  /** What Envoy does when the VM has failed: the mesh serves on (FAIL_OPEN); tests may choose otherwise. */
  failurePolicy?: 'FAIL_OPEN' | 'FAIL_CLOSED'
  /**
   * Variables of Envoy's own environment the VM may read (WASI environ_get):
   * how a secret reaches a module, since the admin interface's /config_dump
   * shows configurations, and these only by name.
   */
  hostEnvKeys?: readonly string[]
}

function pluginConfig(name: string, wasmFile: string, configuration: unknown, options: PluginOptions) {
  return {
    name,
    root_id: name,
    configuration: { '@type': `${TYPE}google.protobuf.StringValue`, value: JSON.stringify(configuration) },
    vm_config: {
      vm_id: options.vmId ?? name,
      runtime: 'envoy.wasm.runtime.v8',
      code: { local: { filename: wasmFile } },
      ...(options.hostEnvKeys?.length ? { environment_variables: { host_env_keys: [...options.hostEnvKeys] } } : {}),
    },
    ...(options.failurePolicy ? { failure_policy: options.failurePolicy } : {}),
  }
}

/** An HTTP filter running a proxy-wasm module with a JSON configuration. */
export function wasmHttpFilter(name: string, wasmFile: string, configuration: unknown, options: PluginOptions = {}) {
  return {
    name,
    typed_config: {
      '@type': `${TYPE}envoy.extensions.filters.http.wasm.v3.Wasm`,
      config: pluginConfig(name, wasmFile, configuration, options),
    },
  }
}

/** A singleton Wasm service (envoy.bootstrap.wasm), for the bootstrap's bootstrap_extensions. */
export function wasmService(name: string, wasmFile: string, configuration: unknown, options: PluginOptions = {}) {
  return {
    name: 'envoy.bootstrap.wasm',
    typed_config: {
      '@type': `${TYPE}envoy.extensions.wasm.v3.WasmService`,
      singleton: true,
      config: pluginConfig(name, wasmFile, configuration, options),
    },
  }
}

/** Where an HTTP connection manager gets its routes: inline, or by RDS. */
export type RouteSource = { routes: unknown[] } | { rds: Record<string, unknown> }

/** An HTTP connection manager listener: inline routes in one catch-all virtual host, or a route table by RDS. */
export function hcmListener(
  name: string,
  address: string,
  port: number,
  routing: RouteSource,
  httpFilters: unknown[],
  extra: Record<string, unknown> = {},
) {
  return {
    name,
    address: socketAddress(address, port),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': `${TYPE}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
              stat_prefix: name,
              ...('rds' in routing
                ? { rds: routing.rds }
                : {
                    route_config: {
                      name: `${name}-routes`,
                      virtual_hosts: [{ name: 'all', domains: ['*'], routes: routing.routes }],
                    },
                  }),
              http_filters: [...httpFilters, routerFilter],
              ...extra,
            },
          },
        ],
      },
    ],
  }
}

export const typed = (type: string, body: Record<string, unknown>) => ({ '@type': `${TYPE}${type}`, ...body })
