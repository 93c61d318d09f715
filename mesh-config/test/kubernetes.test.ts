/**
 * `mesh render --target kubernetes`: every rendered object passes
 * Kubernetes' own schemas (kubernetes-models, generated from the API's
 * OpenAPI) and KEDA's CRD schema; the gateway's Envoy configuration passes
 * real Envoy (`envoy --mode validate`); the scaling queries evaluate as
 * intended in Prometheus' own engine (`promtool test rules`) over the labels
 * the PodMonitor gives the hosts' series; the policies let only the gateway
 * reach the hosts and only the mesh reach NATS.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as keda from '@kubernetes-models/keda/keda.sh/v1alpha1'
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import * as apps from 'kubernetes-models/apps/v1'
import * as networking from 'kubernetes-models/networking.k8s.io/v1'
import * as policy from 'kubernetes-models/policy/v1'
import * as core from 'kubernetes-models/v1'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { promtool } from '@model-mesh/testkit/prometheus'
import { run } from '../src/cli.ts'
import { meshCredentials, SECRETS_FILE } from '../src/kubernetes-files.ts'
import {
  kubernetesProblems,
  renderKubernetes,
  scalingQuery,
  type KubeObject,
  type RenderedKubernetes,
} from '../src/kubernetes.ts'
import { parseMesh, type LoadedMesh } from '../src/load.ts'
import { ENVOY_BIN, ROOT } from '../src/local-mesh.ts'

type Json = Record<string, any>
type Model = new (o: Json) => { validate(): void }
const MODELS: Record<string, Record<string, unknown>> = {
  v1: core,
  'apps/v1': apps,
  'policy/v1': policy,
  'networking.k8s.io/v1': networking,
  'keda.sh/v1alpha1': keda,
  'monitoring.coreos.com/v1': monitoring,
}

/** Kubernetes' schema of the object's kind, as the API server would check it (the model throws naming the field). */
function validate(o: KubeObject): void {
  const Kind = MODELS[o.apiVersion]?.[o.kind] as Model | undefined
  if (!Kind) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`)
  new Kind(o).validate()
}

const byKind = (r: RenderedKubernetes, kind: string, name: string) =>
  [...r.objects, ...r.secrets].find((o) => o.kind === kind && o.metadata.name === name) as Json

/** The shipped mesh.yaml, with the stable pool autoscaled on queue wait, the canary on pending requests, and the fallback pool serving gRPC too. */
const AUTOSCALED = (text: string) =>
  text
    .replace(
      '- { name: stable, port: 8001 }',
      '- { name: stable, port: 8001, autoscale: { min: 1, max: 2, signal: queue_wait, target: 50 } }',
    )
    .replace(
      '- { name: canary, port: 8002 }',
      '- { name: canary, port: 8012, instances: 2, autoscale: { min: 2, max: 6, signal: pending, target: 8, up_window_s: 5, down_window_s: 300 } }',
    )
    .replace(
      '- { name: fallback, port: 8003, role: fallback }',
      '- { name: fallback, port: 8003, grpc_port: 9003, role: fallback }',
    )

describe('render --target kubernetes', () => {
  let dir: string
  let mesh: LoadedMesh
  let rendered: RenderedKubernetes
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mesh-k8s-'))
    const text = AUTOSCALED(await readFile(join(ROOT, 'mesh.yaml'), 'utf8'))
    // Beside the shipped file, so its repository resolves; its state (credentials) in the test's folder.
    const loaded = await parseMesh(`${text}\nstate_dir: ${join(dir, 'state')}\n`, join(ROOT, 'mesh.yaml'))
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues))
    mesh = loaded.mesh
    rendered = renderKubernetes(mesh, await meshCredentials(mesh), {
      imageRoot: ROOT,
      envoyDir: join(dir, 'envoy'),
    })
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it("renders every object valid against Kubernetes' and KEDA's schemas", () => {
    const all = [...rendered.objects, ...rendered.secrets]
    expect(all.length).toBeGreaterThan(20)
    for (const o of all) expect(() => validate(o), `${o.kind}/${o.metadata.name}`).not.toThrow()
    const kinds = new Set(all.map((o) => o.kind))
    for (const k of [
      'Namespace',
      'Secret',
      'ConfigMap',
      'Service',
      'Deployment',
      'StatefulSet',
      'PodDisruptionBudget',
      'NetworkPolicy',
      'ScaledObject',
      'PodMonitor',
    ])
      expect(kinds.has(k), k).toBe(true)
    // Everything but the Namespace sits in the mesh's namespace.
    for (const o of all.filter((x) => x.kind !== 'Namespace')) expect(o.metadata.namespace).toBe('model-mesh')
    // The schema check is a real one: a wrong type is refused, naming the field.
    const broken = structuredClone(byKind(rendered, 'Deployment', 'host-stable')) as KubeObject
    ;(broken as Json).spec.template.spec.containers[0].ports[0].containerPort = 'oip'
    expect(() => validate(broken)).toThrow(/containerPort/)
  })

  it("runs each host's pods ready only once their models are loaded, with an agent sidecar and limits", async () => {
    const d = byKind(rendered, 'Deployment', 'host-stable')
    const pod = d.spec.template.spec
    const host = pod.containers[0]
    expect(host.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port: 'oip' })
    expect(host.startupProbe.httpGet.path).toBe('/v2/health/ready')
    expect(host.livenessProbe.httpGet.path).toBe('/v2/health/live')
    expect(host.resources.requests).toEqual(host.resources.limits)
    expect(host.args).toEqual(
      expect.arrayContaining(['--models', join(ROOT, 'models'), '--port', '8001', '--host', '0.0.0.0']),
    )
    // The agent is a native sidecar (an init container that keeps running), reached over loopback.
    expect(pod.initContainers[0]).toMatchObject({ name: 'telemetry-agent', restartPolicy: 'Always' })
    expect(host.args[host.args.indexOf('--telemetry-agent') + 1]).toBe('http://127.0.0.1:4195')
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 })
    // The gateway finds the ready pods through the headless Service; Envoy resolves it and balances them.
    expect(byKind(rendered, 'Service', 'host-stable').spec.clusterIP).toBe('None')
    expect(byKind(rendered, 'PodDisruptionBudget', 'host-stable').spec.maxUnavailable).toBe(1)
    // What a pod reads once at start is summed on its template: a new credential or setting rolls the pods.
    const digest = (r: RenderedKubernetes, kind: string, name: string) =>
      byKind(r, kind, name).spec.template.metadata.annotations['model-mesh/read-at-start']
    const rotated = renderKubernetes(
      mesh,
      { ...(await meshCredentials(mesh)), telemetryToken: 'another-telemetry-token-0123' },
      { imageRoot: ROOT, envoyDir: join(dir, 'envoy') },
    )
    for (const [kind, name] of [
      ['Deployment', 'host-stable'],
      ['Deployment', 'gateway'],
      ['StatefulSet', 'collector'],
    ] as const)
      expect(digest(rotated, kind, name), name).not.toBe(digest(rendered, kind, name))
    expect(digest(rotated, 'StatefulSet', 'nats')).toBe(digest(rendered, 'StatefulSet', 'nats'))
    // A fixed pool's size is mesh.yaml's; an autoscaled one's is left to KEDA (an apply must not reset it).
    expect(byKind(rendered, 'Deployment', 'host-fallback').spec.replicas).toBe(1)
    expect(byKind(rendered, 'Deployment', 'host-canary').spec).not.toHaveProperty('replicas')
  })

  it("gives the gateway's Envoy a configuration real Envoy accepts, reaching the hosts by their Services", async () => {
    const files = byKind(rendered, 'Secret', 'gateway-envoy').stringData as Record<string, string>
    await mkdir(join(dir, 'envoy'))
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, 'envoy', name), text)
    const { stdout, stderr } = await promisify(execFile)(ENVOY_BIN, [
      '--mode',
      'validate',
      '-c',
      join(dir, 'envoy', 'bootstrap.json'),
      '--disable-hot-restart',
      '--log-level',
      'error',
    ])
    expect(stdout + stderr).toContain('OK')
    const cds = JSON.parse(files['cds.json']!) as Json
    const stable = cds.resources.find((c: Json) => c.name === 'credit-risk.stable')
    expect(stable.type).toBe('STRICT_DNS')
    expect(stable.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({
      address: 'host-stable.model-mesh.svc.cluster.local',
      port_value: 8001,
    })
    const agent = cds.resources.find((c: Json) => c.name.includes('agent'))
    expect(agent.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address).toBe('127.0.0.1')
    // Envoy watches the folder the kubelet swaps a Secret's files into: a re-rendered Secret applies live.
    const bootstrap = JSON.parse(files['bootstrap.json']!) as Json
    expect(bootstrap.dynamic_resources.lds_config.path_config_source.watched_directory).toEqual({
      path: join(dir, 'envoy'),
    })
    expect(bootstrap.admin.address.socket_address.address).toBe('127.0.0.1')
  })

  it('lets only the gateway reach the hosts and only the mesh reach NATS', () => {
    const policies = rendered.objects.filter((o) => o.kind === 'NetworkPolicy') as Json[]
    const deny = policies.find((p) => p.metadata.name === 'default-deny-ingress')!
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress'], ingress: [] })
    const hosts = policies.find((p) => p.metadata.name === 'hosts-from-gateway')!
    expect(hosts.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/component': 'model-host' })
    const fromPods = hosts.spec.ingress.flatMap((r: Json) => r.from ?? [{ anyone: true }])
    // Every rule names its sources: the gateway's pods, or Prometheus' namespace (metrics only).
    expect(fromPods).toEqual([
      { podSelector: { matchLabels: { 'app.kubernetes.io/component': 'gateway' } } },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
    ])
    const nats = policies.find((p) => p.metadata.name === 'nats-from-mesh')!
    expect(nats.spec.ingress[0].from).toEqual([{ podSelector: { matchLabels: { 'model-mesh/nats-client': 'true' } } }])
    // Who carries that label: the pods whose processes connect to NATS, and no others.
    const clients = rendered.objects
      .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
      .filter((o) => (o as Json).spec.template.metadata.labels['model-mesh/nats-client'] === 'true')
      .map((o) => o.metadata.name)
      .sort()
    expect(clients).toEqual(['collector', 'gateway', 'host-canary', 'host-fallback', 'host-stable'])
  })

  it("serves a host's gRPC port where mesh.yaml gives one: its flag, container and Service ports, and the gateway's way in", () => {
    const fallback = byKind(rendered, 'Deployment', 'host-fallback').spec.template.spec.containers[0]
    expect(fallback.args.slice(fallback.args.indexOf('--grpc-port'), fallback.args.indexOf('--grpc-port') + 2)).toEqual(
      ['--grpc-port', '9003'],
    )
    expect(fallback.ports).toContainEqual({ name: 'oip-grpc', containerPort: 9003 })
    expect(byKind(rendered, 'Service', 'host-fallback').spec.ports).toContainEqual({
      name: 'oip-grpc',
      port: 9003,
      targetPort: 'oip-grpc',
    })
    // Hosts without one serve REST alone.
    expect(byKind(rendered, 'Deployment', 'host-stable').spec.template.spec.containers[0].args).not.toContain(
      '--grpc-port',
    )
    const hosts = byKind(rendered, 'NetworkPolicy', 'hosts-from-gateway')
    const fromGateway = hosts.spec.ingress.find((r: Json) => r.from?.[0]?.podSelector)
    expect(fromGateway.ports.map((p: Json) => p.port)).toContain(9003)
    // Prometheus scrapes /metrics over HTTP only.
    const fromPrometheus = hosts.spec.ingress.find((r: Json) => r.from?.[0]?.namespaceSelector)
    expect(fromPrometheus.ports.map((p: Json) => p.port)).not.toContain(9003)
  })

  it('runs NATS as a three-server JetStream cluster and the collectors with a volume each, sharing the work', () => {
    const nats = byKind(rendered, 'StatefulSet', 'nats')
    expect(nats.spec.replicas).toBe(3)
    const args = nats.spec.template.spec.containers[0].args as string[]
    expect(args).toEqual(expect.arrayContaining(['--jetstream', '--cluster_name', 'mesh']))
    expect(args[args.indexOf('--routes') + 1]!.split(',')).toHaveLength(3)
    expect(nats.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('10Gi')
    const collectors = byKind(rendered, 'StatefulSet', 'collector')
    expect(collectors.spec.replicas).toBe(2)
    const cargs = collectors.spec.template.spec.containers[0].args as string[]
    expect(cargs[cargs.indexOf('--collectors') + 1]!.split(',')).toEqual([
      'http://collector-0.collector.model-mesh.svc.cluster.local:4196',
      'http://collector-1.collector.model-mesh.svc.cluster.local:4196',
    ])
    // Each is known by its pod's DNS name (one of the peers above), which its API answers to with its Services'.
    expect(cargs[cargs.indexOf('--advertise') + 1]).toBe(
      'http://$(POD_NAME).collector.model-mesh.svc.cluster.local:4196',
    )
    expect(cargs[cargs.indexOf('--host-names') + 1]!.split(',')).toContain('collector-api.model-mesh.svc.cluster.local')
    expect(collectors.spec.volumeClaimTemplates[0].metadata.name).toBe('state')
    // The NATS users' passwords and the tokens are the state directory's, in Secrets only.
    const conf = JSON.parse(byKind(rendered, 'Secret', 'nats-config').stringData['nats-server.conf'])
    expect(conf.authorization.users.map((u: Json) => u.user).sort()).toEqual([
      'mesh-agent',
      'mesh-collector',
      'mesh-operator',
    ])
    const text = JSON.stringify(rendered.objects)
    for (const u of conf.authorization.users) expect(text).not.toContain(u.password)
  })

  it('refuses, naming the field, what Kubernetes cannot take', () => {
    const config = structuredClone(mesh.config)
    config.gateway.port = 0
    config.hosts[0]!.name = 'Stable_1'
    config.telemetry.collector.store_dir = '/var/lib/elsewhere'
    expect(kubernetesProblems(config)).toEqual([
      'gateway.port: must be a fixed port to render for Kubernetes (0 picks any free port)',
      'hosts[0].name: "Stable_1" cannot name a Kubernetes Service (host-Stable_1): use lower-case letters, digits and "-", starting with a letter, at most 58 characters',
      "telemetry.collector.store_dir: must be left to its default (under state_dir, the collector's volume on Kubernetes)",
    ])
    expect(kubernetesProblems(mesh.config)).toEqual([])
    expect(() =>
      renderKubernetes({ ...mesh, config }, { operatorToken: 'x', telemetryToken: 'y', nats: {} as never }),
    ).toThrow(/^gateway\.port: must be a fixed port/)
  })

  it("scales each autoscaled pool with KEDA over the hosts' metrics, by the policy's windows and bounds", () => {
    const stable = byKind(rendered, 'ScaledObject', 'host-stable')
    expect(stable.spec).toMatchObject({
      scaleTargetRef: { kind: 'Deployment', name: 'host-stable' },
      minReplicaCount: 1,
      maxReplicaCount: 2,
    })
    expect(stable.spec.triggers[0]).toMatchObject({
      type: 'prometheus',
      metricType: 'Value',
      metadata: { serverAddress: 'http://prometheus-operated.monitoring.svc:9090', threshold: '50' },
    })
    const canary = byKind(rendered, 'ScaledObject', 'host-canary')
    expect(canary.spec.triggers[0].metricType).toBe('AverageValue')
    expect(canary.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.stabilizationWindowSeconds).toBe(5)
    expect(canary.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds).toBe(300)
    expect(rendered.objects.some((o) => o.kind === 'ScaledObject' && o.metadata.name === 'host-fallback')).toBe(false)
  })

  it("evaluates the scaling queries in Prometheus' engine to the signal the policy names", async () => {
    const [stable, canary] = mesh.config.hosts
    // Two pods of the stable pool: 30 batches a minute between them whose oldest requests waited 2.4 s in all (80 ms each);
    // a pod of another pool and another namespace, which must not count. Three canary pods with 4, 6 and 14 waiting.
    const series = (name: string, labels: string, values: string) => ({
      series: `${name}{${labels}}`,
      values,
    })
    const at = (host: string, pod: string, ns = 'model-mesh') => `namespace="${ns}",mesh_host="${host}",pod="${pod}"`
    const tests = {
      rule_files: [],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '15s',
          input_series: [
            series('model_host_batches_total', at('stable', 'a'), '0+5x8'),
            series('model_host_batches_total', at('stable', 'b'), '0+2.5x8'),
            series('model_host_batch_queue_wait_seconds_total', at('stable', 'a'), '0+0.4x8'),
            series('model_host_batch_queue_wait_seconds_total', at('stable', 'b'), '0+0.2x8'),
            series('model_host_batches_total', at('canary', 'c'), '0+100x8'),
            series('model_host_batch_queue_wait_seconds_total', at('canary', 'c'), '0+100x8'),
            series('model_host_batches_total', at('stable', 'x', 'elsewhere'), '0+100x8'),
            series('model_host_batch_queue_wait_seconds_total', at('stable', 'x', 'elsewhere'), '0+100x8'),
            series('model_host_queue_depth', at('canary', 'c1'), '4x8'),
            series('model_host_queue_depth', at('canary', 'c2'), '6x8'),
            series('model_host_queue_depth', at('canary', 'c3'), '14x8'),
          ],
          promql_expr_test: [
            // Rounded to a microsecond: the division is a float's.
            {
              expr: `round(${scalingQuery(stable!, 'model-mesh')}, 0.001)`,
              eval_time: '2m',
              exp_samples: [{ labels: '{}', value: 80 }],
            },
            { expr: scalingQuery(canary!, 'model-mesh'), eval_time: '2m', exp_samples: [{ labels: '{}', value: 24 }] },
          ],
        },
      ],
    }
    const file = join(dir, 'scaling-tests.yml')
    await writeFile(file, JSON.stringify(tests))
    const r = promtool(['test', 'rules', file])
    expect(r.output).toContain('SUCCESS')
    expect(r.code).toBe(0)
  })

  it('mesh render --target kubernetes writes the manifests in the order they apply, the Secrets owner-only', async () => {
    const out = join(dir, 'out')
    const lines: string[] = []
    const io = { out: (t: string) => void lines.push(t), err: (t: string) => void lines.push(t) }
    // The shipped mesh.yaml, its credentials kept in the test's folder rather than the local mesh's.
    const file = join(dir, 'mesh.yaml')
    const text = await readFile(join(ROOT, 'mesh.yaml'), 'utf8')
    await writeFile(
      file,
      `${text.replace('repository: models', `repository: ${join(ROOT, 'models')}`)}\nstate_dir: ${join(dir, 'cli-state')}\n`,
    )
    expect(await run(['render', file, '--target', 'kubernetes', '--out', out, '--json'], io)).toBe(0)
    const files = (JSON.parse(lines.join('')) as { files: string[] }).files.map((f) => f.slice(out.length + 1))
    expect(files).toEqual([
      '00-namespace.yaml',
      SECRETS_FILE,
      '20-telemetry-agent.yaml',
      '30-nats.yaml',
      '40-hosts.yaml',
      '50-gateway.yaml',
      '60-collectors.yaml',
      '70-network-policies.yaml',
      '80-monitoring.yaml',
    ])
    expect((await stat(join(out, SECRETS_FILE))).mode & 0o777).toBe(0o600)
    // What kubectl reads: every document a valid object.
    for (const f of files.filter((x) => x.endsWith('.yaml')))
      for (const doc of parseAllDocuments(await readFile(join(out, f), 'utf8')))
        expect(() => validate(doc.toJS() as KubeObject), f).not.toThrow()
    // The same credentials on every render: re-applying does not change a password under running pods.
    const again = join(dir, 'again')
    expect(await run(['render', file, '--target', 'kubernetes', '--out', again], io)).toBe(0)
    expect(await readFile(join(again, SECRETS_FILE), 'utf8')).toBe(await readFile(join(out, SECRETS_FILE), 'utf8'))
    expect(await run(['render', file, '--target', 'helm', '--out', again], io)).toBe(2)
  })
})
