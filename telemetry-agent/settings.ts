/**
 * @module
 * The agent's options from its settings file (contracts' AgentSettings,
 * written by mesh-config from mesh.yaml) and its command-line overrides,
 * with the credentials read from the files the settings name.
 */
import { ensureToken, readAgentSettings, tokenFromFile, type AgentSettings } from '@model-mesh/contracts'
import type { AgentOptions } from './agent.ts'

/** Single settings the command line may override (tests run several agents on one machine). */
export interface AgentOverrides {
  port?: number
  natsUrl?: string
  spoolDir?: string
  id?: string
}

/** The options the settings and overrides give, but the credentials. */
export function agentOptionsOf(
  s: AgentSettings,
  o: AgentOverrides = {},
): Omit<AgentOptions, 'token' | 'natsAuth' | 'log'> {
  return {
    id: o.id ?? s.id,
    address: s.address,
    port: o.port ?? s.port,
    natsUrl: o.natsUrl ?? s.nats.url,
    models: s.models,
    reviewThresholds: s.review_thresholds,
    spool: { dir: o.spoolDir ?? s.spool.dir, memoryBytes: s.spool.memory_bytes, diskBytes: s.spool.disk_bytes },
    ...(s.envoy_config
      ? {
          envoyConfig: {
            node: s.envoy_config.node,
            xdsDir: s.envoy_config.xds_dir,
            bootstrapFile: s.envoy_config.bootstrap_file,
            adminAddressFile: s.envoy_config.admin_address_file,
          },
        }
      : {}),
  }
}

/**
 * The settings file's options with their credentials: the telemetry token
 * (created when missing: the agent may start before anything else made it)
 * and the NATS user's password, when its file exists (where it does not,
 * the NATS in use is not the local mesh's, and the agent connects without).
 */
export async function loadAgentOptions(file: string, o: AgentOverrides = {}): Promise<Omit<AgentOptions, 'log'>> {
  const s = await readAgentSettings(file)
  const token = await ensureToken(s.token_file)
  const { user, password_file } = s.nats
  const pass = user !== undefined && password_file !== undefined ? await tokenFromFile(password_file, false) : undefined
  return {
    ...agentOptionsOf(s, o),
    token,
    ...(user !== undefined && pass !== undefined ? { natsAuth: { user, pass } } : {}),
  }
}
