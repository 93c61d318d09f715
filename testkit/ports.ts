/**
 * @module
 * Free loopback ports for tests whose processes need their ports up front
 * (Envoy clusters name their hosts' ports). Each port is bound, noted and
 * released; all are held at once so one call never returns a port twice.
 */
import { createServer, type Server } from 'node:net'

export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer()
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
      servers.push(server)
    }
    return servers.map((s) => (s.address() as { port: number }).port)
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  }
}

/** `count` consecutive free ports (for a host with several instances), as the first one. */
export async function freeConsecutivePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const [base] = await freePorts(1)
    const servers: Server[] = []
    try {
      for (let i = 0; i < count; i++) {
        const server = createServer()
        await new Promise<void>((resolve, reject) =>
          server.once('error', reject).listen(base! + i, '127.0.0.1', resolve),
        )
        servers.push(server)
      }
      return base!
    } catch {
      // One of the ports is taken: try another base.
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
    }
  }
  throw new Error(`no ${count} consecutive free ports found`)
}
