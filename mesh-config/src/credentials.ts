/**
 * @module
 * Where the local mesh keeps the node's credentials, each a random token in
 * a file of its own under the state directory (mode 0600; contracts/credentials.ts
 * reads and creates them), never written to mesh.yaml:
 *
 *   telemetry-token        what Envoy's exporter and the model hosts show the telemetry agent
 *
 * Envoy gets the telemetry token in its environment (TELEMETRY_TOKEN_ENV),
 * never in its configuration, which its admin interface shows to any local
 * process.
 */
import { join } from 'node:path'

export const credentialFiles = (stateDir: string) => ({
  telemetryToken: join(stateDir, 'telemetry-token'),
})

/** The variable of Envoy's environment that holds the telemetry token; the bootstrap names it (the exporter's `token_env`), the local mesh sets it. */
export const TELEMETRY_TOKEN_ENV = 'MESH_TELEMETRY_TOKEN'
