/**
 * @module
 * mesh.yaml as it may be shown to anyone who can read the dashboard: every
 * secret replaced by `"<redacted>"` in the text itself, so comments and
 * layout stay as the operator wrote them. The secrets are whatever is in
 * `auth` (the API keys; in a valid file its header name, client names and
 * key_env names are shown) and the user:password of any URL (a nats_url's).
 * The real values are never served; the file on disk is the place to read them.
 */
import { isAlias, isMap, isScalar, isSeq, parseDocument, type Alias, type Document, type Node, type Scalar } from 'yaml'
import type { ConfigIssue } from './issues.ts'
import { type MeshConfig, meshConfigSchema } from './schema.ts'
import { resolveAliases } from './yaml-aliases.ts'

export const REDACTED = '<redacted>'

const authSchema = meshConfigSchema.shape.auth.unwrap()
/** Top-level sections holding no secrets: shown as written (but for URLs' user:password). */
const PUBLIC_SECTIONS = new Set(Object.keys(meshConfigSchema.shape).filter((k) => k !== 'auth'))
/** Field names under `auth`: shown, whatever else there is hidden (a key written as a field name, or a misspelt field, is shown as `"<redacted>"`). */
const AUTH_FIELDS = new Set([
  ...Object.keys(authSchema.shape),
  ...Object.keys(authSchema.shape.api_keys.element.shape),
  '<<',
])

type Segment = string | number

export interface RedactOptions {
  /**
   * The file passed validation: then `auth.header` and each API key's
   * `client` and `key_env` are what their names say, and are shown. In a
   * file that does not validate a key may be in any field, so every value
   * under `auth` is hidden.
   */
  valid: boolean
}

/**
 * `text` with each secret replaced by `"<redacted>"` (a URL's
 * user:password by `<redacted>`); null when the text is not YAML that can
 * be walked (a syntax error or an alias problem could hide a key anywhere,
 * so nothing of it is shown then).
 *
 * @example
 * redactMeshText('auth:\n  api_keys:\n    - { client: web, key: s3cret-0123456789abcdef } # web app\n', { valid: true })
 * // 'auth:\n  api_keys:\n    - { client: web, key: "<redacted>" } # web app\n'
 */
export function redactMeshText(text: string, opts: RedactOptions = { valid: false }): string | null {
  const doc = parseDocument(text, { uniqueKeys: true })
  if (doc.errors.length > 0) return null
  // One walk resolves every alias (and refuses alias bombs); an alias shows the text of the node it stands for.
  const aliases = resolveAliases(doc)
  if ('problem' in aliases) return null
  const edits = [...findEdits(doc, aliases.targets, opts.valid).values()].flatMap((e) => {
    const range = e.node.range
    // An empty value (`key:`) has nothing to hide.
    if (!range || range[0] === range[1]) return []
    const at = span(text, range)
    const value = typeof e.node.value === 'string' ? e.node.value.trim() : text.slice(at.start, at.end)
    return [{ ...at, replacement: e.replacement, hidden: e.checked ? (e.hidden ?? value) : '' }]
  })
  // In one pass, in order (scalars do not overlap): a file with thousands of keys is not copied once per key.
  const parts: string[] = []
  let at = 0
  for (const e of edits.sort((a, b) => a.start - b.start)) {
    parts.push(text.slice(at, e.start), JSON.stringify(e.replacement))
    at = e.end
  }
  parts.push(text.slice(at))
  const out = parts.join('')
  // What was hidden must be gone and the result still YAML; otherwise show nothing rather than a key.
  const hidden = edits.flatMap((e) => (e.hidden.length >= MIN_CHECKED ? [e.hidden] : []))
  if (parseDocument(out, { uniqueKeys: false }).errors.length > 0 || containsAny(out, hidden)) return null
  return out
}

/**
 * Validation issues as they may be shown beside redacted text: an issue
 * under `auth` says what is wrong without quoting the value (messages such
 * as `must be a string, got number 1234…` would), names only the fields
 * `auth` has (`unknown field "<redacted>"`: a key may be written as a
 * field's name), and its path stops at the last of those.
 */
export function redactIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.map((i) => {
    if (!/^auth(\.|\[|$)/.test(i.path)) return i
    const known = /^auth(\.(header|api_keys)(\[\d+\](\.(client|key|key_env))?)?)?/.exec(i.path)![0]
    const message = i.message
      .replace(/, got .*$/s, '')
      .replace(/"([^"]*)"/g, (quoted, name: string) => (AUTH_FIELDS.has(name) ? quoted : `"${REDACTED}"`))
    return { ...i, path: known === i.path ? i.path : `${known}.${REDACTED}`, message }
  })
}

interface Edit {
  node: Scalar
  replacement: string
  /** What the replacement hides, when not all of the value (a URL's user:password). */
  hidden?: string
  /**
   * Whether what it hides must be left nowhere in the text: not for what a
   * valid file would show (a client's name, hidden only while the file is
   * not valid, is also in the routes that name it).
   */
  checked: boolean
}

/**
 * Every scalar to rewrite, walking the document as the config reads it: an
 * alias is walked as its anchored node, at the alias's place (an anchor
 * outside `auth` used as a key there is hidden where it is written).
 * resolveAliases has bounded what aliases add, so this walk is linear in
 * the file's size.
 */
function findEdits(doc: Document, targets: ReadonlyMap<Alias, Node>, valid: boolean): Map<Scalar, Edit> {
  const edits = new Map<Scalar, Edit>()
  const walk = (node: unknown, path: Segment[], asKey: boolean): void => {
    if (isAlias(node)) return walk(targets.get(node), path, asKey)
    if (isScalar(node)) {
      // A secret is hidden whole, wherever else the same node is reached from.
      if (isSecret(node, path, asKey, valid))
        edits.set(node, {
          node,
          replacement: REDACTED,
          checked: valid || isSecret(node, path, asKey, true) || edits.get(node)?.checked === true,
        })
      else if (!edits.has(node) && typeof node.value === 'string') {
        const url = withoutUserinfo(node.value)
        if (url) edits.set(node, { node, ...url, checked: true })
      }
    } else if (isMap(node)) {
      for (const pair of node.items) {
        walk(pair.key, path, true)
        walk(pair.value, [...path, nameOf(pair.key, targets)], false)
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i], false))
    }
  }
  walk(doc.contents, [], false)
  return edits
}

/**
 * Whether a scalar at `path` (a field's name when `asKey`) may hold a
 * secret: anything under `auth` (or under a section mesh.yaml does not
 * have, such as a misspelt `auth`) but the names of auth's fields and, in
 * a valid file, the header name, client names and key_env names.
 */
function isSecret(node: Scalar, path: readonly Segment[], asKey: boolean, valid: boolean): boolean {
  const section = path[0]
  // The sections' names, known or not (a misspelt `auth` is named in the issues anyway).
  if (asKey && path.length === 0) return false
  if (typeof section === 'string' && PUBLIC_SECTIONS.has(section)) return false
  if (asKey) return !(typeof node.value === 'string' && AUTH_FIELDS.has(node.value))
  if (!valid) return true
  const [, field, index, name] = path
  const shown =
    (path.length === 2 && field === 'header') ||
    (path.length === 4 &&
      field === 'api_keys' &&
      typeof index === 'number' &&
      (name === 'client' || name === 'key_env'))
  return !shown
}

/** A field's name for the path: a scalar key's value (an alias's too). */
function nameOf(key: unknown, targets: ReadonlyMap<Alias, Node>): Segment {
  const node = isAlias(key) ? targets.get(key) : key
  return isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number')
    ? node.value
    : String(node)
}

/** `scheme://user:password@host…` without its user:password; undefined for a value that has none. */
function withoutUserinfo(value: string): { replacement: string; hidden: string } | undefined {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#\s]*)@/i.exec(value)
  if (!m || m[2] === '') return undefined
  return { replacement: `${m[1]}${REDACTED}@${value.slice(m[0].length)}`, hidden: m[2]! }
}

/** Hidden values this long or longer are looked for in the result (shorter ones, such as `a`, are in it by chance). */
const MIN_CHECKED = 8

/**
 * Whether any of `needles` (each at least MIN_CHECKED long) is in `text`:
 * one pass over the text looking up each window of MIN_CHECKED characters,
 * not a search of the whole text per needle.
 */
function containsAny(text: string, needles: readonly string[]): boolean {
  const byStart = new Map<string, string[]>()
  for (const n of needles) {
    const start = n.slice(0, MIN_CHECKED)
    const same = byStart.get(start)
    if (same) same.push(n)
    else byStart.set(start, [n])
  }
  for (let i = 0; i + MIN_CHECKED <= text.length; i++) {
    if (byStart.get(text.slice(i, i + MIN_CHECKED))?.some((n) => text.startsWith(n, i))) return true
  }
  return false
}

/** A value's span in the text, without the line ends a block scalar counts as its own. */
function span(text: string, range: [number, number, number]): { start: number; end: number } {
  const [start, valueEnd] = range
  return { start, end: start + text.slice(start, valueEnd).trimEnd().length }
}

/**
 * Why mesh.yaml's file mode exposes its secrets, or undefined: API keys
 * written in the file (`key`, not `key_env`) while its group or others may
 * read it. Said as a warning, not refused: a checkout's mode is the
 * operator's to set.
 */
export function exposedKeysWarning(config: Pick<MeshConfig, 'auth'>, mode: number): string | undefined {
  const inline = config.auth?.api_keys.filter((k) => k.key !== undefined).length ?? 0
  if (inline === 0 || (mode & 0o077) === 0) return undefined
  return `holds ${inline} API key${inline === 1 ? '' : 's'} in the file and other users may read it (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 it, or give the keys as key_env`
}
