/**
 * @module
 * Request headers, bodies and client disconnects, read from Node's own request
 * and response objects when the host runs on @hono/node-server. Going through
 * the web `Request` instead (its headers, body stream or signal) makes the
 * adapter build a full undici Request per call, which cost more than
 * everything else the host does for a small inference request.
 * Without Node bindings (e.g. `app.request()` in tests) the web API is used.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Context } from 'hono'
import type { ClientGone } from '../batcher.ts'
import { InferenceError } from '../errors.ts'

/** What @hono/node-server puts in `c.env`. */
interface NodeBindings {
  incoming?: IncomingMessage
  outgoing?: ServerResponse
}

const bindings = (c: Context): NodeBindings => (c.env ?? {}) as NodeBindings

/** A request header (lower-case name), from Node's parsed headers when available. */
export function header(c: Context, name: string): string | undefined {
  const incoming = bindings(c).incoming
  if (!incoming) return c.req.header(name)
  const v = incoming.headers[name]
  return Array.isArray(v) ? v.join(', ') : v
}

/** All request headers in Node's form (lower-case names), for trace context extraction. */
export function requestHeaders(c: Context): IncomingHttpHeaders {
  return bindings(c).incoming?.headers ?? Object.fromEntries(c.req.raw.headers)
}

/** Node's response object, when the host runs on @hono/node-server. */
export const nodeResponse = (c: Context): ServerResponse | undefined => bindings(c).outgoing

/** Reads the body, refusing with 413 once it exceeds `limit` bytes (before buffering the rest). */
export async function readBodyLimited(c: Context, limit: number, limitName: string): Promise<Uint8Array> {
  const declared = Number(header(c, 'content-length') ?? NaN)
  if (declared > limit) throw bodyTooLarge(limit, limitName)
  const incoming = bindings(c).incoming
  if (!incoming) {
    const body = new Uint8Array(await c.req.arrayBuffer())
    if (body.length > limit) throw bodyTooLarge(limit, limitName)
    return body
  }
  // Inline listeners, no named closures: this runs once per request.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    incoming.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= limit) return void chunks.push(chunk)
      incoming.removeAllListeners('data')
      incoming.resume() // discard the rest; the 413 goes out once it is read
      reject(bodyTooLarge(limit, limitName))
    })
    incoming.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)))
    incoming.once('error', (e) => reject(new InferenceError(`could not read the request body: ${e.message}`, 400)))
  })
}

function bodyTooLarge(limit: number, limitName: string): InferenceError {
  return new InferenceError(`request body exceeds ${limit} bytes (${limitName})`, 413)
}

/** Tells a queued request that its client went away (the response closed before it finished). */
export function clientGone(c: Context): ClientGone | undefined {
  const outgoing = bindings(c).outgoing
  return outgoing ? new ResponseWatch(outgoing) : undefined
}

// A class rather than closures: this runs once per request on the hot path.
class ResponseWatch implements ClientGone {
  constructor(readonly outgoing: ServerResponse) {}
  get gone(): boolean {
    return this.outgoing.destroyed && !this.outgoing.writableFinished
  }
  onGone(listener: () => void): void {
    this.outgoing.once('close', () => this.gone && listener())
  }
}
