/**
 * @module
 * Bearer credentials the mesh's components share: token files (one line,
 * mode 0600, created by the local mesh or the collector, never kept in
 * mesh.yaml) and the one check of an `Authorization: Bearer` header.
 * A file that exists is read as it is (an operator may provide their own);
 * one that others may read is refused: its token may already be known.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { chmodSync, mkdirSync } from 'node:fs'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

/** What a bearer token may hold (RFC 6750): a token with any other character could never be sent, so never match. */
const BEARER_TOKEN = /^[A-Za-z0-9._~+/-]+=*$/

/** Raised for a token file that exists but holds no usable token. */
export class CredentialError extends Error {
  override name = 'CredentialError'
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`)
  }
}

/** Modes of what holds secrets (tokens, keys, sampled payloads, logs that may show headers): the owner's only. */
export const OWNER_ONLY_FILE = 0o600
export const OWNER_ONLY_DIR = 0o700

/** Creates `dir` (and its parents) if missing, and leaves it open to its owner alone, whatever mode it had. */
export function ownerOnlyDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: OWNER_ONLY_DIR })
  chmodSync(dir, OWNER_ONLY_DIR)
}

/** Whether an Authorization header carries `token`, compared in constant time. */
export function bearerMatches(header: string | undefined, token: string | undefined): boolean {
  const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header)
  if (!token || !m) return false
  const given = Buffer.from(m[1]!)
  const want = Buffer.from(token)
  return given.length === want.length && timingSafeEqual(given, want)
}

/**
 * The token in `file`, which must exist, be readable by its owner alone (or
 * also by its group when that is this process's own group: a Kubernetes
 * Secret mounted for a pod's fsGroup is 0440) and hold one line of at least
 * 16 bearer-token characters.
 */
export async function readToken(file: string): Promise<string> {
  const st = await stat(file)
  const mode = st.mode & 0o777
  const ownGroup = process.getgid?.() === st.gid
  if ((mode & 0o037) !== 0 || ((mode & 0o040) !== 0 && !ownGroup)) {
    throw new CredentialError(
      file,
      `others may read it (mode ${mode.toString(8).padStart(4, '0')}), so its token may be known: remove the file to have a new token made, or put a new one in with mode 0600`,
    )
  }
  const token = (await readFile(file, 'utf8')).trim()
  if (token.length < 16) throw new CredentialError(file, 'the token must be at least 16 characters')
  if (!BEARER_TOKEN.test(token))
    throw new CredentialError(file, 'the token may hold only letters, digits and - . _ ~ + / (then = padding)')
  return token
}

/**
 * The token in `file`, created (random, 0600) when the file does not exist.
 *
 * @example await ensureToken(credentialFiles(mesh.stateDir).telemetryToken) // 'q3J…' (32 characters)
 */
export async function ensureToken(file: string): Promise<string> {
  await mkdir(dirname(file), { recursive: true })
  // wx: two processes starting at once do not overwrite each other's token.
  await writeFile(file, `${randomBytes(24).toString('base64url')}\n`, { mode: OWNER_ONLY_FILE, flag: 'wx' }).catch(
    (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e
    },
  )
  return readToken(file)
}

/** The token in `file`: with `create`, made when missing; without, undefined when missing. */
export async function tokenFromFile(file: string, create: boolean): Promise<string | undefined> {
  if (create) return ensureToken(file)
  return readToken(file).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined
    throw e
  })
}
