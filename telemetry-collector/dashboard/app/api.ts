/**
 * The page's calls to the collector. Reads need nothing; writes carry the
 * operator token the person typed in (kept for this tab only).
 */
const TOKEN_KEY = 'mesh-operator-token'

export const token = {
  get: (): string => sessionStorage.getItem(TOKEN_KEY) ?? '',
  set: (t: string) => (t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY)),
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  const t = token.get()
  if (t) headers.authorization = `Bearer ${t}`
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const answer = await res.json().catch(() => ({}))
  if (!res.ok) throw new ApiError(res.status, (answer as { error?: string }).error ?? `${res.status} ${res.statusText}`)
  return answer as T
}

export const get = <T>(path: string) => call<T>('GET', path)
export const post = <T>(path: string, body: unknown) => call<T>('POST', path, body)
