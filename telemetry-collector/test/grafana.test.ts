/**
 * The Grafana dashboard (telemetry-collector/grafana/mesh-dashboard.json)
 * against real parts: the local mesh as `npm start` runs it (Envoy with the
 * Wasm filters, the model hosts, the telemetry agent, nats-server, the
 * collector), a real Prometheus (Debian's package) scraping it with the
 * config `mesh prometheus` renders and loading the rules `mesh rules`
 * renders, and traffic through the gateway. Every panel's query must parse
 * in Prometheus, the key panels must show data, and every metric a panel
 * reads must be one a scraped target declares, or a recording rule.
 * Grafana itself is not run: the file's shape for import is checked here.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FAILED_CODE_CLASSES } from '@model-mesh/contracts'
import {
  alertRules,
  alertRulesText,
  instancesOf,
  PROMETHEUS_JOBS,
  prometheusConfig,
  requireMesh,
  ROOT,
  startLocalMesh,
  type LocalMesh,
  type MeshConfig,
} from '@model-mesh/mesh-config'
import { localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { freePorts } from '@model-mesh/testkit/ports'
import { startPrometheus } from '@model-mesh/testkit/prometheus'
import { applicantRows, eventually } from '@model-mesh/testkit/events'

const DASHBOARD_FILE = join(ROOT, 'telemetry-collector/grafana/mesh-dashboard.json')

interface Target {
  refId: string
  expr: string
  legendFormat?: string
  datasource: { type: string; uid: string }
}
interface Panel {
  id: number
  type: string
  title: string
  gridPos: { h: number; w: number; x: number; y: number }
  datasource?: { type: string; uid: string }
  targets?: Target[]
  panels?: Panel[]
}
interface Dashboard {
  uid: string
  title: string
  id: null
  schemaVersion: number
  panels: Panel[]
  templating: {
    list: { name: string; type: string; query: string; datasource?: unknown; includeAll?: boolean; allValue?: string }[]
  }
}

const dashboardText = await readFile(DASHBOARD_FILE, 'utf8')
const dashboard = JSON.parse(dashboardText) as Dashboard
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row')
const panel = (title: string) => queryPanels.find((p) => p.title === title) ?? expect.fail(`no panel "${title}"`)

/** Grafana's own variables the panels use, as a 1 s scrape over a short test can fill them. */
const BUILTINS: Record<string, string> = { __rate_interval: '1m', __range: '1h' }

/**
 * The metric names a PromQL expression reads: identifiers left once label
 * matchers, strings, ranges, grouping clauses, variables and function calls
 * are taken out. Enough for the dashboard's expressions, which the
 * Prometheus test also parses.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset'])
  return [...bare.matchAll(/([a-zA-Z_:][\w:]*)(\s*\()?/g)]
    .filter((m) => !m[2] && !keywords.has(m[1]!))
    .map((m) => m[1]!)
}

describe('the Grafana dashboard file', () => {
  it('is a Grafana 10/11 dashboard: uid, title, panels on the grid, every query on the datasource variable', () => {
    expect(dashboardText).toBe(`${JSON.stringify(dashboard, null, 2)}\n`)
    expect(dashboard).toMatchObject({ uid: 'model-mesh', title: 'Model mesh', id: null })
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39)
    const ids = dashboard.panels.map((p) => p.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24)
      expect(p.gridPos.h, p.title).toBeGreaterThan(0)
      // No two panels share a cell of the grid.
      for (const q of dashboard.panels) {
        if (q === p) continue
        const apart =
          p.gridPos.x + p.gridPos.w <= q.gridPos.x ||
          q.gridPos.x + q.gridPos.w <= p.gridPos.x ||
          p.gridPos.y + p.gridPos.h <= q.gridPos.y ||
          q.gridPos.y + q.gridPos.h <= p.gridPos.y
        expect(apart, `${p.title} overlaps ${q.title}`).toBe(true)
      }
    }
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own variable syntax, not a template
    const datasource = { type: 'prometheus', uid: '${datasource}' }
    for (const p of queryPanels) {
      expect(p.datasource, p.title).toEqual(datasource)
      expect(p.targets?.length, p.title).toBeGreaterThan(0)
      expect(new Set(p.targets!.map((t) => t.refId)).size, p.title).toBe(p.targets!.length)
      for (const t of p.targets!) expect(t.datasource, p.title).toEqual(datasource)
    }
  })

  it('has the datasource, route and model variables, and uses no variable it lacks', () => {
    const vars = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]))
    expect(vars.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' })
    expect(vars.route).toMatchObject({
      type: 'query',
      query: 'label_values(mesh_requests_total, route)',
      includeAll: true,
      allValue: '.*',
    })
    expect(vars.model).toMatchObject({
      type: 'query',
      query: 'label_values(mesh_requests_total, model)',
      includeAll: true,
      allValue: '.*',
    })
    for (const p of queryPanels)
      for (const t of p.targets!)
        for (const [, name] of t.expr.matchAll(/\$\{?(\w+)\}?/g))
          expect(name! in vars || name! in BUILTINS, `${p.title}: $${name}`).toBe(true)
  })

  it('counts failures as the alert rules do, and selects every job the scrape config writes', () => {
    expect(panel('Error ratio (5xx and no response)').targets![0]!.expr).toContain(
      `code_class=~"${FAILED_CODE_CLASSES}"`,
    )
    const up = panel('Scrape targets up').targets![0]!.expr
    const jobRegex = new RegExp(`^${/job=~"([^"]+)"/.exec(up)![1]}$`)
    for (const job of Object.values(PROMETHEUS_JOBS)) expect(job).toMatch(jobRegex)
  })
})

interface QueryResult {
  status: string
  error?: string
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }
}

describe('the dashboard over a real Prometheus scraping the local mesh', () => {
  let dir: string
  let mesh: LocalMesh
  let config: MeshConfig
  let prometheus: { url: string; stop(): Promise<void> } | undefined
  const route = 'credit-risk'
  const query = async (expr: string): Promise<QueryResult> =>
    (await fetch(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent(expr)}`)).json() as Promise<QueryResult>
  /** A panel's query as Grafana sends it with one route and model picked. */
  const expand = (expr: string) =>
    expr.replace(
      /\$\{?(\w+)\}?/g,
      (_, name: string) =>
        BUILTINS[name] ??
        { route, model: 'credit-risk', availability: '0.999' }[name] ??
        expect.fail(`no value for $${name}`),
    )

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'grafana-'))
    const ports = await freePorts(8)
    const routes = `  - name: ${route}
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
    canary: { version: 2, weight: 5000, hosts: [canary], allow_override: true }
    fallback: { model: credit-risk-fallback, hosts: [fallback] }
    sampling: { rate_bp: 10000 }
    slo: { p99_ms: 500, availability: 0.999 }
`
    // Prometheus needs Envoy's admin on a fixed port; a low drift minimum, so a few seconds of traffic give PSI.
    const yaml = localMeshYaml(portsOf(ports), routes, { extra: 'quality:\n  drift: { min_samples: 20 }\n' }).replace(
      'admin_port: 0',
      `admin_port: ${ports[7]}`,
    )
    await writeFile(join(dir, 'mesh.yaml'), yaml)
    const loaded = await requireMesh(join(dir, 'mesh.yaml'))
    config = loaded.config
    mesh = await startLocalMesh(loaded, { by: 'grafana-test' })
    await writeFile(
      join(dir, 'prometheus.yml'),
      prometheusConfig(config, { rulesFile: 'mesh-rules.yml', interval: '1s' }),
    )
    await writeFile(join(dir, 'mesh-rules.yml'), alertRulesText(config))
    prometheus = await startPrometheus(join(dir, 'prometheus.yml'), join(dir, 'prometheus-data'))
  }, 120_000)
  afterAll(async () => {
    await prometheus?.stop()
    await mesh?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('scrapes every target; every panel query parses, the key panels show data, and each metric is a scraped or recorded one', async () => {
    const targets = await eventually(
      async () =>
        (
          (await (await fetch(`${prometheus!.url}/api/v1/targets`)).json()) as {
            data: { activeTargets: { scrapeUrl: string; health: string; labels: { job: string } }[] }
          }
        ).data.activeTargets,
      (ts) => ts.length === 3 + config.hosts.flatMap(instancesOf).length && ts.every((t) => t.health === 'up'),
    )
    expect(new Set(targets.map((t) => t.labels.job))).toEqual(new Set(Object.values(PROMETHEUS_JOBS)))

    // Traffic over several scrapes (a counter's first sample is no increase), half to each version, until the key panels show it.
    const rows = applicantRows(400, 11)
    let sending = true
    const statuses: number[] = []
    const load = Promise.all(
      Array.from({ length: 3 }, async () => {
        while (sending) {
          const i = statuses.length
          const res = await fetch(`${mesh.gatewayUrl}/v2/models/credit-risk/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-mesh-variant-override': i % 2 ? 'canary' : 'stable' },
            body: JSON.stringify({
              inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 16], data: rows[i % rows.length] }],
            }),
          }).catch(() => undefined)
          statuses.push(res?.status ?? 0)
          await res?.arrayBuffer()
          await new Promise((r) => setTimeout(r, 20))
        }
      }),
    )
    const positive = (r: QueryResult) => (r.data?.result ?? []).some((s) => Number(s.value[1]) > 0)
    const some = (r: QueryResult) => (r.data?.result.length ?? 0) > 0
    // Panel title → what its first query must show once traffic has flowed.
    const key: [string, (r: QueryResult) => boolean][] = [
      ['Request rate', positive],
      ['Error ratio (5xx and no response)', some],
      ['Latency p50 / p95 / p99', positive],
      ['Fallbacks', some],
      ['Error budget burn rate', some],
      ['Batch fill ratio (last 5 min)', positive],
      ['Queue depth', some],
      ['Busy instances', some],
      ['Drift PSI per feature', some],
      ['p99 latency by variant', positive],
      ['Scrape targets up', (r) => some(r) && r.data!.result.every((s) => s.value[1] === '1')],
      ['Requests: Envoy against the collector', positive],
      ['Agent: published and spooled', positive],
      ['Collector lag', some],
      ['Collector: newest event age', some],
      ['Collector: events applied and refused', positive],
    ]
    try {
      for (const [title, shows] of key) {
        const results = await eventually(
          () => Promise.all(panel(title).targets!.map((t) => query(expand(t.expr)))),
          (rs) => shows(rs[0]!),
          30_000,
        ).catch((e: Error) => expect.fail(`${title}: ${e.message}`))
        // Envoy's count and the collector's must both show the traffic.
        if (title === 'Requests: Envoy against the collector')
          expect(results.map(positive), title).toEqual([true, true])
      }
    } finally {
      sending = false
      await load
    }
    expect(statuses.length).toBeGreaterThan(0)
    expect(statuses.filter((s) => s !== 200)).toEqual([])

    for (const p of queryPanels) {
      for (const t of p.targets!) {
        const r = await query(expand(t.expr))
        expect(r.error, `${p.title} ${t.refId}: ${t.expr}`).toBeUndefined()
        expect(r.status).toBe('success')
      }
    }

    // What the targets declare (# TYPE, histograms with their series), and the recording rules.
    const declared = new Set<string>(['up'])
    for (const t of targets) {
      for (const [, name, type] of (await (await fetch(t.scrapeUrl)).text()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        declared.add(name!)
        if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) declared.add(`${name}${s}`)
      }
    }
    for (const g of alertRules(config).groups) for (const r of g.rules) if (r.record) declared.add(r.record)
    const used = new Set(queryPanels.flatMap((p) => p.targets!.flatMap((t) => metricNames(t.expr))))
    expect(used.size).toBeGreaterThan(30)
    // Envoy lists a Wasm counter only once it is first incremented: the exporter's drop counter, absent from a
    // healthy run, is checked against the counters the exporter's source increments (named as its sent counter is).
    const exporter = await readFile(join(ROOT, 'wasm-filters/telemetry-exporter/assembly/index.ts'), 'utf8')
    const exporterCounters = [...exporter.matchAll(/increment\("([\w.]+)"/g)].map((m) => m[1]!.replaceAll('.', '_'))
    expect(exporterCounters).toContain('exporter_events_sent')
    expect(declared).toContain('exporter_events_sent')
    expect([...used].filter((n) => !declared.has(n) && !exporterCounters.includes(n))).toEqual([])
  }, 90_000)
})
