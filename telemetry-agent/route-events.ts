/**
 * @module
 * Which subject each posted event goes to: pure, so the HTTP shell stays
 * thin. The agent reads only what routing needs (`kind` and `model`); the
 * schema itself is the collector's to check, so a newer producer's events
 * pass through an older agent. A sample under its model's review threshold
 * also goes to the review queue.
 */
import {
  OTHER_MODEL_TOKEN,
  REVIEW_ITEM_EVENT_VERSION,
  STREAM_OF_KIND,
  subjectOf,
  subjectToken,
  type EventKind,
} from '@model-mesh/contracts'

/** Why the agent could not route a line (counted, never forwarded). */
export type UnroutableReason = 'malformed' | 'unknown_kind'

export interface RoutedGroup {
  subject: string
  lines: string[]
  /** Length of the lines joined with newlines, in UTF-16 units (a bound's proxy for bytes: keep bounds well under NATS' max_payload). */
  bytes: number
}

export interface RoutedBatch {
  groups: RoutedGroup[]
  /** Lines routed (as posted; the review copies are not among them). */
  events: number
  /** Samples copied to the review queue as well. */
  reviewItems: number
  unroutable: Partial<Record<UnroutableReason, number>>
}

/** Each model's review threshold: a sample whose confidence is under it is also a review item. */
export type ReviewThresholds = ReadonlyMap<string, number>

/**
 * The review item of a sample line, or null: a sample whose x-model-confidence
 * is under its model's threshold, as the review queue holds it (the same
 * event, kind `review`). Samples are rare, so this one parses in full.
 */
export function reviewItemOf(line: string, thresholds: ReviewThresholds): string | null {
  const scanned = scanRoutingFields(line)
  if (scanned !== null) {
    // Most samples are not review items: ruled out without parsing their bodies when the line says so plainly.
    const threshold = thresholds.get(scanned.model)
    if (threshold === undefined) return null
    const confidence = plainNumberField(line, '"confidence":')
    if (confidence !== null && !(confidence < threshold)) return null
  }
  let e: Record<string, unknown>
  try {
    e = JSON.parse(line)
  } catch {
    return null
  }
  const threshold = typeof e.model === 'string' ? thresholds.get(e.model) : undefined
  if (threshold === undefined || typeof e.confidence !== 'number' || !(e.confidence < threshold)) return null
  return JSON.stringify({ ...e, v: REVIEW_ITEM_EVENT_VERSION, kind: 'review' })
}

/** Subject tokens of the models mesh.yaml names; any other model is `_other`, so a client cannot mint subjects. */
export class ModelTokens {
  readonly #tokens = new Map<string, string>()
  constructor(models: Iterable<string>) {
    for (const m of models) this.#tokens.set(m, subjectToken(m))
  }
  tokenOf(model: unknown): string {
    return (typeof model === 'string' && this.#tokens.get(model)) || OTHER_MODEL_TOKEN
  }
  get tokens(): string[] {
    return [...new Set(this.#tokens.values()), OTHER_MODEL_TOKEN]
  }
}

/** Splits an NDJSON body into one group per subject, keeping each line's text as posted. */
export function routeBatch(body: string, models: ModelTokens, review: ReviewThresholds = new Map()): RoutedBatch {
  const bySubject = new Map<string, RoutedGroup>()
  const unroutable: RoutedBatch['unroutable'] = {}
  let events = 0
  let reviewItems = 0
  const add = (subject: string, line: string) => {
    let group = bySubject.get(subject)
    if (!group) bySubject.set(subject, (group = { subject, lines: [], bytes: 0 }))
    group.bytes += line.length + (group.lines.length > 0 ? 1 : 0)
    group.lines.push(line)
  }
  for (const raw of body.split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    let value: { kind?: unknown; model?: unknown } | null = scanRoutingFields(line)
    if (value === null) {
      try {
        value = JSON.parse(line)
      } catch {
        unroutable.malformed = (unroutable.malformed ?? 0) + 1
        continue
      }
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      unroutable.malformed = (unroutable.malformed ?? 0) + 1
      continue
    }
    const kind = value.kind
    const stream =
      typeof kind === 'string' && Object.hasOwn(STREAM_OF_KIND, kind)
        ? STREAM_OF_KIND[kind as EventKind]
        : legacyStream(kind)
    if (!stream) {
      unroutable.unknown_kind = (unroutable.unknown_kind ?? 0) + 1
      continue
    }
    const token = models.tokenOf(value.model)
    add(subjectOf(stream, token), line)
    events++
    if (kind === 'sample' && review.size > 0) {
      const item = reviewItemOf(line, review)
      if (item !== null) {
        add(subjectOf('review', token), item)
        reviewItems++
      }
    }
  }
  return { groups: [...bySubject.values()], events, reviewItems, unroutable }
}

/**
 * `kind` and `model` of a line as the mesh's producers write it (a flat
 * object, both plain strings), found without parsing the line: parsing is
 * most of the agent's cost per event, and routing needs only these two. A
 * key inside a string value is escaped (`\"model\"`), so it is not
 * mistaken for one. Anything less plain returns null, to be parsed in full;
 * the collector checks the whole event either way.
 */
export function scanRoutingFields(line: string): { kind: string; model: string } | null {
  if (line.charCodeAt(0) !== 0x7b || line.charCodeAt(line.length - 1) !== 0x7d) return null
  const kind = plainStringField(line, '"kind":"')
  if (kind === null) return null
  const model = plainStringField(line, '"model":"')
  return model === null ? null : { kind, model }
}

/** Where the value of a top-level `key` starts (the key after "{" or ",", so not the tail of an escaped string), or -1. */
function plainValueAt(line: string, key: string): number {
  const at = line.indexOf(key)
  if (at < 1) return -1
  const before = line.charCodeAt(at - 1)
  return before === 0x7b || before === 0x2c ? at + key.length : -1
}

function plainStringField(line: string, key: string): string | null {
  const start = plainValueAt(line, key)
  if (start < 0) return null
  const end = line.indexOf('"', start)
  if (end < 0) return null
  const value = line.slice(start, end)
  return value.includes('\\') ? null : value
}

/** A number field written plainly (`"confidence":0.93,`), or null when it is anything else: then the caller parses. */
function plainNumberField(line: string, key: string): number | null {
  const start = plainValueAt(line, key)
  if (start < 0) return null
  let end = start
  while (end < line.length && line.charCodeAt(end) !== 0x2c && line.charCodeAt(end) !== 0x7d) end++
  const text = line.slice(start, end)
  // JSON's number grammar, so the scan never reads what JSON.parse would refuse or read otherwise.
  return /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text) ? Number(text) : null
}

/** Host events of version 1 said `batch` and `fallback`. */
const legacyStream = (kind: unknown) => (kind === 'batch' || kind === 'fallback' ? 'host' : undefined)

/** Splits a group into message payloads of at most `maxBytes` (a line longer than that travels alone). */
export function chunkGroup(group: RoutedGroup, maxBytes: number): { data: string; events: number }[] {
  if (group.bytes <= maxBytes) return [{ data: group.lines.join('\n'), events: group.lines.length }]
  const out: { data: string; events: number }[] = []
  let lines: string[] = []
  let bytes = 0
  for (const line of group.lines) {
    if (lines.length > 0 && bytes + 1 + line.length > maxBytes) {
      out.push({ data: lines.join('\n'), events: lines.length })
      lines = []
      bytes = 0
    }
    bytes += line.length + (lines.length > 0 ? 1 : 0)
    lines.push(line)
  }
  if (lines.length > 0) out.push({ data: lines.join('\n'), events: lines.length })
  return out
}
