/**
 * @module
 * The whole mesh on this machine, from mesh.yaml: nats-server with
 * JetStream, the telemetry collector and agent, the model hosts, and Envoy
 * with the rendered config. Each is a supervised child, started once the
 * ones it talks to are healthy; `mesh up` (npm start) runs this until Ctrl-C.
 */
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureToken, readToken } from '@model-mesh/contracts'
import { adminFor, applyMesh } from './apply.ts'
import type { EnvoyAdmin } from '@model-mesh/contracts'
import { writeAgentSettings } from './agent-settings.ts'
import { credentialFiles, TELEMETRY_TOKEN_ENV } from './credentials.ts'
import { prepareNatsAuth } from './nats-auth.ts'
import { natsReady, natsServerArgs } from './nats-server.ts'
import { telemetryPaths, type LoadedMesh } from './load.ts'
import {
  type Host,
  type HostInstance,
  httpUrl,
  instancesOf,
  type MeshConfig,
  modelsOf,
  natsEndpoint,
} from './schema.ts'
import { paths } from './state.ts'
import { Supervisor, type ChildSpec, type SupervisorEvent } from './supervisor.ts'
import { LocalAutoscaler } from './local-autoscaler.ts'
import { autoscaleStatusFile, replicasFile } from './replicas.ts'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const ENVOY_BIN = join(ROOT, '.local/venv/bin/envoy')
const MODEL_HOST_BIN = join(ROOT, 'bin/model-host.mjs')
export const AGENT_BIN = join(ROOT, 'bin/telemetry-agent.mjs')
export const COLLECTOR_BIN = join(ROOT, 'bin/telemetry-collector.mjs')

export interface LocalMesh {
  supervisor: Supervisor
  gatewayUrl: string
  adminUrl: string
  /** Where Envoy's exporter and the hosts post telemetry events. */
  agentUrl: string
  /** The collector: /metrics, the JSON API (/api/v1/...), /healthz. */
  collectorUrl: string
  /** The SRE dashboard, when mesh.yaml has it on. */
  dashboardUrl: string | null
  /** The operator token the dashboard's changes need. */
  tokenFile: string
  /** Scales the pools mesh.yaml autoscales (idle when none does). */
  autoscaler: LocalAutoscaler
  stop(): Promise<void>
}

export interface StartOptions {
  by: string
  onEvent?: (e: SupervisorEvent) => void
  /** nats-server binary (default: from PATH). */
  natsServer?: string
  /** Where the autoscaler says what it decided (default: stderr). */
  log?: (line: string) => void
}

export async function startLocalMesh(mesh: LoadedMesh, options: StartOptions): Promise<LocalMesh> {
  const { config, stateDir } = mesh
  const p = paths(stateDir)
  // Whatever Envoy ran here before is gone: only the one started below writes this file again.
  await rm(p.adminAddress, { force: true })
  // Pools start at mesh.yaml's sizes; the autoscaler below changes them from there.
  await rm(replicasFile(stateDir), { force: true })
  await rm(autoscaleStatusFile(stateDir), { force: true })
  // Render and write what Envoy will read, without asking any Envoy; recorded in the history like any apply.
  const applied = await applyMesh(mesh, { by: options.by, action: 'up', offline: true })
  if (applied.status === 'refused') throw new Error(`cannot render the mesh: ${applied.reason}`)

  const supervisor = new Supervisor(join(stateDir, 'logs'), options.onEvent)
  let autoscaler: LocalAutoscaler | undefined
  const logLevel = { LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' }
  const { agent, collector } = config.telemetry
  const agentUrl = httpUrl(agent.address, agent.port)
  // Created by applyMesh above; the agent and hosts read it from its file, Envoy's exporter from Envoy's environment.
  const credentials = credentialFiles(stateDir)
  const collectorUrl = httpUrl(collector.address, collector.port)
  // The operator's token, before anyone needs it: the hosts' repository writes and the collector's.
  const { tokenFile } = telemetryPaths(mesh)
  await ensureToken(tokenFile)
  try {
    const nats = natsEndpoint(config.telemetry.nats_url)
    // Users and permissions (nats-auth.ts): the agent and collector read their passwords from the state directory.
    const { configFile } = await prepareNatsAuth(stateDir)
    await supervisor.start({
      name: 'nats',
      command: options.natsServer ?? 'nats-server',
      args: natsServerArgs({
        storeDir: join(stateDir, 'nats'),
        host: nats.host,
        port: nats.port,
        name: 'mesh-local',
        configFile,
      }),
      healthy: () => natsReady(nats.host, nats.port),
      // Only telemetry goes through NATS here: where cores are short, it waits for the data plane.
      nice: 10,
    })
    // The collector first, so its streams exist when the agent publishes; the
    // agent before the hosts and Envoy, which post to it (it serves while NATS is down too).
    // Stopping goes newest first: the agent checkpoints its spool (kept on disk) before the collector stops.
    await supervisor.start(
      telemetryChild('telemetry-collector', COLLECTOR_BIN, ['--config', mesh.file], collectorUrl, logLevel),
    )
    // The agent reads its own settings file, rendered from mesh.yaml, and nothing else of the mesh.
    await supervisor.start(
      telemetryChild('telemetry-agent', AGENT_BIN, ['--settings', await writeAgentSettings(mesh)], agentUrl, logLevel),
    )
    const hostSpec = (i: HostInstance) =>
      hostChild(mesh, i, {
        name: i.name,
        address: i.address,
        agentUrl,
        telemetryTokenFile: credentials.telemetryToken,
        operatorTokenFile: tokenFile,
        env: logLevel,
      })
    await Promise.all(config.hosts.flatMap(instancesOf).map((i) => supervisor.start(hostSpec(i), HOST_START_MS)))
    const envoy = envoyChild(mesh, {
      bootstrap: p.bootstrap,
      adminAddressFile: p.adminAddress,
      admin: () => adminFor(mesh),
      telemetryToken: await readToken(credentials.telemetryToken),
    })
    await supervisor.start(envoy)
    const admin = await adminFor(mesh)
    const gatewayPort = config.gateway.port || (await listenerPort(admin.url, 'gateway'))
    // mesh.yaml's hosts[].autoscale, carried out here as KEDA carries it out on Kubernetes.
    autoscaler = new LocalAutoscaler({
      mesh,
      supervisor,
      childOf: hostSpec,
      startTimeoutMs: HOST_START_MS,
      log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
    })
    if (autoscaler.active) await autoscaler.start()
    return {
      supervisor,
      gatewayUrl: httpUrl(config.gateway.address, gatewayPort),
      adminUrl: admin.url,
      agentUrl,
      collectorUrl,
      dashboardUrl: collector.dashboard.enabled ? httpUrl(collector.dashboard.address, collector.dashboard.port) : null,
      tokenFile,
      autoscaler,
      stop: async () => {
        await autoscaler?.close()
        await supervisor.stop()
      },
    }
  } catch (e) {
    await autoscaler?.close()
    await supervisor.stop()
    throw e
  }
}

const onlyArgs = (models: string[] | undefined) => (models ? ['--only', models.join(',')] : [])

/** How long a host may take to load its models and answer ready. */
export const HOST_START_MS = 120_000

/** A model host instance: where it listens, where it posts telemetry, what it calls itself. */
export function hostChild(
  mesh: LoadedMesh,
  i: HostInstance,
  o: {
    name: string
    address: string
    agentUrl: string
    telemetryTokenFile: string
    operatorTokenFile: string
    env: Record<string, string>
  },
): ChildSpec {
  return {
    name: `host-${o.name}`,
    command: process.execPath,
    args: [
      MODEL_HOST_BIN,
      ...hostArgs(mesh.config, i.host, { ...o, repositoryDir: mesh.repositoryDir, port: i.port, grpcPort: i.grpcPort }),
    ],
    healthy: () => httpOk(`${httpUrl(o.address, i.port)}/v2/health/ready`),
    env: o.env,
  }
}

/** A model host's flags, wherever it runs (here, or in a Kubernetes pod). */
export function hostArgs(
  config: MeshConfig,
  host: Host,
  o: {
    repositoryDir: string
    port: number
    /** Serve gRPC too, on this port. */
    grpcPort?: number
    address: string
    name: string
    agentUrl: string
    telemetryTokenFile: string
    operatorTokenFile: string
  },
): string[] {
  return [
    '--models',
    o.repositoryDir,
    '--port',
    String(o.port),
    ...(o.grpcPort !== undefined ? ['--grpc-port', String(o.grpcPort)] : []),
    '--host',
    o.address,
    '--role',
    host.role,
    ...onlyArgs(modelsOf(config, host)),
    '--telemetry-agent',
    o.agentUrl,
    '--telemetry-token-file',
    o.telemetryTokenFile,
    '--name',
    o.name,
    '--operator-token-file',
    o.operatorTokenFile,
  ]
}

/** The gateway Envoy's flags, wherever it runs. */
export function envoyArgs(o: { bootstrap: string; adminAddressFile: string; workers: number }): string[] {
  return [
    '-c',
    o.bootstrap,
    '--admin-address-path',
    o.adminAddressFile,
    '--disable-hot-restart',
    '--concurrency',
    String(o.workers),
    // On a listener change, connections to the old listener are told to close
    // at their next response, so every caller is on the new config within moments.
    '--drain-strategy',
    'immediate',
    '--drain-time-s',
    '5',
    '--log-level',
    'warn',
    '--component-log-level',
    'wasm:info',
  ]
}

/** Envoy with a rendered bootstrap; ready once the Envoy started here (it writes the admin address file) says so. */
export function envoyChild(
  mesh: LoadedMesh,
  o: {
    bootstrap: string
    adminAddressFile: string
    admin: () => Promise<EnvoyAdmin>
    telemetryToken: string
    name?: string
  },
): ChildSpec {
  return {
    name: o.name ?? 'envoy',
    command: ENVOY_BIN,
    args: envoyArgs({ ...o, workers: mesh.config.gateway.workers }),
    healthy: async () => existsSync(o.adminAddressFile) && (await o.admin()).ready(),
    // The exporter's credential, by environment: the admin interface shows Envoy's configuration to any local process.
    env: { [TELEMETRY_TOKEN_ENV]: o.telemetryToken },
  }
}

/** The agent or the collector: a node process that answers /healthz once serving. */
export function telemetryChild(
  name: string,
  bin: string,
  args: string[],
  url: string,
  env: Record<string, string>,
): ChildSpec {
  return { name, command: process.execPath, args: [bin, ...args], healthy: () => httpOk(`${url}/healthz`), env }
}

/** Whether `url` answers 2xx within a second (a host's readiness). */
export async function httpOk(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(1000) }).then(
    (r) => (r.body?.cancel(), r.ok),
    () => false,
  )
}

/** The port Envoy bound for a listener (for listeners configured with port 0). */
export async function listenerPort(adminUrl: string, name: string): Promise<number> {
  const body = (await fetch(`${adminUrl}/listeners?format=json`).then((r) => r.json())) as {
    listener_statuses: { name: string; local_address: { socket_address: { port_value: number } } }[]
  }
  const port = body.listener_statuses.find((l) => l.name === name)?.local_address.socket_address.port_value
  if (!port) throw new Error(`Envoy has no listener "${name}"`)
  return port
}
