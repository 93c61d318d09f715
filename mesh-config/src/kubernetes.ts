/**
 * @module
 * `mesh render --target kubernetes`: the mesh of mesh.yaml as plain
 * Kubernetes objects a user can read and `kubectl apply`. The same pieces
 * as the multi-node mesh, placed by Kubernetes:
 *
 * - the gateway: Envoy with its node agent beside it in one pod (a native
 *   sidecar): Envoy's exporter posts telemetry over the pod's loopback, as
 *   on a node; its files (a Secret: the listeners hold API keys) are watched
 *   by Envoy, so a re-rendered Secret applies live when the kubelet swaps it;
 * - a Deployment per mesh host, each pod a model host with its own agent
 *   sidecar (the hosts post telemetry to an agent on loopback, which keeps
 *   the telemetry credential off the network), found by the gateway through
 *   a headless Service: Envoy balances and health-checks the ready pods;
 * - NATS as a three-server JetStream cluster (a StatefulSet, NATS' own
 *   image); the collectors as a StatefulSet whose pods share the models and
 *   take over from each other, each with a volume for its store;
 * - Secrets for every credential; NetworkPolicies so that only the gateway
 *   reaches the hosts and only the mesh reaches NATS (and Prometheus its
 *   metrics ports); a KEDA ScaledObject per host with an `autoscale` policy;
 *   a Prometheus Operator PodMonitor for the pods' metrics.
 *
 * Pure: the credentials come in, objects go out (the CLI writes them).
 */
import { posix } from 'node:path'
import { bootstrapText, fileText } from '@model-mesh/contracts'
import { TELEMETRY_TOKEN_ENV } from './credentials.ts'
import { agentSettingsOf } from './agent-settings.ts'
import type { LoadedMesh } from './load.ts'
import { envoyArgs, hostArgs } from './local-mesh.ts'
import { natsConfigText, natsUser, type NatsCredential, type NatsRole } from './nats-auth.ts'
import { NATS_CLIENT_PORT, NATS_CLUSTER_PORT, natsServerArgs } from './nats-server.ts'
import { hostService, renderMesh } from './render.ts'
import type { Host, MeshConfig } from './schema.ts'
import { digestOf } from './state.ts'

type Json = Record<string, unknown>

/** One Kubernetes object, as `kubectl apply` takes it. */
export interface KubeObject extends Json {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
}

/** What the rendered Secrets hold: the same credentials the local mesh keeps under its state directory. */
export interface MeshCredentials {
  operatorToken: string
  telemetryToken: string
  nats: Record<NatsRole, NatsCredential>
}

export interface KubernetesOptions {
  /** Where the project lives in the image (the Containerfile's WORKDIR). */
  imageRoot?: string
  /** Where the gateway pod mounts Envoy's files. */
  envoyDir?: string
  /** API keys from `key_env` variables, read when rendered. */
  env?: Record<string, string | undefined>
}

export interface RenderedKubernetes {
  /** Everything but the Secrets, in the order they are applied. */
  objects: KubeObject[]
  /** The Secrets (credentials, Envoy's files with API keys, mesh.yaml): written apart, readable by their owner only. */
  secrets: KubeObject[]
}

/** The label every object carries, and the one that says which part of the mesh it is. */
const PART_OF = 'app.kubernetes.io/part-of'
const COMPONENT = 'app.kubernetes.io/component'
/** On pods that talk to NATS: the policy in front of NATS lets these in. */
const NATS_CLIENT = 'model-mesh/nats-client'
/** On host pods: which mesh host (the PodMonitor keeps it as `mesh_host`, the autoscaling queries select by it). */
const MESH_HOST = 'model-mesh/host'

/** The user the image runs as (the Containerfile creates it). */
export const IMAGE_UID = 10001

/** On pod templates: a digest of what the pod reads once at start; a change of it rolls the pods. */
const CONFIG_DIGEST = 'model-mesh/read-at-start'

const NATS_MONITOR_PORT = 8222
const NATS_REPLICAS = 3
/** How long a host may take to load its models before Kubernetes restarts it (the local mesh's HOST_START_MS). */
const HOST_STARTUP_S = 120

const SECRET = {
  credentials: 'mesh-credentials',
  nats: 'nats-config',
  envoy: 'gateway-envoy',
  mesh: 'mesh-yaml',
} as const
const AGENT_SETTINGS = 'agent-settings'

export function renderKubernetes(
  mesh: LoadedMesh,
  credentials: MeshCredentials,
  options: KubernetesOptions = {},
): RenderedKubernetes {
  const config = mesh.config
  const k = config.kubernetes
  const ns = k.namespace
  const root = options.imageRoot ?? '/app'
  const envoyDir = options.envoyDir ?? '/etc/envoy'
  for (const problem of kubernetesProblems(config)) throw new Error(problem)
  // mesh.yaml sits at the image's root, so its relative paths resolve there as they did where it was written.
  const at = (p: string) => posix.resolve(root, p)
  const paths = {
    meshFile: at('mesh.yaml'),
    repository: at(config.repository),
    stateDir: at(config.state_dir),
    credentials: '/etc/mesh/credentials',
    agentSettings: '/etc/mesh/agent',
    spool: '/var/spool/mesh-agent',
  }
  const meta = (name: string, component: string, extra: Record<string, string> = {}) => ({
    name,
    namespace: ns,
    labels: { [PART_OF]: 'model-mesh', [COMPONENT]: component, 'app.kubernetes.io/name': name, ...extra },
  })
  const selector = (name: string) => ({ [PART_OF]: 'model-mesh', 'app.kubernetes.io/name': name })
  const dns = (service: string) => `${service}.${ns}.svc.cluster.local`
  const natsUrls = Array.from(
    { length: NATS_REPLICAS },
    (_, i) => `nats://nats-${i}.${dns('nats')}:${NATS_CLIENT_PORT}`,
  ).join(',')
  const agentPort = config.telemetry.agent.port
  const collectorPort = config.telemetry.collector.port
  const dashboard = config.telemetry.collector.dashboard
  const image = { image: k.image, imagePullPolicy: k.image_pull_policy }
  const resources = (r: { cpu: string; memory: string }) => ({ requests: { ...r }, limits: { ...r } })
  const podName = { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }
  const credentialFile = (key: string) => posix.join(paths.credentials, key)
  const credentialsVolume = { name: 'credentials', secret: { secretName: SECRET.credentials, defaultMode: 0o440 } }
  const credentialsMount = { name: 'credentials', mountPath: paths.credentials, readOnly: true }
  const tmp = { name: 'tmp', emptyDir: {} }
  // Node tools write nothing but /tmp (tsx's cache): the root filesystem stays read-only.
  const hardened = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  }
  const podSecurity = {
    runAsNonRoot: true,
    runAsUser: IMAGE_UID,
    runAsGroup: IMAGE_UID,
    fsGroup: IMAGE_UID,
    seccompProfile: { type: 'RuntimeDefault' },
  }
  const node = (bin: string) => ['node', posix.join(root, 'bin', bin)]
  const httpProbe = (path: string, port: number | string, o: Json = {}) => ({
    httpGet: { path, port },
    periodSeconds: 5,
    timeoutSeconds: 2,
    ...o,
  })

  /** The node agent, as a native sidecar: up before its pod's main container, down after it (its spool drains last). */
  const agentSidecar = () => ({
    name: 'telemetry-agent',
    ...image,
    restartPolicy: 'Always',
    command: node('telemetry-agent.mjs'),
    args: ['--settings', posix.join(paths.agentSettings, 'telemetry-agent.json'), '--id', '$(POD_NAME)'],
    env: [podName, { name: 'LOG_LEVEL', value: 'info' }],
    ports: [{ name: 'agent', containerPort: agentPort }],
    readinessProbe: httpProbe('/healthz', 'agent'),
    startupProbe: httpProbe('/healthz', 'agent', { failureThreshold: 30, periodSeconds: 1 }),
    resources: resources(k.resources.agent),
    securityContext: hardened,
    volumeMounts: [
      credentialsMount,
      { name: 'agent-settings', mountPath: paths.agentSettings, readOnly: true },
      { name: 'spool', mountPath: paths.spool },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  })
  const agentVolumes = [
    { name: 'agent-settings', configMap: { name: AGENT_SETTINGS } },
    { name: 'spool', emptyDir: {} },
  ]

  const objects: KubeObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [PART_OF]: 'model-mesh' } } },
  ]
  const add = (...o: KubeObject[]) => objects.push(...o)

  // Every pod's agent reads the same settings; --id names each after its pod.
  const settings = agentSettingsOf(mesh)
  const agentSettings = `${JSON.stringify(
    {
      ...settings,
      id: 'agent',
      address: '0.0.0.0',
      nats: { url: natsUrls, user: natsUser('agent'), password_file: credentialFile('nats-agent') },
      token_file: credentialFile('telemetry-token'),
      spool: { ...settings.spool, dir: paths.spool },
    },
    null,
    2,
  )}\n`
  add({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(AGENT_SETTINGS, 'telemetry-agent'),
    data: { 'telemetry-agent.json': agentSettings },
  })
  // What a pod reads once at start (credentials, settings, mesh.yaml through subPath mounts): a digest of it on the
  // pod template, so an apply that changes it rolls the pods. Envoy's files are left out: they apply live.
  const credentialData = {
    'operator-token': credentials.operatorToken,
    'telemetry-token': credentials.telemetryToken,
    'nats-agent': credentials.nats.agent.pass,
    'nats-collector': credentials.nats.collector.pass,
    'nats-operator': credentials.nats.operator.pass,
  }
  const natsConf = natsConfigText(credentials.nats)
  const readAtStart = (...parts: unknown[]) => ({ [CONFIG_DIGEST]: digestOf(JSON.stringify(parts)) })

  // NATS: three servers, one JetStream cluster; each its own volume.
  const natsLabels = { [COMPONENT]: 'nats' }
  add(
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('nats', 'nats'),
      spec: {
        clusterIP: 'None',
        // The servers must find each other before any is ready: JetStream's cluster forms first.
        publishNotReadyAddresses: true,
        selector: selector('nats'),
        ports: [
          { name: 'client', port: NATS_CLIENT_PORT, targetPort: 'client' },
          { name: 'cluster', port: NATS_CLUSTER_PORT, targetPort: 'cluster' },
          { name: 'monitor', port: NATS_MONITOR_PORT, targetPort: 'monitor' },
        ],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: meta('nats', 'nats'),
      spec: {
        serviceName: 'nats',
        replicas: NATS_REPLICAS,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: selector('nats') },
        template: {
          metadata: { labels: { ...meta('nats', 'nats').labels, ...natsLabels }, annotations: readAtStart(natsConf) },
          spec: {
            securityContext: podSecurity,
            containers: [
              {
                name: 'nats',
                image: k.nats_image,
                imagePullPolicy: k.image_pull_policy,
                args: [
                  ...natsServerArgs({
                    storeDir: '/data/jetstream',
                    host: '0.0.0.0',
                    port: NATS_CLIENT_PORT,
                    name: '$(POD_NAME)',
                    configFile: '/etc/nats/nats-server.conf',
                    cluster: {
                      name: 'mesh',
                      port: NATS_CLUSTER_PORT,
                      routes: Array.from(
                        { length: NATS_REPLICAS },
                        (_, i) => `nats://nats-${i}.${dns('nats')}:${NATS_CLUSTER_PORT}`,
                      ),
                    },
                  }),
                  '--http_port',
                  String(NATS_MONITOR_PORT),
                ],
                env: [podName],
                ports: [
                  { name: 'client', containerPort: NATS_CLIENT_PORT },
                  { name: 'cluster', containerPort: NATS_CLUSTER_PORT },
                  { name: 'monitor', containerPort: NATS_MONITOR_PORT },
                ],
                // NATS' own health endpoint: ready once JetStream is, live while the server is.
                startupProbe: httpProbe('/healthz?js-enabled-only=true', 'monitor', { failureThreshold: 90 }),
                livenessProbe: httpProbe('/healthz?js-enabled-only=true', 'monitor', { periodSeconds: 10 }),
                readinessProbe: httpProbe('/healthz?js-server-only=true', 'monitor'),
                resources: resources(k.resources.nats),
                securityContext: hardened,
                volumeMounts: [
                  { name: 'data', mountPath: '/data' },
                  { name: 'config', mountPath: '/etc/nats', readOnly: true },
                ],
              },
            ],
            volumes: [{ name: 'config', secret: { secretName: SECRET.nats, defaultMode: 0o440 } }],
          },
        },
        volumeClaimTemplates: [claim('data', k.nats_storage, k.storage_class)],
      },
    },
    disruptionBudget(meta('nats', 'nats'), selector('nats')),
  )

  // The hosts: a Deployment each, found by the gateway through a headless Service of its ready pods.
  for (const host of config.hosts) {
    const name = hostService(host.name)
    // Its agent sidecar publishes to NATS.
    const labels = { ...meta(name, 'model-host').labels, [MESH_HOST]: host.name, [NATS_CLIENT]: 'true' }
    add(
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(name, 'model-host'),
        spec: {
          clusterIP: 'None',
          selector: selector(name),
          ports: [
            { name: 'oip', port: host.port, targetPort: 'oip' },
            ...(host.grpc_port !== undefined
              ? [{ name: 'oip-grpc', port: host.grpc_port, targetPort: 'oip-grpc' }]
              : []),
          ],
        },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta(name, 'model-host', { [MESH_HOST]: host.name }),
        spec: {
          // An autoscaled pool's size is KEDA's: a replicas field here would reset it on every apply.
          ...(host.autoscale ? {} : { replicas: host.instances }),
          selector: { matchLabels: selector(name) },
          // A new pod takes traffic only when ready (its models loaded); an old one leaves only after.
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
          template: {
            metadata: { labels, annotations: readAtStart(credentialData, agentSettings) },
            spec: {
              securityContext: podSecurity,
              // Envoy's outlier detection and health checks take a stopping pod out; the drain is its deadline.
              terminationGracePeriodSeconds: 30,
              initContainers: [agentSidecar()],
              containers: [
                {
                  name: 'model-host',
                  ...image,
                  command: node('model-host.mjs'),
                  args: hostArgs(config, host, {
                    repositoryDir: paths.repository,
                    port: host.port,
                    grpcPort: host.grpc_port,
                    address: '0.0.0.0',
                    // The mesh host's name, which the collector's labels know (every pod of a pool reports as the pool).
                    name: host.name,
                    agentUrl: `http://127.0.0.1:${agentPort}`,
                    telemetryTokenFile: credentialFile('telemetry-token'),
                    operatorTokenFile: credentialFile('operator-token'),
                  }),
                  env: [{ name: 'LOG_LEVEL', value: 'info' }],
                  ports: [
                    { name: 'oip', containerPort: host.port },
                    ...(host.grpc_port !== undefined ? [{ name: 'oip-grpc', containerPort: host.grpc_port }] : []),
                  ],
                  // Ready only once every model it serves is loaded: the headless Service (and so the gateway) lists it then.
                  startupProbe: httpProbe('/v2/health/ready', 'oip', {
                    periodSeconds: 2,
                    failureThreshold: HOST_STARTUP_S / 2,
                  }),
                  readinessProbe: httpProbe('/v2/health/ready', 'oip'),
                  livenessProbe: httpProbe('/v2/health/live', 'oip', { periodSeconds: 10, failureThreshold: 3 }),
                  resources: resources(k.resources.host),
                  securityContext: hardened,
                  volumeMounts: [credentialsMount, { name: 'tmp', mountPath: '/tmp' }],
                },
              ],
              volumes: [credentialsVolume, tmp, ...agentVolumes],
            },
          },
        },
      },
      disruptionBudget(meta(name, 'model-host'), selector(name)),
    )
  }

  // The gateway: Envoy and its agent. Envoy's files come from a Secret it watches.
  const rendered = renderMesh(config, {
    xdsDir: envoyDir,
    wasmFile: (f) => posix.join(root, 'wasm-filters/build', `${f}.wasm`),
    env: options.env,
    telemetryCredential: true,
    kubernetes: { namespace: ns },
  })
  const envoyFiles: Record<string, string> = { 'bootstrap.json': bootstrapText(rendered.bootstrap) }
  for (const f of rendered.files) envoyFiles[f.file] = fileText(f)
  add(
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('gateway', 'gateway'),
      spec: {
        selector: selector('gateway'),
        ports: [{ name: 'http', port: config.gateway.port, targetPort: 'http' }],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('gateway', 'gateway'),
      spec: {
        replicas: k.gateway_replicas,
        selector: { matchLabels: selector('gateway') },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: {
            labels: { ...meta('gateway', 'gateway').labels, [NATS_CLIENT]: 'true' },
            annotations: readAtStart(credentialData, agentSettings),
          },
          spec: {
            securityContext: podSecurity,
            initContainers: [agentSidecar()],
            containers: [
              {
                name: 'envoy',
                ...image,
                command: ['envoy'],
                args: envoyArgs({
                  bootstrap: posix.join(envoyDir, 'bootstrap.json'),
                  adminAddressFile: '/tmp/envoy-admin-address',
                  workers: config.gateway.workers,
                }),
                // The exporter's credential, by environment, as on a node: the bootstrap names only the variable.
                env: [
                  {
                    name: TELEMETRY_TOKEN_ENV,
                    valueFrom: { secretKeyRef: { name: SECRET.credentials, key: 'telemetry-token' } },
                  },
                ],
                ports: [{ name: 'http', containerPort: config.gateway.port }],
                // Its admin interface stays on loopback: ready once the gateway listener takes connections.
                readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 2 },
                livenessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 10, failureThreshold: 3 },
                resources: resources(k.resources.gateway),
                securityContext: hardened,
                volumeMounts: [
                  { name: 'envoy', mountPath: envoyDir, readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'envoy', secret: { secretName: SECRET.envoy, defaultMode: 0o440 } },
              credentialsVolume,
              tmp,
              ...agentVolumes,
            ],
          },
        },
      },
    },
    disruptionBudget(meta('gateway', 'gateway'), selector('gateway')),
  )

  // The collectors: each its own store; with several, they share the models and ask each other.
  const collectors = k.collectors
  const peers = Array.from(
    { length: collectors },
    (_, i) => `http://collector-${i}.${dns('collector')}:${collectorPort}`,
  )
  const tokenPath = config.telemetry.collector.dashboard.token_file
    ? at(config.telemetry.collector.dashboard.token_file)
    : posix.join(paths.stateDir, 'dashboard-token')
  const apiPorts = [
    { name: 'api', port: collectorPort, targetPort: 'api' },
    ...(dashboard.enabled ? [{ name: 'dashboard', port: dashboard.port, targetPort: 'dashboard' }] : []),
  ]
  add(
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('collector', 'telemetry-collector'),
      spec: { clusterIP: 'None', selector: selector('collector'), ports: apiPorts },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('collector-api', 'telemetry-collector'),
      spec: { selector: selector('collector'), ports: apiPorts },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: meta('collector', 'telemetry-collector'),
      spec: {
        serviceName: 'collector',
        replicas: collectors,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: selector('collector') },
        template: {
          metadata: {
            labels: { ...meta('collector', 'telemetry-collector').labels, [NATS_CLIENT]: 'true' },
            annotations: readAtStart(credentialData, mesh.text),
          },
          spec: {
            securityContext: podSecurity,
            containers: [
              {
                name: 'telemetry-collector',
                ...image,
                command: node('telemetry-collector.mjs'),
                args: [
                  '--config',
                  paths.meshFile,
                  '--address',
                  '0.0.0.0',
                  '--nats',
                  natsUrls,
                  // Three NATS servers: every stream keeps three replicas.
                  '--nodes',
                  String(NATS_REPLICAS),
                  ...(collectors > 1 ? ['--collectors', peers.join(',')] : []),
                  // Its identity (the leases, its consumers) is its pod's DNS name, one of the peers'; the API
                  // answers to that and to its Services' names (the DNS-rebinding check allows only named hosts).
                  '--advertise',
                  `http://$(POD_NAME).${dns('collector')}:${collectorPort}`,
                  '--host-names',
                  [
                    `$(POD_NAME).${dns('collector')}`,
                    'collector-api',
                    `collector-api.${ns}`,
                    `collector-api.${ns}.svc`,
                    dns('collector-api'),
                  ].join(','),
                ],
                env: [podName, { name: 'LOG_LEVEL', value: 'info' }],
                ports: [
                  { name: 'api', containerPort: collectorPort },
                  ...(dashboard.enabled ? [{ name: 'dashboard', containerPort: dashboard.port }] : []),
                ],
                startupProbe: httpProbe('/healthz', 'api', { failureThreshold: 60, periodSeconds: 2 }),
                readinessProbe: httpProbe('/healthz', 'api'),
                livenessProbe: httpProbe('/healthz', 'api', { periodSeconds: 10, failureThreshold: 3 }),
                resources: resources(k.resources.collector),
                securityContext: hardened,
                // Its state directory is its volume; the credentials it reads there come from the Secret.
                volumeMounts: [
                  { name: 'state', mountPath: paths.stateDir },
                  {
                    name: 'mesh-yaml',
                    mountPath: paths.meshFile,
                    subPath: 'mesh.yaml',
                    readOnly: true,
                  },
                  {
                    name: 'credentials',
                    mountPath: posix.join(paths.stateDir, 'nats-credentials', 'collector'),
                    subPath: 'nats-collector',
                    readOnly: true,
                  },
                  { name: 'credentials', mountPath: tokenPath, subPath: 'operator-token', readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              credentialsVolume,
              { name: 'mesh-yaml', secret: { secretName: SECRET.mesh, defaultMode: 0o440 } },
              tmp,
            ],
          },
        },
        volumeClaimTemplates: [claim('state', k.collector_storage, k.storage_class)],
      },
    },
    disruptionBudget(meta('collector', 'telemetry-collector'), selector('collector')),
  )

  add(...networkPolicies(config, ns, meta))
  add(podMonitor(ns, meta))
  for (const host of config.hosts) if (host.autoscale) add(scaledObject(host, ns, k.prometheus_url, meta))

  const secrets: KubeObject[] = [
    secret(meta(SECRET.credentials, 'credentials'), credentialData),
    secret(meta(SECRET.nats, 'nats'), { 'nats-server.conf': natsConf }),
    secret(meta(SECRET.envoy, 'gateway'), envoyFiles),
    // mesh.yaml may hold API keys (`key:`): a Secret, not a ConfigMap.
    secret(meta(SECRET.mesh, 'telemetry-collector'), { 'mesh.yaml': mesh.text }),
  ]
  return { objects, secrets }
}

/** What mesh.yaml may say that Kubernetes cannot take, each as `path: reason`; none when it renders. */
export function kubernetesProblems(config: MeshConfig): string[] {
  const problems: string[] = []
  if (config.gateway.port === 0)
    problems.push('gateway.port: must be a fixed port to render for Kubernetes (0 picks any free port)')
  config.hosts.forEach((h, i) => {
    // host-<name> names a Service: a DNS label (RFC 1035), 63 characters at most.
    if (!/^[a-z]([a-z0-9-]{0,56}[a-z0-9])?$/.test(h.name))
      problems.push(
        `hosts[${i}].name: "${h.name}" cannot name a Kubernetes Service (host-${h.name}): use lower-case letters, digits and "-", starting with a letter, at most 58 characters`,
      )
  })
  // The collector's volume is its state directory: what it writes must be under it.
  const c = config.telemetry.collector
  for (const [path, dir] of [
    ['telemetry.collector.store_dir', c.store_dir],
    ['telemetry.collector.payloads.dir', c.payloads.dir],
  ] as const)
    if (dir !== undefined)
      problems.push(`${path}: must be left to its default (under state_dir, the collector's volume on Kubernetes)`)
  return problems
}

function secret(metadata: KubeObject['metadata'], data: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata, type: 'Opaque', stringData: data }
}

function claim(name: string, size: string, storageClass: string | undefined) {
  return {
    metadata: { name },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: size } },
      ...(storageClass ? { storageClassName: storageClass } : {}),
    },
  }
}

/** At most one pod of a group away at a time for voluntary disruptions (drains, upgrades). */
function disruptionBudget(metadata: KubeObject['metadata'], matchLabels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata,
    spec: { maxUnavailable: 1, selector: { matchLabels } },
  }
}

type Meta = (name: string, component: string) => KubeObject['metadata']

/**
 * Nothing reaches a pod of the mesh unless a policy below lets it: callers
 * reach the gateway, the gateway the hosts, the mesh's pods NATS, the NATS
 * servers each other, anyone the collectors' API and dashboard (writes need
 * the operator token), and Prometheus' namespace the metrics ports.
 */
function networkPolicies(config: MeshConfig, ns: string, meta: Meta): KubeObject[] {
  const prometheus = {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': config.kubernetes.prometheus_namespace } },
  }
  const component = (c: string) => ({ podSelector: { matchLabels: { [COMPONENT]: c } } })
  const tcp = (...ports: number[]) => ports.map((port) => ({ protocol: 'TCP', port }))
  const policy = (name: string, podSelector: Json, ingress: Json[]): KubeObject => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(name, 'network-policy'),
    spec: { podSelector, policyTypes: ['Ingress'], ingress },
  })
  const agentPort = config.telemetry.agent.port
  const collector = config.telemetry.collector
  const hostPorts = [...new Set(config.hosts.map((h) => h.port))]
  // The gateway reaches the hosts' gRPC service too; Prometheus only their HTTP /metrics.
  const hostGrpcPorts = [...new Set(config.hosts.flatMap((h) => (h.grpc_port !== undefined ? [h.grpc_port] : [])))]
  return [
    policy('default-deny-ingress', {}, []),
    policy('gateway-from-callers', component('gateway').podSelector, [
      { ports: tcp(config.gateway.port) },
      { from: [prometheus], ports: tcp(agentPort) },
    ]),
    policy('hosts-from-gateway', component('model-host').podSelector, [
      { from: [component('gateway')], ports: tcp(...hostPorts, ...hostGrpcPorts) },
      { from: [prometheus], ports: tcp(...hostPorts, agentPort) },
    ]),
    policy('nats-from-mesh', component('nats').podSelector, [
      { from: [{ podSelector: { matchLabels: { [NATS_CLIENT]: 'true' } } }], ports: tcp(NATS_CLIENT_PORT) },
      { from: [component('nats')], ports: tcp(NATS_CLIENT_PORT, NATS_CLUSTER_PORT) },
      { from: [prometheus], ports: tcp(NATS_MONITOR_PORT) },
    ]),
    policy('collectors-api', component('telemetry-collector').podSelector, [
      { ports: tcp(collector.port, ...(collector.dashboard.enabled ? [collector.dashboard.port] : [])) },
    ]),
  ].map((p) => ({ ...p, metadata: { ...p.metadata, namespace: ns } }))
}

/**
 * The query a host's policy scales on, over the metrics Prometheus scrapes
 * from its pods (the PodMonitor labels them `namespace` and `mesh_host`).
 */
export function scalingQuery(host: Host, ns: string): string {
  const sel = `namespace="${ns}",mesh_host="${host.name}"`
  if (host.autoscale?.signal === 'pending') return `sum(model_host_queue_depth{${sel}})`
  // Mean wait of a batch's oldest request over the last minute, in ms; 0 with no batches.
  return `1000 * sum(rate(model_host_batch_queue_wait_seconds_total{${sel}}[1m])) / clamp_min(sum(rate(model_host_batches_total{${sel}}[1m])), 1e-9)`
}

/** A scaling policy's period: the HorizontalPodAutoscaler takes 1 to 1800 seconds. */
const hpaPeriod = (windowS: number) => Math.min(1800, Math.max(1, windowS))

function scaledObject(host: Host, ns: string, prometheusUrl: string, meta: Meta): KubeObject {
  const a = host.autoscale!
  const name = hostService(host.name)
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: meta(name, 'autoscaling'),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicaCount: a.min,
      maxReplicaCount: a.max,
      pollingInterval: 5,
      advanced: {
        horizontalPodAutoscalerConfig: {
          behavior: {
            // Up once the signal has stayed over target for the window, a replica at a time; down likewise.
            scaleUp: {
              stabilizationWindowSeconds: a.up_window_s,
              policies: [{ type: 'Pods', value: 1, periodSeconds: hpaPeriod(a.up_window_s) }],
            },
            scaleDown: {
              stabilizationWindowSeconds: a.down_window_s,
              policies: [{ type: 'Pods', value: 1, periodSeconds: hpaPeriod(a.down_window_s) }],
            },
          },
        },
      },
      triggers: [
        {
          type: 'prometheus',
          // pending is per replica (the HPA divides the sum by the replicas); queue_wait is the pool's own level.
          metricType: a.signal === 'pending' ? 'AverageValue' : 'Value',
          metadata: {
            serverAddress: prometheusUrl,
            query: scalingQuery(host, ns),
            threshold: String(a.target),
          },
        },
      ],
    },
  }
}

/**
 * What Prometheus scrapes (a Prometheus Operator PodMonitor): every mesh
 * pod's metrics ports (a host's `oip`, an agent's `agent`, a collector's
 * `api`), each series labelled with its namespace, pod and mesh host, as
 * the scaling queries select them.
 */
function podMonitor(ns: string, meta: Meta): KubeObject {
  const relabelings = [
    { sourceLabels: ['__meta_kubernetes_pod_label_model_mesh_host'], targetLabel: 'mesh_host' },
    { sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'], targetLabel: 'component' },
  ]
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: meta('model-mesh', 'monitoring'),
    spec: {
      namespaceSelector: { matchNames: [ns] },
      selector: { matchLabels: { [PART_OF]: 'model-mesh' } },
      podMetricsEndpoints: ['oip', 'agent', 'api'].map((port) => ({
        port,
        path: '/metrics',
        interval: '5s',
        relabelings,
      })),
    },
  }
}
