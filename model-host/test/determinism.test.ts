/**
 * Integration: the same input gives bitwise-identical outputs from separate
 * host processes and across restarts, whatever batch it lands in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleRows } from '../example-models/dataset.ts'
import { binaryInfer, readBinaryResponse } from '@model-mesh/testkit/client'
import { copyRepository, spawnHost, type HostProcess } from '@model-mesh/testkit/host-process'

const rows = sampleRows(24, 99)

async function probabilities(host: HostProcess, model: string, batch: number[][]): Promise<Uint32Array> {
  const { body, headers } = binaryInfer(batch)
  const res = await fetch(`${host.url}/v2/models/${model}/infer`, { method: 'POST', headers, body })
  expect(res.status).toBe(200)
  const { outputs } = await readBinaryResponse(res)
  return new Uint32Array(outputs.probabilities!.buffer) // compare bits, not values
}

/** Each row alone, then all rows in one batch, then all rows as concurrent singles (batched by the host). */
async function threeWays(host: HostProcess, model: string) {
  const alone: number[] = []
  for (const r of rows) alone.push(...(await probabilities(host, model, [r])))
  const oneBatch = Array.from(await probabilities(host, model, rows))
  const concurrent = (await Promise.all(rows.map((r) => probabilities(host, model, [r])))).flatMap((a) => Array.from(a))
  return { alone, oneBatch, concurrent }
}

describe('determinism', () => {
  let repo: Awaited<ReturnType<typeof copyRepository>>
  beforeAll(async () => {
    repo = await copyRepository(['credit-risk', 'credit-risk-fallback', 'credit-risk-xl'])
  })
  afterAll(async () => repo?.remove())

  it.each(['credit-risk', 'credit-risk-xl'])(
    '%s: same bits alone, batched, in two processes and after a restart',
    async (model) => {
      const [a, b] = await Promise.all([spawnHost(repo.dir), spawnHost(repo.dir)])
      let resultsA, resultsB
      try {
        ;[resultsA, resultsB] = await Promise.all([threeWays(a, model), threeWays(b, model)])
      } finally {
        await Promise.all([a.stop(), b.stop()])
      }
      expect(resultsA.oneBatch).toEqual(resultsA.alone)
      expect(resultsA.concurrent).toEqual(resultsA.alone)
      expect(resultsB).toEqual(resultsA)

      const restarted = await spawnHost(repo.dir)
      try {
        expect(await threeWays(restarted, model)).toEqual(resultsA)
      } finally {
        await restarted.stop()
      }
    },
  )
})
