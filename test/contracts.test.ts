/**
 * A contract is declared once, in contracts/, and imported everywhere else:
 * no other source file spells its value again in code (tests may, to check
 * what the value is, and comments may, as examples). The one exception is AssemblyScript, which cannot import
 * contracts/; each such copy is listed here with the test that keeps it
 * equal.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ALERT_NAMES, BURN_ALERT_NAMES, FAILED_CODE_CLASSES, headers, TELEMETRY_VM_ID } from '@model-mesh/contracts'
import { ROOT } from '@model-mesh/mesh-config'

const SKIP = new Set(['node_modules', 'models', '.local', '.git', 'build', 'dist', 'contracts'])

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return []
    const path = join(dir, e.name)
    if (e.isDirectory()) return sourceFiles(path)
    return /\.(ts|mts|mjs|tsx)$/.test(e.name) && !e.name.endsWith('.test.ts') ? [path] : []
  })
}

const CONTRACTS = [
  // AssemblyScript's copy: wasm-filters/config-corpus.unit.test.ts checks the built filter's default is the contract's.
  { name: 'TELEMETRY_VM_ID', value: TELEMETRY_VM_ID, copies: ['wasm-filters/telemetry-queue/assembly/queue.ts'] },
  { name: 'FAILED_CODE_CLASSES', value: FAILED_CODE_CLASSES, copies: [] },
  // AssemblyScript's copy: the golden-signals unit test sends the contract's name and expects the story.
  {
    name: 'MESH_TRACE',
    value: headers.MESH_TRACE,
    copies: ['wasm-filters/mesh-filter/plugins/golden-signals/assembly/plugin.ts'],
  },
  ...Object.entries({ ...ALERT_NAMES, ...BURN_ALERT_NAMES }).map(([key, value]) => ({
    name: `the alert name ${key}`,
    value,
    copies: [],
  })),
]

describe('contracts', () => {
  const code = (text: string) =>
    text
      .split('\n')
      .filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line))
      .join('\n')
  const files = sourceFiles(ROOT).map((f) => ({ path: relative(ROOT, f), text: code(readFileSync(f, 'utf8')) }))

  it.each(CONTRACTS)('$name is spelled only in contracts/', ({ value, copies }) => {
    expect(files.length).toBeGreaterThan(100)
    const spelled = files
      .filter((f) => f.text.includes(`'${value}'`) || f.text.includes(`"${value}"`))
      .map((f) => f.path)
    expect(spelled.sort()).toEqual(copies)
  })
})
