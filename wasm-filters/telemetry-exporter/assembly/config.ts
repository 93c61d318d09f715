// @module
// telemetry-exporter configuration, checked once in proxy_on_configure.
import { configObject, FilterConfig, invalid, JsonKind } from "../../sdk/assembly/index"
import { DEFAULT_QUEUE } from "../../telemetry-queue/assembly/queue"

export class ExporterConfig extends FilterConfig {
  /** Envoy cluster of the local telemetry agent. */
  cluster: string = ""
  path: string = "/v1/events"
  authority: string = "telemetry-agent"
  /**
   * The environment variable of Envoy's process that holds the node's
   * telemetry credential, sent as `authorization: Bearer <token>` (the agent
   * refuses calls without it). A name, never the token: Envoy's admin shows
   * this configuration to any local process (`/config_dump`).
   */
  tokenEnv: string = ""
  queueName: string = DEFAULT_QUEUE
  /** Drain at least this often. */
  flushIntervalMs: i32 = 500
  /** The most events one POST carries (it carries whole producer messages, so it may end a little over). */
  maxBatchEvents: i32 = 500
  /** A POST stops taking messages once its body reaches this many characters (the agent refuses bodies over 8 MiB). */
  maxBatchBytes: i32 = 1 << 20
  timeoutMs: i32 = 2000
  /** Calls in flight at once; beyond, events wait in the (bounded) queue. */
  maxInFlight: i32 = 2
}


const STRINGS = ["cluster", "path", "authority", "queue_name", "token_env"]
const INTEGERS = ["flush_interval_ms", "max_batch_events", "timeout_ms", "max_in_flight"]

export function parseConfig(text: string): ExporterConfig {
  const c = new ExporterConfig()
  const parsed = configObject(c, text)
  if (parsed === null) return c
  const root = parsed!
  for (let i = 0; i < root.keys.length; i++) {
    const key = root.keys[i]
    const v = root.values[i]
    if (STRINGS.includes(key)) {
      if (v.kind != JsonKind.String || v.str.length == 0) return invalid(c, key, "must be a non-empty string")
      if (key == "cluster") c.cluster = v.str
      else if (key == "path") c.path = v.str
      else if (key == "authority") c.authority = v.str
      else if (key == "token_env") c.tokenEnv = v.str
      else c.queueName = v.str
    } else if (INTEGERS.includes(key)) {
      if (v.kind != JsonKind.Number || v.number != Math.floor(v.number) || v.number < 1 || v.number > 600000) {
        return invalid(c, key, "must be an integer from 1 to 600000")
      }
      const n = <i32>v.number
      if (key == "flush_interval_ms") c.flushIntervalMs = n
      else if (key == "max_batch_events") c.maxBatchEvents = n
      else if (key == "timeout_ms") c.timeoutMs = n
      else c.maxInFlight = n
    } else if (key == "max_batch_bytes") {
      if (v.kind != JsonKind.Number || v.number != Math.floor(v.number) || v.number < 1024 || v.number > 4194304) {
        return invalid(c, key, "must be an integer from 1024 to 4194304")
      }
      c.maxBatchBytes = <i32>v.number
    } else return invalid(c, key, "unknown field")
  }
  if (c.cluster.length == 0) return invalid(c, "cluster", "required, the telemetry agent's cluster")
  if (!c.path.startsWith("/")) return invalid(c, "path", "must start with /")
  return c
}

/** What a bearer token may hold (RFC 6750's b64token, the rule of contracts/credentials.ts, which AssemblyScript cannot import): anything else could not be sent, or could split the header. */
function isBearerToken(s: string): bool {
  let padding = false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c == 61) { padding = true; continue } // '=' only at the end
    if (padding) return false
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 46 || c == 95 || c == 126 || c == 43 || c == 47
    if (!ok) return false
  }
  return s.length > 0 && s.charCodeAt(0) != 61
}

/**
 * The credential from the environment Envoy gives the VM (the variables
 * `vm_config.environment_variables.host_env_keys` names), or an error naming
 * the field (never the value): a configuration that needs a token and finds
 * none refuses to start rather than send calls the agent would refuse.
 */
export function resolveToken(c: ExporterConfig, env: Map<string, string>): string {
  if (c.tokenEnv.length == 0) return ""
  const value = env.has(c.tokenEnv) ? env.get(c.tokenEnv) : ""
  if (value.length == 0) {
    invalid(c, "token_env", "environment variable " + c.tokenEnv + " is not set or empty (Envoy's vm_config.environment_variables.host_env_keys must name it)")
  } else if (!isBearerToken(value)) {
    invalid(c, "token_env", "environment variable " + c.tokenEnv + " must hold a bearer token (letters, digits, - . _ ~ + /, then = padding)")
  }
  return c.error.length > 0 ? "" : value
}
