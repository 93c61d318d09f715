/**
 * @module
 * What apply and status ask a running Envoy, through its admin interface:
 * which xDS versions it runs, why it refused one, and its hosts' health.
 */

export interface XdsState {
  /** The last listeners and clusters versions Envoy accepted. */
  listeners?: string
  clusters?: string
  /** Updates Envoy refused so far, by kind. */
  rejected: { lds: number; cds: number }
  /** Envoy's reasons for refusing the newest files, when it did. */
  errors: string[]
}

interface DynamicListener {
  name: string
  error_state?: { details?: string }
}

export class EnvoyAdmin {
  constructor(readonly url: string) {}

  async reachable(): Promise<boolean> {
    return fetch(`${this.url}/ready`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    )
  }

  /**
   * The xDS versions Envoy took, from its stats: the config dump's
   * version_info stays put when an update changes no resource.
   */
  async xdsState(): Promise<XdsState> {
    const [stats, dump] = await Promise.all([
      fetch(`${this.url}/stats?filter=(version_text|update_rejected)`).then((r) => r.text()),
      this.json('/config_dump?resource=dynamic_listeners') as Promise<{ configs: DynamicListener[] }>,
    ])
    const text = (name: string) => new RegExp(`^${name.replace(/\./g, '\\.')}: "?([^"\n]*)"?$`, 'm').exec(stats)?.[1]
    const errors = dump.configs.flatMap((l) => (l.error_state?.details ? [`listener ${l.name}: ${l.error_state.details}`] : []))
    return {
      listeners: text('listener_manager.lds.version_text') || undefined,
      clusters: text('cluster_manager.cds.version_text') || undefined,
      rejected: { lds: Number(text('listener_manager.lds.update_rejected') ?? 0), cds: Number(text('cluster_manager.cds.update_rejected') ?? 0) },
      errors,
    }
  }

  /** Health of every cluster's hosts, as Envoy sees it. */
  async clusterHealth(): Promise<Map<string, { address: string; healthy: boolean; flags: string }[]>> {
    const body = (await this.json('/clusters?format=json')) as {
      cluster_statuses: { name: string; host_statuses?: { address: { socket_address: { address: string; port_value: number } }; health_status: Record<string, unknown> }[] }[]
    }
    const health = new Map<string, { address: string; healthy: boolean; flags: string }[]>()
    for (const c of body.cluster_statuses) {
      health.set(
        c.name,
        (c.host_statuses ?? []).map((h) => {
          const flags = Object.entries(h.health_status)
            .filter(([k, v]) => k !== 'eds_health_status' && v === true)
            .map(([k]) => k)
          return { address: `${h.address.socket_address.address}:${h.address.socket_address.port_value}`, healthy: flags.length === 0, flags: flags.join(',') }
        }),
      )
    }
    return health
  }

  async serverInfo(): Promise<{ version: string; state: string; uptime: string }> {
    const info = (await this.json('/server_info')) as { version: string; state: string; uptime_current_epoch: string }
    return { version: /\/(\d+\.\d+\.\d+)\//.exec(info.version)?.[1] ?? info.version, state: info.state, uptime: info.uptime_current_epoch }
  }

  /** Waits until Envoy runs `version` for both listeners and clusters, or reports why not. */
  async waitForVersion(version: string, kinds: ('listeners' | 'clusters')[], timeoutMs: number, before: { lds: number; cds: number }): Promise<{ ok: true } | { ok: false; reason: string }> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const state = await this.xdsState()
      if (kinds.every((k) => state[k] === version)) return { ok: true }
      if (state.rejected.lds > before.lds || state.rejected.cds > before.cds) {
        return { ok: false, reason: state.errors.join('; ') || 'Envoy refused the update (see its log)' }
      }
      if (Date.now() > deadline) return { ok: false, reason: `Envoy did not take version ${version} within ${timeoutMs} ms (it runs listeners ${state.listeners}, clusters ${state.clusters})` }
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  private async json(path: string): Promise<unknown> {
    const res = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(5000) })
    if (!res.ok) throw new Error(`Envoy admin ${path}: HTTP ${res.status}`)
    return res.json()
  }
}
