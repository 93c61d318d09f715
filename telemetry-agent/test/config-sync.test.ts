/**
 * The agent keeping its node's Envoy configuration from the mesh's
 * configuration bucket, with a real nats-server (no Envoy yet: the files
 * are written for it to read at start). The bucket is outside input: a
 * value that is not a revision, a file name that would leave the node's
 * folder, a revision without this node, are each refused, said in
 * /status, and change nothing; the next good revision is taken.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kvm, type KV } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AGENT_STATUS_PATH,
  type AgentStatus,
  CONFIG_BUCKET,
  CONFIG_KEY,
  encodeMeshRevision,
  fileText,
  type MeshRevision,
} from '@model-mesh/contracts'
import { AGENT_TEST_TOKEN, eventually } from '@model-mesh/testkit/events'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { startAgent, type RunningAgent } from '../agent.ts'

const listener = (version: string) => ({
  file: 'lds.json',
  kind: 'listeners' as const,
  statPrefix: 'listener_manager.lds',
  response: { version_info: version, resources: [{ name: `gateway-${version}` }] },
})

const revision = (id: number, nodes: MeshRevision['nodes']): MeshRevision => ({
  id,
  time: new Date().toISOString(),
  by: 'test',
  action: `apply ${id}`,
  digest: '0123456789abcdef',
  version: `v${id}`,
  mesh_text: 'version: 1\n',
  nodes,
})

describe("the agent's node configuration from NATS", () => {
  let nats: RunningNats
  let nc: NatsConnection
  let kv: KV
  let agent: RunningAgent
  let dir = ''
  const config = async () => ((await (await fetch(`${agent.url}${AGENT_STATUS_PATH}`)).json()) as AgentStatus).config!

  beforeAll(async () => {
    nats = await startNats()
    nc = await connect({ servers: nats.url })
    kv = await new Kvm(nc).create(CONFIG_BUCKET, { history: 8 })
    dir = await mkdtemp(join(tmpdir(), 'config-sync-'))
    agent = await startAgent({
      token: AGENT_TEST_TOKEN,
      id: 'config-test',
      address: '127.0.0.1',
      port: 0,
      natsUrl: nats.url,
      models: ['credit-risk'],
      spool: { dir: join(dir, 'spool'), memoryBytes: 1 << 20, diskBytes: 8 << 20 },
      envoyConfig: {
        node: 'n1',
        xdsDir: join(dir, 'n1', 'xds'),
        bootstrapFile: join(dir, 'n1', 'bootstrap.json'),
        adminAddressFile: join(dir, 'n1', 'admin-address'),
      },
      log: () => {},
    })
  })
  afterAll(async () => {
    await agent?.close()
    await nc?.close()
    await nats?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it("writes its node's part of a revision: the xDS files and the bootstrap", async () => {
    const other = { version: 'b', bootstrap: { node: 'n2' }, files: [listener('b')] }
    await kv.put(
      CONFIG_KEY,
      encodeMeshRevision(
        revision(1, { n1: { version: 'a', bootstrap: { node: 'n1' }, files: [listener('a')] }, n2: other }),
      ),
    )
    expect(await eventually(config, (c) => c.revision === 1)).toEqual({
      revision: 1,
      version: 'a',
      latest: 1,
      error: null,
    })
    expect(await readFile(join(dir, 'n1', 'xds', 'lds.json'), 'utf8')).toBe(fileText(listener('a')))
    expect(JSON.parse(await readFile(join(dir, 'n1', 'bootstrap.json'), 'utf8'))).toEqual({ node: 'n1' })
  })

  it('refuses what is not a revision for it, says why, and changes nothing', async () => {
    const before = await readdir(join(dir, 'n1', 'xds'))
    await kv.put(CONFIG_KEY, new TextEncoder().encode('{"id": "not a revision"'))
    expect((await eventually(config, (c) => c.error !== null)).error).toMatch(/is not a mesh revision: not JSON/)

    // A file name that would leave the node's folder.
    const outside = { ...listener('x'), file: '../escaped.json' }
    await kv.put(CONFIG_KEY, encodeMeshRevision(revision(2, { n1: { version: 'x', bootstrap: {}, files: [outside] } })))
    expect((await eventually(config, (c) => /file/.test(c.error ?? ''))).error).toMatch(
      /nodes\.n1\.files\.0\.file: must be a file name ending \.json/,
    )
    await kv.put(
      CONFIG_KEY,
      encodeMeshRevision(revision(3, { n2: { version: 'b', bootstrap: {}, files: [listener('b')] } })),
    )
    expect(await eventually(config, (c) => c.latest === 3)).toEqual({
      revision: 1,
      version: 'a',
      latest: 3,
      error: 'revision 3 has no configuration for node n1',
    })
    expect(await readdir(join(dir, 'n1', 'xds'))).toEqual(before)
    expect(await readdir(dir)).not.toContain('escaped.json')
    expect(await readFile(join(dir, 'n1', 'xds', 'lds.json'), 'utf8')).toBe(fileText(listener('a')))
  })

  it('takes the next good revision', async () => {
    await kv.put(
      CONFIG_KEY,
      encodeMeshRevision(revision(4, { n1: { version: 'c', bootstrap: {}, files: [listener('c')] } })),
    )
    expect(await eventually(config, (c) => c.revision === 4)).toEqual({
      revision: 4,
      version: 'c',
      latest: 4,
      error: null,
    })
    expect(await readFile(join(dir, 'n1', 'xds', 'lds.json'), 'utf8')).toBe(fileText(listener('c')))
  })
})
