/**
 * @module
 * `mesh`: the operators' command line. Every command reads mesh.yaml
 * (`--config`, default ./mesh.yaml), refuses anything invalid before it
 * touches the running mesh, and says what it did. Exit codes: 0 done,
 * 1 invalid config or refused change, 2 bad usage, 3 the mesh could not be
 * reached or run.
 */
import { writeFile, mkdir, stat } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { alertRulesText } from './alert-rules.ts'
import { applyMesh, type ApplyResult } from './apply.ts'
import { applyMeshText } from './edit-apply.ts'
import { runDemoTraffic } from './demo-traffic.ts'
import { EditError, parseWeight, promoteCanary, rollbackCanary, setCanaryWeight } from './edit.ts'
import { diffMesh, type MeshStatus, meshStatus } from './inspect.ts'
import { formatIssue } from './issues.ts'
import { writeKubernetes } from './kubernetes-files.ts'
import { loadMeshFile, stateDirOf, telemetryPaths, type LoadedMesh } from './load.ts'
import { startLocalMesh } from './local-mesh.ts'
import { startNodeMesh } from './node-mesh.ts'
import { networkUnavailable } from './node-network.ts'
import { prometheusConfig, PrometheusConfigError } from './prometheus-config.ts'
import { renderMesh } from './render.ts'
import { httpUrl, type MeshNode, nodesOf } from './schema.ts'
import { exposedKeysWarning } from './redact.ts'
import { meshHistory, meshHistoryText, runningNodeMesh } from './node-config.ts'
import { defaultActor, readIfExists, writeAtomic } from './state.ts'
import type { SupervisorEvent } from './supervisor.ts'
import { bootstrapText, fileText, OWNER_ONLY_FILE } from '@model-mesh/contracts'

export const EXIT = { ok: 0, invalid: 1, usage: 2, unavailable: 3 } as const

export interface Io {
  out(text: string): void
  err(text: string): void
}

const stdio: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }

/** The rules file prometheus.yml names when --rules does not say: relative to its own folder, as Prometheus reads it. */
const DEFAULT_RULES_FILE = 'mesh-rules.yml'

const HELP: Record<string, string> = {
  '': `Usage: mesh <command> [options]

Commands:
  validate [config]              check mesh.yaml against the schema and the model repository
  render [config] --out <dir> [--target envoy|kubernetes]
                                 write the Envoy bootstrap and xDS files (or the Kubernetes manifests) to <dir>
  apply [config]                 validate, render and hand the result to the running Envoy
  diff [config]                  what apply would change
  status [config]                routes, versions, weights, host health, the config Envoy runs
  history [config]               every applied config
  revert <id>                    put a past config back in mesh.yaml and apply it
  canary set <route> <weight>    canary weight in basis points (2500) or percent (25%)
  canary promote <route>         the canary becomes stable, weight 0
  canary rollback <route>        canary weight 0 at once
  canary status <route>          the collector's analysis: promote, hold or rollback, and why
  up [config] [--demo]           run the whole local mesh (nats-server, telemetry, model hosts, Envoy)
  demo [config]                  send demo traffic through the gateway
  rules [config] [--out <file>]  the Prometheus alert rules of the SLOs, drift and telemetry health
  prometheus [config] [--out <file>] [--rules <file>]
                                 a Prometheus scrape config for Envoy, the telemetry agent and collector, the hosts
  review export <model>          the labelled review items as Parquet (--out <file>)

Options (every command):
  -c, --config <file>   mesh.yaml to use (default ./mesh.yaml, or $MESH_CONFIG)
      --json            machine-readable output
      --by <name>       who applies (default $MESH_ACTOR or user@host), kept in the history
  -h, --help            help for a command

Exit codes: 0 done, 1 invalid config or refused change, 2 bad usage, 3 the mesh could not be reached or run.`,
  validate:
    'Usage: mesh validate [config] [--json]\n\nChecks the config: YAML, schema, cross-checks against the model repository.\nPrints every problem as file:line:col: path: reason, and exits 1 if there is one.',
  render:
    'Usage: mesh render [config] --out <dir> [--target envoy|kubernetes] [--json]\n\nenvoy (default): writes bootstrap.json and the xDS files (lds.json, rds.json,\necds-<filter>.json, cds.json) to <dir>; the bootstrap reads them from <dir>.\nRun Envoy with: envoy -c <dir>/bootstrap.json\n\nkubernetes: writes the mesh as Kubernetes manifests to <dir> (10-secrets.yaml with\nthe credentials of <state_dir>, created when missing). The PodMonitor and the\nScaledObjects need the CRDs of the Prometheus Operator and of KEDA. Deploy with:\nkubectl apply -f <dir>',
  apply:
    'Usage: mesh apply [config] [--by <name>] [--json]\n\nValidates, renders and writes the xDS files atomically; the running Envoy takes\nthem without a restart. A refused config leaves the running one as it was.',
  diff: 'Usage: mesh diff [config] [--json]\n\nShows how mesh.yaml differs from the last applied config, and which Envoy\nlisteners and clusters apply would add, change or remove.',
  status:
    'Usage: mesh status [config] [--json]\n\nShows routes with their versions and weights, host health (as Envoy and the\nhosts see it), and whether Envoy runs the config in mesh.yaml.',
  history:
    'Usage: mesh history [config] [--json]\n\nLists applied configs: id, time, who, what, digest of mesh.yaml, Envoy version.',
  revert:
    'Usage: mesh revert <id> [--config <file>] [--by <name>] [--json]\n\nWrites config <id> from the history back to mesh.yaml and applies it.',
  canary:
    'Usage: mesh canary set <route> <weight> | promote <route> | rollback <route> | status <route> [--json]\n\nset, promote and rollback edit mesh.yaml (keeping its comments and layout),\nvalidate and apply. <weight> is basis points (0-10000) or a percentage (25%).\nstatus asks the collector how the canary compares with stable (canary.analysis).',
  up: "Usage: mesh up [config] [--demo] [--nodes N]\n\nRuns the whole local mesh from mesh.yaml: nats-server (JetStream), the\ntelemetry collector and agent, the model hosts and Envoy; restarts a child\nthat dies; Ctrl-C stops everything.\n--demo also sends demo traffic.\n--nodes N runs N nodes (network namespaces mesh-n1...; needs root), each with\nits gateway, hosts, agent and NATS server, collectors on two; mesh.yaml's own\n`nodes` does the same without the flag.",
  review:
    'Usage: mesh review export <model> [--out <file>] [--config <file>]\n\nWrites the labelled review items of <model> (low-confidence predictions people\nlabelled, with their masked payloads and decoded features) as Parquet, from\nthe collector mesh.yaml names (default file: <model>-labelled.parquet).',
  rules:
    "Usage: mesh rules [config] [--out <file>]\n\nPrints the Prometheus rules file mesh.yaml gives: error-budget burn-rate and p99\nalerts for each route with an slo, model drift, and the telemetry pipeline's\nown lag, staleness and drops (--out writes it to <file>).",
  prometheus: `Usage: mesh prometheus [config] [--out <file>] [--rules <file>]

Prints a prometheus.yml for the mesh: scrape jobs for Envoy's admin
(/stats/prometheus), the telemetry agent, the telemetry collector and every model
host instance (/metrics), and rule_files naming the rules file (default
${DEFAULT_RULES_FILE}, relative to the config's folder). --out writes the config to <file>
and the rules file (mesh rules) beside it; then: prometheus --config.file=<file>`,
  demo: 'Usage: mesh demo [config] [--seconds <n>] [--rps <n>] [--users <n>]\n\nSends realistic traffic through the gateway: many users (so stickiness shows),\na share of low-confidence inputs.',
}

export async function run(argv: string[], io: Io = stdio): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        out: { type: 'string' },
        target: { type: 'string' },
        rules: { type: 'string' },
        json: { type: 'boolean', default: false },
        by: { type: 'string' },
        demo: { type: 'boolean', default: false },
        seconds: { type: 'string' },
        rps: { type: 'string' },
        users: { type: 'string' },
        nodes: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (e) {
    io.err(`${(e as Error).message}\n\n${HELP['']}\n`)
    return EXIT.usage
  }
  const { values, positionals } = parsed
  const [command = '', ...rest] = positionals
  if (values.help || command === 'help' || command === '') {
    const topic = command === 'help' ? (rest[0] ?? '') : command
    io.out(`${HELP[topic] ?? HELP['']}\n`)
    return values.help || command === 'help' ? EXIT.ok : EXIT.usage
  }
  const takesFile = [
    'validate',
    'render',
    'apply',
    'diff',
    'status',
    'history',
    'up',
    'demo',
    'rules',
    'prometheus',
  ].includes(command)
  const file = resolve(values.config ?? (takesFile ? rest[0] : undefined) ?? process.env.MESH_CONFIG ?? 'mesh.yaml')
  const ctx: Ctx = { io, json: values.json!, by: values.by ?? defaultActor(), file }
  const usage = (message: string) => {
    io.err(`${message}\n\n${HELP[command] ?? HELP['']}\n`)
    return EXIT.usage
  }

  try {
    switch (command) {
      case 'validate':
        return await validate(ctx)
      case 'render':
        if (!values.out) return usage('render needs --out <dir>')
        if (values.target === 'kubernetes') return await renderForKubernetes(ctx, resolve(values.out))
        if (values.target !== undefined && values.target !== 'envoy')
          return usage(`--target must be envoy or kubernetes, got "${values.target}"`)
        return await render(ctx, resolve(values.out))
      case 'apply':
        return await withMesh(ctx, (mesh) => apply(ctx, mesh, 'apply'))
      case 'diff':
        return await withMesh(ctx, (mesh) => diff(ctx, mesh))
      case 'status':
        return await withMesh(ctx, (mesh) => status(ctx, mesh))
      case 'history':
        return await withMesh(ctx, (mesh) => history(ctx, mesh))
      case 'revert': {
        const id = Number(rest[0])
        if (!Number.isInteger(id) || id < 1)
          return usage('revert needs the id of a history entry (mesh history lists them)')
        return await revert(ctx, id)
      }
      case 'canary': {
        const [action, route, weight] = rest
        if (action === 'set' && route && weight !== undefined)
          return await editAndApply(ctx, `canary set ${route} ${weight}`, (text) =>
            setCanaryWeight(text, route, parseWeight(weight)),
          )
        if (action === 'promote' && route)
          return await editAndApply(ctx, `canary promote ${route}`, (text) => promoteCanary(text, route).text)
        if (action === 'rollback' && route)
          return await editAndApply(ctx, `canary rollback ${route}`, (text) => rollbackCanary(text, route))
        if (action === 'status' && route) return await withMesh(ctx, (mesh) => canaryStatus(ctx, mesh, route))
        return usage('canary needs: set <route> <weight> | promote <route> | rollback <route> | status <route>')
      }
      case 'up': {
        if (values.nodes !== undefined && !/^[1-9]$/.test(values.nodes)) return usage('--nodes must be 1 to 9')
        const count = values.nodes === undefined ? undefined : Number(values.nodes)
        return await withMesh(ctx, (mesh) => {
          const nodes = nodesOf(mesh.config, count)
          return nodes ? upNodes(ctx, mesh, nodes) : up(ctx, mesh, values.demo!)
        })
      }
      case 'review': {
        const [action, model] = rest
        if (action !== 'export' || !model) return usage('review needs: export <model>')
        return await withMesh(ctx, async (mesh) => {
          const res = await fromCollector(mesh, `/api/v1/review/export?model=${encodeURIComponent(model)}`, true)
          if (!res.ok) {
            io.err(
              `mesh review export: ${((await res.json().catch(() => ({}))) as { error?: string }).error ?? `collector answered ${res.status}`}\n`,
            )
            return res.status === 404 || res.status === 400 ? EXIT.invalid : EXIT.unavailable
          }
          const out = resolve(values.out ?? `${model}-labelled.parquet`)
          await writeFile(out, Buffer.from(await res.arrayBuffer()))
          io.out(
            ctx.json
              ? `${JSON.stringify({ ok: true, file: out, items: Number(res.headers.get('x-review-items')) })}\n`
              : `wrote ${res.headers.get('x-review-items')} labelled items of ${model} to ${out}\n`,
          )
          return EXIT.ok
        })
      }
      case 'rules':
        return await withMesh(ctx, async (mesh) => {
          const text = alertRulesText(mesh.config)
          if (values.out) {
            await writeFile(resolve(values.out), text)
            io.err(`wrote ${resolve(values.out)}\n`)
          } else io.out(text)
          return EXIT.ok
        })
      case 'prometheus':
        return await withMesh(ctx, (mesh) => prometheus(ctx, mesh, values.rules ?? DEFAULT_RULES_FILE, values.out))
      case 'demo': {
        const demo = {
          seconds: Number(values.seconds ?? 30),
          rps: Number(values.rps ?? 50),
          users: Number(values.users ?? 200),
        }
        const bad = Object.entries(demo).find(([, v]) => !(v > 0 && Number.isFinite(v)))
        if (bad) return usage(`--${bad[0]} must be a positive number`)
        return await withMesh(ctx, async (mesh) => {
          const report = await runDemoTraffic(mesh, { ...demo, log: (t) => io.err(t) })
          io.out(`${ctx.json ? JSON.stringify(report) : formatDemoReport(report)}\n`)
          return report.failed === 0 ? EXIT.ok : EXIT.unavailable
        })
      }
      default:
        return usage(`unknown command "${command}"`)
    }
  } catch (e) {
    if (e instanceof EditError) {
      io.err(`mesh ${command}: ${e.message}\n`)
      return EXIT.invalid
    }
    io.err(`mesh ${command}: ${(e as Error).message}\n`)
    return EXIT.unavailable
  }
}

/**
 * The scrape config, printed or (with `out`) written with the rules file
 * beside it, where rule_files finds it: the pair loads (and passes
 * `promtool check config`) as written.
 */
async function prometheus(ctx: Ctx, mesh: LoadedMesh, rulesFile: string, out: string | undefined): Promise<number> {
  let text: string
  try {
    // Several nodes running: every node's parts.
    const nodes = (await runningNodeMesh(mesh.stateDir))?.nodes
    text = prometheusConfig(mesh.config, { rulesFile, ...(nodes ? { nodes } : {}) })
  } catch (e) {
    if (!(e instanceof PrometheusConfigError)) throw e
    ctx.io.err(`mesh prometheus: ${e.message}\n`)
    return EXIT.invalid
  }
  if (!out) {
    ctx.io.out(text)
    ctx.io.err(`rule_files names ${rulesFile}: write it beside the config with npx mesh rules --out ${rulesFile}\n`)
    return EXIT.ok
  }
  const configFile = resolve(out)
  // As Prometheus reads rule_files: relative to the config's folder (an absolute path stays as it is).
  const rules = resolve(dirname(configFile), rulesFile)
  await writeFile(configFile, text)
  await writeFile(rules, alertRulesText(mesh.config))
  if (ctx.json) ctx.io.out(`${JSON.stringify({ ok: true, config: configFile, rules })}\n`)
  else
    ctx.io.out(
      `wrote ${configFile} and its rules file ${rules} (npx mesh rules --out ${rules} writes that one alone)\nrun: prometheus --config.file=${configFile}\n`,
    )
  return EXIT.ok
}

/**
 * GET `path` from the collector mesh.yaml names; a collector that does not answer is an error saying so.
 * `withToken`: with the operator token from its file, when the file is there (sampled payloads need it).
 */
async function fromCollector(mesh: LoadedMesh, path: string, withToken = false): Promise<Response> {
  const { address, port } = mesh.config.telemetry.collector
  const base = httpUrl(address, port)
  const token = withToken ? (await readIfExists(telemetryPaths(mesh).tokenFile))?.trim() : undefined
  return fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }).catch((e: Error) => {
    throw new Error(`the collector at ${base} did not answer (${e.message}); is the mesh running?`, { cause: e })
  })
}

/** The collector's canary analysis of a route, as the collector mesh.yaml names serves it. */
async function canaryStatus(ctx: Ctx, mesh: LoadedMesh, route: string): Promise<number> {
  const res = await fromCollector(mesh, `/api/v1/canary/${encodeURIComponent(route)}`)
  const body = (await res.json()) as CanaryStatusJson & { error?: string }
  if (!res.ok) {
    ctx.io.err(`mesh canary status: ${body.error ?? `collector answered ${res.status}`}\n`)
    return res.status === 404 ? EXIT.invalid : EXIT.unavailable
  }
  if (ctx.json) {
    ctx.io.out(`${JSON.stringify(body)}\n`)
    return EXIT.ok
  }
  const lines = [
    `route ${body.route}: canary v${body.canary.version} (weight ${body.weight}) against stable v${body.stable.version}, last ${body.interval_s} s: ${body.verdict.toUpperCase()}`,
    ...body.reasons.map((r) => `  ${r}`),
    '',
    ...body.checks.map(
      (c) =>
        `  ${c.result === 'pass' ? 'pass   ' : c.result === 'fail' ? 'FAIL   ' : 'no data'}  ${c.name.padEnd(17)} ${c.reason}`,
    ),
  ]
  if (body.walk) {
    const w = body.walk
    lines.push(
      '',
      `walk of canary v${w.canary_version}: ${w.status}, step ${w.step + 1} of ${w.steps.length} (weights ${w.steps.join(', ')})`,
    )
    for (const e of w.history)
      lines.push(
        `  ${new Date(e.ts).toISOString()}  ${e.action.padEnd(10)} weight ${String(e.weight).padStart(5)}  ${e.verdict ?? ''}${e.reasons.length ? `  ${e.reasons.join('; ')}` : ''}`,
      )
  }
  ctx.io.out(`${lines.join('\n')}\n`)
  return EXIT.ok
}

interface CanaryStatusJson {
  route: string
  weight: number
  interval_s: number
  verdict: string
  reasons: string[]
  checks: { name: string; result: string; reason: string }[]
  stable: { version: string }
  canary: { version: string }
  walk: null | {
    canary_version: string
    status: string
    step: number
    steps: number[]
    history: { ts: number; action: string; weight: number; verdict: string | null; reasons: string[] }[]
  }
}

interface Ctx {
  io: Io
  json: boolean
  by: string
  file: string
}

async function withMesh(ctx: Ctx, body: (mesh: LoadedMesh) => Promise<number>): Promise<number> {
  const result = await loadMeshFile(ctx.file)
  if (!result.ok) {
    reportIssues(ctx, result.issues)
    return EXIT.invalid
  }
  return body(result.mesh)
}

function reportIssues(ctx: Ctx, issues: Parameters<typeof formatIssue>[0][]): void {
  if (ctx.json) ctx.io.out(`${JSON.stringify({ ok: false, issues })}\n`)
  else
    ctx.io.err(
      `${issues.map(formatIssue).join('\n')}\n${issues.length} problem${issues.length === 1 ? '' : 's'}; nothing was changed.\n`,
    )
}

/** Says on stderr when mesh.yaml holds API keys written in it and other users may read it (the keys would be theirs). */
async function warnExposedKeys(ctx: Ctx, mesh: LoadedMesh): Promise<void> {
  const mode = (await stat(mesh.file).catch(() => undefined))?.mode
  const warning = mode === undefined ? undefined : exposedKeysWarning(mesh.config, mode)
  if (warning) ctx.io.err(`warning: ${mesh.file}: ${warning}\n`)
}

async function validate(ctx: Ctx): Promise<number> {
  const result = await loadMeshFile(ctx.file)
  if (!result.ok) {
    reportIssues(ctx, result.issues)
    return EXIT.invalid
  }
  const c = result.mesh.config
  await warnExposedKeys(ctx, result.mesh)
  if (ctx.json) ctx.io.out(`${JSON.stringify({ ok: true, routes: c.routes.length, hosts: c.hosts.length })}\n`)
  else
    ctx.io.out(
      `${ctx.file}: valid (${c.routes.length} route${c.routes.length === 1 ? '' : 's'}, ${c.hosts.length} host${c.hosts.length === 1 ? '' : 's'})\n`,
    )
  return EXIT.ok
}

async function render(ctx: Ctx, out: string): Promise<number> {
  return withMesh(ctx, async (mesh) => {
    const rendered = renderMesh(mesh.config, { xdsDir: out })
    await mkdir(out, { recursive: true })
    const files: Record<string, string> = { 'bootstrap.json': bootstrapText(rendered.bootstrap) }
    for (const f of rendered.files) files[f.file] = fileText(f)
    // The listeners hold the API keys: readable by their owner only, as apply writes them.
    for (const [name, text] of Object.entries(files)) await writeAtomic(join(out, name), text, OWNER_ONLY_FILE)
    if (ctx.json)
      ctx.io.out(
        `${JSON.stringify({ ok: true, version: rendered.version, files: Object.keys(files).map((f) => join(out, f)) })}\n`,
      )
    else
      ctx.io.out(
        `rendered version ${rendered.version} to ${out}: ${Object.keys(files).join(', ')}\nrun: envoy -c ${join(out, 'bootstrap.json')}\n`,
      )
    return EXIT.ok
  })
}

async function renderForKubernetes(ctx: Ctx, out: string): Promise<number> {
  return withMesh(ctx, async (mesh) => {
    const written = await writeKubernetes(mesh, out)
    if (ctx.json) ctx.io.out(`${JSON.stringify({ ok: true, files: written })}\n`)
    else
      ctx.io.out(
        `rendered ${written.length} files to ${out}: ${written.map((f) => relative(out, f)).join(', ')}\ndeploy: kubectl apply -f ${out}\n`,
      )
    return EXIT.ok
  })
}

async function apply(ctx: Ctx, mesh: LoadedMesh, action: string): Promise<number> {
  const result = await applyMesh(mesh, { by: ctx.by, action })
  report(ctx, result)
  return exitOf(result)
}

function report(ctx: Ctx, result: ApplyResult): void {
  if (ctx.json) return ctx.io.out(`${JSON.stringify(result)}\n`)
  if (result.status === 'unchanged')
    return ctx.io.out(`unchanged: Envoy config version ${result.version} is already applied\n`)
  if (result.status === 'refused') return ctx.io.err(`refused: ${result.reason}\nThe running config is unchanged.\n`)
  const e = result.entry
  ctx.io.out(
    `applied #${e.id} (version ${e.version}, mesh.yaml ${e.digest}) by ${e.by}: ${e.action}; Envoy ${result.envoy === 'updated' ? 'runs it now' : 'is not running; it will read it at start'}\n`,
  )
  if (result.bootstrapChanged)
    ctx.io.out('note: the bootstrap changed (admin port, telemetry exporter): restart Envoy to take that part\n')
  for (const n of result.nodes ?? [])
    ctx.io.out(
      `  node ${n.node}: ${n.state === 'applied' ? `runs it (${n.ms} ms after it was published)` : `${n.state}: ${n.detail}`}\n`,
    )
}

async function diff(ctx: Ctx, mesh: LoadedMesh): Promise<number> {
  const d = await diffMesh(mesh)
  if (ctx.json) {
    ctx.io.out(`${JSON.stringify(d)}\n`)
  } else {
    ctx.io.out(d.text || 'mesh.yaml is as last applied\n')
    for (const r of d.resources) ctx.io.out(`${r.change.padEnd(8)} ${r.kind} ${r.name}\n`)
    if (d.resources.length === 0) ctx.io.out('Envoy resources: no change\n')
  }
  return EXIT.ok
}

async function status(ctx: Ctx, mesh: LoadedMesh): Promise<number> {
  const s = await meshStatus(mesh)
  if (ctx.json) {
    ctx.io.out(`${JSON.stringify(s)}\n`)
    return statusExit(s)
  }
  const lines: string[] = []
  const a = s.config.applied
  lines.push(
    `config   ${s.config.file} renders version ${s.config.version}${a ? `; last applied #${a.id} ${a.time} by ${a.by} (${a.action})` : '; never applied'}`,
  )
  if (s.envoy.running) {
    lines.push(
      `envoy    ${s.envoy.version} ${s.envoy.state}, admin ${s.envoy.adminUrl}; ${s.envoy.inSync ? 'runs the config in mesh.yaml' : 'does NOT run the config in mesh.yaml (mesh diff shows what differs; mesh apply applies it)'}`,
    )
    for (const f of s.envoy.files)
      if (f.running !== f.wanted)
        lines.push(`           ${f.file}: runs ${f.running ?? 'nothing'}, mesh.yaml renders ${f.wanted}`)
  } else lines.push(`envoy    not reachable at ${s.envoy.adminUrl}`)
  for (const r of s.routes) {
    lines.push(
      `route    ${r.name}: model ${r.model}, stable v${r.stable}${r.canary ? `, canary v${r.canary.version} at ${r.canary.weight / 100}%` : ''}${r.fallback ? `, fallback ${r.fallback}` : ''}`,
    )
    for (const [cluster, hosts] of Object.entries(r.clusters)) {
      lines.push(
        `           ${cluster}: ${hosts.length === 0 ? 'no data' : hosts.map((h) => `${h.address} ${h.healthy ? 'healthy' : `unhealthy (${h.flags})`}`).join(', ')}`,
      )
    }
  }
  for (const h of s.hosts) lines.push(`host     ${h.name} (${h.role}) ${h.url} ${h.ready ? 'ready' : 'NOT ready'}`)
  for (const a of s.autoscale) {
    const unit = a.signal === 'queue_wait' ? ' ms queue wait' : ' pending per replica'
    const value = a.value === null ? 'no reading yet' : `${a.value.toFixed(1)}${unit}`
    const last = a.last
      ? `; last ${a.last.from} -> ${a.last.to} at ${new Date(a.last.at).toISOString()}: ${a.last.reason}`
      : '; no change yet'
    lines.push(
      `scale    ${a.host}: ${a.replicas} replicas (${a.min}-${a.max}), ${value} against a target of ${a.target}${last}`,
    )
  }
  for (const n of s.nodes ?? []) {
    const runs = n.revision === null ? 'no revision yet' : `revision #${n.revision}`
    lines.push(
      `node     ${n.node} ${n.address}: ${n.up ? 'up' : 'DOWN'}; ${runs}${n.envoy.inSync ? ', Envoy runs the newest' : n.envoy.running ? ', Envoy does NOT run the newest' : ', Envoy not reachable'}${n.error ? ` (${n.error})` : ''}`,
    )
    for (const h of n.hosts) lines.push(`           ${h.name} ${h.url} ${h.ready ? 'ready' : 'NOT ready'}`)
  }
  ctx.io.out(`${lines.join('\n')}\n`)
  return statusExit(s)
}

/** 0 when every Envoy answers (on every node, when there are several), else 3. */
const statusExit = (s: MeshStatus) =>
  (s.nodes ? s.nodes.every((n) => n.up && n.envoy.running) : s.envoy.running) ? EXIT.ok : EXIT.unavailable

async function history(ctx: Ctx, mesh: LoadedMesh): Promise<number> {
  const entries = await meshHistory(mesh.stateDir)
  if (ctx.json) ctx.io.out(`${JSON.stringify(entries)}\n`)
  else if (entries.length === 0) ctx.io.out('nothing applied yet\n')
  else
    for (const e of entries)
      ctx.io.out(`${String(e.id).padStart(4)}  ${e.time}  ${e.digest}  ${e.version}  ${e.by}  ${e.action}\n`)
  return EXIT.ok
}

/** Works even when the current mesh.yaml is broken: that is when a revert is wanted most. */
async function revert(ctx: Ctx, id: number): Promise<number> {
  const stateDir = await stateDirOf(ctx.file)
  const text = await meshHistoryText(stateDir, id)
  if (text === undefined) {
    const entries = await meshHistory(stateDir)
    ctx.io.err(
      `mesh revert: no history entry ${id} in ${stateDir} (have ${entries.map((e) => e.id).join(', ') || 'none'})\n`,
    )
    return EXIT.invalid
  }
  return applyText(ctx, text, `revert ${id}`)
}

/** Edits mesh.yaml (which must be valid), then validates, applies and writes the result. */
async function editAndApply(ctx: Ctx, action: string, edit: (text: string) => string): Promise<number> {
  const current = await loadMeshFile(ctx.file)
  if (!current.ok) {
    reportIssues(ctx, current.issues)
    return EXIT.invalid
  }
  return applyText(ctx, edit(current.mesh.text), action, current.mesh.text)
}

/** Validates `text` as mesh.yaml's next contents, applies it, and writes it to mesh.yaml only if applied. */
async function applyText(ctx: Ctx, text: string, action: string, base?: string): Promise<number> {
  const outcome = await applyMeshText(ctx.file, text, action, ctx.by, base)
  if (outcome.status === 'invalid') {
    if (!ctx.json) ctx.io.err(`mesh.yaml as "${action}" would leave it is not valid:\n`)
    reportIssues(ctx, outcome.issues)
    return EXIT.invalid
  }
  if (outcome.status === 'conflict') {
    if (ctx.json) ctx.io.out(`${JSON.stringify({ status: 'refused', reason: outcome.reason })}\n`)
    else ctx.io.err(`refused: ${outcome.reason}\nRun the command again.\n`)
    return EXIT.invalid
  }
  report(ctx, outcome.result)
  return exitOf(outcome.result)
}

/** Refused, or refused by a node's Envoy (which runs the revision before): 1. */
const exitOf = (r: ApplyResult) =>
  r.status === 'refused' || (r.status === 'applied' && r.nodes?.some((n) => n.state === 'refused'))
    ? EXIT.invalid
    : EXIT.ok

/** The supervisor's events, as `mesh up` tells them. */
const supervisorEvents = (say: (t: string) => void) => (e: SupervisorEvent) => {
  if (e.kind === 'exited') say(`${e.name} exited (${e.signal ?? `code ${e.code}`}); restarting in ${e.restartInMs} ms`)
  else if (e.kind === 'healthy') say(`${e.name} is up`)
  else if (e.kind === 'started') say(`${e.name} started (pid ${e.pid})`)
}

async function up(ctx: Ctx, mesh: LoadedMesh, demo: boolean): Promise<number> {
  const say = (t: string) => ctx.io.err(`[mesh] ${t}\n`)
  await warnExposedKeys(ctx, mesh)
  say(`starting the local mesh from ${mesh.file} (logs in ${join(mesh.stateDir, 'logs')})`)
  const local = await startLocalMesh(mesh, { by: ctx.by, onEvent: supervisorEvents(say) })
  const route = mesh.config.routes[0]!
  const example = join('model-host/examples', `${route.model}-request.json`)
  ctx.io.out(
    [
      '',
      `The mesh is up. Gateway: ${local.gatewayUrl}`,
      '',
      'One inference through the mesh:',
      `  curl -s ${local.gatewayUrl}/v2/models/${route.model}/infer -H 'content-type: application/json' -H 'x-user-id: alice' -d @${example} -D - `,
      '',
      `Envoy admin:  ${local.adminUrl}  (the filters' own metrics: ${local.adminUrl}/stats/prometheus)`,
      `Collector:    ${local.collectorUrl}  (metrics: /metrics, API: /api/v1/...)`,
      ...(local.dashboardUrl
        ? [`Dashboard:    ${local.dashboardUrl}  (changes need the operator token in ${local.tokenFile})`]
        : []),
      `Operate:      npx mesh status | npx mesh canary set ${route.name} 25% | npx mesh canary rollback ${route.name}`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  )
  const stopped = new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      say(`${signal}: stopping`)
      local.stop().then(resolveStop, resolveStop)
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  if (demo)
    void runDemoTraffic(mesh, {
      gatewayUrl: local.gatewayUrl,
      seconds: Number.POSITIVE_INFINITY,
      rps: 50,
      users: 200,
      log: say,
      until: stopped,
    })
  await stopped
  say('stopped')
  return EXIT.ok
}

/** `mesh up --nodes N` (or mesh.yaml's nodes): the mesh over N network namespaces until Ctrl-C. */
async function upNodes(ctx: Ctx, mesh: LoadedMesh, nodes: MeshNode[]): Promise<number> {
  const say = (t: string) => ctx.io.err(`[mesh] ${t}\n`)
  const unavailable = await networkUnavailable()
  if (unavailable) {
    ctx.io.err(`mesh up: cannot run ${nodes.length} nodes: ${unavailable}\n`)
    return EXIT.unavailable
  }
  say(`starting ${nodes.length} nodes from ${mesh.file} (logs in ${join(mesh.stateDir, 'logs')})`)
  const started = Date.now()
  const running = await startNodeMesh(mesh, { by: ctx.by, nodes, onEvent: supervisorEvents(say) })
  const route = mesh.config.routes[0]!
  const example = join('model-host/examples', `${route.model}-request.json`)
  const first = running.nodes[0]!
  const dashboards = running.nodes.filter((n) => n.dashboardUrl)
  ctx.io.out(
    [
      '',
      `The mesh is up on ${running.nodes.length} nodes in ${((Date.now() - started) / 1000).toFixed(1)} s.`,
      ...running.nodes.map((n) => `Node ${n.namespace} gateway: ${n.gatewayUrl}`),
      '',
      'One inference through a node:',
      `  curl -s ${first.gatewayUrl}/v2/models/${route.model}/infer -H 'content-type: application/json' -H 'x-user-id: alice' -d @${example} -D - `,
      '',
      ...running.nodes.filter((n) => n.collectorUrl).map((n) => `Collector on ${n.namespace}: ${n.collectorUrl}`),
      ...dashboards.map(
        (n) =>
          `Dashboard on ${n.namespace}: ${n.dashboardUrl}  (changes need the operator token in ${running.tokenFile})`,
      ),
      `NATS (JetStream cluster): ${running.natsUrls}`,
      'Ctrl-C stops everything and removes the namespaces.',
      '',
    ].join('\n'),
  )
  await new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      say(`${signal}: stopping`)
      running.stop().then(resolveStop, resolveStop)
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  say('stopped')
  return EXIT.ok
}

function formatDemoReport(r: Awaited<ReturnType<typeof runDemoTraffic>>): string {
  return [
    `sent ${r.sent} requests in ${r.seconds.toFixed(1)} s from ${r.users} users: ${r.ok} ok, ${r.failed} failed`,
    `answered by: ${Object.entries(r.byVersion)
      .map(([v, n]) => `${v} ${n}`)
      .join(', ')}`,
    `users seen on more than one version: ${r.usersOnSeveralVersions}`,
    `low-confidence answers (< 0.6): ${r.lowConfidence}`,
  ].join('\n')
}
