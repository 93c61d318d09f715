/**
 * @module
 * Spawns a real model host process (the `model-host` bin) on a free loopback
 * port and stops it; for integration tests and benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const EXAMPLE_MODELS = join(ROOT, 'models')

export interface HostProcess {
  url: string
  child: ChildProcess
  /** Every log line the host printed so far. */
  logs: string[]
  stop(): Promise<void>
}

export async function spawnHost(
  models: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<HostProcess> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin/model-host.mjs'), '--models', models, '--port', '0', ...args],
    {
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const logs: string[] = []
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`host did not start in 60 s\n${logs.join('\n')}\n${stderr}`)),
      60_000,
    )
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line)
      if (line.includes('"msg":"ready"')) {
        clearTimeout(timer)
        resolve(JSON.parse(line).url)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`host exited (${code}) before it was ready\n${logs.join('\n')}\n${stderr}`))
    })
  })
  return {
    url,
    child,
    logs,
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    },
  }
}

/** A private copy of (some of) the example repository, to change freely. */
export async function copyRepository(models: string[]): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'model-repo-'))
  for (const m of models) await cp(join(EXAMPLE_MODELS, m), join(dir, m), { recursive: true })
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** Edits a model's config.yaml in a repository. */
export async function editConfig(repo: string, model: string, edit: (c: Record<string, any>) => void): Promise<void> {
  const file = join(repo, model, 'config.yaml')
  const config = parse(await readFile(file, 'utf8'))
  edit(config)
  await writeFile(file, stringify(config))
}

/** Publishes a copy of a version under a new number (its manifest names the new version). */
export async function cloneVersion(repo: string, model: string, from: string, to: string): Promise<void> {
  const dst = join(repo, model, to)
  await cp(join(repo, model, from), dst, { recursive: true })
  const manifestFile = join(dst, 'manifest.json')
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8'))
  manifest.version = to
  await writeFile(manifestFile, JSON.stringify(manifest, null, 2))
}
