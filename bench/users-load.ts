/**
 * @module
 * One autocannon run for bench:telemetry, in a process of its own (so the
 * load generator never shares an event loop with the bench or a server):
 * OIP JSON inferences to credit-risk from a pool of users, each with its
 * own sticky x-user-id and feature row, as the mesh's callers send them.
 *
 *   node --import tsx bench/users-load.ts '{"url":"...","connections":16,"seconds":5,"users":100}'
 *
 * With `"rate": N` it is an open loop instead: N requests a second, evenly
 * spaced, over up to `connections` keep-alive connections, each latency
 * counted from when its request was due (so a stall shows in full, not
 * hidden by the requests it held back: coordinated omission). Not
 * autocannon's overallRate, which sends each second's requests in a burst.
 *
 * Prints `{"started":true}` as the load begins (the bench times faults from
 * it), then one JSON line: rps, p50/p99 (ms), requests, and failed: errors
 * (timeouts included) and non-2xx answers.
 */
import { Agent, request } from 'node:http'
import { createRequire } from 'node:module'
import { sampleRows } from '@model-mesh/model-host'

interface Result {
  requests: { average: number; total: number }
  latency: { p50: number; p99: number }
  errors: number
  non2xx: number
}
// autocannon ships no types (and @types/autocannon is not a dependency): the little used here, typed by hand.
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: object) => Promise<Result>

const { url, connections, seconds, users, rate } = JSON.parse(process.argv[2]!) as {
  url: string
  connections: number
  seconds: number
  users: number
  rate?: number
}
const rows = sampleRows(64, 7)
// A fixed list autocannon builds once: each connection cycles through the users in turn.
const requests = Array.from({ length: users }, (_, i) => ({
  method: 'POST' as const,
  headers: { 'content-type': 'application/json', 'x-user-id': `user-${i}` },
  body: JSON.stringify({
    inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: rows[i % rows.length] }],
  }),
}))

interface Summary {
  rps: number
  p50: number
  p99: number
  failed: number
  requests: number
}

async function closedLoop(): Promise<Summary> {
  const r = await autocannon({ url, connections, duration: seconds, requests })
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    failed: r.errors + r.non2xx,
    requests: r.requests.total,
  }
}

async function openLoop(perSecond: number): Promise<Summary> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections })
  const target = new URL(url)
  const latencies: number[] = []
  let failed = 0
  let sent = 0
  const send = (i: number, due: number) =>
    new Promise<void>((resolve) => {
      const r = requests[i % requests.length]!
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          headers: { ...r.headers, 'content-length': Buffer.byteLength(r.body) },
          timeout: 10_000,
        },
        (res) => {
          res.resume()
          res.once('end', () => {
            if (res.statusCode !== 200) failed++
            latencies.push(performance.now() - due)
            resolve()
          })
        },
      )
      req.once('error', () => {
        failed++
        resolve()
      })
      req.once('timeout', () => req.destroy(new Error('timeout')))
      req.end(r.body)
    })
  const start = performance.now()
  const end = start + seconds * 1000
  const inFlight: Promise<void>[] = []
  // Every millisecond, whatever has come due: the schedule, not the answers, sets the pace.
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - start) / 1000) * perSecond)
    for (; sent < due; sent++) inFlight.push(send(sent, start + (sent * 1000) / perSecond))
    await new Promise((r) => setTimeout(r, 1))
  }
  await Promise.all(inFlight)
  agent.destroy()
  latencies.sort((a, b) => a - b)
  // To a tenth of a millisecond: at a rate the mesh serves easily, latencies are a few milliseconds.
  const at = (q: number) =>
    Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 10) / 10
  return { rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), failed, requests: sent }
}

process.stdout.write('{"started":true}\n')
const summary = rate ? await openLoop(rate) : await closedLoop()
process.stdout.write(`${JSON.stringify(summary)}\n`)
