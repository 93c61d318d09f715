/**
 * @module
 * Runs a real nats-server with JetStream (Debian's package, installed by
 * scripts/setup.sh) on a free loopback port with its own store folder, for
 * tests and benchmarks; it can be paused (SIGSTOP), resumed, killed and
 * started again on the same port and store, as the fault tests need.
 * With `auth`, it runs as the local mesh does: with the mesh's users and
 * permissions (mesh-config/src/nats-auth.ts), whose credentials it hands out.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { natsReady, natsServerArgs, prepareNatsAuth, type NatsCredential, type NatsRole } from '@model-mesh/mesh-config'
import { freePorts } from './ports.ts'

export interface RunningNats {
  url: string
  port: number
  storeDir: string
  /** With `auth`: each identity's user and password (connect({ servers, ...credentials.agent })). */
  credentials?: Record<NatsRole, NatsCredential>
  /** SIGSTOP: the server keeps its sockets but answers nothing. */
  pause(): void
  resume(): void
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>
  /** Starts it again on the same port and store. */
  restart(): Promise<void>
  stop(): Promise<void>
}

export async function startNats(options: { auth?: boolean } = {}): Promise<RunningNats> {
  if (spawnSync('nats-server', ['--version']).error)
    throw new Error("nats-server is not installed: run `bash scripts/setup.sh` (it installs Debian's nats-server)")
  const [port] = await freePorts(1)
  const storeDir = await mkdtemp(join(tmpdir(), 'nats-'))
  // The credentials and config live beside the store, as in the local mesh's state directory.
  const auth = options.auth ? await prepareNatsAuth(join(storeDir, 'state')) : undefined
  let child: ChildProcess
  const launch = async () => {
    child = spawn(
      'nats-server',
      natsServerArgs({
        storeDir: join(storeDir, 'js'),
        host: '127.0.0.1',
        port: port!,
        name: `test-${port}`,
        configFile: auth?.configFile,
      }),
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let output = ''
    child.stderr!.on('data', (d) => (output += d))
    const deadline = Date.now() + 15_000
    while (!(await natsReady('127.0.0.1', port!))) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${output}`)
      if (Date.now() > deadline) throw new Error(`nats-server did not answer on port ${port} within 15 s: ${output}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const exit = () =>
    new Promise<void>((r) =>
      child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r()),
    )
  await launch()
  return {
    url: `nats://127.0.0.1:${port}`,
    port: port!,
    storeDir,
    credentials: auth?.credentials,
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async kill() {
      child.kill('SIGKILL')
      await exit()
    },
    restart: launch,
    async stop() {
      child.kill('SIGCONT')
      child.kill('SIGTERM')
      await exit()
      await rm(storeDir, { recursive: true, force: true })
    },
  }
}
