/**
 * @module
 * What apply and status ask a running Envoy, through its admin interface:
 * which xDS versions it runs, why it refused one, and its hosts' health.
 */
import { readIfExists } from './atomic-file.ts'

/**
 * The admin interface Envoy wrote to `file` (its --admin-address-path), else
 * at `fallback` (host:port); undefined when there is neither.
 */
export async function adminAt(file: string, fallback?: string): Promise<EnvoyAdmin | undefined> {
  const address = (await readIfExists(file))?.trim() || fallback
  return address ? new EnvoyAdmin(`http://${address}`) : undefined
}

/** One xDS subscription as Envoy's stats show it. */
export interface Subscription {
  /** The version_info Envoy last took. */
  version?: string
  /** Updates it refused so far. */
  rejected: number
}

interface DynamicListener {
  name: string
  error_state?: { details?: string }
}

export class EnvoyAdmin {
  constructor(readonly url: string) {}

  /** Envoy answers at all (it may still be starting, warming or draining). */
  async running(): Promise<boolean> {
    return fetch(`${this.url}/server_info`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => (r.body?.cancel(), true),
      () => false,
    )
  }

  /** Envoy is live and serves (its /ready). */
  async ready(): Promise<boolean> {
    return fetch(`${this.url}/ready`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => (r.body?.cancel(), r.ok),
      () => false,
    )
  }

  /**
   * Every xDS subscription's version and refusals, by stat prefix (such as
   * `listener_manager.lds`). From the stats, not the config dump: a dump's
   * version_info stays put when an update changes no resource.
   */
  async subscriptions(): Promise<Map<string, Subscription>> {
    const stats = await fetch(`${this.url}/stats?filter=(version_text|update_rejected|config_fail)$`, {
      signal: AbortSignal.timeout(5000),
    }).then((r) => r.text())
    const subs = new Map<string, Subscription>()
    for (const [, prefix, stat, value] of stats.matchAll(
      /^(.+)\.(version_text|update_rejected|config_fail): "?([^"\n]*)"?$/gm,
    )) {
      const sub = subs.get(prefix!) ?? { rejected: 0 }
      if (stat === 'version_text') sub.version = value || undefined
      else sub.rejected += Number(value)
      subs.set(prefix!, sub)
    }
    return subs
  }

  /** Envoy's reasons for refusing listeners, when it gives them. */
  async listenerErrors(): Promise<string[]> {
    const dump = (await this.json('/config_dump?resource=dynamic_listeners')) as { configs: DynamicListener[] }
    return dump.configs.flatMap((l) => (l.error_state?.details ? [`listener ${l.name}: ${l.error_state.details}`] : []))
  }

  /** Health of every cluster's hosts, as Envoy sees it. */
  async clusterHealth(): Promise<Map<string, { address: string; healthy: boolean; flags: string }[]>> {
    const body = (await this.json('/clusters?format=json')) as {
      cluster_statuses: {
        name: string
        host_statuses?: {
          address: { socket_address: { address: string; port_value: number } }
          health_status: Record<string, unknown>
        }[]
      }[]
    }
    const health = new Map<string, { address: string; healthy: boolean; flags: string }[]>()
    for (const c of body.cluster_statuses) {
      health.set(
        c.name,
        (c.host_statuses ?? []).map((h) => {
          const flags = Object.entries(h.health_status)
            .filter(([k, v]) => k !== 'eds_health_status' && v === true)
            .map(([k]) => k)
          return {
            address: `${h.address.socket_address.address}:${h.address.socket_address.port_value}`,
            healthy: flags.length === 0,
            flags: flags.join(','),
          }
        }),
      )
    }
    return health
  }

  async serverInfo(): Promise<{ version: string; state: string; uptime: string }> {
    const info = (await this.json('/server_info')) as { version: string; state: string; uptime_current_epoch: string }
    return {
      version: /\/(\d+\.\d+\.\d+)\//.exec(info.version)?.[1] ?? info.version,
      state: info.state,
      uptime: info.uptime_current_epoch,
    }
  }

  /**
   * Waits until the subscription at `prefix` runs `version`. Fails at once
   * when Envoy refuses an update there (its refusal count passes `before`).
   */
  async waitForVersion(
    prefix: string,
    version: string,
    before: Map<string, Subscription>,
    timeoutMs: number,
  ): Promise<{ ok: true } | { ok: false; reason: string }> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const sub = (await this.subscriptions()).get(prefix)
      if (sub?.version === version) return { ok: true }
      if (sub && sub.rejected > (before.get(prefix)?.rejected ?? 0)) {
        const errors = await this.listenerErrors()
        return {
          ok: false,
          reason: `Envoy refused the update of ${prefix}${errors.length > 0 ? `: ${errors.join('; ')}` : ' (its log says why)'}`,
        }
      }
      if (Date.now() > deadline)
        return {
          ok: false,
          reason: `Envoy did not take version ${version} of ${prefix} within ${timeoutMs} ms (it runs ${sub?.version ?? 'none'})`,
        }
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  private async json(path: string): Promise<unknown> {
    const res = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(5000) })
    if (!res.ok) throw new Error(`Envoy admin ${path}: HTTP ${res.status}`)
    return res.json()
  }
}
