/**
 * The Prometheus scrape config mesh.yaml gives, checked by the real
 * promtool (Debian's prometheus package): `promtool check config` accepts
 * it with the rules file `mesh prometheus --out` writes beside it. That a
 * real Prometheus scrapes every target of it from the running local mesh is
 * telemetry-collector/test/grafana.test.ts.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { alertRulesText } from '../src/alert-rules.ts'
import { run } from '../src/cli.ts'
import { requireMesh } from '../src/load.ts'
import { ROOT } from '../src/local-mesh.ts'
import { promtool } from '@model-mesh/testkit/prometheus'
import { prometheusConfig, PROMETHEUS_JOBS, PrometheusConfigError } from '../src/prometheus-config.ts'

interface ScrapeConfig {
  global: { scrape_interval: string; evaluation_interval: string }
  rule_files: string[]
  scrape_configs: {
    job_name: string
    metrics_path?: string
    static_configs: { targets: string[]; labels?: Record<string, string> }[]
  }[]
}

const quiet = { out: () => {}, err: () => {} }

describe('Prometheus scrape config from mesh.yaml', async () => {
  const meshFile = join(ROOT, 'mesh.yaml')
  const mesh = await requireMesh(meshFile)
  let dir: string
  beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'prometheus-config-'))))
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const jobs = (config: ScrapeConfig) => Object.fromEntries(config.scrape_configs.map((j) => [j.job_name, j]))

  it("scrapes Envoy's admin, the agent, the collector and every host instance, with the rules file", () => {
    const config = parse(prometheusConfig(mesh.config, { rulesFile: 'rules.yml' })) as ScrapeConfig
    expect(config.global).toEqual({ scrape_interval: '15s', evaluation_interval: '15s' })
    expect(config.rule_files).toEqual(['rules.yml'])
    const j = jobs(config)
    expect(Object.keys(j)).toEqual(Object.values(PROMETHEUS_JOBS))
    expect(j[PROMETHEUS_JOBS.envoy]).toEqual({
      job_name: 'mesh-envoy',
      metrics_path: '/stats/prometheus',
      static_configs: [{ targets: ['127.0.0.1:9901'], labels: { service: 'gateway' } }],
    })
    expect(j[PROMETHEUS_JOBS.agent]!.static_configs).toEqual([{ targets: ['127.0.0.1:4195'] }])
    expect(j[PROMETHEUS_JOBS.collector]!.static_configs).toEqual([{ targets: ['127.0.0.1:4196'] }])
    expect(j[PROMETHEUS_JOBS.hosts]!.static_configs).toEqual([
      { targets: ['127.0.0.1:8001'], labels: { host: 'stable', role: 'primary' } },
      { targets: ['127.0.0.1:8002'], labels: { host: 'canary', role: 'primary' } },
      { targets: ['127.0.0.1:8003'], labels: { host: 'fallback', role: 'fallback' } },
    ])
  })

  it('scrapes every node of a mesh of several: each Envoy, agent, collector and host instance, labelled by node', () => {
    const nodes = [
      { name: 'n1', address: '10.77.0.10', hosts: ['stable', 'fallback'], collector: true },
      { name: 'n2', address: '10.77.0.11', hosts: ['stable', 'canary'], collector: true },
      { name: 'n3', address: '10.77.0.12', hosts: ['canary'], collector: false },
    ]
    const text = prometheusConfig(mesh.config, { rulesFile: 'rules.yml', nodes })
    const j = jobs(parse(text) as ScrapeConfig)
    expect(j[PROMETHEUS_JOBS.envoy]!.static_configs.map((c) => c.targets[0])).toEqual([
      '10.77.0.10:9901',
      '10.77.0.11:9901',
      '10.77.0.12:9901',
    ])
    expect(j[PROMETHEUS_JOBS.agent]!.static_configs.map((c) => [c.targets[0], c.labels?.node])).toEqual([
      ['10.77.0.10:4195', 'n1'],
      ['10.77.0.11:4195', 'n2'],
      ['10.77.0.12:4195', 'n3'],
    ])
    // Each collector exports the models it consumes now: together, the whole mesh.
    expect(j[PROMETHEUS_JOBS.collector]!.static_configs).toEqual([
      { targets: ['10.77.0.10:4196'], labels: { node: 'n1' } },
      { targets: ['10.77.0.11:4196'], labels: { node: 'n2' } },
    ])
    expect(j[PROMETHEUS_JOBS.hosts]!.static_configs).toEqual([
      { targets: ['10.77.0.10:8001'], labels: { host: 'n1-stable', role: 'primary', node: 'n1' } },
      { targets: ['10.77.0.10:8003'], labels: { host: 'n1-fallback', role: 'fallback', node: 'n1' } },
      { targets: ['10.77.0.11:8001'], labels: { host: 'n2-stable', role: 'primary', node: 'n2' } },
      { targets: ['10.77.0.11:8002'], labels: { host: 'n2-canary', role: 'primary', node: 'n2' } },
      { targets: ['10.77.0.12:8002'], labels: { host: 'n3-canary', role: 'primary', node: 'n3' } },
    ])
    const file = join(dir, 'nodes-prometheus.yml')
    return writeFile(file, text).then(async () => {
      await writeFile(join(dir, 'rules.yml'), alertRulesText(mesh.config))
      const check = promtool(['check', 'config', file])
      expect(check.output).toContain('SUCCESS')
      expect(check.code).toBe(0)
    })
  })

  it('names each instance of a host as the host names itself in telemetry, and brackets IPv6 addresses', () => {
    const stable = { ...mesh.config.hosts[0]!, address: '::1', instances: 2 }
    const telemetry = {
      ...mesh.config.telemetry,
      collector: { ...mesh.config.telemetry.collector, address: '10.0.0.7' },
    }
    const config = parse(
      prometheusConfig(
        { ...mesh.config, hosts: [stable], telemetry },
        { rulesFile: '/etc/prometheus/mesh-rules.yml', interval: '1s' },
      ),
    ) as ScrapeConfig
    expect(config.global.scrape_interval).toBe('1s')
    expect(config.rule_files).toEqual(['/etc/prometheus/mesh-rules.yml'])
    expect(jobs(config)[PROMETHEUS_JOBS.collector]!.static_configs).toEqual([{ targets: ['10.0.0.7:4196'] }])
    expect(jobs(config)[PROMETHEUS_JOBS.hosts]!.static_configs).toEqual([
      { targets: ['[::1]:8001'], labels: { host: 'stable-1', role: 'primary' } },
      { targets: ['[::1]:8002'], labels: { host: 'stable-2', role: 'primary' } },
    ])
  })

  it('refuses an admin port of 0: Envoy picks another at every start', async () => {
    const config = { ...mesh.config, gateway: { ...mesh.config.gateway, admin_port: 0 } }
    expect(() => prometheusConfig(config, { rulesFile: 'rules.yml' })).toThrow(PrometheusConfigError)
    expect(() => prometheusConfig(config, { rulesFile: 'rules.yml' })).toThrow(/gateway\.admin_port is 0/)
  })

  it('mesh prometheus --out writes the config and its rules file beside it, and promtool check config passes', async () => {
    const file = join(dir, 'prometheus.yml')
    const out: string[] = []
    expect(await run(['prometheus', meshFile, '--out', file], { out: (t) => void out.push(t), err: () => {} })).toBe(0)
    expect(out.join('')).toContain('npx mesh rules --out')
    expect(await readFile(file, 'utf8')).toBe(prometheusConfig(mesh.config, { rulesFile: 'mesh-rules.yml' }))
    expect(await readFile(join(dir, 'mesh-rules.yml'), 'utf8')).toBe(alertRulesText(mesh.config))
    const checked = promtool(['check', 'config', file])
    expect(checked.output).toContain('SUCCESS: 1 rule files found')
    expect(checked.output).toMatch(/SUCCESS: \d+ rules found/)
    expect(checked.code).toBe(0)
  })

  it('--rules names another rules file; without --out the config is printed and stderr says how to get the rules', async () => {
    const file = join(dir, 'p.yml')
    expect(await run(['prometheus', meshFile, '--out', file, '--rules', 'slo-rules.yml'], quiet)).toBe(0)
    expect(parse(await readFile(file, 'utf8')).rule_files).toEqual(['slo-rules.yml'])
    expect(await readFile(join(dir, 'slo-rules.yml'), 'utf8')).toBe(alertRulesText(mesh.config))
    expect(promtool(['check', 'config', file]).code).toBe(0)

    const out: string[] = []
    const err: string[] = []
    expect(await run(['prometheus', meshFile], { out: (t) => void out.push(t), err: (t) => void err.push(t) })).toBe(0)
    expect(out.join('')).toBe(prometheusConfig(mesh.config, { rulesFile: 'mesh-rules.yml' }))
    expect(err.join('')).toContain('npx mesh rules --out mesh-rules.yml')
  })

  it('mesh prometheus exits 1 when mesh.yaml gives Envoy no fixed admin port', async () => {
    const file = join(dir, 'mesh.yaml')
    await writeFile(
      file,
      mesh.text
        .replace('admin_port: 9901', 'admin_port: 0')
        .replace('repository: models', `repository: ${join(ROOT, 'models')}`),
    )
    const err: string[] = []
    expect(await run(['prometheus', file], { out: () => {}, err: (t) => void err.push(t) })).toBe(1)
    expect(err.join('')).toContain('gateway.admin_port is 0')
  })
})
