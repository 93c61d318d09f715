/**
 * The multi-node mesh's network, made for real: network namespaces joined
 * by veth pairs to a bridge. Nodes reach each other and the root namespace,
 * the root namespace reaches them, a node whose link is down is cut off
 * (its processes alive) until the link is up again, and removal leaves no
 * namespace, link or bridge behind.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createConnection } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createNodeNetwork,
  inNode,
  type NetworkNode,
  type NodeNetwork,
  nodeNetwork,
  nodeNetworkLeftovers,
  removeNodeNetwork,
  setNodeLink,
} from '../src/node-network.ts'

describe('nodeNetwork (the plan)', () => {
  it('names the nodes, their addresses and links, and the bridge', () => {
    expect(nodeNetwork(['n1', 'n2', 'n3'])).toEqual({
      bridge: 'mesh-br0',
      bridgeAddress: '10.77.0.1',
      prefixLength: 24,
      nodes: [
        { node: 'n1', name: 'mesh-n1', address: '10.77.0.11', hostLink: 'mesh-n1-h' },
        { node: 'n2', name: 'mesh-n2', address: '10.77.0.12', hostLink: 'mesh-n2-h' },
        { node: 'n3', name: 'mesh-n3', address: '10.77.0.13', hostLink: 'mesh-n3-h' },
      ],
    })
    expect(nodeNetwork(['edge'], { prefix: 't2', subnet: [77, 102] }).nodes[0]).toEqual({
      node: 'edge',
      name: 't2-edge',
      address: '10.77.102.11',
      hostLink: 't2-edge-h',
    })
  })

  it('refuses what would not make a network, saying why', () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `n${i + 1}`)
    expect(() => nodeNetwork([])).toThrow('nodes: must be 1 to 9, got 0')
    expect(() => nodeNetwork(names(10))).toThrow('must be 1 to 9')
    expect(() => nodeNetwork(['a', 'b', 'a'])).toThrow('has a name twice')
    expect(() => nodeNetwork(['N1'])).toThrow('node "N1": must be lower-case')
    expect(() => nodeNetwork(names(3), { prefix: 'Mesh' })).toThrow('lower-case letters and digits')
    expect(() => nodeNetwork(['n1', 'ninechars'])).toThrow('mesh-ninechars-hx is over 15 characters')
    expect(() => nodeNetwork(names(3), { subnet: [77, 256] })).toThrow('is not an address range')
  })

  it('runs a command inside a node', () => {
    const node = nodeNetwork(['n1']).nodes[0]!
    expect(inNode(node, 'nats-server', ['-p', '4222'])).toEqual({
      command: 'ip',
      args: ['netns', 'exec', 'mesh-n1', 'nats-server', '-p', '4222'],
    })
  })
})

/** A TCP server inside a node that answers every connection with the node's name. */
function nameServer(node: NetworkNode, port: number): Promise<ChildProcess> {
  const script = `require('node:net').createServer((s) => s.end(${JSON.stringify(node.name)})).listen(${port}, ${JSON.stringify(node.address)}, () => console.log('listening'))`
  const { command, args } = inNode(node, process.execPath, ['-e', script])
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child))
    child.once('exit', (code) => reject(new Error(`server in ${node.name} exited with ${code}`)))
  })
}

/** What `address:port` answers, asked from inside `from` (a node) or from the root namespace; `timeout` when nothing does within 1.5 s. */
async function ask(from: NetworkNode | 'root', address: string, port: number): Promise<string> {
  const script = `const s = require('node:net').createConnection({ host: ${JSON.stringify(address)}, port: ${port}, timeout: 1500 });
let got = ''; s.on('data', (d) => (got += d)); s.on('end', () => console.log(got));
s.on('timeout', () => { console.log('timeout'); process.exit(0) }); s.on('error', (e) => console.log(e.code))`
  if (from === 'root') {
    return new Promise((resolve) => {
      const s = createConnection({ host: address, port, timeout: 1500 })
      let got = ''
      s.on('data', (d) => (got += d))
      s.on('end', () => resolve(got))
      s.on('timeout', () => (s.destroy(), resolve('timeout')))
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
    })
  }
  const { command, args } = inNode(from, process.execPath, ['-e', script])
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  await new Promise((r) => child.once('exit', r))
  return out.trim()
}

describe('a node network, made for real (root)', () => {
  // Each vitest worker its own names and subnet: two files may make networks at once.
  const pool = Number(process.env.VITEST_POOL_ID ?? 1)
  const net: NodeNetwork = nodeNetwork(['n1', 'n2', 'n3'], { prefix: `nt${pool}`, subnet: [77, 100 + pool] })
  const servers: ChildProcess[] = []
  const [n1, n2, n3] = net.nodes as [NetworkNode, NetworkNode, NetworkNode]

  beforeAll(async () => {
    await createNodeNetwork(net)
    for (const n of net.nodes) servers.push(await nameServer(n, 7000))
  })
  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL')
    await removeNodeNetwork(net)
  })

  it('joins the nodes to each other and to the root namespace, both ways', async () => {
    expect(await ask(n1, n2.address, 7000)).toBe(n2.name)
    expect(await ask(n3, n1.address, 7000)).toBe(n1.name)
    expect(await ask('root', n3.address, 7000)).toBe(n3.name)
    // The root namespace, from a node: nothing listens there, so the bridge answers with a refusal, not silence.
    expect(await ask(n2, net.bridgeAddress, 7000)).toBe('ECONNREFUSED')
  })

  it('cuts a node off while its link is down, its processes alive, and joins it again once it is up', async () => {
    await setNodeLink(n2, false)
    try {
      expect(await ask(n1, n2.address, 7000)).toBe('timeout')
      expect(await ask('root', n2.address, 7000)).toBe('timeout')
      expect(await ask(n1, n3.address, 7000)).toBe(n3.name)
      expect(servers[1]!.exitCode).toBeNull()
    } finally {
      await setNodeLink(n2, true)
    }
    expect(await ask(n1, n2.address, 7000)).toBe(n2.name)
  })

  it('leaves nothing behind once removed, and makes the same network again over what a crash left', async () => {
    const other = nodeNetwork(['n1', 'n2'], { prefix: `nx${pool}`, subnet: [78, 100 + pool] })
    await createNodeNetwork(other)
    expect((await nodeNetworkLeftovers(other)).sort()).toEqual(
      ['nx1-br0', 'nx1-n1', 'nx1-n1-h', 'nx1-n2', 'nx1-n2-h'].map((s) => s.replaceAll('nx1', `nx${pool}`)).sort(),
    )
    // As after a SIGKILL: nothing removed it. Creating again takes the place over.
    await createNodeNetwork(other)
    expect(await ask('root', other.nodes[0]!.address, 7000)).toBe('ECONNREFUSED')
    await removeNodeNetwork(other)
    expect(await nodeNetworkLeftovers(other)).toEqual([])
  })
})
