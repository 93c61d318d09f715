/**
 * @module
 * Writes `mesh render --target kubernetes`'s output: the credentials the
 * local mesh keeps under its state directory (created when missing, so a
 * later render gives the same Secrets), the manifests one file per part in
 * the order `kubectl apply -f <dir>` takes them, the Secrets in a file of
 * their own readable by their owner only.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { OWNER_ONLY_FILE, tokenFromFile } from '@model-mesh/contracts'
import { credentialFiles } from './credentials.ts'
import { renderKubernetes, type KubeObject, type MeshCredentials } from './kubernetes.ts'
import { telemetryPaths, type LoadedMesh } from './load.ts'
import { prepareNatsAuth } from './nats-auth.ts'
import { writeAtomic } from './state.ts'

/** The file each part of the mesh goes to, by its objects' component label; in the order they are applied. */
const FILES: [string, (o: KubeObject) => boolean][] = [
  ['00-namespace.yaml', (o) => o.kind === 'Namespace'],
  ['20-telemetry-agent.yaml', (o) => component(o) === 'telemetry-agent'],
  ['30-nats.yaml', (o) => component(o) === 'nats'],
  ['40-hosts.yaml', (o) => component(o) === 'model-host'],
  ['50-gateway.yaml', (o) => component(o) === 'gateway'],
  ['60-collectors.yaml', (o) => component(o) === 'telemetry-collector'],
  ['70-network-policies.yaml', (o) => component(o) === 'network-policy'],
  // The Prometheus Operator's and KEDA's objects: applying them needs their CRDs in the cluster.
  ['80-monitoring.yaml', (o) => component(o) === 'monitoring'],
  ['90-autoscaling.yaml', (o) => component(o) === 'autoscaling'],
]
export const SECRETS_FILE = '10-secrets.yaml'

const component = (o: KubeObject) => o.metadata.labels?.['app.kubernetes.io/component']

/** The mesh's credentials as its state directory holds them; each created there when missing. */
export async function meshCredentials(mesh: LoadedMesh): Promise<MeshCredentials> {
  const tokenFile = telemetryPaths(mesh).tokenFile
  // A token file mesh.yaml names is the operator's to provide, as the collector treats it.
  const named = mesh.config.telemetry.collector.dashboard.token_file !== undefined
  const operatorToken = await tokenFromFile(tokenFile, !named)
  if (operatorToken === undefined)
    throw new Error(`telemetry.collector.dashboard.token_file: ${tokenFile} does not exist (the operator token)`)
  const telemetryToken = (await tokenFromFile(credentialFiles(mesh.stateDir).telemetryToken, true))!
  const { credentials: nats } = await prepareNatsAuth(mesh.stateDir)
  return { operatorToken, telemetryToken, nats }
}

const documents = (objects: KubeObject[]) =>
  objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n')

/** Renders and writes the manifests to `out`; returns the files written. */
export async function writeKubernetes(mesh: LoadedMesh, out: string): Promise<string[]> {
  const rendered = renderKubernetes(mesh, await meshCredentials(mesh))
  await mkdir(out, { recursive: true })
  const written: string[] = []
  const write = async (file: string, text: string, mode?: number) => {
    await writeAtomic(join(out, file), text, mode)
    written.push(join(out, file))
  }
  await write(SECRETS_FILE, documents(rendered.secrets), OWNER_ONLY_FILE)
  for (const [file, has] of FILES) {
    const objects = rendered.objects.filter(has)
    if (objects.length > 0) await write(file, documents(objects))
  }
  const placed = new Set(FILES.flatMap(([, has]) => rendered.objects.filter(has)))
  const left = rendered.objects.filter((o) => !placed.has(o))
  if (left.length > 0) throw new Error(`no file for ${left.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`)
  return written.sort()
}
