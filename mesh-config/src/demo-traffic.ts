/**
 * @module
 * Demo traffic through the gateway, so the signals move: many users (each
 * keeps its x-user-id, so canary stickiness shows), applicants drawn from
 * the example models' data set, and a share of borderline applicants
 * (a true default risk near one half) that the model is unsure about.
 */
import { randomUUID } from 'node:crypto'
import { headers as H } from '@model-mesh/contracts'
import { defaultProbability, sampleRows } from '@model-mesh/model-host'
import { adminFor } from './apply.ts'
import type { LoadedMesh } from './load.ts'
import { listenerPort } from './local-mesh.ts'
import { GATEWAY_LISTENER } from './render.ts'

export interface DemoOptions {
  gatewayUrl?: string
  seconds: number
  rps: number
  users: number
  /** Share of borderline applicants, 0..1. */
  borderline?: number
  log?: (text: string) => void
  /** Stops early when this settles. */
  until?: Promise<unknown>
}

export interface DemoReport {
  sent: number
  ok: number
  failed: number
  seconds: number
  users: number
  /** Responses by `x-model-version` (with "fallback" marked). */
  byVersion: Record<string, number>
  usersOnSeveralVersions: number
  lowConfidence: number
}

export async function runDemoTraffic(mesh: LoadedMesh, options: DemoOptions): Promise<DemoReport> {
  // A gateway on port 0 got its port from the OS: Envoy's admin knows it.
  const port = mesh.config.gateway.port || (await listenerPort((await adminFor(mesh)).url, GATEWAY_LISTENER))
  const gateway = options.gatewayUrl ?? `http://${mesh.config.gateway.address}:${port}`
  const route = mesh.config.routes.find((r) => r.match.model !== undefined) ?? mesh.config.routes[0]!
  const rows = sampleRows(3000, 7)
  const unsure = rows.filter((r) => Math.abs(defaultProbability(r) - 0.5) < 0.15)
  const borderline = options.borderline ?? 0.2
  const report: DemoReport = {
    sent: 0,
    ok: 0,
    failed: 0,
    seconds: 0,
    users: options.users,
    byVersion: {},
    usersOnSeveralVersions: 0,
    lowConfidence: 0,
  }
  const versionsByUser = new Map<string, Set<string>>()
  let stop = false
  void options.until?.then(() => (stop = true))
  const started = performance.now()
  let n = 0
  const inFlight = new Set<Promise<void>>()
  let lastLog = started

  const one = async (i: number) => {
    const user = `user-${(i * 7919) % options.users}`
    const row = i % 100 < borderline * 100 && unsure.length > 0 ? unsure[i % unsure.length]! : rows[i % rows.length]!
    const body = JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, row.length], data: row }] })
    report.sent++
    try {
      const res = await fetch(`${gateway}/v2/models/${route.model}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-user-id': user, [H.REQUEST_ID]: randomUUID() },
        body,
        signal: AbortSignal.timeout(10_000),
      })
      await res.arrayBuffer()
      if (res.status !== 200) {
        report.failed++
        return
      }
      report.ok++
      const version = `${res.headers.get(H.MODEL_NAME)}:${res.headers.get(H.MODEL_VERSION)}`
      report.byVersion[version] = (report.byVersion[version] ?? 0) + 1
      const seen = versionsByUser.get(user) ?? new Set()
      seen.add(version)
      versionsByUser.set(user, seen)
      if (Number(res.headers.get(H.MODEL_CONFIDENCE)) < 0.6) report.lowConfidence++
    } catch {
      report.failed++
    }
  }

  while (!stop && (performance.now() - started) / 1000 < options.seconds) {
    // Open loop at the target rate: a slow mesh shows as latency and errors, not as fewer requests.
    const due = Math.floor(((performance.now() - started) / 1000) * options.rps)
    while (n < due && inFlight.size < 256) {
      const p = one(n++).finally(() => inFlight.delete(p))
      inFlight.add(p)
    }
    if (options.log && performance.now() - lastLog > 10_000) {
      lastLog = performance.now()
      options.log(
        `demo: ${report.sent} sent, ${report.failed} failed, ${Object.entries(report.byVersion)
          .map(([v, c]) => `${v} ${c}`)
          .join(', ')}`,
      )
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  await Promise.all(inFlight)
  report.seconds = (performance.now() - started) / 1000
  report.usersOnSeveralVersions = [...versionsByUser.values()].filter((s) => s.size > 1).length
  return report
}
