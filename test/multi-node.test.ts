/**
 * The mesh over three nodes on this machine (network namespaces the test
 * makes and removes): a JetStream cluster, an agent, hosts and a gateway
 * Envoy per node, collectors on two. Every node's gateway serves; a node
 * whose own host dies keeps serving from the other nodes' hosts; the
 * collectors count exactly what the client was answered; and stopping
 * leaves no namespace behind.
 */
import { writeFile } from 'node:fs/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type NodeMesh, nodeNetworkLeftovers, nodesOf, requireMesh, startNodeMesh } from '@model-mesh/mesh-config'
import { metricSum } from '@model-mesh/testkit/events'
import { localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { freePorts } from '@model-mesh/testkit/ports'

const ROUTES = `  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    canary: { version: 2, weight: 1000, hosts: [canary] }
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
    retries: { attempts: 1, retry_on: [connect-failure, reset, gateway-error] }
`
const NODES = `nodes:
  - { name: n1, hosts: [stable, fallback], collector: true }
  - { name: n2, hosts: [stable], collector: true }
  - { name: n3, hosts: [stable, canary] }
`
const ROW = [0.3, 0.5, 0.1, 0.2, 0.9, 0.4, 0.6, 0.7, 0.2, 0.3, 0.1, 0.5, 0.8, 0.4, 0.2, 0.6]

async function infer(gatewayUrl: string, user: string): Promise<number> {
  const res = await fetch(`${gatewayUrl}/v2/models/credit-risk/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user-id': user },
    body: JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: ROW }] }),
    signal: AbortSignal.timeout(5000),
  }).catch(() => null)
  await res?.body?.cancel()
  return res?.status ?? 0
}

describe('the mesh over three nodes', () => {
  const pool = Number(process.env.VITEST_POOL_ID ?? 1)
  let dir = ''
  let mesh: NodeMesh
  let answered = 0

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'multi-node-'))
    const file = join(dir, 'mesh.yaml')
    await writeFile(file, localMeshYaml(portsOf(await freePorts(7)), ROUTES, { extra: NODES }))
    const loaded = await requireMesh(file)
    mesh = await startNodeMesh(loaded, {
      by: 'multi-node-test',
      nodes: nodesOf(loaded.config)!,
      network: { prefix: `mn${pool}`, subnet: [80, 100 + pool] },
    })
  }, 240_000)
  afterAll(async () => {
    await mesh?.stop()
    if (mesh) expect(await nodeNetworkLeftovers(mesh.network)).toEqual([])
    await rm(dir, { recursive: true, force: true })
  })

  it("serves through every node's gateway", async () => {
    expect(mesh.nodes.map((n) => n.namespace)).toEqual([`mn${pool}-n1`, `mn${pool}-n2`, `mn${pool}-n3`])
    for (const n of mesh.nodes) {
      const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => infer(n.gatewayUrl, `${n.node}-${i}`)))
      expect(statuses.filter((s) => s !== 200)).toEqual([])
      answered += statuses.length
    }
  }, 60_000)

  it("keeps serving through a node whose own host died, from the other nodes' hosts", async () => {
    const n2 = mesh.nodes[1]!
    await mesh.supervisor.stopChild('host-n2-stable')
    try {
      const statuses: number[] = []
      for (let i = 0; i < 100; i++) statuses.push(await infer(n2.gatewayUrl, `failover-${i}`))
      expect(statuses.filter((s) => s !== 200)).toEqual([])
      answered += statuses.length
    } finally {
      await mesh.supervisor.startChild('host-n2-stable')
    }
  }, 120_000)

  it('counts at the collectors exactly the requests the client was answered, whichever node served them', async () => {
    const collectors = mesh.nodes.filter((n) => n.collectorUrl)
    expect(collectors.map((n) => n.node)).toEqual(['n1', 'n2'])
    const counted = async () => {
      let sum = 0
      for (const c of collectors) {
        const text = await (await fetch(`${c.collectorUrl}/metrics`)).text()
        sum += metricSum(text, 'mesh_requests_total', { route: 'credit-risk' })
      }
      return sum
    }
    await expect.poll(counted, { timeout: 60_000, interval: 1000 }).toBe(answered)
  }, 90_000)
})
