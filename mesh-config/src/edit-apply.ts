/**
 * @module
 * Changing mesh.yaml the one validated way, for the CLI and for the
 * collector's canary walk alike: the edited text is validated as the file's
 * next contents, applied, and written back only once applied, so a refused
 * change leaves both mesh.yaml and the running mesh as they were.
 */
import { applyMesh, type ApplyResult } from './apply.ts'
import type { ConfigIssue } from './issues.ts'
import { parseMesh } from './load.ts'
import { writeAtomic } from './state.ts'
import { readFile } from 'node:fs/promises'

export type ChangeOutcome =
  | { status: 'invalid'; issues: ConfigIssue[] }
  | { status: 'applied' | 'unchanged' | 'refused'; result: ApplyResult }
  /** `file` no longer holds `base`: someone else's change came first, and nothing was applied. */
  | { status: 'conflict'; reason: string }

/**
 * Validates `text` as `file`'s next contents, applies it, and writes it to
 * `file` only if applied. With `base` (the text the edit was made from),
 * the file must still hold it: the check, the apply and the write happen
 * under the state lock, so two editors (a person, the dashboard, a canary
 * walk) can never apply one change and write another.
 */
export async function applyMeshText(
  file: string,
  text: string,
  action: string,
  by: string,
  base?: string,
): Promise<ChangeOutcome> {
  const next = await parseMesh(text, file)
  if (!next.ok) return { status: 'invalid', issues: next.issues }
  let conflict: string | null = null
  const result = await applyMesh(next.mesh, {
    by,
    action,
    guard: async () => {
      if (base === undefined || (await readFile(file, 'utf8').catch(() => '')) === base) return null
      return (conflict = `mesh.yaml changed while "${action}" was being made (another change came first); nothing was applied`)
    },
    // mesh.yaml holds the API keys: writeAtomic keeps the mode the operator gave the old one (0600 stays 0600).
    commit: async () => writeAtomic(file, text),
  })
  if (conflict) return { status: 'conflict', reason: conflict }
  return {
    status: result.status === 'refused' ? 'refused' : result.status === 'unchanged' ? 'unchanged' : 'applied',
    result,
  }
}
