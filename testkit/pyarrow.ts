/**
 * @module
 * Python with pyarrow from the project venv (setup --for-tests installs it):
 * the tests read the collector's Parquet files with a reader it does not use.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from '@model-mesh/mesh-config'

const PYTHON = join(ROOT, '.local/venv/bin/python')

/** Runs a Python snippet; its last stdout line is JSON, returned parsed. */
export function python(code: string, ...args: string[]): unknown {
  const r = spawnSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8' })
  if (r.error)
    throw new Error(`no Python venv with pyarrow (bash scripts/setup.sh --for-tests installs it): ${r.error.message}`)
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!)
}
