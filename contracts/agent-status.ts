/**
 * @module
 * What a telemetry agent answers on `GET /status` (AGENT_STATUS_PATH): its
 * counters and spool as JSON, the same figures its /metrics reports, for
 * the collector's dashboard (telemetry-collector/src/agent-status.ts).
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
}
