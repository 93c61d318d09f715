/**
 * @module
 * Cross-checks that zod cannot make field by field: names unique, references
 * resolve, ports distinct, and the routes agree with the model repository.
 * Pure: the repository arrives already read (readRepositoryView in load.ts).
 */
import type { ConfigPath } from './issues.ts'
import { servedPaths } from './oip-paths.ts'
import { maxInstancesOf, meshModels, natsEndpoint, type MeshConfig } from './schema.ts'

export interface ModelView {
  versions: ReadonlySet<string>
  /** Inputs and outputs as `name:datatype:shape` strings, to compare models. */
  signature: string
}

/** What the checks need to know of the model repository, by model name. */
export type RepositoryView = ReadonlyMap<string, ModelView>

export interface CheckIssue {
  path: ConfigPath
  message: string
}

export function crossCheck(
  config: MeshConfig,
  repository: RepositoryView | { error: string },
  env: Record<string, string | undefined> = process.env,
): CheckIssue[] {
  const issues: CheckIssue[] = []
  const add = (path: ConfigPath, message: string) => issues.push({ path, message })

  unique(
    config.hosts.map((h) => h.name),
    (i, first) => add(['hosts', i, 'name'], `duplicate host name (first at hosts[${first}])`),
  )
  unique(
    config.routes.map((r) => r.name),
    (i, first) => add(['routes', i, 'name'], `duplicate route name (first at routes[${first}])`),
  )
  unique(config.auth?.api_keys.map((k) => k.client) ?? [], (i, first) =>
    add(['auth', 'api_keys', i, 'client'], `duplicate client (first at auth.api_keys[${first}])`),
  )
  config.auth?.api_keys.forEach((k, i) => {
    if (k.key_env !== undefined && !env[k.key_env])
      add(
        ['auth', 'api_keys', i, 'key_env'],
        `environment variable ${k.key_env} is not set (Envoy gets the key from it when the config is rendered)`,
      )
  })
  unique(
    config.routes.map((r) => matchKey(r.match)),
    (i, first) => add(['routes', i, 'match'], `same match as routes[${first}]: this route could never be reached`),
  )
  // A walk edits the weight of every route to its model (they agree on it): two walks of one model would fight.
  const walked = new Map<string, number>()
  config.routes.forEach((r, i) => {
    if (r.canary?.analysis.mode !== 'auto') return
    const first = walked.get(r.model)
    if (first !== undefined)
      add(
        ['routes', i, 'canary', 'analysis', 'mode'],
        `routes[${first}] already walks model ${r.model} in auto mode; one route per model may`,
      )
    else walked.set(r.model, i)
  })
  if (config.nodes) {
    const nodes = config.nodes
    unique(
      nodes.map((n) => n.name),
      (i, first) => add(['nodes', i, 'name'], `duplicate node name (first at nodes[${first}])`),
    )
    const hostNames = config.hosts.map((h) => h.name)
    nodes.forEach((n, i) => {
      n.hosts.forEach((h, j) => {
        if (!hostNames.includes(h)) add(['nodes', i, 'hosts', j], `no host "${h}" (hosts: ${hostNames.join(', ')})`)
      })
      unique(n.hosts, (j, first) => add(['nodes', i, 'hosts', j], `host listed twice (first at hosts[${first}])`))
    })
    config.hosts.forEach((h, i) => {
      if (!nodes.some((n) => n.hosts.includes(h.name)))
        add(['hosts', i, 'name'], `host "${h.name}" runs on no node: add it to a node's hosts`)
    })
    if (!nodes.some((n) => n.collector))
      add(['nodes'], 'no node runs a collector: set `collector: true` on one (two share the work and take over)')
  }
  const named = new Set(meshModels(config))
  for (const model of Object.keys(config.quality.models)) {
    if (!named.has(model)) add(['quality', 'models', model], `not a model this mesh serves (${[...named].join(', ')})`)
  }

  // Every listening port on the machine must be distinct (port 0 lets the OS pick).
  const ports: [ConfigPath, number, string][] = [
    [['gateway', 'port'], config.gateway.port, 'gateway.port'],
    [['gateway', 'admin_port'], config.gateway.admin_port, 'gateway.admin_port'],
    [['telemetry', 'agent', 'port'], config.telemetry.agent.port, 'telemetry.agent.port'],
    [['telemetry', 'collector', 'port'], config.telemetry.collector.port, 'telemetry.collector.port'],
    ...(config.telemetry.collector.dashboard.enabled
      ? [
          [
            ['telemetry', 'collector', 'dashboard', 'port'],
            config.telemetry.collector.dashboard.port,
            'telemetry.collector.dashboard.port',
          ] as [ConfigPath, number, string],
        ]
      : []),
    [['telemetry', 'nats_url'], natsEndpoint(config.telemetry.nats_url).port, 'telemetry.nats_url'],
    ...config.hosts.flatMap((h, i) =>
      maxInstancesOf(h).map((inst, n): [ConfigPath, number, string] => [
        ['hosts', i, 'port'],
        inst.port,
        n === 0 ? `hosts[${i}].port` : `hosts[${i}] instance ${n + 1} (port + ${n})`,
      ]),
    ),
    ...config.hosts.flatMap((h, i) =>
      maxInstancesOf(h).flatMap((inst, n): [ConfigPath, number, string][] =>
        inst.grpcPort === undefined
          ? []
          : [
              [
                ['hosts', i, 'grpc_port'],
                inst.grpcPort,
                n === 0 ? `hosts[${i}].grpc_port` : `hosts[${i}] instance ${n + 1} (grpc_port + ${n})`,
              ],
            ],
      ),
    ),
  ]
  const seenPorts = new Map<number, string>()
  for (const [path, port, label] of ports) {
    if (port === 0) continue
    const first = seenPorts.get(port)
    if (first) add(path, `port ${port} is already used by ${first}`)
    else seenPorts.set(port, label)
  }
  config.hosts.forEach((h, i) => {
    const last = h.port + maxInstancesOf(h).length - 1
    if (last > 65_535) add(['hosts', i, 'instances'], `ports ${h.port}-${last} run past 65535`)
    const lastGrpc = h.grpc_port === undefined ? 0 : h.grpc_port + maxInstancesOf(h).length - 1
    if (lastGrpc > 65_535) add(['hosts', i, 'instances'], `gRPC ports ${h.grpc_port}-${lastGrpc} run past 65535`)
    const a = h.autoscale
    if (a && (h.instances < a.min || h.instances > a.max))
      add(
        ['hosts', i, 'instances'],
        `must be within autoscale's min and max (${a.min}-${a.max}): it is where the pool starts`,
      )
  })

  const hosts = new Map(config.hosts.map((h) => [h.name, h]))
  const clients = new Set(config.auth?.api_keys.map((k) => k.client) ?? [])
  const byModel = new Map<string, number>()
  config.routes.forEach((r, i) => {
    const at = (...p: (string | number)[]) => ['routes', i, ...p]
    const pools = [
      ['stable', r.stable.hosts, 'primary'],
      ['canary', r.canary?.hosts ?? [], 'primary'],
      ['fallback', r.fallback?.hosts ?? [], 'fallback'],
    ] as const
    for (const [pool, refs, role] of pools) {
      refs.forEach((ref, j) => {
        const h = hosts.get(ref)
        if (!h) add(at(pool, 'hosts', j), `no host named "${ref}" in hosts`)
        else if (h.role !== role)
          add(at(pool, 'hosts', j), `host "${ref}" has role ${h.role}; ${pool} hosts need role ${role}`)
      })
    }
    if (r.match.model !== undefined && r.match.model !== r.model)
      add(at('match', 'model'), `matches model "${r.match.model}" but routes to model "${r.model}"`)
    const prefix = r.match.prefix
    if (prefix !== undefined && !servedPaths(r).some((p) => p.startsWith(prefix))) {
      add(
        at('match', 'prefix'),
        `no path the route serves starts with "${prefix}" (a route serves only its model's OIP paths, /v2/models/${r.model}[/versions/<v>][/ready|/infer]), so it would match nothing`,
      )
    }
    // A promoted canary keeps its section at weight 0 until the next one; only a live canary must differ.
    if (r.canary && r.canary.weight > 0 && r.canary.version === r.stable.version)
      add(
        at('canary', 'version'),
        `is the stable version (${r.stable.version}); a canary with weight needs another version`,
      )
    if (r.auth) {
      if (!config.auth) add(at('auth'), 'needs the top-level auth section with api_keys')
      else
        r.auth.clients.forEach(
          (c, j) => clients.has(c) || add(at('auth', 'clients', j), `no client "${c}" in auth.api_keys`),
        )
    }
    if (r.retries?.per_try_timeout_ms !== undefined && r.retries.per_try_timeout_ms > r.timeout_ms) {
      add(at('retries', 'per_try_timeout_ms'), `must be at most the route's timeout_ms (${r.timeout_ms})`)
    }
    // The canary and sampling plugins decide per model: routes to one model must agree on both.
    const first = byModel.get(r.model)
    if (first === undefined) byModel.set(r.model, i)
    else if (perModelKey(config.routes[first]!) !== perModelKey(r))
      add(
        at('model'),
        `routes[${first}] also serves "${r.model}" with other versions, canary or sampling settings; routes to one model must agree`,
      )

    if ('error' in repository) return
    const model = repository.get(r.model as string)
    if (!model) {
      add(at('model'), `no model "${r.model}" in the repository (have ${[...repository.keys()].join(', ') || 'none'})`)
      return
    }
    for (const v of ['stable', 'canary'] as const) {
      const version = r[v]?.version
      if (version !== undefined && !model.versions.has(version))
        add(at(v, 'version'), `model "${r.model}" has no version ${version} (have ${[...model.versions].join(', ')})`)
    }
    // A host with its own model list must load what its routes send it.
    for (const [pool, refs, needs] of [
      ['stable', r.stable.hosts, r.model],
      ['canary', r.canary?.hosts ?? [], r.model],
      ['fallback', r.fallback?.hosts ?? [], r.fallback?.model],
    ] as const) {
      refs.forEach((ref, j) => {
        const h = hosts.get(ref)
        if (h?.models && needs !== undefined && !h.models.includes(needs))
          add(at(pool, 'hosts', j), `host "${ref}" does not load "${needs}" (its models: ${h.models.join(', ')})`)
      })
    }
    if (r.fallback) {
      const fb = repository.get(r.fallback.model)
      if (r.fallback.model === r.model) add(at('fallback', 'model'), 'a model cannot be its own fallback')
      else if (!fb) add(at('fallback', 'model'), `no model "${r.fallback.model}" in the repository`)
      else if (fb.signature !== model.signature)
        add(
          at('fallback', 'model'),
          `"${r.fallback.model}" takes or gives other tensors than "${r.model}" (${fb.signature} vs ${model.signature})`,
        )
    }
  })
  if ('error' in repository) add(['repository'], repository.error)
  else {
    config.hosts.forEach((h, i) =>
      h.models?.forEach(
        (m, j) => repository.has(m) || add(['hosts', i, 'models', j], `no model "${m}" in the repository`),
      ),
    )
  }
  return issues
}

function unique(values: readonly string[], onDuplicate: (index: number, first: number) => void): void {
  const seen = new Map<string, number>()
  values.forEach((v, i) => {
    const first = seen.get(v)
    if (first !== undefined) onDuplicate(i, first)
    else seen.set(v, i)
  })
}

function matchKey(m: MeshConfig['routes'][number]['match']): string {
  return m.model !== undefined
    ? `model:${m.model}`
    : m.prefix !== undefined
      ? `prefix:${m.prefix}`
      : `header:${m.header!.name}=${m.header!.value ?? '*'}`
}

function perModelKey(r: MeshConfig['routes'][number]): string {
  const c = r.canary
  return JSON.stringify([
    r.stable.version,
    c?.version,
    c?.weight,
    c?.sticky_header,
    c?.when_missing,
    c?.allow_override,
    r.sampling?.rate_bp ?? 0,
    r.sampling?.confidence_threshold ?? 0,
  ])
}
