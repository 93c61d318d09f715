/**
 * @module
 * The network of a multi-node mesh on one machine: each node is a Linux
 * network namespace (`mesh-<node>`: `mesh-n1`, `mesh-n2`, ...) joined by a veth pair to a
 * bridge in the root namespace, with an address the project assigns in a
 * private /24 (the bridge holds `.1`, node i holds `.10+i`). Every process
 * of a node runs inside its namespace (`ip netns exec`) and listens on the
 * node's address; the root namespace reaches every node through the bridge.
 * Taking a node's link down partitions it with its processes alive.
 *
 * The plan is pure (nodeNetwork); the rest is a thin shell over `ip`, which
 * needs root (CAP_NET_ADMIN). Creating first removes whatever a previous run
 * of the same plan left behind, so a start after a crash finds nothing in its way.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface NetworkNode {
  /** The node's name in mesh.yaml (`n1`). */
  node: string
  /** Its namespace's: `<prefix>-<node>` (`mesh-n1`). */
  name: string
  /** Its address on the bridge's subnet. */
  address: string
  /** The root namespace's end of its veth pair (on the bridge); taken down to partition the node. */
  hostLink: string
}

export interface NodeNetwork {
  bridge: string
  /** The bridge's address: how the nodes reach the root namespace. */
  bridgeAddress: string
  prefixLength: 24
  nodes: NetworkNode[]
}

/** Linux interface names: at most 15 characters. */
const MAX_IFNAME = 15
const NAME = /^[a-z][a-z0-9]*$/

/** The longest node name: `<prefix>-<node>-hx`, the veth end made in the root namespace, must fit Linux's 15 characters with the prefix `mesh`. */
export const MAX_NODE_NAME = 8

/**
 * The network of the nodes named `nodes`, in namespaces `<prefix>-<node>`,
 * on `10.<second>.<third>.0/24`.
 *
 * @example nodeNetwork(['n1', 'n2', 'n3']) // mesh-n1 10.77.0.11, mesh-n2 10.77.0.12, mesh-n3 10.77.0.13 on bridge mesh-br0 10.77.0.1
 */
export function nodeNetwork(
  nodes: readonly string[],
  options: { prefix?: string; subnet?: [number, number] } = {},
): NodeNetwork {
  const count = nodes.length
  const prefix = options.prefix ?? 'mesh'
  const [second, third] = options.subnet ?? [77, 0]
  if (!NAME.test(prefix))
    throw new Error(`prefix "${prefix}": must be lower-case letters and digits, starting with a letter`)
  if (count < 1 || count > 9) throw new Error(`nodes: must be 1 to 9, got ${count}`)
  if (new Set(nodes).size !== count) throw new Error(`nodes: ${nodes.join(', ')} has a name twice`)
  for (const octet of [second, third]) {
    if (!Number.isInteger(octet) || octet < 0 || octet > 255)
      throw new Error(`subnet: 10.${second}.${third}.0/24 is not an address range`)
  }
  const bridge = `${prefix}-br0`
  const bad = nodes.find((n) => !/^[a-z0-9][a-z0-9_-]*$/.test(n))
  if (bad !== undefined) throw new Error(`node "${bad}": must be lower-case letters, digits, "_" or "-"`)
  const planned = nodes.map((node, i) => ({
    node,
    name: `${prefix}-${node}`,
    address: `10.${second}.${third}.${11 + i}`,
    hostLink: `${prefix}-${node}-h`,
  }))
  const longest = [bridge, ...planned.map((n) => `${n.hostLink}x`)].find((n) => n.length > MAX_IFNAME)
  if (longest)
    throw new Error(
      `prefix "${prefix}" and node names: too long for interface names (${longest} is over ${MAX_IFNAME} characters)`,
    )
  return { bridge, bridgeAddress: `10.${second}.${third}.1`, prefixLength: 24, nodes: planned }
}

/** The command line that runs `command` inside a node's namespace. */
export function inNode(
  node: NetworkNode,
  command: string,
  args: readonly string[],
): { command: string; args: string[] } {
  return { command: 'ip', args: ['netns', 'exec', node.name, command, ...args] }
}

/** Why this process cannot make namespaces, or undefined when it can (root, with `ip` on PATH). */
export async function networkUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0)
    return 'making network namespaces needs root (CAP_NET_ADMIN); run it as root, or without --nodes for the one-node mesh'
  try {
    await run('ip', ['-V'])
    return undefined
  } catch {
    return 'the `ip` command (iproute2) is missing: install it (Debian: apt-get install iproute2)'
  }
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args)
  } catch (e) {
    const err = e as { stderr?: string; message: string }
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr || err.message).trim()}`, { cause: e })
  }
}

/** Creates the bridge, the namespaces and their links, each node's loopback and address up. */
export async function createNodeNetwork(net: NodeNetwork): Promise<void> {
  await removeNodeNetwork(net)
  try {
    await ip('link', 'add', net.bridge, 'type', 'bridge')
    await ip('addr', 'add', `${net.bridgeAddress}/${net.prefixLength}`, 'dev', net.bridge)
    await ip('link', 'set', net.bridge, 'up')
    for (const n of net.nodes) {
      const inside = `${n.hostLink}x`
      await ip('netns', 'add', n.name)
      await ip('link', 'add', n.hostLink, 'type', 'veth', 'peer', 'name', inside)
      await ip('link', 'set', inside, 'netns', n.name)
      await ip('-n', n.name, 'link', 'set', inside, 'name', 'eth0')
      await ip('-n', n.name, 'addr', 'add', `${n.address}/${net.prefixLength}`, 'dev', 'eth0')
      await ip('-n', n.name, 'link', 'set', 'eth0', 'up')
      await ip('-n', n.name, 'link', 'set', 'lo', 'up')
      await ip('link', 'set', n.hostLink, 'master', net.bridge)
      await ip('link', 'set', n.hostLink, 'up')
    }
  } catch (e) {
    await removeNodeNetwork(net)
    throw e
  }
}

/** Removes what createNodeNetwork made (whatever of it exists); never throws for what is already gone. */
export async function removeNodeNetwork(net: NodeNetwork): Promise<void> {
  const quietly = (...args: string[]) => run('ip', args).catch(() => {})
  for (const n of net.nodes) {
    // Deleting the root end of a veth pair deletes both; deleting the namespace, its end.
    await quietly('link', 'del', n.hostLink)
    await quietly('netns', 'del', n.name)
  }
  await quietly('link', 'del', net.bridge)
}

/** Takes a node's link to the bridge down (a partition: its processes keep running) or up again. */
export async function setNodeLink(node: NetworkNode, up: boolean): Promise<void> {
  await ip('link', 'set', node.hostLink, up ? 'up' : 'down')
}

/** What of the network exists now: the namespaces and links of its names (a check that removal left nothing). */
export async function nodeNetworkLeftovers(net: NodeNetwork): Promise<string[]> {
  const namespaces = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0])
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0])
  const names = [net.bridge, ...net.nodes.flatMap((n) => [n.name, n.hostLink])]
  return names.filter((name) => namespaces.includes(name) || links.includes(name))
}
