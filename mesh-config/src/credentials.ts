/**
 * @module
 * Where the local mesh keeps the node's credentials, each a random token in
 * a file of its own under the state directory (mode 0600; contracts/credentials.ts
 * reads and creates them), never written to mesh.yaml:
 *
 *   telemetry-token        what Envoy's exporter and the model hosts show the telemetry agent
 */
import { join } from 'node:path'

export const credentialFiles = (stateDir: string) => ({
  telemetryToken: join(stateDir, 'telemetry-token'),
})
