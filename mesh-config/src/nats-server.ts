/**
 * @module
 * How the mesh runs nats-server: JetStream on, its store, where it listens,
 * its name, the users and permissions (nats-auth.ts) when given, and for a
 * multi-node mesh the JetStream cluster its servers form (one per node,
 * routes to every other; streams then keep three replicas).
 */
import { connect } from 'node:net'
import type { NetworkNode } from './node-network.ts'

export interface NatsServerSettings {
  storeDir: string
  host: string
  port: number
  /** Unique in a cluster (JetStream names its peers so). */
  name: string
  /** nats-server's config file: users and permissions. */
  configFile?: string
  /** The cluster it is a member of: its name, the port it takes routes on, and every member's route URL (its own is skipped). */
  cluster?: { name: string; port: number; routes: string[] }
}

/** The client port and cluster port each node's nats-server uses. */
export const NATS_CLIENT_PORT = 4222
export const NATS_CLUSTER_PORT = 6222

export function natsServerArgs(s: NatsServerSettings): string[] {
  const args = [...(s.configFile ? ['--config', s.configFile] : []), '--jetstream', '--store_dir', s.storeDir]
  args.push('--addr', s.host, '--port', String(s.port), '--server_name', s.name)
  if (s.cluster) {
    const own = `nats://${s.host}:${s.cluster.port}`
    const routes = s.cluster.routes.filter((r) => r !== own)
    args.push('--cluster_name', s.cluster.name, '--cluster', own, '--routes', routes.join(','))
  }
  return args
}

/**
 * One nats-server per node, clustered: each listens on its node's address,
 * stores under `storeDir(node)`, and routes to the others. Returns each
 * node's settings and the client URL list every client is given.
 */
export function natsClusterOf(
  nodes: readonly NetworkNode[],
  storeDir: (node: NetworkNode) => string,
  configFile?: string,
): { servers: { node: NetworkNode; settings: NatsServerSettings }[]; urls: string } {
  const routes = nodes.map((n) => `nats://${n.address}:${NATS_CLUSTER_PORT}`)
  const servers = nodes.map((node) => ({
    node,
    settings: {
      storeDir: storeDir(node),
      host: node.address,
      port: NATS_CLIENT_PORT,
      name: node.name,
      configFile,
      cluster: { name: 'mesh', port: NATS_CLUSTER_PORT, routes },
    },
  }))
  return { servers, urls: nodes.map((n) => `nats://${n.address}:${NATS_CLIENT_PORT}`).join(',') }
}

/** nats-server greets every client with an INFO line. */
export function natsReady(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('data', (d) => done(d.toString().startsWith('INFO ')))
    socket.once('error', () => done(false))
  })
}
