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

export type ChangeOutcome = { status: 'invalid'; issues: ConfigIssue[] } | { status: 'applied' | 'unchanged' | 'refused'; result: ApplyResult }

/** Validates `text` as `file`'s next contents, applies it, and writes it to `file` only if applied. */
export async function applyMeshText(file: string, text: string, action: string, by: string): Promise<ChangeOutcome> {
  const next = await parseMesh(text, file)
  if (!next.ok) return { status: 'invalid', issues: next.issues }
  const result = await applyMesh(next.mesh, { by, action })
  if (result.status !== 'refused') await writeAtomic(file, text)
  return { status: result.status === 'refused' ? 'refused' : result.status === 'unchanged' ? 'unchanged' : 'applied', result }
}
