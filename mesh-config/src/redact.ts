/**
 * @module
 * mesh.yaml as it may be shown to anyone who can read the dashboard: every
 * secret (the API keys, `auth.api_keys[].key`) replaced by `"<redacted>"`
 * in the text itself, so comments and layout stay as the operator wrote
 * them. The real keys are never served; the file on disk is the place to
 * read them.
 */
import { isPair, isScalar, parseDocument, visit, type Document, type Node } from 'yaml'
import type { ConfigIssue } from './issues.ts'

export const REDACTED = '<redacted>'

/** Under an `api_keys` list, the fields that are not secret (a client's name, the name of the variable holding its key). */
const PUBLIC_KEY_FIELDS = new Set(['client', 'key_env'])

/**
 * `text` with each secret value replaced by `"<redacted>"`; null when the
 * text is not YAML that can be walked (a syntax error could hide a key in
 * any scalar, so nothing of it is shown then).
 *
 * @example
 * redactMeshText('api_keys:\n  - { client: web, key: s3cret-0123456789abcdef } # web app\n')
 * // 'api_keys:\n  - { client: web, key: "<redacted>" } # web app\n'
 */
export function redactMeshText(text: string): string | null {
  const doc = parseDocument(text, { uniqueKeys: true })
  if (doc.errors.length > 0) return null
  const spans = secretNodes(doc).flatMap((n) => (n.range ? [span(text, n.range)] : []))
  // Rightmost first, so the earlier spans' offsets still hold; a node reached twice (an alias) is replaced once.
  const unique = [...new Map(spans.map((s) => [s.start, s])).values()].sort((a, b) => b.start - a.start)
  let out = text
  for (const s of unique) out = `${out.slice(0, s.start)}"${REDACTED}"${out.slice(s.end)}`
  // What was replaced must be gone and the result still YAML; otherwise show nothing rather than a key.
  const secrets = unique.map((s) => text.slice(s.start, s.end)).filter((s) => s.length >= 8)
  if (parseDocument(out).errors.length > 0 || secrets.some((s) => out.includes(s))) return null
  return out
}

/**
 * Validation issues as they may be shown beside redacted text: an issue on
 * an API key says what is wrong without quoting the value (messages such
 * as `must be a string, got number 1234…` would).
 */
export function redactIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.map((i) => (/(^|\.)api_keys\b/.test(i.path) ? { ...i, message: i.message.replace(/, got .*$/s, '') } : i))
}

/**
 * The nodes holding secrets: everything inside a `key` field's value, and
 * every value inside `api_keys` but a client's name and its key_env (also
 * where the list is not shaped as it should be: a bare key in it is still
 * a key). An alias stands for its anchor's node, which is where the text is.
 */
function secretNodes(doc: Document): Node[] {
  const found: Node[] = []
  const secret = (node: Node, path: readonly unknown[]): boolean => {
    const parent = path.at(-1)
    // A field's name is never the secret.
    if (isPair(parent) && parent.key === node) return false
    const names = path.flatMap((p) => (isPair(p) && isScalar(p.key) ? [String(p.key.value)] : []))
    if (names.includes('key')) return true
    if (!names.includes('api_keys')) return false
    return !(isPair(parent) && isScalar(parent.key) && PUBLIC_KEY_FIELDS.has(String(parent.key.value)))
  }
  visit(doc, {
    Scalar(_, node, path) {
      if (secret(node, path)) found.push(node)
    },
    Alias(_, node, path) {
      const target = node.resolve(doc)
      if (target && secret(node, path)) found.push(target)
    },
  })
  return found
}

/** A value's span in the text, without the line ends a block scalar counts as its own. */
function span(text: string, range: [number, number, number]): { start: number; end: number } {
  const [start, valueEnd] = range
  return { start, end: start + text.slice(start, valueEnd).trimEnd().length }
}
