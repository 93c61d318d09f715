/**
 * @module
 * Asking the other collectors, when several share the work: each holds the
 * models it consumes, so a question about the whole mesh is answered by
 * their parts together. A question passed on is marked, and a collector
 * answers a marked one from its own models only, never passing it on again.
 */

/** Marks a question one collector passed to another. */
export const FORWARDED_HEADER = 'x-mesh-collector-forwarded'

/** How a question is passed on: a JSON body makes it a POST; the wait is 2 s unless said. */
export interface PeerQuestion {
  body?: unknown
  timeoutMs?: number
}

/** What the collector at `base` answers at `path` (with the caller's credential), or undefined when it does not in time. */
export async function fromPeer<T>(
  base: string,
  path: string,
  authorization?: string | null,
  question: PeerQuestion = {},
): Promise<T | undefined> {
  const posting = question.body !== undefined
  const res = await fetch(`${base}${path}`, {
    method: posting ? 'POST' : 'GET',
    headers: {
      [FORWARDED_HEADER]: '1',
      ...(authorization ? { authorization } : {}),
      ...(posting ? { 'content-type': 'application/json' } : {}),
    },
    ...(posting ? { body: JSON.stringify(question.body) } : {}),
    signal: AbortSignal.timeout(question.timeoutMs ?? 2000),
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
  question: PeerQuestion = {},
): Promise<T[]> {
  const answers = await Promise.all(bases.map((base) => fromPeer<T>(base, path, authorization, question)))
  return answers.filter((a) => a !== undefined)
}

/**
 * The parts' items together, each (by `key`) once: from the first part that
 * has it. Parts are disjoint but for a model changing hands, when the old
 * and the new consumer may both hold an item for a moment.
 */
export function unionBy<T>(parts: readonly (readonly T[])[], key: (item: T) => string): T[] {
  const seen = new Set<string>()
  return parts.flat().filter((item) => !seen.has(key(item)) && seen.add(key(item)) !== undefined)
}

/** Whether `headers` mark a question another collector passed on. */
export const isForwarded = (headers: Headers) => headers.has(FORWARDED_HEADER)
