/**
 * The collector's folders are the stages its data flows through, and
 * imports run one way, from the later stages to the earlier ones:
 * state/ (signals, windows, aggregation) ← store/ (DuckDB) ← ingest/
 * (consumers) ← analysis/ (drift, canaries, alerts, error budget) ← sinks/
 * (Parquet) ← serve/ (API, metrics, operator) ← dashboard/ ← the root files
 * that wire and start it (collector.ts, settings.ts, cli.ts, index.ts).
 * A file may import its own stage or an earlier one, never a later one.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const HERE = dirname(fileURLToPath(import.meta.url))
/** Earliest first; '' is the root files. test/ (the integration tests) may import anything. */
const STAGES = ['state', 'store', 'ingest', 'analysis', 'sinks', 'serve', 'dashboard', '']
const SPECIFIER = /(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"\s]+)['"]/g

const stageOf = (file: string) => STAGES.indexOf(file.includes('/') ? file.split('/')[0]! : '')

/** Why `file`'s import of `target` (both relative to the collector's folder) runs the wrong way, or undefined. */
function violation(file: string, target: string): string | undefined {
  const from = stageOf(file)
  const to = stageOf(target)
  if (from < 0 || to < 0)
    return `${file} imports ${target}: ${from < 0 ? file : target} is in no stage (add its folder to STAGES)`
  return to > from
    ? `${file} imports ${target}: ${STAGES[from] || 'the root'} may not depend on ${STAGES[to] || 'the root'}, a later stage`
    : undefined
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (['node_modules', 'dist', 'test', 'grafana'].includes(e.name)) return []
    const path = join(dir, e.name)
    if (e.isDirectory()) return sources(path)
    return /\.tsx?$/.test(e.name) ? [relative(HERE, path)] : []
  })
}

describe('the collector by stage', () => {
  it('finds an import that runs the wrong way where there is one', () => {
    expect(violation('store/store.ts', 'analysis/canary-walk.ts')).toContain('store may not depend on analysis')
    expect(violation('analysis/alerts.ts', 'serve/metrics.ts')).toContain('analysis may not depend on serve')
    expect(violation('state/windows.ts', 'collector.ts')).toContain('state may not depend on the root')
    expect(violation('elsewhere/x.ts', 'state/signals.ts')).toContain('in no stage')
    expect(violation('serve/api.ts', 'store/store.ts')).toBeUndefined()
    expect(violation('collector.ts', 'dashboard/server.ts')).toBeUndefined()
    expect(violation('state/windows.ts', 'state/aggregator.ts')).toBeUndefined()
  })

  it('has every import of its sources run from a later stage to an earlier one', () => {
    const files = sources(HERE)
    expect(files.length).toBeGreaterThan(30)
    const found = files.flatMap((file) =>
      [...readFileSync(join(HERE, file), 'utf8').matchAll(SPECIFIER)]
        .map((m) => violation(file, relative(HERE, join(HERE, dirname(file), m[1]!))))
        .filter((v) => v !== undefined),
    )
    expect(found).toEqual([])
  })
})
