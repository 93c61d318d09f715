/**
 * @module
 * Free loopback ports for tests whose processes need their ports up front
 * (Envoy clusters name their hosts' ports). Ports come from below the
 * kernel's ephemeral range, so nothing the kernel hands out (a `listen(0)`,
 * the local end of an outgoing connection) can take one between the test
 * choosing it and its process binding it; each vitest worker takes its own
 * slice of that range, in turn, so two workers never choose the same port.
 * Each port is bound, noted and released; all are held at once so one call
 * never returns a port twice.
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'

/** The first port the kernel hands out on its own (Linux: net.ipv4.ip_local_port_range). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 12_000 ? low : 32_768
  } catch {
    return 32_768
  }
}

const FIRST = 10_000
/** Slices of [FIRST, ephemeral low): one per vitest worker (VITEST_POOL_ID counts from 1). */
const SLICES = 8
const SLICE = Math.floor((ephemeralLow() - FIRST) / SLICES)
const slice = (Number(process.env.VITEST_POOL_ID ?? 1) - 1) % SLICES
const sliceStart = FIRST + slice * SLICE
/** Where this worker looks next: ports go round its slice, from a random start, so a port comes back only after the rest. */
let cursor = Math.floor(Math.random() * SLICE)

function nextCandidate(): number {
  const port = sliceStart + (cursor % SLICE)
  cursor++
  return port
}

function bind(port: number): Promise<Server | undefined> {
  const server = createServer()
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined))
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

/** Binds the `count` ports from `first` on, or none when one of them is taken. */
async function holdRun(first: number, count: number): Promise<Server[] | undefined> {
  const held: Server[] = []
  for (let i = 0; i < count; i++) {
    const s = await bind(first + i)
    if (!s) {
      await release(held)
      return undefined
    }
    held.push(s)
  }
  return held
}

const release = (servers: Server[]) => Promise.all(servers.map((s) => new Promise((r) => s.close(r))))

export async function freePorts(count: number): Promise<number[]> {
  const held: Server[] = []
  try {
    for (let tries = 0; held.length < count; tries++) {
      if (tries > SLICE) throw new Error(`no ${count} free ports in ${sliceStart}-${sliceStart + SLICE - 1}`)
      const s = await bind(nextCandidate())
      if (s) held.push(s)
    }
    return held.map((s) => (s.address() as { port: number }).port)
  } finally {
    await release(held)
  }
}

/** `count` consecutive free ports (for a host with several instances), as the first one. */
export async function freeConsecutivePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (cursor % SLICE > SLICE - count) cursor += SLICE - (cursor % SLICE)
    const first = nextCandidate()
    cursor += count - 1
    const held = await holdRun(first, count)
    if (held) {
      await release(held)
      return first
    }
  }
  throw new Error(`no ${count} consecutive free ports found`)
}
