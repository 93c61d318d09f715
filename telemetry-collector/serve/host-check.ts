/**
 * @module
 * The Host header check both of the collector's ports make, against DNS
 * rebinding: a page on evil.example whose name is pointed at 127.0.0.1
 * reaches this port with `Host: evil.example:4197`, and the browser lets
 * that page read the answers as its own site's. Only the names this server
 * is reached by pass: its listen address, the address the connection came
 * in on, localhost, 127.0.0.1 and [::1], each with the port the connection
 * came in on.
 */
import type { HttpBindings } from '@hono/node-server'
import { isIPv6 } from 'node:net'
import type { Context, MiddlewareHandler } from 'hono'

/** A Host header: a name, an IPv4 address or a bracketed IPv6 address, then an optional port. */
const HOST = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i

/** `address` as it appears in a Host header (IPv6 in brackets; an IPv4-mapped one as plain IPv4), lower case. */
export function hostName(address: string): string {
  const plain = address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1').toLowerCase()
  return isIPv6(plain) ? `[${plain}]` : plain
}

/**
 * Whether `host` (a Host header) names this server: one of `names` with
 * `port` (port 80 may be left out, as clients do).
 *
 * @example
 * hostAllowed('localhost:4197', ['localhost', '127.0.0.1'], 4197) // true
 * hostAllowed('evil.example:4197', ['localhost', '127.0.0.1'], 4197) // false
 */
export function hostAllowed(host: string, names: readonly string[], port: number): boolean {
  const m = HOST.exec(host.trim())
  if (!m) return false
  const given = Number(m[2] ?? 80)
  return given === port && names.includes(m[1]!.toLowerCase())
}

/**
 * Refuses (421) a request whose Host is not a name of this server. `address`
 * is the listen address; the port is the connection's own (a server on
 * port 0 learns its port only once listening).
 */
export function hostCheck(address: string, names: readonly string[] = []): MiddlewareHandler {
  // The listen address even when it is 0.0.0.0: the CLI and Prometheus call it by what mesh.yaml says, and an
  // address is not a name someone else's DNS can point here. `names`: the ones it is known by besides (on
  // Kubernetes, its Services' DNS names), each given by whoever deploys it.
  const fixed = ['localhost', '127.0.0.1', '[::1]', hostName(address), ...names.map((n) => n.toLowerCase())]
  return async (c, next) => {
    const socket = (c.env as Partial<HttpBindings> | undefined)?.incoming?.socket
    const host = c.req.header('host')
    const names = socket?.localAddress ? [...fixed, hostName(socket.localAddress)] : fixed
    // Not served over a socket (no port to compare with): refused rather than unchecked.
    if (host !== undefined && socket?.localPort !== undefined && hostAllowed(host, names, socket.localPort))
      return next()
    return refuse(c, host, [...new Set(names)], socket?.localPort)
  }
}

/** The 421 answer, naming what the server does answer to. */
function refuse(c: Context, host: string | undefined, names: string[], port: number | undefined): Response {
  const expected = port === undefined ? names.join(', ') : names.map((n) => `${n}:${port}`).join(', ')
  const error =
    host === undefined
      ? 'host: required (the Host header)'
      : `host: ${JSON.stringify(host.slice(0, 200))} is not a name this server answers to (${expected})`
  return c.json({ error: `${error}; a page served from another name cannot read this server` }, 421)
}
