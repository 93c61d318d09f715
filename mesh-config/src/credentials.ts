/**
 * @module
 * The node's credentials, each a random secret in a file of its own under
 * the state directory (mode 0600), created by the first of setup or start
 * that needs it and never written to mesh.yaml:
 *
 *   telemetry-token        what Envoy's exporter and the model hosts show the telemetry agent
 *
 * A file that exists is read as it is (an operator may provide their own);
 * one that others may read is narrowed to 0600 first.
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/** Characters a bearer token may hold (RFC 6750); a secret with others could not be sent. */
const TOKEN = /^[A-Za-z0-9._~+/-]+=*$/

export const credentialFiles = (stateDir: string) => ({
  telemetryToken: join(stateDir, 'telemetry-token'),
})

/** Raised for a credential file that exists but holds no usable secret. */
export class CredentialError extends Error {
  override name = 'CredentialError'
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`)
  }
}

/**
 * The secret in `file`, created (random, 0600) when the file does not exist.
 *
 * @example await ensureSecret(credentialFiles(mesh.stateDir).telemetryToken) // 'q3J…' (32 characters)
 */
export async function ensureSecret(file: string): Promise<string> {
  await mkdir(dirname(file), { recursive: true })
  // wx: two processes starting at once do not overwrite each other's secret.
  await writeFile(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e
  })
  return readSecret(file)
}

/** The secret in `file` (which must exist): one line, at least 16 bearer-token characters. */
export async function readSecret(file: string): Promise<string> {
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600)
  const secret = (await readFile(file, 'utf8')).trim()
  if (secret.length < 16) throw new CredentialError(file, 'the secret must be at least 16 characters')
  if (!TOKEN.test(secret)) throw new CredentialError(file, 'the secret may hold only letters, digits and - . _ ~ + / (then = padding)')
  return secret
}
