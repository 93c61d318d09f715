/**
 * @module
 * Bearer credentials the mesh's components share: token files (one line,
 * created by the local mesh or the collector with mode 0600, never kept in
 * mesh.yaml) and the one check of an `Authorization: Bearer` header.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

/** What a bearer token may hold (RFC 6750): a token with any other character could never be sent, so never match. */
const BEARER_TOKEN = /^[A-Za-z0-9._~+/-]+=*$/

/** Whether an Authorization header carries `token`, compared in constant time. */
export function bearerMatches(header: string | undefined, token: string | undefined): boolean {
  const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header)
  if (!token || !m) return false
  const given = Buffer.from(m[1]!)
  const want = Buffer.from(token)
  return given.length === want.length && timingSafeEqual(given, want)
}

/**
 * The token in `file`; with `create`, a new random one is written there
 * (mode 0600) when the file does not exist yet. Undefined when it does not
 * exist and `create` is off; an error naming the file when it is unusable.
 */
export async function tokenFromFile(file: string, create: boolean): Promise<string | undefined> {
  try {
    const token = (await readFile(file, 'utf8')).trim()
    if (token.length < 16) throw new Error(`${file}: the token must be at least 16 characters`)
    if (!BEARER_TOKEN.test(token)) throw new Error(`${file}: the token may hold only letters, digits and - . _ ~ + / (then = padding)`)
    return token
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    if (!create) return undefined
    const token = randomBytes(24).toString('base64url')
    await mkdir(dirname(file), { recursive: true })
    // wx: two processes starting at once do not overwrite each other's token.
    await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' }).catch(async (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    })
    return (await readFile(file, 'utf8')).trim()
  }
}
