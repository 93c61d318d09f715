/**
 * The mesh over three nodes on this machine (network namespaces the test
 * makes and removes): a JetStream cluster, an agent, hosts and a gateway
 * Envoy per node, collectors on two. Every node's gateway serves; a node
 * whose own host dies keeps serving from the other nodes' hosts; the
 * collectors count exactly what the client was answered; node 2 lost under
 * load (link down, every process SIGKILLed) costs at most 0.1% of requests
 * and the others count what they answered; and stopping leaves no
 * namespace behind. The configuration travels through NATS: a canary
 * change from node 1's CLI is served by every gateway within 2 s, and a
 * node that was down or cut off when a change was applied runs it once it
 * is back. The collector that consumes the model, SIGKILLed under load,
 * has its share taken over by the other within 10 s, with exact totals.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { inflateRawSync } from 'node:zlib'
import { jetstream } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  applyMeshText,
  inNode,
  type NodeMesh,
  nodeNetworkLeftovers,
  natsCredential,
  nodesOf,
  requireMesh,
  setCanaryWeight,
  setNodeLink,
  startNodeMesh,
} from '@model-mesh/mesh-config'
import { agentStatus, headers as H } from '@model-mesh/contracts'
import { metrics, metricSum } from '@model-mesh/testkit/events'
import { localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { freePorts } from '@model-mesh/testkit/ports'

const ROUTES = `  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    canary: { version: 2, weight: 5000, hosts: [canary] }
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
    # A try that a dead node never answers (no reset comes through a link that is down) is given up after 800 ms and retried.
    retries: { attempts: 1, retry_on: [connect-failure, reset, gateway-error], per_try_timeout_ms: 800 }
    outlier_detection: { consecutive_5xx: 3, interval_ms: 1000, base_ejection_ms: 30000 }
    timeout_ms: 2000
    # The load below asks for every request's story (x-mesh-trace: 1), so each one can be looked up and found counted once.
    trace_header: true
`
// The canary runs on nodes 2 and 3 only: node 1's gateway sends it to both, so losing node 2 shows in its traffic.
const NODES = `nodes:
  - { name: n1, hosts: [stable, fallback], collector: true }
  - { name: n2, hosts: [stable, canary], collector: true }
  - { name: n3, hosts: [stable, canary, fallback] }
`
const ROW = [0.3, 0.5, 0.1, 0.2, 0.9, 0.4, 0.6, 0.7, 0.2, 0.3, 0.1, 0.5, 0.8, 0.4, 0.2, 0.6]

/** One inference's status at a gateway (0: no answer), its request id also its caller. */
async function infer(gatewayUrl: string, id: string): Promise<number> {
  const o = await post(gatewayUrl, id)
  return 'status' in o ? o.status : 0
}

describe('the mesh over three nodes', () => {
  const pool = Number(process.env.VITEST_POOL_ID ?? 1)
  let dir = ''
  let file = ''
  let stateDir = ''
  let mesh: NodeMesh
  let answered = 0
  /** Requests node 2's gateway answered before it was killed. */
  let nodeTwoAnswered: string[] = []

  /** Sets the canary's weight from this process, as any operator's apply would: the entry, and what each node did. */
  const applyWeight = async (weight: number) => {
    const text = await readFile(file, 'utf8')
    const action = `canary set credit-risk ${weight}`
    const outcome = await applyMeshText(
      file,
      setCanaryWeight(text, 'credit-risk', weight),
      action,
      'multi-node-test',
      text,
    )
    if (outcome.status !== 'applied' || outcome.result.status !== 'applied') throw new Error(JSON.stringify(outcome))
    return { entry: outcome.result.entry, nodes: outcome.result.nodes ?? [] }
  }

  /** A node's Envoy admin, as its latest start wrote it. */
  const adminOf = async (node: string) =>
    `http://${(await readFile(join(stateDir, 'nodes', node, 'admin-address'), 'utf8')).trim()}`
  /** The requests every gateway's exporter counted as lost on the way to its agent. */
  const gatewaysDropped = async () => {
    let sum = 0
    for (const n of mesh.nodes) {
      const text = await (await fetch(`${await adminOf(n.node)}/stats?filter=exporter.requests_dropped`)).text()
      sum += Number(/requests_dropped: (\d+)/.exec(text)?.[1] ?? 0)
    }
    return sum
  }

  /** What each node's agent and gateway exporter say they dropped, refused or retried: where missing telemetry went. */
  const pipelineReport = async () => {
    const said: string[] = []
    for (const n of mesh.nodes) {
      said.push(
        `${n.node} agent: ${pick(await metrics(n.agentUrl), /^mesh_agent_(events_dropped|publish_failures|events_duplicate|requests_refused|events_received)/)}`,
      )
      said.push(
        `${n.node} envoy: ${pick(await (await fetch(`${await adminOf(n.node)}/stats?filter=exporter|golden`)).text(), /exporter|golden/)}`,
      )
    }
    return said.join(' | ')
  }

  /** `mesh <args> --json` run inside node 1's namespace, as an operator there would. */
  const cli = (args: string[]) => {
    const { command, args: argv } = inNode(mesh.network.nodes[0]!, process.execPath, [
      'bin/mesh.mjs',
      ...args,
      '--config',
      file,
      '--json',
    ])
    return promisify(execFile)(command, argv)
  }
  /** What `mesh status` says of each node: the revision it runs, and whether its Envoy runs the newest. */
  const nodeStatus = async () =>
    (
      JSON.parse((await cli(['status'])).stdout) as { nodes: { revision: number; envoy: { inSync: boolean } }[] }
    ).nodes.map((n) => [n.revision, n.envoy.inSync])

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'multi-node-'))
    file = join(dir, 'mesh.yaml')
    const yaml = localMeshYaml(portsOf(await freePorts(7)), ROUTES, { extra: NODES })
    // The client's request ids are kept (it sits on the bridge), so it can look each request up at the collector.
    await writeFile(file, yaml.replace('workers: 2 }', `workers: 2, trusted_callers: [10.80.${100 + pool}.1/32] }`))
    const loaded = await requireMesh(file)
    stateDir = loaded.stateDir
    mesh = await startNodeMesh(loaded, {
      by: 'multi-node-test',
      nodes: nodesOf(loaded.config)!,
      network: { prefix: `mn${pool}`, subnet: [80, 100 + pool] },
    })
  }, 240_000)
  afterAll(async () => {
    await mesh?.stop()
    if (mesh) expect(await nodeNetworkLeftovers(mesh.network)).toEqual([])
    // KEEP_DIR=1 keeps the folder, and every process's log in it, for a look after a failure.
    if (!process.env.KEEP_DIR) await rm(dir, { recursive: true, force: true })
    else console.log(`kept ${dir}`)
  })

  it("serves through every node's gateway", async () => {
    expect(mesh.nodes.map((n) => n.namespace)).toEqual([`mn${pool}-n1`, `mn${pool}-n2`, `mn${pool}-n3`])
    for (const n of mesh.nodes) {
      const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => infer(n.gatewayUrl, `${n.node}-${i}`)))
      expect(statuses.filter((s) => s !== 200)).toEqual([])
      answered += statuses.length
    }
  }, 60_000)

  it('gives each caller the same variant whichever gateway it reaches', async () => {
    for (let u = 0; u < 20; u++) {
      const variants = await Promise.all(mesh.nodes.map((n) => post(n.gatewayUrl, `sticky-${u}`)))
      expect(variants.map((v) => ('status' in v ? v.status : 0))).toEqual([200, 200, 200])
      // The version that answered: the canary's (2) or stable's (1), the same at every gateway.
      expect(new Set(variants.map((v) => ('version' in v ? v.version : '')))).toHaveLength(1)
      answered += variants.length
    }
  }, 60_000)

  it("serves a canary change made with node 1's CLI through all three gateways within 2 s", async () => {
    const { stdout } = await cli(['canary', 'set', 'credit-risk', '100%', '--by', 'node-1-operator'])
    const result = JSON.parse(stdout) as {
      status: string
      entry: { id: number }
      nodes: { node: string; state: string; ms: number }[]
    }
    console.log(
      `[node-config] canary set from node 1: ${result.nodes.map((n) => `${n.node} ${n.state} in ${n.ms} ms`).join(', ')}`,
    )
    expect(result.status).toBe('applied')
    expect(result.nodes.map((n) => [n.node, n.state])).toEqual([
      ['n1', 'applied'],
      ['n2', 'applied'],
      ['n3', 'applied'],
    ])
    expect(result.nodes.filter((n) => n.ms >= 2000)).toEqual([])
    // Served at once by every gateway: every caller now gets the canary.
    for (const n of mesh.nodes) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => post(n.gatewayUrl, `all-canary-${n.node}-${i}`)),
      )
      expect(answers.map((a) => ('version' in a ? a.version : 'none'))).toEqual(Array(10).fill('2'))
      answered += answers.length
    }
    // Back to half, and every node's Envoy runs the newest revision of the one shared history.
    await cli(['canary', 'set', 'credit-risk', '5000'])
    const history = JSON.parse((await cli(['history'])).stdout) as { id: number; action: string; by: string }[]
    expect(history.slice(-2).map((e) => [e.action, e.by])).toEqual([
      ['canary set credit-risk 100%', 'node-1-operator'],
      ['canary set credit-risk 5000', expect.any(String)],
    ])
    const status = JSON.parse((await cli(['status'])).stdout) as {
      nodes: { revision: number; envoy: { inSync: boolean } }[]
    }
    expect(status.nodes.map((n) => [n.revision, n.envoy.inSync])).toEqual(Array(3).fill([history.at(-1)!.id, true]))
  }, 90_000)

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

  it('loses node 2 under load: at most 0.1% failed, node 1 stops sending to it within 5 s, and the others count every request they answered, once', async () => {
    const n2 = mesh.nodes[1]!
    const load = balancedLoad(
      mesh.nodes.map((n) => n.gatewayUrl),
      'loss',
    )
    await new Promise((r) => setTimeout(r, 5000))
    const toNode2 = () => canaryHostsAt(mesh.nodes[0]!.adminUrl)
    const beforeKill = (await toNode2()).sentTo(n2.address)
    // Node 2 dies whole: its link goes down, every process is SIGKILLed and kept down.
    const killedAt = Date.now()
    await setNodeLink(mesh.network.nodes[1]!, false)
    for (const name of n2.processes) {
      const pid = mesh.supervisor.pid(name)
      if (pid) process.kill(pid, 'SIGKILL')
    }
    await Promise.all(n2.processes.map((name) => mesh.supervisor.stopChild(name, 0)))
    let last = (await toNode2()).sentTo(n2.address)
    let lastChangeAt = killedAt
    // What node 1's Envoy says of the canary's hosts whenever it sent node 2 another request: why it still did.
    const seen: string[] = []
    while (Date.now() - killedAt < 15_000) {
      await new Promise((r) => setTimeout(r, 200))
      const hosts = await toNode2()
      const now = hosts.sentTo(n2.address)
      if (now !== last) {
        ;[last, lastChangeAt] = [now, Date.now()]
        seen.push(`+${lastChangeAt - killedAt} ms: ${hosts.describe()}`)
      }
    }
    const { results, sent } = await load.stop()
    nodeTwoAnswered = results.filter((r) => r.status === 200 && r.gateway === 1).map((r) => r.id)
    const failed = results.filter((r) => r.status !== 200)
    const stoppedAfterMs = lastChangeAt - killedAt
    console.log(
      `[node-loss] ${sent} requests, ${failed.length} failed; node 1 sent the canary to node 2 ${beforeKill} times before the kill, the last ${stoppedAfterMs} ms after it`,
    )
    if (failed.length > 0) console.log(`[node-loss] failed: ${JSON.stringify(failed)}`)
    expect(beforeKill).toBeGreaterThan(0)
    expect(failed.length / sent).toBeLessThanOrEqual(0.001)
    expect(results.filter((r) => r.status === 200 && r.ms > 2000)).toEqual([])
    // On failure, `seen` says why node 1 still sent: the hosts' health whenever it did.
    expect({ within5s: stoppedAfterMs < 5000, seen }).toMatchObject({ within5s: true })

    // Every request nodes 1 and 3 answered reaches the collector that owns its model (an agent or collector
    // whose NATS server died moves to another within seconds, its events waiting in the spool), and once; twice
    // only where the client tried node 2 first and node 2 had served it before it died.
    const others = results.filter((r) => r.status === 200 && r.gateway !== 1)
    const counts = new Map(
      await countedOnce(
        mesh.nodes[0]!.collectorUrl!,
        others.map((r) => r.id),
      ),
    )
    expect(others.filter((r) => counts.get(r.id) !== 1 && !(r.tries === 2 && counts.get(r.id) === 2))).toEqual([])
  }, 240_000)

  it('brings node 2 back: it rejoins, runs the config applied while it was down, and what it answered before it died is counted once at most', async () => {
    const n2 = mesh.nodes[1]!
    // Applied while node 2 is down: the others take it, node 2 is not reached.
    const whileDown = await applyWeight(4000)
    expect(whileDown.nodes.map((n) => [n.node, n.state])).toEqual([
      ['n1', 'applied'],
      ['n2', 'unreachable'],
      ['n3', 'applied'],
    ])
    await setNodeLink(mesh.network.nodes[1]!, true)
    // As they were started: its NATS server, collector, agent (replaying its disk spool), hosts, Envoy.
    for (const name of n2.processes) await mesh.supervisor.startChild(name, 120_000)
    expect(await infer(n2.gatewayUrl, 'back')).toBe(200)
    answered++
    const backAt = Date.now()
    await expect.poll(() => configOf(n2.agentUrl), { timeout: 10_000, interval: 100 }).toBe(whileDown.entry.id)
    console.log(
      `[node-config] node 2 back runs revision ${whileDown.entry.id} (applied while it was down) ${Date.now() - backAt} ms after its gateway served`,
    )
    // Those whose events were still in node 2's Envoy when it was killed are lost; none may count twice.
    await new Promise((r) => setTimeout(r, 5000))
    const collector = mesh.nodes[0]!.collectorUrl!
    const counts = await Promise.all(nodeTwoAnswered.map((id) => storyCount(collector, id)))
    expect(counts.filter((n) => n > 1)).toEqual([])
    console.log(
      `[node-loss] node 2 back: ${counts.filter((n) => n === 1).length} of the ${counts.length} requests it answered before it died are counted, none twice`,
    )
  }, 180_000)

  it('partitions node 3 for 30 s under load, then heals it: every request answered is counted, once', async () => {
    const n3 = mesh.network.nodes[2]!
    const load = balancedLoad(
      mesh.nodes.map((n) => n.gatewayUrl),
      'partition',
    )
    await new Promise((r) => setTimeout(r, 3000))
    await setNodeLink(n3, false)
    await new Promise((r) => setTimeout(r, 10_000))
    // A change while node 3 is cut off: nodes 1 and 2 take it; node 3 takes it when healed, and no other wins.
    const duringPartition = await applyWeight(6000)
    expect(duringPartition.nodes.map((n) => n.state)).toEqual(['applied', 'applied', 'unreachable'])
    await new Promise((r) => setTimeout(r, 20_000))
    await setNodeLink(n3, true)
    const healedAt = Date.now()
    await new Promise((r) => setTimeout(r, 3000))
    const { results, sent } = await load.stop()
    const failed = results.filter((r) => r.status !== 200)
    await expect
      .poll(() => Promise.all(mesh.nodes.map((n) => configOf(n.agentUrl))), { timeout: 60_000, interval: 100 })
      .toEqual([duringPartition.entry.id, duringPartition.entry.id, duringPartition.entry.id])
    console.log(
      `[node-config] node 3 healed runs revision ${duringPartition.entry.id} ${Date.now() - healedAt} ms later`,
    )
    // Every node's Envoy runs it, as `mesh status` sees them (NATS, just healed, may take a moment to answer it).
    await expect
      .poll(nodeStatus, { timeout: 30_000, interval: 1000 })
      .toEqual(Array(3).fill([duringPartition.entry.id, true]))
    console.log(
      `[node-partition] ${sent} requests, ${failed.length} failed, ${results.filter((r) => r.status === 200 && r.gateway === 2).length} answered by node 3`,
    )
    expect(failed.length / sent).toBeLessThanOrEqual(0.001)
    // Node 3 kept what it answered in its agent's spool while it could not reach a quorum; after the heal, nothing is
    // missing. JetStream's cluster takes from seconds to a couple of minutes to serve again after a heal (nats-server
    // 2.9 here): the spools and the collectors wait for it.
    const answeredOk = results.filter((r) => r.status === 200)
    const counting = Date.now()
    const counts = new Map(
      await countedOnce(
        mesh.nodes[0]!.collectorUrl!,
        answeredOk.map((r) => r.id),
        180_000,
      ).catch(async (e) => {
        console.log(`[node-partition] not all found: ${await pipelineReport()}`)
        throw e
      }),
    )
    console.log(
      `[node-partition] every request answered found counted ${Date.now() - healedAt} ms after the heal (looked up for ${Date.now() - counting} ms)`,
    )
    // Once each; twice only where the client tried two gateways and the first, cut off, had served it too.
    const miscounted = answeredOk.filter((r) => counts.get(r.id) !== 1 && !(r.tries === 2 && counts.get(r.id) === 2))
    if (miscounted.length > 0) console.log(`[node-partition] miscounted: ${await pipelineReport()}`)
    for (const r of miscounted.slice(0, 3))
      console.log(
        `[node-partition] ${r.id} counted ${counts.get(r.id)}: ${JSON.stringify((await (await fetch(`${mesh.nodes[0]!.collectorUrl}/api/v1/requests/${r.id}`)).json()) as unknown)}`,
      )
    expect(miscounted).toEqual([])
    console.log(
      `[node-partition] ${answeredOk.filter((r) => counts.get(r.id) === 2).length} requests were served twice: the client's first try, cut off by the partition, and its retry`,
    )
  }, 360_000)

  it('takes over the share of the collector SIGKILLed under load within 10 s, and its totals stay exact', async () => {
    const total = async (collectorUrl: string) =>
      metricSum(await (await fetch(`${collectorUrl}/metrics`)).text(), 'mesh_requests_total', { route: 'credit-risk' })
    const owned = async (collectorUrl: string) =>
      ((await (await fetch(`${collectorUrl}/api/v1/pipeline`)).json()) as { shares: { owned: string[] } }).shares.owned
    // Whichever collector consumes credit-risk now (the nodes lost and partitioned before may have moved it).
    const collectors = mesh.nodes.filter((n) => n.collectorUrl)
    const owner = async () => {
      const holds = await Promise.all(
        collectors.map(async (n) => (await owned(n.collectorUrl!)).includes('credit-risk')),
      )
      return holds.filter(Boolean).length === 1 ? collectors[holds.indexOf(true)] : undefined
    }
    await expect.poll(owner, { timeout: 30_000, interval: 500 }).toBeDefined()
    const from = (await owner())!
    const to = collectors.find((n) => n !== from)!
    // The other answers for it too, by asking the one that consumes it: a request's story, the golden-signal windows.
    expect(await storyCount(to.collectorUrl!, 'n1-0')).toBe(1)
    const window = (await (await fetch(`${to.collectorUrl}/api/v1/windows?window=1h`)).json()) as {
      series: { labels: { model: string } }[]
    }
    expect(window.series.filter((s) => s.labels.model === 'credit-risk')).not.toEqual([])
    expect(await total(to.collectorUrl!)).toBe(0)
    // Quiet first: everything JetStream holds of the route so far, and its consumer counting exactly that.
    const inStream = async () => (await streamTruth(stateDir, mesh.natsUrls)).total
    let before = -1
    await expect
      .poll(
        async () => {
          const now = await inStream()
          const settled = now === before
          before = now
          return settled
        },
        { timeout: 60_000, interval: 2000 },
      )
      .toBe(true)
    await expect.poll(() => total(from.collectorUrl!), { timeout: 30_000, interval: 500 }).toBe(before)
    const droppedBefore = await gatewaysDropped()

    const load = balancedLoad(
      mesh.nodes.map((n) => n.gatewayUrl),
      'takeover',
    )
    await new Promise((r) => setTimeout(r, 3000))
    const name = `${from.node}-telemetry-collector`
    const killedAt = Date.now()
    process.kill(mesh.supervisor.pid(name)!, 'SIGKILL')
    await mesh.supervisor.stopChild(name, 0)
    await expect.poll(() => owned(to.collectorUrl!), { timeout: 10_000, interval: 100 }).toContain('credit-risk')
    const tookOverMs = Date.now() - killedAt
    await new Promise((r) => setTimeout(r, 10_000))
    const { results, sent } = await load.stop()
    const ok = results.filter((r) => r.status === 200)
    expect(ok.length).toBe(sent)
    let dropped = 0
    try {
      // JetStream holds every request the client was answered, but those a gateway's exporter counted as lost on
      // the way to its agent (a call the agent did not answer in time: this machine's two cores run 20 processes).
      await expect
        .poll(
          async () => {
            dropped = (await gatewaysDropped()) - droppedBefore
            return (await inStream()) + dropped - before
          },
          { timeout: 60_000, interval: 1000 },
        )
        .toBe(ok.length)
      // The other read credit-risk's stream from past what its own store applied: everything the dead one had, and everything since.
      await expect
        .poll(() => total(to.collectorUrl!), { timeout: 60_000, interval: 1000 })
        .toBe(before + ok.length - dropped)
    } catch (e) {
      // What each part says it refused, skipped or dropped: where the missing requests went.
      const said = [
        `${to.node} collector: ${pick(await metrics(to.collectorUrl!), /^mesh_collector_(events_refused|messages_skipped|messages_redelivered)/)}`,
        await pipelineReport(),
      ]
      said.push(
        `${to.node} totals: ${pick(await metrics(to.collectorUrl!), /^mesh_requests_total\{route="credit-risk"/)}`,
      )
      said.push(`${to.node} owns: ${await owned(to.collectorUrl!)}`)
      said.push(`stream: ${JSON.stringify(await streamTruth(stateDir, mesh.natsUrls))}`)
      for (const n of collectors) {
        const log = await readFile(join(stateDir, 'logs', `${n.node}-telemetry-collector.log`), 'utf8')
        said.push(
          `${n.node} collector log: ${log
            .split('\n')
            .filter((l) => /consuming|gave up|created anew|consumer failed|could not change/.test(l))
            .map((l) => l.slice(0, 200))
            .join(' / ')}`,
        )
      }
      console.log(
        `[collector-takeover] ${before} in the stream before, ${ok.length} answered, ${dropped} counted lost; ${said.join(' | ')}`,
      )
      throw e
    }
    console.log(
      `[collector-takeover] ${to.node}'s collector took credit-risk over ${tookOverMs} ms after ${from.node}'s was killed; it counts ${before} + ${ok.length} requests, as the client saw, less ${dropped} its gateways counted lost`,
    )
    // And request by request, for a spread of them (looking up every one would take a minute): each once.
    const sample = ok.filter((_, i) => i % Math.ceil(ok.length / 1000) === 0)
    const counts = new Map(
      await countedOnce(
        to.collectorUrl!,
        sample.map((r) => r.id),
      ),
    )
    expect(sample.filter((r) => counts.get(r.id) !== 1)).toEqual([])

    // The killed one back: the other keeps the model, and the one back exports none of it (the sum stays exact).
    await mesh.supervisor.startChild(name, 60_000)
    await new Promise((r) => setTimeout(r, 3000))
    expect(await owned(from.collectorUrl!)).not.toContain('credit-risk')
    expect(await total(from.collectorUrl!)).toBe(0)
    expect(await total(to.collectorUrl!)).toBe(before + ok.length)
  }, 180_000)
})

/** The revision the agent at `agentUrl` handed its Envoy (null: none, or no answer). */
async function configOf(agentUrl: string): Promise<number | null> {
  const s = await agentStatus(agentUrl)
  return 'error' in s ? null : (s.config?.revision ?? null)
}

interface Answer {
  id: string
  /** The gateway that answered (index of mesh.nodes), or the last one tried. */
  gateway: number
  status: number
  ms: number
  /** 2 when the first gateway gave no answer: that gateway may still have served it (its answer lost in a partition). */
  tries: number
}

/**
 * Four callers in a loop over the gateways, as a load balancer would send:
 * round robin, and a refused, reset or unanswered connection tried once
 * more at the next gateway. stop() ends them and gives every outcome.
 */
function balancedLoad(gateways: string[], prefix: string): { stop(): Promise<{ results: Answer[]; sent: number }> } {
  const results: Answer[] = []
  let stopped = false
  let sent = 0
  const caller = async (w: number) => {
    for (let k = 0; !stopped; k++) {
      const id = `${prefix}-${w}-${k}`
      const first = (w + k) % gateways.length
      sent++
      for (const g of [first, (first + 1) % gateways.length]) {
        const o = await post(gateways[g]!, id)
        const tries = g === first ? 1 : 2
        if ('status' in o) {
          results.push({ id, gateway: g, status: o.status, ms: o.ms, tries })
          break
        }
        if (tries === 2) results.push({ id, gateway: g, status: 0, ms: o.ms, tries })
      }
    }
  }
  const running = Promise.all([0, 1, 2, 3].map(caller))
  return {
    async stop() {
      stopped = true
      await running
      return { results, sent }
    },
  }
}

/** How many request events the collector holds for request `id`. */
/** What credit-risk's request_stats in the stream add up to, by source: the truth the collectors' totals should reach. */
async function streamTruth(stateDir: string, natsUrls: string) {
  const nc = await connect({ servers: natsUrls.split(','), ...(await natsCredential(stateDir, 'operator')) })
  try {
    const c = await jetstream(nc).consumers.get('MESH_REQUESTS', { filter_subjects: 'mesh.requests.credit-risk' })
    let pending = (await c.info()).num_pending
    const bySource: Record<string, number> = {}
    let total = 0
    let messages = 0
    while (pending > 0) {
      const batch = await c.fetch({ max_messages: 500, expires: 2000 })
      for await (const m of batch) {
        pending = m.info.pending
        messages++
        const source = (m.headers?.get('Nats-Msg-Id') ?? '').split('.').slice(0, -1).join('.')
        for (const line of new TextDecoder().decode(inflateRawSync(m.data)).split('\n')) {
          if (!line) continue
          const e = JSON.parse(line) as { kind: string; route: string; requests?: number }
          if (e.kind === 'request_stats' && e.route === 'credit-risk') {
            total += e.requests ?? 0
            bySource[source] = (bySource[source] ?? 0) + (e.requests ?? 0)
          }
        }
      }
    }
    return { total, messages, bySource }
  } finally {
    await nc.close()
  }
}

/** The lines of `text` that `re` matches, but comments. */
const pick = (text: string, re: RegExp) =>
  text
    .split('\n')
    .filter((l) => re.test(l) && !l.startsWith('#'))
    .join('; ')

async function storyCount(collectorUrl: string, id: string): Promise<number> {
  const res = await fetch(`${collectorUrl}/api/v1/requests/${id}`)
  return res.ok ? ((await res.json()) as { request: unknown[] }).request.length : 0
}

/**
 * Looks each request up at the collector until every one is found (only
 * those still missing, each round; up to 90 s, as agents and collectors
 * whose NATS server went away move to another and replay their spools),
 * then gives each its count.
 */
async function countedOnce(collectorUrl: string, ids: string[], timeoutMs = 90_000): Promise<[string, number][]> {
  const counts = new Map<string, number>()
  let pending = ids
  const lookUp = async () => {
    // A hundred at a time: thousands of lookups at once would run out of file descriptors.
    const found: number[] = []
    for (let i = 0; i < pending.length; i += 100)
      found.push(...(await Promise.all(pending.slice(i, i + 100).map((id) => storyCount(collectorUrl, id)))))
    found.forEach((n, i) => n > 0 && counts.set(pending[i]!, n))
    pending = pending.filter((_, i) => found[i] === 0)
    return pending
  }
  await expect.poll(lookUp, { timeout: timeoutMs, interval: 2000 }).toEqual([])
  return [...counts]
}

/** The canary pool's hosts as node 1's Envoy sees them: requests sent to each (its per-host counter) and their health. */
async function canaryHostsAt(adminUrl: string) {
  const body = (await (await fetch(`${adminUrl}/clusters?format=json`)).json()) as {
    cluster_statuses: {
      name: string
      host_statuses?: {
        address: { socket_address: { address: string } }
        stats: { name: string; value?: string }[]
        health_status: Record<string, unknown>
      }[]
    }[]
  }
  const hosts = body.cluster_statuses.find((c) => c.name === 'credit-risk.canary')?.host_statuses ?? []
  return {
    sentTo: (address: string) =>
      hosts
        .filter((h) => h.address.socket_address.address === address)
        .reduce((n, h) => n + Number(h.stats.find((s) => s.name === 'rq_total')?.value ?? 0), 0),
    describe: () =>
      hosts.map((h) => `${h.address.socket_address.address} ${JSON.stringify(h.health_status)}`).join(', '),
  }
}

/**
 * One inference at a gateway with its request id: its status, or why there is
 * none (no connection within 500 ms, refused, reset, nothing within 3 s).
 */
function post(
  gatewayUrl: string,
  id: string,
): Promise<({ status: number; version: string } | { error: string }) & { ms: number }> {
  const started = Date.now()
  const url = new URL(`${gatewayUrl}/v2/models/credit-risk/infer`)
  const body = JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: ROW }] })
  return new Promise((resolve) => {
    const done = (o: { status: number; version: string } | { error: string }) => {
      clearTimeout(connectTimer)
      clearTimeout(totalTimer)
      resolve({ ...o, ms: Date.now() - started })
    }
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'x-user-id': id,
          'x-request-id': id,
          [H.MESH_TRACE]: '1',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume()
        res.on('end', () => done({ status: res.statusCode ?? 0, version: String(res.headers['x-model-version']) }))
        res.on('error', (e) => done({ error: e.message }))
      },
    )
    const connectTimer = setTimeout(() => req.destroy(new Error('no connection within 500 ms')), 500)
    const totalTimer = setTimeout(() => req.destroy(new Error('no answer within 3 s')), 3000)
    req.on('socket', (socket) => socket.once('connect', () => clearTimeout(connectTimer)))
    req.on('error', (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message }))
    req.end(body)
  })
}
