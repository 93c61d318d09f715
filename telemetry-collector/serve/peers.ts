/**
 * @module
 * Asking the other collectors, when several share the work: each holds the
 * models it consumes, so a question about the whole mesh is answered by
 * their parts together. A question passed on is marked, and a collector
 * answers a marked one from its own models only, never passing it on again.
 */

/** Marks a question one collector passed to another. */
export const FORWARDED_HEADER = 'x-mesh-collector-forwarded'

/** What the collector at `base` answers at `path` (with the caller's credential), or undefined when it does not in time. */
export async function fromPeer<T>(base: string, path: string, authorization?: string | null): Promise<T | undefined> {
  const res = await fetch(`${base}${path}`, {
    headers: { [FORWARDED_HEADER]: '1', ...(authorization ? { authorization } : {}) },
    signal: AbortSignal.timeout(2000),
  }).catch(() => undefined)
  if (res?.ok) return (await res.json()) as T
  await res?.body?.cancel()
  return undefined
}

/** Every answer the collectors at `bases` give at `path`, asked at once; those that do not answer are left out. */
export async function fromPeers<T>(
  bases: readonly string[],
  path: string,
  authorization?: string | null,
): Promise<T[]> {
  const answers = await Promise.all(bases.map((base) => fromPeer<T>(base, path, authorization)))
  return answers.filter((a) => a !== undefined)
}

/** Whether `headers` mark a question another collector passed on. */
export const isForwarded = (headers: Headers) => headers.has(FORWARDED_HEADER)
