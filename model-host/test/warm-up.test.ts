/**
 * Warm-up, for real: a host answers ready only once each version has run
 * every batch size it will see, so the first requests a new instance serves
 * (a pool scaled up, a rolling update) are as fast as its steady state.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleRows } from '../example-models/dataset.ts'
import { jsonInfer, postJson } from '@model-mesh/testkit/client'
import { copyRepository, spawnHost, type HostProcess } from '@model-mesh/testkit/host-process'

const XL = 'credit-risk-xl'
/** POSTs `body` as JSON a few times to a server of this process that answers with it: the client warm, the host untouched. */
async function warmClient(body: unknown) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.concat(chunks)))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  for (let i = 0; i < 10; i++) expect((await postJson(`http://127.0.0.1:${port}/`, body)).status).toBe(200)
  await new Promise((r) => server.close(r))
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

describe('warm-up (the heavy example model)', () => {
  let host: HostProcess
  let repo: Awaited<ReturnType<typeof copyRepository>>
  beforeAll(async () => {
    repo = await copyRepository([XL])
    host = await spawnHost(repo.dir, {}, ['--only', XL])
  })
  afterAll(async () => {
    await host?.stop()
    await repo?.remove()
  })

  it('serves its first request within 1.5x the median of a warm host idle as long', async () => {
    // The client's own first requests (its connection, its JIT for POSTing and parsing JSON) are not the host's to
    // pay for: a gateway's are long warm. A server of the test's own takes them.
    await warmClient(jsonInfer(sampleRows(1, 1)))
    await fetch(`${host.url}/v2/health/ready`)
    const timed = async (rows: number[][]) => {
      const t = performance.now()
      const r = await postJson(`${host.url}/v2/models/${XL}/infer`, jsonInfer(rows))
      expect(r.status).toBe(200)
      return performance.now() - t
    }
    const rows = sampleRows(1, 1)
    const first = await timed(rows)
    const steady: number[] = []
    for (let i = 0; i < 15; i++) steady.push(await timed(rows))
    // A request reaching a host idle for a moment costs more than one right behind another, warm or not (its threads
    // asleep, its caches cold): the first request had such a pause before it, so it is held to requests after one.
    const afterPause: number[] = []
    for (let i = 0; i < 7; i++) {
      await new Promise((r) => setTimeout(r, 300))
      afterPause.push(await timed(rows))
    }
    process.stderr.write(
      `[warm-up] first request ${first.toFixed(1)} ms; warm: a median of ${median(steady).toFixed(1)} ms back to back, ${median(afterPause).toFixed(1)} ms after a pause\n`,
    )
    // Without warm-up, onnxruntime's first run (its arena, its kernels) adds about 30 ms here, and the host's HTTP path
    // running cold (its routes, codecs and adapter not yet compiled by V8) about 6 ms more.
    expect(first).toBeLessThanOrEqual(1.5 * median(afterPause))
  })
})
