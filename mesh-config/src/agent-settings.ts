/**
 * @module
 * The telemetry agent's settings file (contracts' AgentSettings), rendered
 * from mesh.yaml: the agent reads it and nothing else of the mesh. Written
 * to `<state_dir>/telemetry-agent.json` before the local mesh starts the agent.
 */
import { hostname } from 'node:os'
import { join } from 'node:path'
import { OWNER_ONLY_FILE, type AgentSettings } from '@model-mesh/contracts'
import { credentialFiles } from './credentials.ts'
import { telemetryPaths, type LoadedMesh } from './load.ts'
import { natsFiles, natsUser } from './nats-auth.ts'
import { meshModels } from './schema.ts'
import { writeAtomic } from './state.ts'

const MB = 1024 * 1024

export const agentSettingsFile = (stateDir: string) => join(stateDir, 'telemetry-agent.json')

/** An agent on one node of several: its node's name, address, spool, the NATS cluster's URLs, and its node's folder (its Envoy's files). */
export interface AgentPlacement {
  node: string
  address: string
  natsUrls: string
  spoolDir: string
  nodeDir: string
}

export function agentSettingsOf(mesh: LoadedMesh, placement?: AgentPlacement): AgentSettings {
  const t = mesh.config.telemetry
  const id = `${hostname()}-${mesh.config.gateway.service}${placement ? `-${placement.node}` : ''}`
  return {
    id: id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 128),
    address: placement?.address ?? t.agent.address,
    port: t.agent.port,
    nats: {
      url: placement?.natsUrls ?? t.nats_url,
      user: natsUser('agent'),
      password_file: natsFiles(mesh.stateDir).password('agent'),
    },
    token_file: credentialFiles(mesh.stateDir).telemetryToken,
    models: meshModels(mesh.config),
    review_thresholds: reviewThresholdsOf(mesh),
    spool: {
      dir: placement?.spoolDir ?? telemetryPaths(mesh).spoolDir,
      memory_bytes: Math.round(t.agent.spool.memory_mb * MB),
      disk_bytes: Math.round(t.agent.spool.disk_mb * MB),
    },
    ...(placement
      ? {
          envoy_config: {
            node: placement.node,
            xds_dir: join(placement.nodeDir, 'xds'),
            bootstrap_file: join(placement.nodeDir, 'bootstrap.json'),
            admin_address_file: join(placement.nodeDir, 'admin-address'),
          },
        }
      : {}),
  }
}

/** Writes the agent's settings for `mesh` (0600: they name where its credentials lie) into `file`; returns it. */
export async function writeAgentSettings(
  mesh: LoadedMesh,
  placement?: AgentPlacement,
  file = agentSettingsFile(mesh.stateDir),
): Promise<string> {
  await writeAtomic(file, `${JSON.stringify(agentSettingsOf(mesh, placement), null, 2)}\n`, OWNER_ONLY_FILE)
  return file
}

/**
 * The review threshold of each model that has one: quality.models' own, else
 * the confidence threshold its routes sample under (the routes of a model agree on it).
 */
export function reviewThresholdsOf(mesh: LoadedMesh): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of mesh.config.routes)
    if (r.sampling && r.sampling.confidence_threshold > 0) out[r.model] = r.sampling.confidence_threshold
  for (const [model, q] of Object.entries(mesh.config.quality.models))
    if (q.review_confidence !== undefined) out[model] = q.review_confidence
  return out
}
