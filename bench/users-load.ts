/**
 * @module
 * One autocannon run for bench:telemetry, in a process of its own (so the
 * load generator never shares an event loop with the bench or a server):
 * OIP JSON inferences to credit-risk from a pool of users, each with its
 * own sticky x-user-id and feature row, as the mesh's callers send them.
 *
 *   node --import tsx bench/users-load.ts '{"url":"...","connections":16,"seconds":5,"users":100}'
 *
 * Prints `{"started":true}` as the load begins (the bench times faults from
 * it), then one JSON line: rps, p50/p99 (ms), requests, and failed: errors
 * (timeouts included) and non-2xx answers.
 */
import { createRequire } from 'node:module'
import { sampleRows } from '../model-host/example-models/dataset.ts'

interface Result {
  requests: { average: number; total: number }
  latency: { p50: number; p99: number }
  errors: number
  non2xx: number
}
// autocannon ships no types (and @types/autocannon is not a dependency): the little used here, typed by hand.
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: object) => Promise<Result>

const { url, connections, seconds, users } = JSON.parse(process.argv[2]!) as { url: string; connections: number; seconds: number; users: number }
const rows = sampleRows(64, 7)
// A fixed list autocannon builds once: each connection cycles through the users in turn.
const requests = Array.from({ length: users }, (_, i) => ({
  method: 'POST' as const,
  headers: { 'content-type': 'application/json', 'x-user-id': `user-${i}` },
  body: JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: rows[i % rows.length] }] }),
}))

process.stdout.write('{"started":true}\n')
const r = await autocannon({ url, connections, duration: seconds, requests })
process.stdout.write(
  `${JSON.stringify({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, failed: r.errors + r.non2xx, requests: r.requests.total })}\n`,
)
