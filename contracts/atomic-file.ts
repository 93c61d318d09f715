/**
 * @module
 * Files replaced whole: written beside, then renamed, so Envoy and every
 * other reader sees the old file or the new one, never a mix. mesh-config
 * writes its state and rendered files this way, and so does each node's
 * telemetry agent when it materialises its Envoy's configuration.
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

let tmpSeq = 0

/**
 * Write beside, then rename. Without `mode`, the new file keeps the mode of
 * the one it replaces (mesh.yaml holds API keys: 0600 stays 0600).
 */
export async function writeAtomic(file: string, contents: string, mode?: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  mode ??= await stat(file).then(
    (s) => s.mode & 0o777,
    () => undefined,
  )
  // Unique per write, even two in one millisecond of one process.
  const tmp = `${file}.${process.pid}.${Date.now()}.${++tmpSeq}.tmp`
  try {
    await writeFile(tmp, contents, mode === undefined ? undefined : { mode })
    await rename(tmp, file)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}

export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
}
