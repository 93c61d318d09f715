/**
 * The agent's and the collector's logs, as their binaries write them: pino's
 * JSON lines on stderr, each with `time`, a numeric `level`, the process's
 * `component` and `msg`, an error as `err` with its message and stack;
 * LOG_LEVEL sets the threshold. stdout keeps the one `ready` line that
 * parent processes read. And the agent's settings file, as mesh-config
 * renders it and as the agent refuses a bad one.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAgentSettings } from '@model-mesh/contracts'
import { requireMesh, ROOT, writeAgentSettings } from '@model-mesh/mesh-config'
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
async function runBinary(
  bin: string,
  args: string[],
  env: Record<string, string>,
  until: (lines: LogLine[]) => boolean,
): Promise<{ lines: LogLine[]; stdout: string }> {
  const child = spawn(process.execPath, [join(ROOT, bin), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const parsed = () =>
    stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine)
  try {
    const deadline = Date.now() + 20_000
    while (!(stdout.includes('"ready"') && until(parsed()))) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`${bin} did not log what the test waits for:\n${stdout}\n${stderr}`)
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
  let settings = ''
  beforeAll(async () => {
    nats = await startNats()
    dir = await mkdtemp(join(tmpdir(), 'telemetry-logs-'))
    config = join(dir, 'mesh.yaml')
    await writeFile(config, localMeshYaml(portsOf(await freePorts(7)), ROUTES))
    // What the local mesh does before it starts the agent: its settings, from mesh.yaml.
    settings = await writeAgentSettings(await requireMesh(config))
  })
  afterAll(async () => {
    await nats?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const shaped = (component: string) => (line: LogLine) => {
    expect(line).toMatchObject({
      level: expect.any(Number),
      time: expect.any(Number),
      component,
      msg: expect.any(String),
    })
  }

  it('writes JSON lines with level, time, component and msg on stderr; the ready line stays on stdout', async () => {
    const collector = await runBinary(
      'bin/telemetry-collector.mjs',
      ['--config', config, '--port', '0', '--nats', nats.url],
      {},
      (lines) => lines.some((l) => l.msg.startsWith('consuming ')),
    )
    collector.lines.forEach(shaped('telemetry-collector'))
    expect(collector.lines.filter((l) => l.level === INFO).map((l) => l.msg)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^serving on /), expect.stringMatching(/^consuming /)]),
    )
    expect(collector.lines.find((l) => l.msg.startsWith('consuming '))).toMatchObject({ nats: nats.url })
    expect(JSON.parse(collector.stdout.trim().split('\n')[0]!)).toMatchObject({
      msg: 'ready',
      url: expect.stringMatching(/^http:/),
    })

    // The collector above created the streams the agent checks for.
    const agent = await runBinary(
      'bin/telemetry-agent.mjs',
      ['--settings', settings, '--port', '0', '--nats', nats.url, '--spool-dir', join(dir, 'spool')],
      {},
      (lines) => lines.some((l) => l.msg.startsWith('connected to NATS')),
    )
    agent.lines.forEach(shaped('telemetry-agent'))
    expect(agent.lines.filter((l) => l.level === INFO).map((l) => l.msg)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^listening on /), expect.stringMatching(/^connected to NATS/)]),
    )
  }, 60_000)

  it('LOG_LEVEL=warn keeps the warnings, each error with its message and stack, and drops the info lines', async () => {
    // Nothing listens there: both warn that NATS is unreachable, and keep trying. Where they serve (the info lines above) goes unsaid.
    const [closed] = await freePorts(1)
    const deadNats = `nats://127.0.0.1:${closed}`
    const warned = (lines: LogLine[]) => lines.some((l) => l.msg.includes('NATS'))
    const collector = await runBinary(
      'bin/telemetry-collector.mjs',
      ['--config', config, '--port', '0', '--nats', deadNats, '--store', join(dir, 'store-warn')],
      { LOG_LEVEL: 'warn' },
      warned,
    )
    const agent = await runBinary(
      'bin/telemetry-agent.mjs',
      ['--settings', settings, '--port', '0', '--nats', deadNats, '--spool-dir', join(dir, 'spool-warn')],
      { LOG_LEVEL: 'warn' },
      warned,
    )
    for (const [component, { lines }] of [
      ['telemetry-collector', collector],
      ['telemetry-agent', agent],
    ] as const) {
      lines.forEach(shaped(component))
      expect(lines.filter((l) => l.level < WARN)).toEqual([])
      expect(lines.find((l) => l.msg.includes('NATS'))).toMatchObject({
        level: WARN,
        nats: deadNats,
        err: { message: expect.any(String), stack: expect.any(String) },
      })
    }
  }, 60_000)

  it('the agent reads only its settings file: one that is not valid stops it, naming the file and each field', async () => {
    const rendered = JSON.parse(await readFile(settings, 'utf8'))
    // What mesh-config renders is what the agent's schema takes, secrets only by file.
    expect(parseAgentSettings(JSON.stringify(rendered))).toMatchObject({ ok: true })
    expect(JSON.stringify(rendered)).not.toMatch(/"pass(word)?"\s*:/)
    const bad = join(dir, 'bad-agent.json')
    await writeFile(
      bad,
      JSON.stringify({ ...rendered, port: 70_000, review_thresholds: { 'credit-risk': 2 }, extra: true }),
    )
    const run = spawnSync(process.execPath, [join(ROOT, 'bin/telemetry-agent.mjs'), '--settings', bad], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(run.status).toBe(1)
    const fatal = run.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine)
      .find((l) => l.msg === 'could not start')
    expect(fatal?.err).toMatchObject({ message: expect.stringContaining(bad) })
    const message = String((fatal!.err as { message: string }).message)
    for (const field of ['port', 'review_thresholds.credit-risk', 'extra']) expect(message).toContain(field)
    const none = spawnSync(process.execPath, [join(ROOT, 'bin/telemetry-agent.mjs')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect({ status: none.status, stderr: none.stderr }).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('--settings is required'),
    })
  }, 60_000)
})
