/**
 * @module
 * A telemetry agent's own figures (GET /status, contracts/agent-status.ts),
 * as the collector asks for them: its spool, what it published and what it
 * dropped. An agent that does not answer in time is an answer too.
 */
import { AGENT_STATUS_PATH, type AgentStatus } from '@model-mesh/contracts'

export type { AgentStatus }

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
export async function agentStatus(url: string, timeoutMs = 500): Promise<(AgentStatus & { url: string }) | { url: string; error: string }> {
  try {
    const res = await fetch(new URL(AGENT_STATUS_PATH, url), { signal: AbortSignal.timeout(timeoutMs) })
    if (!res.ok) return { url, error: `HTTP ${res.status} from ${AGENT_STATUS_PATH}` }
    const body = (await res.json()) as Partial<AgentStatus> | null
    if (typeof body?.id !== 'string' || typeof body.spool_events !== 'number' || typeof body.dropped !== 'object') return { url, error: `${AGENT_STATUS_PATH}: not a telemetry agent's status` }
    return { ...(body as AgentStatus), url }
  } catch (e) {
    const err = e as Error
    return { url, error: err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err.cause as Error | undefined)?.message ?? err.message }
  }
}
