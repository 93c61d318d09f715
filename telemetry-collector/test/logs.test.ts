/**
 * The agent's and the collector's logs, as their binaries write them: pino's
 * JSON lines on stderr, each with `time`, a numeric `level`, the process's
 * `component` and `msg`, an error as `err` with its message and stack;
 * LOG_LEVEL sets the threshold. stdout keeps the one `ready` line that
 * parent processes read.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '@model-mesh/mesh-config'
import { localMeshYaml, portsOf } from '@model-mesh/testkit/mesh-yaml'
import { startNats, type RunningNats } from '@model-mesh/testkit/nats'
import { freePorts } from '@model-mesh/testkit/ports'

const ROUTES = `  - name: credit-risk
    match: { model: credit-risk }
    model: credit-risk
    stable: { version: 1, hosts: [stable] }
`

interface LogLine {
  level: number
  time: number
  component: string
  msg: string
  [field: string]: unknown
}

/** pino's numeric levels. */
const INFO = 30
const WARN = 40

/**
 * Runs one of the binaries until `until` holds for its log lines (or it exits, or 20 s pass),
 * then stops it with SIGTERM; answers its stderr lines, parsed, and its stdout.
 */
async function runBinary(bin: string, args: string[], env: Record<string, string>, until: (lines: LogLine[]) => boolean): Promise<{ lines: LogLine[]; stdout: string }> {
  const child = spawn(process.execPath, [join(ROOT, bin), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const parsed = () => stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine)
  try {
    const deadline = Date.now() + 20_000
    while (!(stdout.includes('"ready"') && until(parsed()))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${bin} did not log what the test waits for:\n${stdout}\n${stderr}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  } finally {
    child.kill('SIGTERM')
    await exited
  }
  return { lines: parsed(), stdout }
}

describe('the agent and collector log through pino', () => {
  let nats: RunningNats
  let dir = ''
  let config = ''
  beforeAll(async () => {
    nats = await startNats()
    dir = await mkdtemp(join(tmpdir(), 'telemetry-logs-'))
    config = join(dir, 'mesh.yaml')
    await writeFile(config, localMeshYaml(portsOf(await freePorts(7)), ROUTES))
  })
  afterAll(async () => {
    await nats?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const shaped = (component: string) => (line: LogLine) => {
    expect(line).toMatchObject({ level: expect.any(Number), time: expect.any(Number), component, msg: expect.any(String) })
  }

  it('writes JSON lines with level, time, component and msg on stderr; the ready line stays on stdout', async () => {
    const collector = await runBinary('bin/telemetry-collector.mjs', ['--config', config, '--port', '0', '--nats', nats.url], {}, (lines) => lines.some((l) => l.msg.startsWith('consuming ')))
    collector.lines.forEach(shaped('telemetry-collector'))
    expect(collector.lines.filter((l) => l.level === INFO).map((l) => l.msg)).toEqual(expect.arrayContaining([expect.stringMatching(/^serving on /), expect.stringMatching(/^consuming /)]))
    expect(collector.lines.find((l) => l.msg.startsWith('consuming '))).toMatchObject({ nats: nats.url })
    expect(JSON.parse(collector.stdout.trim().split('\n')[0]!)).toMatchObject({ msg: 'ready', url: expect.stringMatching(/^http:/) })

    // The collector above created the streams the agent checks for.
    const agent = await runBinary('bin/telemetry-agent.mjs', ['--config', config, '--port', '0', '--nats', nats.url, '--spool-dir', join(dir, 'spool')], {}, (lines) => lines.some((l) => l.msg.startsWith('connected to NATS')))
    agent.lines.forEach(shaped('telemetry-agent'))
    expect(agent.lines.filter((l) => l.level === INFO).map((l) => l.msg)).toEqual(expect.arrayContaining([expect.stringMatching(/^listening on /), expect.stringMatching(/^connected to NATS/)]))
  }, 60_000)

  it('LOG_LEVEL=warn keeps the warnings, each error with its message and stack, and drops the info lines', async () => {
    // Nothing listens there: both warn that NATS is unreachable, and keep trying. Where they serve (the info lines above) goes unsaid.
    const [closed] = await freePorts(1)
    const deadNats = `nats://127.0.0.1:${closed}`
    const warned = (lines: LogLine[]) => lines.some((l) => l.msg.includes('NATS'))
    const collector = await runBinary('bin/telemetry-collector.mjs', ['--config', config, '--port', '0', '--nats', deadNats, '--store', join(dir, 'store-warn')], { LOG_LEVEL: 'warn' }, warned)
    const agent = await runBinary('bin/telemetry-agent.mjs', ['--config', config, '--port', '0', '--nats', deadNats, '--spool-dir', join(dir, 'spool-warn')], { LOG_LEVEL: 'warn' }, warned)
    for (const [component, { lines }] of [['telemetry-collector', collector], ['telemetry-agent', agent]] as const) {
      lines.forEach(shaped(component))
      expect(lines.filter((l) => l.level < WARN)).toEqual([])
      expect(lines.find((l) => l.msg.includes('NATS'))).toMatchObject({ level: WARN, nats: deadNats, err: { message: expect.any(String), stack: expect.any(String) } })
    }
  }, 60_000)
})
