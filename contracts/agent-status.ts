/**
 * @module
 * What a telemetry agent answers on `GET /status` (AGENT_STATUS_PATH): its
 * counters and spool as JSON, the same figures its /metrics reports, for
 * the collector's dashboard, which asks with agentStatus below. An agent
 * that does not answer in time is an answer too.
 */

export const AGENT_STATUS_PATH = '/status'

export interface AgentStatus {
  /** The agent's id (message ids, the Mesh-Source header). */
  id: string
  nats_connected: boolean
  /** Events posted to it, every source (mesh_agent_events_received_total). */
  received: number
  /** Events JetStream acknowledged. */
  published: number
  /** Events that had to wait in the spool (NATS down, or the oldest unpublished event over a second old). */
  spooled: number
  /** Spooled events later published. */
  replayed: number
  /** Events it could not keep, by reason (spool_full, too_large, body_too_large, overloaded, body_timeout, malformed, unknown_kind): every reason, 0 included. */
  dropped: Record<string, number>
  /** Events waiting for JetStream now. */
  spool_events: number
  spool_bytes: { memory: number; disk: number }
  /** Age of the oldest event not yet in JetStream; 0 when none waits. */
  oldest_unpublished_age_s: number
  /** Where the agent keeps its node's Envoy configuration (several nodes): the revision Envoy runs, and why the last one was not taken. */
  config?: ConfigSyncStatus
}

export interface ConfigSyncStatus {
  /** The revision (mesh history id) the node's Envoy runs; null before the first. */
  revision: number | null
  /** That revision's rendered version for this node (what Envoy's stats report). */
  version: string | null
  /** The newest revision seen in the bucket. */
  latest: number | null
  /** Why the newest revision is not running here (Envoy refused it, it has no part for this node); null when it is. */
  error: string | null
}

/**
 * The status of the agent at `url` (its base URL), with the URL; or the URL
 * and why there is none (unreachable, slower than `timeoutMs`, not 200, not
 * an agent's status). Never throws.
 *
 * @example
 * const s = await agentStatus('http://127.0.0.1:4195')
 * if ('error' in s) console.log(s.url, s.error)
 * else console.log(s.spool_events, s.dropped.spool_full)
 */
export async function agentStatus(
  url: string,
  timeoutMs = 500,
): Promise<(AgentStatus & { url: string }) | { url: string; error: string }> {
  try {
    const res = await fetch(new URL(AGENT_STATUS_PATH, url), { signal: AbortSignal.timeout(timeoutMs) })
    if (!res.ok) return { url, error: `HTTP ${res.status} from ${AGENT_STATUS_PATH}` }
    const body = (await res.json()) as Partial<AgentStatus> | null
    if (typeof body?.id !== 'string' || typeof body.spool_events !== 'number' || typeof body.dropped !== 'object')
      return { url, error: `${AGENT_STATUS_PATH}: not a telemetry agent's status` }
    return { ...(body as AgentStatus), url }
  } catch (e) {
    const err = e as Error
    return {
      url,
      error:
        err.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : ((err.cause as Error | undefined)?.message ?? err.message),
    }
  }
}
