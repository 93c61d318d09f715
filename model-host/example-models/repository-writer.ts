/**
 * @module
 * Writes model versions in the layout the model host reads
 * (model-host/README.md): `<repo>/<model>/config.yaml` and
 * `<repo>/<model>/<version>/` with model.onnx, preprocessing.json,
 * baseline.json and manifest.json (sha256 of every file).
 */
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface VersionFiles {
  'model.onnx': Uint8Array
  'preprocessing.json': unknown
  'baseline.json': unknown
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`

export async function writeVersion(repo: string, model: string, version: string, files: VersionFiles): Promise<void> {
  const dir = join(repo, model, version)
  await mkdir(dir, { recursive: true })
  const contents: [string, Uint8Array | string][] = [
    ['baseline.json', json(files['baseline.json'])],
    ['model.onnx', files['model.onnx']],
    ['preprocessing.json', json(files['preprocessing.json'])],
  ]
  const digests: Record<string, string> = {}
  for (const [name, data] of contents) {
    await writeFile(join(dir, name), data)
    digests[name] = createHash('sha256').update(data).digest('hex')
  }
  await writeFile(join(dir, 'manifest.json'), json({ model, version, files: digests }))
}

export async function writeConfig(repo: string, model: string, yamlText: string): Promise<void> {
  await mkdir(join(repo, model), { recursive: true })
  await writeFile(join(repo, model, 'config.yaml'), yamlText)
}
