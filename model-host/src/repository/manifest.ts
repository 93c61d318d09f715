/**
 * @module
 * Version immutability: every file of a version is listed with its sha256 in
 * `manifest.json`, and a version whose bytes differ is refused.
 */
import { createHash } from 'node:crypto'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { IntegrityError } from '../errors.ts'

export const MANIFEST_FILE = 'manifest.json'

const manifestSchema = z.object({
  model: z.string(),
  version: z.string(),
  files: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 hex digest')),
})
export type Manifest = z.output<typeof manifestSchema>

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * Reads and checks a version folder against its manifest. Every file in the
 * folder must be listed and match; `model.onnx` must be among them.
 * Returns the model bytes so the caller loads exactly what was verified.
 */
export async function verifyVersion(
  dir: string,
  model: string,
  version: string,
): Promise<{ manifest: Manifest; modelBytes: Uint8Array }> {
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'))
  } catch (e) {
    throw new IntegrityError(dir, `unreadable ${MANIFEST_FILE}: ${(e as Error).message}`)
  }
  const parsed = manifestSchema.safeParse(raw)
  if (!parsed.success) throw new IntegrityError(dir, `invalid ${MANIFEST_FILE}: ${parsed.error.issues[0]!.message}`)
  const manifest = parsed.data
  if (manifest.model !== model || manifest.version !== version) {
    throw new IntegrityError(
      dir,
      `${MANIFEST_FILE} names ${manifest.model}/${manifest.version}, expected ${model}/${version}`,
    )
  }
  if (!('model.onnx' in manifest.files)) throw new IntegrityError(dir, `${MANIFEST_FILE} does not list model.onnx`)

  const present = (await readdir(dir)).filter((f) => f !== MANIFEST_FILE).sort()
  const unlisted = present.filter((f) => !(f in manifest.files))
  if (unlisted.length) throw new IntegrityError(dir, `files not in ${MANIFEST_FILE}: ${unlisted.join(', ')}`)

  let modelBytes: Uint8Array | undefined
  for (const [file, expected] of Object.entries(manifest.files)) {
    let bytes: Uint8Array
    try {
      bytes = await readFile(join(dir, file))
    } catch {
      throw new IntegrityError(dir, `${file} is listed in ${MANIFEST_FILE} but missing`)
    }
    const actual = sha256(bytes)
    if (actual !== expected) {
      throw new IntegrityError(
        dir,
        `${file} has sha256 ${actual}, manifest says ${expected}: versions are immutable, publish a new version instead`,
      )
    }
    if (file === 'model.onnx') modelBytes = bytes
  }
  return { manifest, modelBytes: modelBytes! }
}
