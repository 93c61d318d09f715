/**
 * @module
 * bench:mesh's `native` listener: plain Envoy doing as much of the Wasm
 * filters' work as Envoy 1.40 can on its own, for the side-by-side price
 * (issue 10, section 3). What it does, job by job:
 *
 * - canary split (canary-router): `weighted_clusters` with
 *   `use_hash_policy: true`, so the route's `hash_policy` (the sticky header,
 *   then `x-request-id` when it is absent, `terminal` so a present sticky
 *   header alone decides) picks the cluster: the same key always lands on
 *   the same variant. Each variant's cluster adds `x-mesh-variant` and
 *   `x-model-version` to the upstream request, as the router tells the host.
 *   Not native: the bucket is Envoy's hash of the key, not the mesh's
 *   FNV-1a bucket, so another component cannot tell a key's variant from the
 *   key alone; no override header (a route matching the header would do it,
 *   left out as the bench sends none).
 * - golden signals (counts and latency by route, variant and status class):
 *   a route `stat_prefix` (`vhost.<vh>.route.<route>.upstream_rq_<code|Nxx>`,
 *   `upstream_rq_time`), one cluster per variant (`cluster.<variant>.*`,
 *   which every listener has anyway), a virtual cluster for the infer
 *   paths, and a `stats_tags` entry turning the variant into a label
 *   (Envoy's default tags label the route, cluster and status class; a
 *   route's variants being its clusters, cluster stats cross all three).
 *   Not native: a label from a response header (the version the host
 *   reports), nor labels bounded by the configured models.
 * - the golden-signal event: a JSON file access log line per request with
 *   the event's fields (request id, traceparent, route, cluster, upstream,
 *   status, response flags, duration, version); written to /dev/null
 *   unless `BENCH_NATIVE_LOG_DIR` names a folder (what ships the file, and
 *   its cost, is not counted; ours posts to an agent, counted).
 * - payload sampling: a second access log, filtered by `runtime_filter`
 *   at 5% (drawn from `x-request-id`, so every Envoy samples the same
 *   requests; not the same ones as ours, which hashes the id itself) or, by a CEL filter, a response `x-model-confidence` under
 *   the threshold; it writes the request's and response's headers. Not
 *   native: bodies (no access-log operator gives a body; the tap filter
 *   can, but samples by header match, not by rate) and PII masking; nor
 *   all headers (`%CEL(request.headers)%` prints "CelMap value"), so the
 *   headers are named one by one.
 */
import { join } from 'node:path'
import { headers as H } from '@model-mesh/contracts'
import { hcmListener, typed } from '@model-mesh/mesh-config'

export const NATIVE_LISTENER = 'native'

export interface NativeOptions {
  /** The route's name (the model), as the filtered listener's. */
  route: string
  /** Clusters by variant, and the version each serves. */
  stable: { cluster: string; version: string }
  canary: { cluster: string; version: string }
  /** Canary share in basis points, as canary_weight_bp. */
  canaryWeightBp: number
  stickyHeader: string
  sampleRatePercent: number
  confidenceThreshold: number
  /** Where the two access logs go: a folder, or undefined for /dev/null. */
  logDir?: string
}

/**
 * Envoy's default tags already label the route (`envoy_route`, from the
 * route's stat_prefix), the virtual cluster, the cluster and the status
 * class; this adds `variant` from the variant's cluster name
 * (`cluster.native-canary.upstream_rq_xx` →
 * `envoy_cluster_upstream_rq_xx{envoy_cluster_name="native-canary", variant="canary", envoy_response_code_class="2"}`).
 */
export const NATIVE_STATS_TAGS = [{ tag_name: 'variant', regex: '^cluster\\.native(-(stable|canary))\\.' }]

const fileLog = (path: string, json: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  name: 'envoy.access_loggers.file',
  ...extra,
  typed_config: typed('envoy.extensions.access_loggers.file.v3.FileAccessLog', {
    path,
    log_format: { json_format: json },
  }),
})

const variantCluster = (name: string, variant: string, version: string, weight: number) => ({
  name,
  weight,
  request_headers_to_add: [
    { header: { key: H.MESH_VARIANT, value: variant }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: H.MODEL_VERSION, value: version }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
  ],
})

export function nativeListener(o: NativeOptions) {
  const path = (file: string) => (o.logDir ? join(o.logDir, file) : '/dev/null')
  const req = (h: string) => `%REQ(${h})%`
  const resp = (h: string) => `%RESP(${h})%`
  const requestLog = fileLog(path('native-requests.log'), {
    ts: '%START_TIME(%s.%3f)%',
    request_id: req(H.REQUEST_ID),
    traceparent: req(H.TRACEPARENT),
    route: '%ROUTE_NAME%',
    version: resp(H.MODEL_VERSION),
    cluster: '%UPSTREAM_CLUSTER%',
    upstream: '%UPSTREAM_HOST%',
    status: '%RESPONSE_CODE%',
    flags: '%RESPONSE_FLAGS%',
    fallback: resp(H.MODEL_FALLBACK),
    duration_ms: '%DURATION%',
  })
  const sampleLog = fileLog(
    path('native-samples.log'),
    {
      ts: '%START_TIME(%s.%3f)%',
      request_id: req(H.REQUEST_ID),
      traceparent: req(H.TRACEPARENT),
      route: '%ROUTE_NAME%',
      cluster: '%UPSTREAM_CLUSTER%',
      status: '%RESPONSE_CODE%',
      method: req(':method'),
      path: req(':path'),
      request_content_type: req('content-type'),
      request_content_length: req('content-length'),
      request_user_agent: req('user-agent'),
      request_sticky_key: req(o.stickyHeader),
      response_content_type: resp('content-type'),
      response_content_length: resp('content-length'),
      response_model_version: resp(H.MODEL_VERSION),
      response_model_name: resp(H.MODEL_NAME),
      response_confidence: resp(H.MODEL_CONFIDENCE),
      bytes_received: '%BYTES_RECEIVED%',
      bytes_sent: '%BYTES_SENT%',
    },
    {
      filter: {
        or_filter: {
          filters: [
            // Without use_independent_randomness the draw comes from x-request-id: the same requests everywhere.
            {
              runtime_filter: {
                runtime_key: 'bench.native.sample',
                percent_sampled: { numerator: o.sampleRatePercent, denominator: 'HUNDRED' },
              },
            },
            {
              extension_filter: {
                name: 'envoy.access_loggers.extension_filters.cel',
                typed_config: typed('envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter', {
                  expression: `'${H.MODEL_CONFIDENCE}' in response.headers && double(response.headers['${H.MODEL_CONFIDENCE}']) < ${o.confidenceThreshold}`,
                }),
              },
            },
          ],
        },
      },
    },
  )
  const route = {
    name: o.route,
    stat_prefix: o.route,
    match: { prefix: '/' },
    route: {
      hash_policy: [
        { header: { header_name: o.stickyHeader }, terminal: true },
        { header: { header_name: H.REQUEST_ID } },
      ],
      weighted_clusters: {
        use_hash_policy: true,
        clusters: [
          variantCluster(o.stable.cluster, 'stable', o.stable.version, 10_000 - o.canaryWeightBp),
          variantCluster(o.canary.cluster, 'canary', o.canary.version, o.canaryWeightBp),
        ],
      },
    },
  }
  const listener = hcmListener(NATIVE_LISTENER, '127.0.0.1', 0, { routes: [route] }, [], {
    access_log: [requestLog, sampleLog],
  })
  // The virtual cluster (per-path-class counts and latency) goes on the one virtual host hcmListener builds.
  const hcm = listener.filter_chains[0]!.filters[0]!.typed_config as {
    route_config: { virtual_hosts: Record<string, unknown>[] }
  }
  hcm.route_config.virtual_hosts[0]!.virtual_clusters = [
    {
      name: 'infer',
      headers: [
        { name: ':path', string_match: { safe_regex: { regex: '^/v2/models/[^/]+(/versions/[^/]+)?/infer$' } } },
      ],
    },
  ]
  return listener
}
