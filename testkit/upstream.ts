/**
 * @module
 * A loopback HTTP upstream for mesh tests: answers every request with its
 * own name and the request headers it saw, as JSON. A request may ask for a
 * status (`x-test-status`) and a delay (`x-test-delay-ms`).
 */
import { createServer, type Server } from 'node:http'

export interface Upstream {
  name: string
  port: number
  requests: number
  close(): Promise<void>
}

export async function startUpstream(name: string): Promise<Upstream> {
  const upstream = { name, port: 0, requests: 0, close: async () => {} }
  const server: Server = createServer((req, res) => {
    upstream.requests++
    req.resume()
    req.on('end', () => {
      const status = Number(req.headers['x-test-status'] ?? 200)
      const delay = Number(req.headers['x-test-delay-ms'] ?? 0)
      setTimeout(() => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-upstream': name })
        res.end(JSON.stringify({ upstream: name, headers: req.headers }))
      }, delay)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  upstream.port = (server.address() as { port: number }).port
  upstream.close = () => new Promise((r) => server.close(() => r()))
  return upstream
}
