/**
 * @module
 * Runs a real Envoy (the project-local one installed by scripts/setup.sh)
 * with a generated bootstrap on ephemeral loopback ports, waits until it is
 * ready, and stops it. For integration tests and benchmarks.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ENVOY_BIN, hcmListener } from '@model-mesh/mesh-config'

export { TELEMETRY_VM_ID } from '@model-mesh/contracts'
export { ENVOY_BIN, ROOT, staticCluster, wasmHttpFilter, wasmService } from '@model-mesh/mesh-config'

export interface RunningEnvoy {
  adminUrl: string
  /** Base URL of a listener, by name. */
  listenerUrl(name: string): string
  logs(): string
  child: ChildProcess
  stop(): Promise<void>
}

/** `envoy --version`, e.g. "1.40.0"; throws with a clear message when Envoy is not installed. */
export async function envoyVersion(): Promise<string> {
  if (!existsSync(ENVOY_BIN)) throw new Error(`Envoy is not installed at ${ENVOY_BIN}: run \`bash scripts/setup.sh\``)
  const { stdout } = await promisify(execFile)(ENVOY_BIN, ['--version'])
  return /\/(\d+\.\d+\.\d+)\//.exec(stdout)?.[1] ?? stdout.trim()
}

/**
 * Starts Envoy with `bootstrap` (admin and listeners may use port 0) and waits for /ready.
 * `env` adds to the inherited environment: what Wasm modules read through `host_env_keys`, such as the telemetry token.
 */
export async function startEnvoy(
  bootstrap: Record<string, unknown>,
  options: { concurrency?: number; env?: Record<string, string> } = {},
): Promise<RunningEnvoy> {
  const dir = await mkdtemp(join(tmpdir(), 'envoy-'))
  const configPath = join(dir, 'envoy.json')
  const adminPath = join(dir, 'admin-address')
  const config = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } }, ...bootstrap }
  await writeFile(configPath, JSON.stringify(config, null, 2))
  const child = spawn(
    ENVOY_BIN,
    [
      '-c',
      configPath,
      '--admin-address-path',
      adminPath,
      '--disable-hot-restart',
      '--concurrency',
      String(options.concurrency ?? 2),
      '--log-level',
      'warn',
      '--component-log-level',
      'wasm:info',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  )
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const cleanup = () => rm(dir, { recursive: true, force: true })

  const deadline = Date.now() + 30_000
  let adminUrl = ''
  for (;;) {
    if (child.exitCode !== null) {
      await cleanup()
      throw new EnvoyExitError(child.exitCode, output)
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      await cleanup()
      throw new Error(`Envoy was not ready within 30 s:\n${output}`)
    }
    if (!adminUrl && existsSync(adminPath)) adminUrl = `http://${(await readFile(adminPath, 'utf8')).trim()}`
    if (adminUrl) {
      const ready = await fetch(`${adminUrl}/ready`).then(
        (r) => r.status === 200,
        () => false,
      )
      if (ready) break
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const listeners = (await fetch(`${adminUrl}/listeners?format=json`).then((r) => r.json())) as {
    listener_statuses: { name: string; local_address: { socket_address: { address: string; port_value: number } } }[]
  }
  const ports = new Map(listeners.listener_statuses.map((l) => [l.name, l.local_address.socket_address.port_value]))
  return {
    adminUrl,
    child,
    logs: () => output,
    listenerUrl(name) {
      const port = ports.get(name)
      if (!port) throw new Error(`no listener "${name}" (have ${[...ports.keys()].join(', ')})`)
      return `http://127.0.0.1:${port}`
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
      await cleanup()
    },
  }
}

/** Envoy exited before it was ready (for example, a filter refused its configuration). */
export class EnvoyExitError extends Error {
  override name = 'EnvoyExitError'
  constructor(
    readonly code: number,
    readonly output: string,
  ) {
    super(`Envoy exited with code ${code} before it was ready:\n${output.slice(-4000)}`)
  }
}

/** A loopback HTTP listener on an ephemeral port (`extra`: more HttpConnectionManager fields, such as an access log). */
export function httpListener(
  name: string,
  routes: unknown[],
  httpFilters: unknown[],
  extra: Record<string, unknown> = {},
) {
  return hcmListener(name, '127.0.0.1', 0, { routes }, httpFilters, extra)
}

/** Prometheus text as { name, labels, value } samples. */
export function prometheusSamples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([^{ ]+)(?:\{([^}]*)\})? (\S+)$/.exec(l)!
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]))
      return { name: m[1]!, labels, value: Number(m[3]) }
    })
}

/** The value of an unlabelled Prometheus metric at Envoy's admin, 0 when absent. */
export async function promValue(envoy: RunningEnvoy, name: string): Promise<number> {
  const samples = prometheusSamples(await fetch(`${envoy.adminUrl}/stats/prometheus`).then((r) => r.text()))
  return samples.find((s) => s.name === name)?.value ?? 0
}
