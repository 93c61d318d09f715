/**
 * @module
 * A real three-server NATS JetStream cluster, one nats-server per network
 * namespace, as the multi-node mesh runs it (mesh-config's node network and
 * nats-server settings). Each member can be SIGKILLed and started again on
 * its store, or partitioned (its link down, the server alive) and healed.
 * Each vitest worker gets its own namespace names and subnet.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import {
  createNodeNetwork,
  inNode,
  type NetworkNode,
  type NodeNetwork,
  natsClusterOf,
  natsReady,
  natsServerArgs,
  nodeNetwork,
  removeNodeNetwork,
  setNodeLink,
} from '@model-mesh/mesh-config'

export interface NatsClusterMember {
  node: NetworkNode
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>
  /** Starts it again on its store (after kill). */
  restart(): Promise<void>
  /** Its node's link down: the server runs on, unreachable. */
  partition(): Promise<void>
  heal(): Promise<void>
}

export interface RunningNatsCluster {
  net: NodeNetwork
  /** Every member's client URL, comma-separated: what every client is given. */
  urls: string
  members: NatsClusterMember[]
  stop(): Promise<void>
}

/** Waits until `check` holds, or throws `what` after `ms`. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * Whether JetStream answers through `servers` with every member joined: it
 * can place a stream's `replicas` copies (a probe stream, made and deleted).
 */
export async function jetStreamReady(servers: string, replicas: number): Promise<boolean> {
  const nc = await connect({ servers: servers.split(','), timeout: 1000, maxReconnectAttempts: 0 }).catch(() => null)
  if (!nc) return false
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2000 })
    await jsm.streams.add({ name: 'CLUSTER_PROBE', subjects: ['cluster.probe'], num_replicas: replicas })
    await jsm.streams.delete('CLUSTER_PROBE')
    return true
  } catch {
    return false
  } finally {
    await nc.close()
  }
}

export async function startNatsCluster(options: { nodes?: number } = {}): Promise<RunningNatsCluster> {
  const pool = Number(process.env.VITEST_POOL_ID ?? 1)
  const names = Array.from({ length: options.nodes ?? 3 }, (_, i) => `n${i + 1}`)
  const net = nodeNetwork(names, { prefix: `nc${pool}`, subnet: [79, 100 + pool] })
  const storeDir = await mkdtemp(join(tmpdir(), 'nats-cluster-'))
  const cluster = natsClusterOf(net.nodes, (n) => join(storeDir, n.name))
  await createNodeNetwork(net)
  const children = new Map<string, ChildProcess>()
  const launch = async (node: NetworkNode) => {
    const settings = cluster.servers.find((s) => s.node === node)!.settings
    const { command, args } = inNode(node, 'nats-server', natsServerArgs(settings))
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let output = ''
    child.stderr!.on('data', (d) => (output = (output + d).slice(-4000)))
    children.set(node.name, child)
    await until(`nats-server in ${node.name} did not answer`, 15_000, async () => {
      if (child.exitCode !== null)
        throw new Error(`nats-server in ${node.name} exited with ${child.exitCode}: ${output}`)
      return natsReady(node.address, settings.port)
    })
  }
  const exited = (child: ChildProcess) =>
    new Promise<void>((r) =>
      child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r()),
    )
  const stop = async () => {
    for (const child of children.values()) child.kill('SIGKILL')
    await Promise.all([...children.values()].map(exited))
    await removeNodeNetwork(net)
    await rm(storeDir, { recursive: true, force: true })
  }
  try {
    await Promise.all(net.nodes.map(launch))
    await until('the JetStream cluster could not place a stream on every member', 60_000, () =>
      jetStreamReady(cluster.urls, net.nodes.length),
    )
  } catch (e) {
    await stop()
    throw e
  }
  return {
    net,
    urls: cluster.urls,
    members: net.nodes.map((node) => ({
      node,
      async kill() {
        const child = children.get(node.name)!
        child.kill('SIGKILL')
        await exited(child)
      },
      restart: () => launch(node),
      partition: () => setNodeLink(node, false),
      heal: () => setNodeLink(node, true),
    })),
    stop,
  }
}
