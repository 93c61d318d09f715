/**
 * @module
 * Reads a request body up to a byte limit, refusing larger ones without
 * buffering them.
 */
import { InferenceError } from '../errors.ts'

export async function readBodyLimited(req: Request, limit: number, limitName: string): Promise<Uint8Array> {
  const declared = Number(req.headers.get('content-length') ?? NaN)
  const tooLarge = () => new InferenceError(`request body exceeds ${limit} bytes (${limitName})`, 413)
  if (declared > limit) throw tooLarge()
  if (!req.body) return new Uint8Array(0)
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = req.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw tooLarge()
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0]!
  const body = new Uint8Array(size)
  let offset = 0
  for (const c of chunks) {
    body.set(c, offset)
    offset += c.length
  }
  return body
}
