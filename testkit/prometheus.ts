/**
 * @module
 * Debian's prometheus package for the tests (setup.sh --for-tests installs
 * it): promtool's checks, and a real Prometheus server of a test's own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { eventually } from './events.ts'
import { freePorts } from './ports.ts'

/** promtool with `args` (and `input` on stdin); its exit code and everything it printed. */
export function promtool(args: string[], input?: string): { code: number; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', input })
  if (r.error)
    throw new Error(
      `promtool is not installed (bash scripts/setup.sh --for-tests installs Debian's prometheus): ${r.error.message}`,
    )
  return { code: r.status ?? 1, output: r.stdout + r.stderr }
}

/** A Prometheus server of its own: a config file, a store in a temp folder, a free port. */
export async function startPrometheus(
  configFile: string,
  dataDir: string,
): Promise<{ url: string; stop(): Promise<void> }> {
  if (spawnSync('prometheus', ['--version']).error)
    throw new Error(
      "prometheus is not installed: Debian's prometheus package provides it (bash scripts/setup.sh --for-tests)",
    )
  const [port] = await freePorts(1)
  const url = `http://127.0.0.1:${port}`
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let output = ''
  child.stderr!.on('data', (d) => (output += d))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  }
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${output}`)
        return (await fetch(`${url}/-/ready`)).status
      },
      (s) => s === 200,
      20_000,
    )
  } catch (e) {
    await stop()
    throw new Error(`${(e as Error).message}\n${output}`)
  }
  return { url, stop }
}
