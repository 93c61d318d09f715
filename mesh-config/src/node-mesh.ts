/**
 * @module
 * The mesh over several nodes on this machine (`npm start -- --nodes 3`, or
 * mesh.yaml's `nodes`): each node a network namespace (node-network.ts) that
 * runs a nats-server (together a JetStream cluster whose streams keep three
 * replicas), its telemetry agent, its model hosts and a gateway Envoy
 * rendered for it (its own node's hosts first, the others' as they fail);
 * the nodes mesh.yaml marks run a collector each, the models dealt between
 * them. Every process runs inside its node's namespace and listens on the
 * node's address; one supervisor keeps them all, and stopping removes the
 * namespaces with them.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { adminAt, ensureToken, type MeshRevision, readToken } from '@model-mesh/contracts'
import { writeAgentSettings } from './agent-settings.ts'
import { credentialFiles } from './credentials.ts'
import { telemetryPaths, type LoadedMesh } from './load.ts'
import {
  AGENT_BIN,
  COLLECTOR_BIN,
  envoyChild,
  HOST_START_MS,
  hostChild,
  type StartOptions,
  telemetryChild,
} from './local-mesh.ts'
import { prepareNatsAuth } from './nats-auth.ts'
import {
  type NodeMeshRecord,
  nodeDir,
  openConfigBucket,
  publishRevision,
  removeNodeMeshRecord,
  waitForNodes,
  writeNodeMeshRecord,
} from './node-config.ts'
import { natsClusterOf, natsReady, natsServerArgs } from './nats-server.ts'
import {
  createNodeNetwork,
  inNode,
  type NetworkNode,
  type NodeNetwork,
  networkUnavailable,
  nodeNetwork,
  removeNodeNetwork,
} from './node-network.ts'
import { httpUrl, instancesOf, type MeshNode, meshModels, nodeInstanceName } from './schema.ts'
import { readIfExists } from './state.ts'
import { type ChildSpec, Supervisor } from './supervisor.ts'

export interface RunningNode {
  /** The node's name in mesh.yaml (`n1`); its namespace is `<prefix>-<node>`. */
  node: string
  namespace: string
  address: string
  gatewayUrl: string
  adminUrl: string
  agentUrl: string
  /** Where the node runs a collector: its API and its dashboard. */
  collectorUrl?: string
  dashboardUrl?: string
  /** The supervisor's names of the node's processes (stopChild, pid). */
  processes: string[]
}

export interface NodeMesh {
  supervisor: Supervisor
  network: NodeNetwork
  nodes: RunningNode[]
  /** Every nats-server's URL, comma-separated, as every client is given them. */
  natsUrls: string
  tokenFile: string
  stop(): Promise<void>
}

export interface NodeMeshOptions extends StartOptions {
  nodes: readonly MeshNode[]
  /** Namespace prefix and subnet (default `mesh`, 10.77.0.0/24): tests use their own. */
  network?: { prefix: string; subnet: [number, number] }
}

/** The command of a child, run inside a node's namespace. */
const inside = (n: NetworkNode, spec: ChildSpec): ChildSpec => ({ ...spec, ...inNode(n, spec.command, spec.args) })

/** The models each collector consumes: every model mesh.yaml names, and `_other`, dealt in turn. */
export function collectorShares(models: readonly string[], collectors: number): string[][] {
  const shares: string[][] = Array.from({ length: collectors }, () => [])
  ;[...models, '_other'].forEach((m, i) => shares[i % collectors]!.push(m))
  return shares
}

/** Where the configuration starts: the bucket made (three replicas, or one per node if fewer), mesh.yaml published unless the newest revision says the same. */
async function publishFirstRevision(mesh: LoadedMesh, record: NodeMeshRecord, by: string): Promise<MeshRevision> {
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      const { nc, kv } = await openConfigBucket(mesh.stateDir, record, {
        replicas: Math.min(3, record.nodes.length),
      })
      try {
        return (await publishRevision(kv, mesh, record, { by, action: 'up' })).revision
      } finally {
        await nc.close().catch(() => {})
      }
    } catch (e) {
      // A cluster just formed may not have its JetStream leader yet.
      if (Date.now() > deadline) throw new Error(`cannot publish the configuration to NATS: ${(e as Error).message}`)
      await new Promise((r) => setTimeout(r, 250))
    }
  }
}

export async function startNodeMesh(mesh: LoadedMesh, options: NodeMeshOptions): Promise<NodeMesh> {
  const unavailable = await networkUnavailable()
  if (unavailable) throw new Error(`cannot run ${options.nodes.length} nodes: ${unavailable}`)
  const { config, stateDir } = mesh
  const net = nodeNetwork(
    options.nodes.map((n) => n.name),
    options.network,
  )
  const dirOf = (n: NetworkNode) => nodeDir(stateDir, n.node)
  const meshNode = (n: NetworkNode) => options.nodes.find((m) => m.name === n.node)!
  const logLevel = { LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' }
  const { agent, collector } = config.telemetry
  const { gateway } = config
  if (gateway.port === 0) throw new Error('gateway.port: the nodes need a fixed port (0 would pick one per node)')
  const credentials = credentialFiles(stateDir)
  await ensureToken(credentials.telemetryToken)
  const { tokenFile } = telemetryPaths(mesh)
  await ensureToken(tokenFile)
  const telemetryToken = await readToken(credentials.telemetryToken)
  const { configFile } = await prepareNatsAuth(stateDir)
  const cluster = natsClusterOf(net.nodes, (n) => join(dirOf(n), 'nats'), configFile)
  const agentUrl = (n: NetworkNode) => httpUrl(n.address, agent.port)
  const placement = {
    nodes: net.nodes.map((n) => ({ name: n.node, address: n.address, hosts: [...meshNode(n).hosts] })),
  }

  await createNodeNetwork(net)
  const supervisor = new Supervisor(join(stateDir, 'logs'), options.onEvent)
  const record: NodeMeshRecord = {
    pid: process.pid,
    nats_urls: cluster.urls,
    nodes: placement.nodes.map((n) => ({ ...n, collector: options.nodes.find((m) => m.name === n.name)!.collector })),
  }
  const stop = async () => {
    await removeNodeMeshRecord(stateDir)
    await supervisor.stop()
    await removeNodeNetwork(net)
  }
  try {
    await Promise.all(
      cluster.servers.map(({ node, settings }) =>
        supervisor.start(
          inside(node, {
            name: `${node.node}-nats`,
            command: options.natsServer ?? 'nats-server',
            args: natsServerArgs(settings),
            healthy: () => natsReady(settings.host, settings.port),
            nice: 10,
          }),
        ),
      ),
    )
    // The configuration goes to the nodes through NATS from here on: this revision, and every apply's after it.
    await writeNodeMeshRecord(stateDir, record)
    const collectorNodes = net.nodes.filter((n) => meshNode(n).collector)
    const shares = collectorShares(meshModels(config), collectorNodes.length)
    const agentUrls = net.nodes.map(agentUrl).join(',')
    // Three things at once, each waiting only on what it needs: the first revision (JetStream's cluster elects
    // its leaders meanwhile), the collectors (they make the streams), and the agents then the hosts (whatever they
    // send before the streams exist waits in the agents' spools; the agents take the revision once it is there).
    const [revision] = await Promise.all([
      publishFirstRevision(mesh, record, options.by),
      Promise.all(
        collectorNodes.map((n, i) =>
          supervisor.start(
            inside(
              n,
              telemetryChild(
                `${n.node}-telemetry-collector`,
                COLLECTOR_BIN,
                [
                  '--config',
                  mesh.file,
                  '--nats',
                  cluster.urls,
                  '--address',
                  n.address,
                  '--store',
                  join(dirOf(n), 'collector'),
                  '--models',
                  shares[i]!.join(','),
                  '--nodes',
                  String(net.nodes.length),
                  '--agents',
                  agentUrls,
                  '--collectors',
                  collectorNodes.map((c) => httpUrl(c.address, collector.port)).join(','),
                ],
                httpUrl(n.address, collector.port),
                logLevel,
              ),
            ),
          ),
        ),
      ),
      (async () => {
        await Promise.all(
          net.nodes.map(async (n) => {
            const settings = await writeAgentSettings(
              mesh,
              {
                node: n.node,
                address: n.address,
                natsUrls: cluster.urls,
                spoolDir: join(dirOf(n), 'agent-spool'),
                nodeDir: dirOf(n),
              },
              join(dirOf(n), 'telemetry-agent.json'),
            )
            await supervisor.start(
              inside(
                n,
                telemetryChild(`${n.node}-telemetry-agent`, AGENT_BIN, ['--settings', settings], agentUrl(n), logLevel),
              ),
            )
          }),
        )
        await Promise.all(
          net.nodes.flatMap((n) =>
            config.hosts
              .filter((h) => meshNode(n).hosts.includes(h.name))
              .flatMap(instancesOf)
              .map((i) =>
                supervisor.start(
                  inside(
                    n,
                    hostChild(mesh, i, {
                      name: nodeInstanceName(n.node, i.name),
                      address: n.address,
                      agentUrl: agentUrl(n),
                      telemetryTokenFile: credentials.telemetryToken,
                      operatorTokenFile: tokenFile,
                      env: logLevel,
                    }),
                  ),
                  HOST_START_MS,
                ),
              ),
          ),
        )
      })(),
    ])
    // Each agent has handed its node's part of the revision to its (not yet running) Envoy: the bootstrap is there.
    const outcomes = await waitForNodes(mesh, record, revision.id, 20_000)
    const missing = outcomes.filter((o) => o.state !== 'applied')
    if (missing.length > 0)
      throw new Error(
        `the nodes did not take the configuration: ${missing.map((o) => `${o.node} ${o.state} (${o.detail})`).join('; ')}`,
      )
    await Promise.all(
      net.nodes.map(async (n) => {
        const dir = dirOf(n)
        // Only the Envoy started here writes it again: its readiness is asked where it says.
        const adminAddressFile = join(dir, 'admin-address')
        await rm(adminAddressFile, { force: true })
        await supervisor.start(
          inside(
            n,
            envoyChild(mesh, {
              name: `${n.node}-envoy`,
              bootstrap: join(dir, 'bootstrap.json'),
              adminAddressFile,
              admin: async () => (await adminAt(adminAddressFile, n.address))!,
              telemetryToken,
            }),
          ),
        )
      }),
    )
    const adminUrls = await Promise.all(
      net.nodes.map(async (n) => `http://${(await readIfExists(join(dirOf(n), 'admin-address')))?.trim()}`),
    )
    return {
      supervisor,
      network: net,
      natsUrls: cluster.urls,
      tokenFile,
      nodes: net.nodes.map((n, i) => {
        const runs = meshNode(n).collector
        return {
          node: n.node,
          namespace: n.name,
          address: n.address,
          gatewayUrl: httpUrl(n.address, gateway.port),
          adminUrl: adminUrls[i]!,
          processes: supervisor
            .names()
            .filter((name) => name.startsWith(`${n.node}-`) || name.startsWith(`host-${n.node}-`)),
          agentUrl: agentUrl(n),
          ...(runs ? { collectorUrl: httpUrl(n.address, collector.port) } : {}),
          ...(runs && collector.dashboard.enabled
            ? { dashboardUrl: httpUrl(n.address, collector.dashboard.port) }
            : {}),
        }
      }),
      stop,
    }
  } catch (e) {
    await stop()
    throw e
  }
}
