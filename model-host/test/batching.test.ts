/**
 * Integration: dynamic batching, bounded queues, deadlines and fallback in a
 * real host serving the heavy example model (credit-risk-xl).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleRows } from '../example-models/dataset.ts'
import { jsonInfer, postJson } from '@model-mesh/testkit/client'
import { metricSum } from '@model-mesh/testkit/events'
import { copyRepository, editConfig, spawnHost, type HostProcess } from '@model-mesh/testkit/host-process'

const XL = 'credit-risk-xl'
const big = sampleRows(128, 1)
const one = sampleRows(1, 2)

type Repo = Awaited<ReturnType<typeof copyRepository>>
const stats = (host: HostProcess, model = XL) => fetch(`${host.url}/v2/models/${model}/stats`).then((r) => r.json())
const infer = (
  host: HostProcess,
  rows: number[][],
  headers: Record<string, string> = {},
  init: { signal?: AbortSignal } = {},
) =>
  postJson(`${host.url}/v2/models/${XL}/infer`, jsonInfer(rows), headers).catch((e) =>
    init.signal?.aborted ? null : Promise.reject(e),
  )
/** The host's own saturation gauge for the XL model: on a busy machine a request sent first may arrive last, so tests wait on these, not on sleeps. */
const gauge = async (host: HostProcess, name: 'model_host_busy_instances' | 'model_host_queue_depth') =>
  metricSum(await (await fetch(`${host.url}/metrics`)).text(), name, { model: XL })
const batchSizes = (s: any): Record<number, number> =>
  Object.fromEntries(s.model_stats[0].batch_stats.map((b: any) => [b.batch_size, b.count]))

describe('batching (fallback configured)', () => {
  let host: HostProcess
  let repo: Repo
  beforeAll(async () => {
    repo = await copyRepository([XL, 'credit-risk-fallback'])
    await editConfig(repo.dir, XL, (c) => {
      c.fallback = 'credit-risk-fallback'
      c.dynamic_batching.max_queue_delay_ms = 1000
      // Room for four full batches and three singles waiting behind a running one; 24 at once overflow it.
      c.dynamic_batching.max_queue_size = 8
    })
    host = await spawnHost(repo.dir)
    await infer(host, big) // warm-up: also gives the deadline estimate a batch time
  })
  afterAll(async () => {
    await host?.stop()
    await repo?.remove()
  })

  /**
   * Sends `n` full batches (128 rows: nothing joins one), which keep the one instance busy; arrived(k) waits until
   * k requests are at the host (running, queued or done, as its gauges and the answers say).
   */
  const busyWithBigs = (n: number) => {
    let done = 0
    const bigs = Array.from({ length: n }, () => infer(host, big).finally(() => done++))
    const arrived = (k: number) =>
      expect
        .poll(
          async () =>
            (await gauge(host, 'model_host_busy_instances')) + (await gauge(host, 'model_host_queue_depth')) + done,
          {
            timeout: 5000,
            interval: 1,
          },
        )
        .toBeGreaterThanOrEqual(k)
    return { bigs, arrived }
  }

  it('does not make a lone request wait out max_queue_delay_ms (1000 ms here)', async () => {
    const times: number[] = []
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now()
      const r = await infer(host, one)
      times.push(performance.now() - t0)
      expect(r!.status).toBe(200)
      expect(r!.headers.get('x-model-fallback')).toBe('false')
    }
    times.sort((a, b) => a - b)
    expect(times[2]).toBeLessThan(250)
  })

  it('sends requests that queued while a batch ran together into the next batch', async () => {
    const before = batchSizes(await stats(host))
    // Full batches (128 rows: nothing joins one) keep the instance busy; the singles are sent once every one of them
    // is at the host (running, queued or done, as its gauges say), so they queue behind the rest, and the next batch
    // after those takes all three (a batch takes queued requests in order, skipping what does not fit).
    const { bigs, arrived } = busyWithBigs(5)
    await arrived(5)
    const singles = await Promise.all([0, 1, 2].map(() => infer(host, one)))
    await Promise.all(bigs)
    expect(singles.map((r) => r!.status)).toEqual([200, 200, 200])
    expect(singles.every((r) => r!.headers.get('x-model-fallback') === 'false')).toBe(true)
    const after = batchSizes(await stats(host))
    // The three singles ran as one batch of 3, not three batches of 1.
    expect((after[3] ?? 0) - (before[3] ?? 0)).toBe(1)
    expect(after[1] ?? 0).toBe(before[1] ?? 0)
    // The autoscaling signals, as Prometheus scrapes them: the batches run and their queue wait, as /stats counts them.
    const [s, text] = await Promise.all([stats(host), fetch(`${host.url}/metrics`).then((r) => r.text())])
    const v = s.model_stats[0]
    expect(v.queue_ms_total).toBeGreaterThan(0)
    expect(metricSum(text, 'model_host_batches_total', { model: XL, version: v.version })).toBe(v.execution_count)
    expect(metricSum(text, 'model_host_batch_queue_wait_seconds_total', { model: XL })).toBeCloseTo(
      v.queue_ms_total / 1000,
      6,
    )
  })

  it('answers from the fallback when the queue is full, and counts it', async () => {
    const responses = await Promise.all(Array.from({ length: 24 }, () => infer(host, big)))
    expect(responses.map((r) => r!.status).every((s) => s === 200)).toBe(true)
    const fallbacks = responses.filter((r) => r!.headers.get('x-model-fallback') === 'true')
    expect(fallbacks.length).toBeGreaterThan(0)
    for (const r of fallbacks) {
      expect(r!.headers.get('x-model-name')).toBe('credit-risk-fallback')
      expect(r!.json.parameters).toMatchObject({ fallback: true, fallback_reason: 'queue_full', requested_model: XL })
    }
    const s = await stats(host)
    expect(s.fallback.queue_full).toBeGreaterThanOrEqual(fallbacks.length)
    expect(Math.max(...Object.keys(batchSizes(s)).map(Number))).toBeLessThanOrEqual(128)
  })

  it("answers from the fallback when Envoy's deadline cannot be met", async () => {
    const { bigs, arrived } = busyWithBigs(3)
    await arrived(3)
    const late = await infer(host, one, { 'x-envoy-expected-rq-timeout-ms': '2' })
    await Promise.all(bigs)
    expect(late!.status).toBe(200)
    expect(late!.headers.get('x-model-fallback')).toBe('true')
    expect(late!.json.parameters.fallback_reason).toBe('deadline')
  })

  it('drops a queued request whose client went away, without running it', async () => {
    const before = (await stats(host)).model_stats[0].inference_count
    // Full batches keep the instance busy; once all are at the host, the request to abandon queues behind them.
    // Seven: unloaded, a batch takes about 15 ms, and the abort must come before the last one ends.
    const { bigs, arrived } = busyWithBigs(7)
    await arrived(7)
    const ctl = new AbortController()
    const gone = fetch(`${host.url}/v2/models/${XL}/infer`, {
      method: 'POST',
      body: JSON.stringify(jsonInfer(one)),
      signal: ctl.signal,
    }).catch(() => 'aborted')
    // Queued behind them: then its client goes away.
    await arrived(8)
    ctl.abort()
    expect(await gone).toBe('aborted')
    await Promise.all(bigs)
    await new Promise((r) => setTimeout(r, 50))
    expect((await stats(host)).model_stats[0].inference_count - before).toBe(7 * 128)
  })
})

describe('batching (no fallback)', () => {
  it('answers 503 with Retry-After when the queue is full', async () => {
    const repo = await copyRepository([XL])
    await editConfig(repo.dir, XL, (c) => (c.dynamic_batching.max_queue_size = 2))
    const host = await spawnHost(repo.dir)
    try {
      const responses = await Promise.all(Array.from({ length: 16 }, () => infer(host, big)))
      const refused = responses.filter((r) => r!.status === 503)
      expect(refused.length).toBeGreaterThan(0)
      expect(responses.every((r) => r!.status === 200 || r!.status === 503)).toBe(true)
      expect(refused[0]!.headers.get('retry-after')).toBe('1')
      expect(refused[0]!.json.error).toMatch(/queue is full/)
      expect((await stats(host)).refused.queue_full).toBe(refused.length)
    } finally {
      await host.stop()
      await repo.remove()
    }
  })
})
