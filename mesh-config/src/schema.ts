/**
 * @module
 * The shape of mesh.yaml: the one file operators edit. zod checks each field
 * on its own; cross-checks that need the whole file or the model repository
 * live in checks.ts. `npm run mesh:schema` publishes this as JSON Schema
 * (mesh-config/mesh.schema.json) for editors.
 */
import { isIP, isIPv6 } from 'node:net'
import { z } from 'zod'
import type { StreamKey } from '@model-mesh/contracts'
import { MAX_NODE_NAME } from './node-network.ts'

/** Names that appear in Envoy resource names and metric tags: keep them plain. */
const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "_" or "-", starting with a letter or digit')
const modelName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be letters, digits, "_", "." or "-"')
/** Versions are decimal folder names in the model repository; YAML may give them as numbers. */
const version = z
  .union([z.string(), z.number().int()])
  .transform(String)
  .pipe(z.string().regex(/^[1-9][0-9]*$/, 'must be a positive whole number, such as "2"'))
/** RFC 7230 token, lower case (Envoy and the filters compare header names in lower case). */
const headerName = z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a lower-case HTTP header name')
/** Listening ports of processes the mesh starts; 0 (any free port) is only for Envoy's own, which it reports back. */
const port = z.number().int().min(1).max(65_535)
const envoyPort = z.number().int().min(0).max(65_535)
const address = z.string().refine((a) => isIP(a) !== 0, 'must be an IP address, such as 127.0.0.1')
/** An address range, `address/prefix length` (10.0.0.0/8, 127.0.0.1/32, fd00::/8), as its parts; undefined when it is not one. */
export function cidrParts(c: string): { address: string; bits: number } | undefined {
  const [address, bits, ...rest] = c.split('/')
  const max = isIPv6(address!) ? 128 : isIP(address!) === 4 ? 32 : -1
  return rest.length === 0 && bits !== undefined && /^\d{1,3}$/.test(bits) && Number(bits) <= max
    ? { address: address!, bits: Number(bits) }
    : undefined
}
const cidr = z
  .string()
  .refine((c) => cidrParts(c) !== undefined, 'must be an address range such as 10.0.0.0/8 or fd00::/8')
const positiveInt = z.number().int().positive()
const basisPoints = z
  .number()
  .int()
  .min(0, 'must be 0-10000 (basis points)')
  .max(10_000, 'must be 0-10000 (basis points)')
const hostRefs = z.array(name).min(1, 'must name at least one host')

const match = z
  .strictObject({
    model: modelName
      .optional()
      .describe('Matches the Open Inference Protocol paths of this model: /v2/models/<model>/...'),
    prefix: z.string().startsWith('/', 'must start with "/"').optional(),
    header: z.strictObject({ name: headerName, value: z.string().min(1).optional() }).optional(),
  })
  .refine(
    (m) => [m.model, m.prefix, m.header].filter((x) => x !== undefined).length === 1,
    'needs exactly one of model, prefix or header',
  )

const stable = z.strictObject({
  version,
  hosts: hostRefs,
})

/** How a canary is judged against stable (the collector's canary analysis); every field has a default. */
const canaryAnalysis = z.strictObject({
  interval_s: positiveInt
    .max(86_400)
    .default(300)
    .describe('The analysis compares canary and stable over the last this many seconds.'),
  min_requests: positiveInt
    .default(200)
    .describe('Fewest requests each variant must have served in the interval for any verdict but hold.'),
  min_samples: positiveInt
    .default(200)
    .describe(
      'Fewest rate-sampled predictions each version needs for the model-quality checks (else they hold): PSI over ten bins of fewer is mostly noise.',
    ),
  max_error_rate_increase: z
    .number()
    .min(0)
    .max(1)
    .default(0.01)
    .describe(
      "Canary error rate (5xx and no response) may exceed stable's by at most this (0.01: one percentage point).",
    ),
  max_p99_ratio: z
    .number()
    .min(1)
    .default(1.5)
    .describe("Canary p99 latency may be at most this multiple of stable's..."),
  p99_slack_ms: z.number().min(0).default(10).describe('...or at most this many milliseconds over it.'),
  max_fallback_rate_increase: z
    .number()
    .min(0)
    .max(1)
    .default(0.01)
    .describe("Canary fallback rate may exceed stable's by at most this."),
  max_prediction_psi: z
    .number()
    .positive()
    .default(0.25)
    .describe("Population stability index of canary's predicted scores against stable's, at most."),
  max_confidence_drop: z
    .number()
    .min(0)
    .max(1)
    .default(0.05)
    .describe("Canary mean confidence may be at most this much below stable's."),
  mode: z
    .enum(['manual', 'auto'])
    .default('manual')
    .describe(
      'auto: the collector walks the weight up through steps while the analysis passes, promotes at the end, rolls back on a failed check.',
    ),
  steps: z
    .array(basisPoints)
    .min(1)
    .refine((xs) => xs.every((x, i) => i === 0 || x > xs[i - 1]!), 'must rise step by step')
    .default([1000, 2500, 5000])
    .describe('auto: the canary weights to walk through, in basis points.'),
  step_interval_s: positiveInt
    .max(86_400)
    .default(300)
    .describe('auto: a step lasts at least this long, and moves on only on a promote verdict.'),
  check_interval_s: positiveInt.max(3600).default(10).describe('auto: the analysis runs this often.'),
  failure_threshold: positiveInt
    .max(100)
    .default(1)
    .describe('auto: this many failed checks in a row roll back (1: at once).'),
})

const canary = z.strictObject({
  version,
  weight: basisPoints.describe('Canary share in basis points: 1000 is 10%.'),
  hosts: hostRefs,
  sticky_header: headerName.default('x-user-id').describe('The header whose value keeps a caller on one variant.'),
  when_missing: z
    .enum(['request_id', 'stable'])
    .default('request_id')
    .describe('Without the sticky header: hash the request id, or send to stable.'),
  allow_override: z
    .boolean()
    .default(false)
    .describe('Whether callers may pick the variant with `x-mesh-variant-override`.'),
  analysis: canaryAnalysis
    .prefault({})
    .describe('How the collector judges this canary against stable: promote, hold or rollback.'),
})

const fallback = z.strictObject({
  model: modelName.describe('The fallback model; its hosts answer every request with it, marked x-model-fallback.'),
  hosts: hostRefs,
})

const retries = z.strictObject({
  attempts: z.number().int().min(0).max(10).default(1),
  retry_on: z
    .array(
      z.enum([
        '5xx',
        'gateway-error',
        'reset',
        'connect-failure',
        'retriable-4xx',
        'refused-stream',
        'retriable-status-codes',
      ]),
    )
    .min(1)
    .default(['connect-failure', 'reset', 'gateway-error'])
    .describe("Envoy's retry_on conditions."),
  per_try_timeout_ms: positiveInt.optional(),
  budget_percent: z
    .number()
    .min(0)
    .max(100)
    .default(20)
    .describe(
      "Retries allowed as a share of active requests (Envoy's retry budget), so retries cannot swamp a sick host.",
    ),
})

const outlierDetection = z.strictObject({
  consecutive_5xx: positiveInt.default(5),
  interval_ms: positiveInt.default(10_000),
  base_ejection_ms: positiveInt.default(30_000),
  max_ejection_percent: z.number().int().min(0).max(100).default(50),
})

const rateLimit = z.strictObject({
  requests_per_second: positiveInt.describe(
    'Sustained requests per second, per Envoy (its workers share the bucket) and per variant: stable and canary each have their own bucket.',
  ),
  burst: positiveInt.optional().describe('Requests allowed at once above the rate.'),
})

const sampling = z.strictObject({
  rate_bp: basisPoints
    .default(0)
    .describe('Sampled share of requests in basis points (500 is 5%), decided from the request id.'),
  confidence_threshold: z
    .number()
    .min(0)
    .max(1)
    .default(0)
    .describe('Also sample responses whose x-model-confidence is below this (0 turns it off).'),
})

const slo = z.strictObject({
  p99_ms: positiveInt
    .max(86_400_000, 'must be at most 86400000 (a day)')
    .describe('p99 latency objective at the gateway.'),
  availability: z.number().gt(0).lt(1).describe('Share of requests that must succeed, such as 0.999.'),
  window_days: positiveInt.max(90).default(28).describe('The window the error budget is counted over.'),
})

const route = z.strictObject({
  name,
  match,
  model: modelName,
  stable,
  canary: canary.optional().describe('A second version taking a sticky share of callers.'),
  fallback: fallback.optional().describe("Where requests go when the variant's hosts fail or none is healthy."),
  timeout_ms: positiveInt
    .default(2_000)
    .describe("Whole-request timeout at the gateway; also the model host's deadline (x-envoy-expected-rq-timeout-ms)."),
  retries: retries.optional().describe('Envoy retries, bounded by a retry budget.'),
  outlier_detection: outlierDetection.optional().describe('Ejects hosts that keep failing.'),
  rate_limit: rateLimit.optional().describe("Envoy's local rate limit for this route (429 beyond it)."),
  auth: z
    .strictObject({ clients: z.array(name).min(1) })
    .optional()
    .describe('API key clients (from auth.api_keys) allowed on this route; absent: no key needed.'),
  sampling: sampling.optional().describe('Payload sampling for review and drift analysis (PII masked in Envoy).'),
  slo: slo
    .optional()
    .describe('Objectives alerting and canary analysis use; requests slower than p99_ms keep their story.'),
  trace_header: z
    .boolean()
    .default(false)
    .describe("Whether a caller's x-mesh-trace: 1 keeps the request's story (its own event; others are only counted)."),
})

/** Replicas of a scaled host pool (pods on Kubernetes; processes, on consecutive ports, locally). */
const replicas = z.number().int().min(1).max(64)

/**
 * How a host pool scales, one policy for both places it runs: on
 * Kubernetes a KEDA ScaledObject over the hosts' metrics in Prometheus
 * (render --target kubernetes), locally the supervisor.
 */
const autoscale = z
  .strictObject({
    min: replicas.describe('Replicas it never goes under.'),
    max: replicas.describe('Replicas it never goes over.'),
    signal: z
      .enum(['queue_wait', 'pending'])
      .describe(
        "What it scales on: `queue_wait`, the mean time a batch's oldest request waited for it (ms), against `target` (compare the route's slo.p99_ms); `pending`, requests waiting for a batch per replica, against `target`.",
      ),
    target: z
      .number()
      .positive()
      .max(3_600_000)
      .describe('The level the signal is held at: milliseconds for queue_wait, requests per replica for pending.'),
    up_window_s: z
      .number()
      .int()
      .min(0)
      .max(3_600)
      .default(10)
      .describe('Seconds the signal must stay over target before a replica is added.'),
    down_window_s: z
      .number()
      .int()
      .min(0)
      .max(3_600)
      .default(120)
      .describe('Seconds the signal must stay under target before a replica is removed (each drains first).'),
  })
  .refine((a) => a.min <= a.max, { path: ['max'], message: 'must be at least min' })

const host = z.strictObject({
  name,
  address: address.default('127.0.0.1'),
  port,
  grpc_port: port
    .optional()
    .describe(
      "Where its processes also serve the protocol's gRPC service (grpc_port, grpc_port+1, ... as with port); absent: REST only.",
    ),
  models: z
    .array(modelName)
    .min(1)
    .optional()
    .describe(
      'Models this host loads; default: those of the routes that use it (and their fallbacks), or all when no route does.',
    ),
  instances: z
    .number()
    .int()
    .min(1)
    .max(16)
    .default(1)
    .describe('Processes of this host, listening on port, port+1, ...: Envoy balances over them.'),
  autoscale: autoscale
    .optional()
    .describe('Scale this host on its queue (instances is where it starts); absent: a fixed number of replicas.'),
  role: z
    .enum(['primary', 'fallback'])
    .default('primary')
    .describe(
      "`fallback` hosts answer every request with the requested model's fallback (the last pool of an aggregate cluster).",
    ),
})

const apiKey = z
  .strictObject({
    client: name,
    key: z
      .string()
      .min(16, 'must be at least 16 characters')
      .optional()
      .describe('The key itself (for local use); or give key_env.'),
    key_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
      .optional()
      .describe('The environment variable that holds the key, read when the config is rendered.'),
  })
  .refine((k) => (k.key === undefined) !== (k.key_env === undefined), 'needs exactly one of key or key_env')

/** Sizes in megabytes; fractions allowed, such as 0.5. */
const megabytes = z.number().positive()

const spool = z.strictObject({
  memory_mb: megabytes.default(64).describe('Events waiting for NATS, held in memory first.'),
  disk_mb: megabytes
    .default(1024)
    .describe('Then spooled to disk; past this the oldest events are dropped and counted.'),
  dir: z.string().min(1).optional().describe('The disk spool, relative to this file; default <state_dir>/agent-spool.'),
})

/** Size limit of each JetStream stream (contracts/subjects.ts names them). */
const streamSizes = {
  requests: megabytes
    .default(4096)
    .describe(
      "MESH_REQUESTS: the proxies' request_stats records and the stories of the requests worth one, from Envoy.",
    ),
  payloads: megabytes.default(2048).describe('MESH_PAYLOADS: sampled payloads, from Envoy.'),
  host: megabytes.default(2048).describe('MESH_HOST: batch, fallback and saturation events, from the model hosts.'),
  review: megabytes.default(512).describe('MESH_REVIEW: a work queue (messages stay until a consumer takes them).'),
} satisfies Record<StreamKey, z.ZodType>

const telemetry = z.strictObject({
  nats_url: z
    .string()
    .regex(/^nats:\/\/[^/\s]+$/, 'must be a nats:// URL, such as nats://127.0.0.1:4222')
    .default('nats://127.0.0.1:4222')
    .describe('The NATS server (JetStream) telemetry goes to; the local mesh runs it.'),
  agent: z
    .strictObject({
      address: address.default('127.0.0.1'),
      port: port.default(4195).describe('Where the agent takes event batches (POST /v1/events) and answers /healthz.'),
      spool: spool.prefault({}).describe('Where events wait while NATS cannot take them: memory, then disk.'),
    })
    .prefault({})
    .describe(
      "The telemetry agent on this node: Envoy's telemetry exporter and the model hosts post event batches to it; it publishes them to NATS.",
    ),
  collector: z
    .strictObject({
      address: address.default('127.0.0.1'),
      port: port.default(4196).describe('Where the collector serves /metrics, the JSON API and /healthz.'),
      store_dir: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Where the collector keeps its aggregates (DuckDB), relative to this file; default <state_dir>/collector.',
        ),
      payloads: z
        .strictObject({
          dir: z
            .string()
            .min(1)
            .optional()
            .describe(
              'Where the Parquet files go (model=/date=/hour= partitions), relative to this file; default <state_dir>/payloads.',
            ),
          flush_s: positiveInt
            .max(86_400)
            .default(60)
            .describe('Sampled payloads are written at least this often (seconds).'),
          max_rows: positiveInt
            .max(1_000_000)
            .default(10_000)
            .describe('At most this many rows per write; as many waiting make a write sooner.'),
          retention_days: positiveInt
            .max(3650)
            .default(14)
            .describe('Hour partitions older than this many days are deleted.'),
        })
        .prefault({})
        .describe('The payload sink: sampled, masked payloads as zstd Parquet files for analysts.'),
      dashboard: z
        .strictObject({
          enabled: z.boolean().default(true).describe('Serve the SRE dashboard (a web page) on its own port.'),
          address: address.default('127.0.0.1'),
          port: port.default(4197).describe('Where the dashboard page, its live stream and the JSON API are served.'),
          refresh_ms: z
            .number()
            .int()
            .min(250)
            .max(60_000)
            .default(1000)
            .describe("How often the page's live stream pushes new figures (milliseconds)."),
          token_file: z
            .string()
            .min(1)
            .optional()
            .describe(
              'The operator token (one line, at least 16 characters) that writes need: canary changes, review labels. Relative to this file; default <state_dir>/dashboard-token, created with a random token when missing. Without the token everything is read-only.',
            ),
        })
        .prefault({})
        .describe('The SRE dashboard: routes, canaries, drift, alerts and the review queue, live.'),
    })
    .prefault({})
    .describe('The telemetry collector: consumes the streams, serves /metrics and the JSON API (/api/v1/...).'),
  streams: z
    .strictObject({
      duplicate_window_s: z
        .number()
        .int()
        .min(1)
        .max(86_400)
        .default(120)
        .describe("JetStream's duplicate window: a message id seen again within it is stored once."),
      max_mb: z.strictObject(streamSizes).prefault({}).describe('Size limit of each stream, in megabytes.'),
    })
    .prefault({})
    .describe('The JetStream streams the collector creates.'),
})

/** Drift thresholds; the defaults under quality.drift, a model's own under quality.models. */
const driftThresholds = {
  min_samples: positiveInt
    .max(1_000_000)
    .describe('Fewest sampled rows of a model version before any drift verdict (below: "insufficient data").'),
  psi: z
    .number()
    .positive()
    .max(10)
    .describe(
      "Population stability index over the baseline's decile bins at or above which a feature (or the predictions) has drifted.",
    ),
  ks: z
    .number()
    .positive()
    .max(1)
    .describe(
      'Kolmogorov-Smirnov distance to the baseline at or above which a feature (or the predictions) has drifted.',
    ),
}

const quality = z.strictObject({
  drift: z
    .strictObject({
      window_minutes: positiveInt
        .max(10_080)
        .default(60)
        .describe('Sampled inputs of the last this many minutes are compared with the training baseline.'),
      max_rows: positiveInt
        .max(100_000)
        .default(5000)
        .describe('At most this many of the newest rows per model version are kept for the comparison.'),
      min_samples: driftThresholds.min_samples.default(200),
      psi: driftThresholds.psi.default(0.2),
      ks: driftThresholds.ks.default(0.15),
    })
    .prefault({})
    .describe(
      'Drift of sampled inputs and predictions against the baseline.json each model version ships with (rate-sampled requests only: low-confidence samples are not a fair draw).',
    ),
  models: z
    .record(
      modelName,
      z.strictObject({
        drift: z
          .strictObject(driftThresholds)
          .partial()
          .optional()
          .describe("This model's thresholds, over quality.drift's."),
        review_confidence: z
          .number()
          .min(0)
          .max(1)
          .optional()
          .describe(
            "Sampled predictions with x-model-confidence under this go to the review queue; default: its routes' sampling.confidence_threshold.",
          ),
      }),
    )
    .default({})
    .describe('Per model, by name: what differs from the defaults.'),
})

/** The most nodes a mesh on one machine runs (one /24, names that fit Linux interfaces). */
export const MAX_NODES = 9

const node = z.strictObject({
  name: name
    .max(MAX_NODE_NAME, `must be at most ${MAX_NODE_NAME} characters (it names network interfaces)`)
    .describe('The node; its network namespace is `mesh-<name>`.'),
  hosts: z
    .array(name)
    .default([])
    .describe("The hosts (from `hosts`) this node runs, each on the node's own address at the host's port."),
  collector: z.boolean().default(false).describe('Whether this node runs a telemetry collector.'),
})

/** A Kubernetes resource quantity (100m, 0.5, 2, 512Mi, 1Gi). */
const quantity = z
  .string()
  .regex(/^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$/, 'must be a Kubernetes quantity, such as 500m, 2, 512Mi or 1Gi')
const resources = (cpu: string, memory: string) =>
  z
    .strictObject({
      cpu: quantity.default(cpu).describe('CPU requested, and its limit.'),
      memory: quantity.default(memory).describe('Memory requested, and its limit.'),
    })
    .prefault({})
/** A DNS-1123 label: what Kubernetes accepts as a namespace name. */
const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label: lower-case letters, digits and "-", at most 63')

const kubernetes = z.strictObject({
  namespace: dnsLabel.default('model-mesh').describe('The namespace every object is rendered into.'),
  image: z
    .string()
    .min(1)
    .default('localhost/model-mesh:latest')
    .describe("The project's image (Containerfile): hosts, agents, collectors and Envoy all run from it."),
  image_pull_policy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
  nats_image: z.string().min(1).default('nats:2.11-alpine').describe("NATS' own image, for the JetStream cluster."),
  gateway_replicas: replicas.default(2).describe('Gateway pods (Envoy and its node agent).'),
  collectors: z
    .number()
    .int()
    .min(1)
    .max(3)
    .default(2)
    .describe('Collector pods (a StatefulSet): they share the models and take over from each other.'),
  prometheus_url: z
    .url('must be a URL, such as http://prometheus-operated.monitoring.svc:9090')
    .default('http://prometheus-operated.monitoring.svc:9090')
    .describe('The Prometheus KEDA asks for the autoscaling signals.'),
  prometheus_namespace: dnsLabel
    .default('monitoring')
    .describe("Where Prometheus runs: the network policies let it scrape the mesh's metrics ports, and nothing else."),
  storage_class: dnsLabel
    .optional()
    .describe("The collectors' and NATS' volumes' class; absent: the cluster's default."),
  collector_storage: quantity.default('10Gi').describe("Each collector's store."),
  nats_storage: quantity.default('10Gi').describe("Each NATS server's JetStream store."),
  resources: z
    .strictObject({
      host: resources('1', '1Gi'),
      gateway: resources('1', '512Mi'),
      agent: resources('250m', '256Mi'),
      collector: resources('1', '2Gi'),
      nats: resources('500m', '1Gi'),
    })
    .prefault({})
    .describe('Requests (and equal limits) per container.'),
})

export const DEFAULT_STATE_DIR = '.local/mesh'

export const meshConfigSchema = z.strictObject({
  version: z
    .literal(1, 'must be 1, the only format version so far')
    .describe('The format of this file; bumped only for incompatible changes.'),
  gateway: z.strictObject({
    address: address.default('127.0.0.1'),
    port: envoyPort.describe('Where services send inference calls (0: any free port).'),
    admin_port: envoyPort.describe("Envoy's admin interface: always on loopback (0: any free port)."),
    workers: positiveInt.max(64).default(2).describe('Envoy worker threads.'),
    service: name.default('gateway').describe("The reporting Envoy's name in telemetry events."),
    trusted_callers: z
      .array(cidr)
      .default([])
      .describe(
        "Address ranges (CIDR) whose x-request-id the gateway keeps, such as an edge proxy in front of it; every other caller's request gets an id the gateway makes, since the id draws the canary variant and the sampling.",
      ),
    max_connections: positiveInt
      .max(1_000_000)
      .default(10_000)
      .describe('Downstream connections Envoy accepts at once, across listeners (its overload manager refuses more).'),
    max_heap_mb: positiveInt
      .min(64)
      .max(65_536)
      .default(1024)
      .describe("Envoy's heap: past 95% it frees what it can, past 98% it refuses new requests rather than be killed."),
  }),
  repository: z
    .string()
    .min(1)
    .describe('The model repository the hosts serve and the validator checks routes against, relative to this file.'),
  hosts: z
    .array(host)
    .min(1)
    .describe(
      'Model host processes; each loads the models its routes send it (its `models`), every retained version of them.',
    ),
  nodes: z
    .array(node)
    .min(1)
    .max(MAX_NODES)
    .optional()
    .describe(
      'Where things run when the mesh spans several nodes: each node runs a gateway, its hosts, a telemetry agent and a NATS server (a JetStream cluster together), and some a collector. Absent: one node, on loopback.',
    ),
  routes: z.array(route).min(1).describe('Requests to models, matched in order.'),
  auth: z
    .strictObject({ header: headerName.default('x-api-key'), api_keys: z.array(apiKey).min(1) })
    .optional()
    .describe("API keys checked by Envoy's api_key_auth filter on routes that name clients."),
  sampling: z
    .strictObject({
      max_capture_bytes: positiveInt
        .max(1_048_576)
        .default(16_384)
        .describe('Bytes copied from each body of a sampled request.'),
      pii_fields: z
        .array(z.string().min(1))
        .optional()
        .describe(
          'JSON keys whose values are masked at any depth, in addition to the patterns the sampler always masks (e-mail, card, phone, IBAN).',
        ),
    })
    .default({ max_capture_bytes: 16_384 }),
  telemetry: telemetry.prefault({}).describe('The telemetry pipeline: per-node agent, NATS JetStream, collector.'),
  quality: quality
    .prefault({})
    .describe('Model quality, judged by the collector: drift against the training baseline.'),
  kubernetes: kubernetes
    .prefault({})
    .describe('How `mesh render --target kubernetes` deploys this mesh; unused by the local mesh.'),
  state_dir: z
    .string()
    .min(1)
    .default(DEFAULT_STATE_DIR)
    .describe('Where apply keeps the rendered Envoy config and the history, relative to this file.'),
})

export type MeshConfig = z.output<typeof meshConfigSchema>
export type Route = MeshConfig['routes'][number]
export type Host = MeshConfig['hosts'][number]
export type MeshNode = NonNullable<MeshConfig['nodes']>[number]

/** One process of a host: `instances` processes listen on consecutive ports. */
export interface HostInstance {
  /** `<host>` for a single instance, `<host>-<n>` (from 1) for several. */
  name: string
  host: Host
  address: string
  port: number
  /** Where it serves gRPC too, when its host has a grpc_port. */
  grpcPort?: number
}

/** A host's instances, its `instances` of them (one argument: safe to pass to map and flatMap). */
export function instancesOf(h: Host): HostInstance[] {
  return instancesAt(h, h.instances)
}

/**
 * A host's first `count` instances. An autoscaled host's are always
 * numbered (`xl-1`, `xl-2`...), so an instance keeps its name whatever the
 * pool's size.
 */
export function instancesAt(h: Host, count: number): HostInstance[] {
  return Array.from({ length: count }, (_, i) => ({
    name: count === 1 && !h.autoscale ? h.name : `${h.name}-${i + 1}`,
    host: h,
    address: h.address,
    port: h.port + i,
    ...(h.grpc_port !== undefined ? { grpcPort: h.grpc_port + i } : {}),
  }))
}

/** Every instance a host may ever run: up to its autoscale maximum (their ports are kept for it). */
export function maxInstancesOf(h: Host): HostInstance[] {
  return instancesAt(h, h.autoscale ? Math.max(h.autoscale.max, h.instances) : h.instances)
}

/**
 * The models a host loads: its `models`, else those its routes need (the
 * route's model on stable and canary hosts, with the route's fallback model
 * so the host can fall back in-process; the fallback model on fallback
 * hosts, with the route's model, which it answers for); undefined (all)
 * when no route uses the host.
 */
export function modelsOf(config: MeshConfig, h: Host): string[] | undefined {
  if (h.models) return h.models
  const models = new Set<string>()
  for (const r of config.routes) {
    const serves =
      [...r.stable.hosts, ...(r.canary?.hosts ?? [])].includes(h.name) || (r.fallback?.hosts.includes(h.name) ?? false)
    if (!serves) continue
    models.add(r.model)
    if (r.fallback) models.add(r.fallback.model)
  }
  return models.size > 0 ? [...models].sort() : undefined
}

/**
 * Every model mesh.yaml names (routes' models and fallbacks, hosts' model
 * lists), sorted: telemetry labels metrics and subjects with these only,
 * and counts any other as "other".
 *
 * @example meshModels(config) // ['credit-risk', 'credit-risk-fallback']
 */
export function meshModels(config: MeshConfig): string[] {
  const models = new Set<string>()
  for (const r of config.routes) {
    models.add(r.model)
    if (r.fallback) models.add(r.fallback.model)
  }
  for (const h of config.hosts) for (const m of h.models ?? []) models.add(m)
  return [...models].sort()
}

/** Host and port of a `nats://host[:port]` URL (4222 when absent). */
export function natsEndpoint(url: string): { host: string; port: number } {
  const u = new URL(url.replace(/^nats:/, 'http:'))
  return { host: u.hostname, port: Number(u.port || 4222) }
}

/** `http://address:port`, with an IPv6 address in brackets. */
export function httpUrl(address: string, port: number): string {
  return `http://${isIPv6(address) ? `[${address}]` : address}:${port}`
}

/** What a host instance on a node calls itself (its `--name`, its telemetry's host label): `<node>-<instance>`. */
export const nodeInstanceName = (node: string, instance: string) => `${node}-${instance}`

/**
 * The nodes the mesh runs on: mesh.yaml's `nodes`, else `count` nodes
 * (`npm start -- --nodes N`) named n1, n2, ..., each running every host,
 * the first two a collector each (two share the work and take over from
 * each other); undefined for the one-node mesh.
 */
export function nodesOf(config: MeshConfig, count?: number): MeshNode[] | undefined {
  if (config.nodes) return config.nodes
  if (count === undefined) return undefined
  return Array.from({ length: count }, (_, i) => ({
    name: `n${i + 1}`,
    hosts: config.hosts.map((h) => h.name),
    collector: i < 2,
  }))
}
