/**
 * @module
 * The telemetry agent's settings file (JSON): everything the node agent
 * needs and nothing more. mesh-config writes it from mesh.yaml
 * (`<state_dir>/telemetry-agent.json`); the agent reads it and nothing else
 * of the mesh, so it runs wherever a node does without mesh.yaml, its
 * schema or the model repository. Secrets are never in it, only the files
 * that hold them.
 */
import { readFile } from 'node:fs/promises'
import { z } from 'zod'

/** Largest settings file read: a few hundred models' thresholds fit in far less. */
const MAX_SETTINGS_BYTES = 1 << 20

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'must be 1-128 letters, digits, "_", "." or "-"')
const path = z.string().min(1).max(4096)

export const agentSettingsSchema = z.strictObject({
  /** The agent's id in message ids and the Mesh-Source header: one per node. */
  id: name,
  address: z.string().min(1),
  port: z.number().int().min(0).max(65_535),
  nats: z.strictObject({
    /** One server URL, or several separated by commas (a cluster's). */
    url: z.string().min(1),
    /** The NATS user and the file holding its password; absent: connect without credentials. */
    user: z.string().min(1).optional(),
    password_file: path.optional(),
  }),
  /** The file holding the node's telemetry credential (created when missing). */
  token_file: path,
  /** The models the mesh names; events of any other model go to the `_other` subjects. */
  models: z.array(name).max(10_000),
  /** Per model, the confidence under which a sample is also sent to the review queue. */
  review_thresholds: z.record(name, z.number().min(0).max(1)),
  spool: z.strictObject({
    dir: path,
    memory_bytes: z.number().int().positive(),
    disk_bytes: z.number().int().nonnegative(),
  }),
  /**
   * Where the mesh runs as several nodes: the agent takes its node's part of
   * each configuration revision from NATS (mesh-revision.ts) and hands it to
   * its node's Envoy. Absent: the mesh's own apply writes Envoy's files.
   */
  envoy_config: z
    .strictObject({
      /** The node's name in the revisions. */
      node: name,
      /** The folder Envoy's bootstrap reads its xDS files from. */
      xds_dir: path,
      /** Where the node's bootstrap is kept for Envoy's next start. */
      bootstrap_file: path,
      /** The file Envoy writes its admin address to. */
      admin_address_file: path,
    })
    .optional(),
})

export type AgentSettings = z.infer<typeof agentSettingsSchema>

/** A settings file that cannot be read or is not valid: the file, the field and why. */
export class AgentSettingsError extends Error {
  constructor(
    readonly file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${file}: ${message}`, options)
    this.name = 'AgentSettingsError'
  }
}

/** The settings `text` holds, or every field that is wrong, each as `path: reason`. */
export function parseAgentSettings(
  text: string,
): { ok: true; settings: AgentSettings } | { ok: false; issues: string[] } {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return { ok: false, issues: [`not JSON: ${(e as Error).message}`] }
  }
  const parsed = agentSettingsSchema.safeParse(json)
  if (parsed.success) return { ok: true, settings: parsed.data }
  return { ok: false, issues: parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`) }
}

/** Reads and validates a settings file; throws AgentSettingsError naming the file and each wrong field. */
export async function readAgentSettings(file: string): Promise<AgentSettings> {
  let text: string
  try {
    const bytes = await readFile(file)
    if (bytes.length > MAX_SETTINGS_BYTES) throw new Error(`larger than ${MAX_SETTINGS_BYTES} bytes`)
    text = bytes.toString('utf8')
  } catch (e) {
    throw new AgentSettingsError(file, `cannot be read: ${(e as Error).message}`, { cause: e })
  }
  const parsed = parseAgentSettings(text)
  if (!parsed.ok) throw new AgentSettingsError(file, parsed.issues.join('; '))
  return parsed.settings
}
