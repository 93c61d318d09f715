/**
 * @module
 * Runs once before the suite: makes sure the example model repository is
 * built from the current training code (tests read it from models/).
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url))
  execFileSync('bash', ['scripts/ensure-models.sh'], { cwd: root, stdio: 'inherit' })
}
