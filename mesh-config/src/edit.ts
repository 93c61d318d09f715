/**
 * @module
 * Operator edits of mesh.yaml (canary set, promote, rollback). The yaml
 * package's Document API finds the values to change; only those values'
 * characters are replaced in the text, so comments, order, spacing and
 * alignment stay exactly as the operator wrote them. Pure: text in, text
 * out; the caller validates and applies the result.
 */
import { isMap, isScalar, parseDocument, type Document } from 'yaml'

export class EditError extends Error {
  override name = 'EditError'
}

/** Parses a weight: basis points (`2500`) or a percentage (`25%`, `2.5%`). */
export function parseWeight(input: string): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(input.trim())
  if (!m) throw new EditError(`weight "${input}" must be basis points (0-10000) or a percentage such as 25%`)
  const bp = m[2] ? Math.round(Number(m[1]) * 100) : Number(m[1])
  if (!Number.isInteger(bp) || bp < 0 || bp > 10_000)
    throw new EditError(`weight "${input}" must be 0-10000 basis points (0%-100%)`)
  return bp
}

/*
 * The canary plugin decides per model, so routes to one model share their
 * canary (checks.ts insists): an edit of one route's canary is made to every
 * route that serves the same model.
 */

export function setCanaryWeight(text: string, route: string, weight: number): string {
  const doc = parseDocument(text)
  const indexes = sameModelRoutes(doc, route)
  for (const i of indexes) {
    if (!doc.hasIn(['routes', i, 'canary']))
      throw new EditError(
        `route "${routeName(doc, i)}" has no canary: add routes[${i}].canary (version, weight, hosts) first`,
      )
  }
  return replaceValues(
    text,
    doc,
    indexes.map((i) => [['routes', i, 'canary', 'weight'], weight]),
  )
}

/** The canary becomes stable; its weight drops to 0 (the canary section stays for the next one). */
export function promoteCanary(text: string, route: string): { text: string; version: string } {
  const doc = parseDocument(text)
  const indexes = sameModelRoutes(doc, route)
  const version = doc.getIn(['routes', indexes[0]!, 'canary', 'version'])
  if (version === undefined) throw new EditError(`route "${route}" has no canary to promote`)
  const edits = indexes.flatMap((i): [(string | number)[], unknown][] => [
    [['routes', i, 'stable', 'version'], version],
    [['routes', i, 'canary', 'weight'], 0],
  ])
  return { text: replaceValues(text, doc, edits), version: String(version) }
}

/** Weight 0 at once: every caller back on stable. */
export function rollbackCanary(text: string, route: string): string {
  return setCanaryWeight(text, route, 0)
}

/** The named route first, then the other routes to its model. */
function sameModelRoutes(doc: Document, route: string): number[] {
  if (doc.errors.length > 0)
    throw new EditError(`the config is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`)
  const routes = doc.get('routes')
  const items = routes && typeof routes === 'object' && 'items' in routes ? (routes.items as unknown[]) : []
  const i = items.findIndex((r) => isMap(r) && r.get('name') === route)
  if (i < 0) {
    const names = items.flatMap((r) => (isMap(r) ? [String(r.get('name'))] : []))
    throw new EditError(`no route "${route}" (routes: ${names.join(', ') || 'none'})`)
  }
  const model = (items[i] as { get(k: string): unknown }).get('model')
  const others = items.flatMap((r, j) =>
    j !== i && isMap(r) && model !== undefined && r.get('model') === model ? [j] : [],
  )
  return [i, ...others]
}

function routeName(doc: Document, i: number): string {
  return String(doc.getIn(['routes', i, 'name']))
}

/**
 * Replaces scalar values in place, by their source ranges. A value that is
 * not yet in the file is set through the Document API instead, which
 * re-prints the file (comments kept, spacing normalised).
 */
function replaceValues(text: string, doc: Document, edits: [(string | number)[], unknown][]): string {
  const spans: [number, number, string][] = []
  for (const [path, value] of edits) {
    const node = doc.getIn(path, true)
    if (!isScalar(node) || !node.range) {
      for (const [p, v] of edits) doc.setIn(p, v)
      return doc.toString()
    }
    spans.push([
      node.range[0],
      node.range[1],
      typeof value === 'string' && !/^[\w.-]+$/.test(value) ? JSON.stringify(value) : String(value),
    ])
  }
  // From the end, so earlier offsets stay valid.
  return spans
    .sort((a, b) => b[0] - a[0])
    .reduce((t, [start, end, value]) => t.slice(0, start) + value + t.slice(end), text)
}
