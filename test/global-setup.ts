/**
 * @module
 * Runs once before the suite: makes sure the example model repository and
 * the Wasm filters are built from the current sources (both builds skip
 * what is current), so `npx vitest` alone works after `scripts/setup.sh`.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url))
  execFileSync('bash', ['scripts/ensure-models.sh'], { cwd: root, stdio: 'inherit' })
  execFileSync(process.execPath, ['--import', 'tsx', 'wasm-filters/build.ts'], { cwd: root, stdio: 'inherit' })
}
