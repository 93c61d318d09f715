/**
 * @module
 * What the agent lets in before it reads a byte of events: the node's
 * telemetry credential, and a budget for request bodies across every
 * connection (bodies at once, bytes held at once, how long one may take),
 * so that no number of local clients can make it hold more than the budget.
 */
import type { IncomingMessage } from 'node:http'

/** Why a body was not read to the end (`aborted`: the sender went away). */
export type BodyRefusal = 'body_too_large' | 'overloaded' | 'body_timeout' | 'aborted'

export type BodyResult = { ok: true; body: string } | { ok: false; reason: BodyRefusal }

export interface BodyLimits {
  /** Largest body, bytes. */
  maxBodyBytes: number
  /** Bodies being read at once, every connection together. */
  maxBodies: number
  /** Bytes of bodies held at once, every connection together. */
  maxBytes: number
  /** A body must have arrived whole this long after its headers. */
  timeoutMs: number
}

/**
 * Bodies being read and the bytes they hold, across connections. A body
 * takes a slot when it starts and its bytes as they arrive (its declared
 * length up front, when it has one, so a body that cannot fit is refused
 * before it is read); both are given back once the body is read or refused.
 * (The agent routes a body synchronously as soon as it has it, before any
 * other I/O, so no other body grows while it still holds the text.)
 */
export class BodyBudget {
  bodies = 0
  bytes = 0
  constructor(readonly limits: BodyLimits) {}

  /**
   * Reads `req`'s body within the budget: its text, or why not. On a refusal
   * the rest of the body is discarded (nothing more is kept) and, past the
   * deadline, the connection is destroyed, so a slow sender holds nothing
   * for long. The budget is given back when this settles, except for the
   * deadline timer, which stays until the request has ended or its
   * connection is gone.
   */
  read(req: IncomingMessage): Promise<BodyResult> {
    const { maxBodyBytes, maxBodies, maxBytes, timeoutMs } = this.limits
    const declared = Number(req.headers['content-length'] ?? 0)
    const slot = this.bodies < maxBodies
    if (slot) this.bodies++
    return new Promise((resolve) => {
      let held = 0
      let received = 0
      let settled = false
      const chunks: Buffer[] = []
      const settle = (result: BodyResult) => {
        if (settled) return
        settled = true
        chunks.length = 0
        this.bytes -= held
        if (slot) this.bodies--
        // Refused: what still comes is read and thrown away, until the deadline cuts it off.
        if (!result.ok) req.resume()
        resolve(result)
      }
      // Every body, refused or not, has arrived by the deadline or loses its connection.
      const deadline = setTimeout(() => {
        settle({ ok: false, reason: 'body_timeout' })
        req.socket.destroy()
      }, timeoutMs)
      req.once('end', () => clearTimeout(deadline))
      // A sender that goes away mid-body gives its share of the budget back at once.
      req.once('close', () => {
        clearTimeout(deadline)
        settle({ ok: false, reason: 'aborted' })
      })
      req.once('error', () => settle({ ok: false, reason: 'aborted' }))

      /** Holds `total` bytes for this body (never less than it holds), or settles with why not. */
      const hold = (total: number): boolean => {
        if (total <= held) return true
        if (total > maxBodyBytes) return (settle({ ok: false, reason: 'body_too_large' }), false)
        if (this.bytes + total - held > maxBytes) return (settle({ ok: false, reason: 'overloaded' }), false)
        this.bytes += total - held
        held = total
        return true
      }
      if (!slot) return settle({ ok: false, reason: 'overloaded' })
      // The declared length is taken up front: a body that cannot fit is refused before a byte of it is read.
      if (Number.isFinite(declared) && declared > 0 && !hold(declared)) return
      req.on('data', (c: Buffer) => {
        if (settled) return
        received += c.length
        if (hold(received)) chunks.push(c)
      })
      req.once('end', () => settle({ ok: true, body: Buffer.concat(chunks).toString('utf8') }))
    })
  }
}

/** Reads and throws away what is left of a refused request's body; past `timeoutMs` its connection is destroyed. */
export function discard(req: IncomingMessage, timeoutMs: number): void {
  const deadline = setTimeout(() => req.socket.destroy(), timeoutMs)
  const done = () => clearTimeout(deadline)
  req.once('end', done)
  req.once('close', done)
  req.resume()
}
