/**
 * @module
 * Bounds what YAML aliases (`*name`) may expand to, before a document is
 * converted: a few lines of nested aliases (an "alias bomb", or "billion
 * laughs") stand for billions of values. The problem is located at the alias
 * that crosses the bound, like every other config issue.
 */
import { isAlias, isCollection, isNode, isPair, isScalar, type Alias, type Document, type Node } from 'yaml'
import type { ConfigPath } from './issues.ts'

/**
 * Most values that aliases may add to a document, all aliases together. An
 * anchor for a 20-value block used by 100 routes adds 2,000; a bomb adds billions.
 */
export const MAX_ALIASED_VALUES = 10_000

/**
 * Most aliases a document may hold: the yaml library resolves each alias by
 * scanning the document, so converting one with n aliases costs n² (10,000
 * took seconds, and the collector converts mesh.yaml per dashboard read).
 */
export const MAX_ALIASES = 1000

export interface AliasProblem {
  /** Where the offending alias is. */
  path: ConfigPath
  message: string
}

/**
 * The first alias that is unresolved, refers to a node containing it, is past
 * the MAX_ALIASES-th, or makes the document's aliases add more than MAX_ALIASED_VALUES
 * values; undefined when there is none.
 * Anchors resolve as the yaml library resolves them: the last one of that name before the alias.
 *
 * @example aliasProblem(parseDocument('a: &x [1, 2]\nb: *x'))  // undefined: *x adds 3 values
 */
export function aliasProblem(doc: Document): AliasProblem | undefined {
  const resolved = resolveAliases(doc)
  return 'problem' in resolved ? resolved.problem : undefined
}

/**
 * Each alias's node, from the same single walk as aliasProblem (the yaml
 * library's `alias.resolve(doc)` walks the whole document for each alias:
 * quadratic in the number of aliases); or the first problem, as aliasProblem.
 *
 * @example resolveAliases(parseDocument('a: &x [1, 2]\nb: *x'))  // { targets: Map { *x => [1, 2] } }
 */
export function resolveAliases(doc: Document): { targets: ReadonlyMap<Alias, Node> } | { problem: AliasProblem } {
  const walk = new AliasWalk()
  try {
    if (isNode(doc.contents)) walk.size(doc.contents, [])
    return { targets: walk.targets }
  } catch (e) {
    if (e instanceof Found) return { problem: e.problem }
    throw e
  }
}

class Found extends Error {
  constructor(readonly problem: AliasProblem) {
    super(problem.message)
  }
}

/** One pass in document order; each anchored node's size is computed once, when the walk leaves it. */
class AliasWalk {
  private readonly anchors = new Map<string, Node>()
  /** Values each anchored node stands for, aliases in it expanded. Absent while the walk is inside it. */
  private readonly sizes = new Map<Node, number>()
  private aliased = 0
  /** Each alias met so far, and the node it stands for. */
  readonly targets = new Map<Alias, Node>()

  /** Values `node` stands for, its aliases expanded. */
  size(node: Node, path: ConfigPath): number {
    if (isAlias(node)) return this.expand(node, path)
    if (node.anchor) this.anchors.set(node.anchor, node)
    let n = 1
    if (isCollection(node)) {
      node.items.forEach((item, i) => {
        if (!isPair(item)) return void (n += isNode(item) ? this.size(item, [...path, i]) : 0)
        const key =
          isScalar(item.key) && (typeof item.key.value === 'string' || typeof item.key.value === 'number')
            ? item.key.value
            : String(item.key)
        if (isNode(item.key)) n += this.size(item.key, [...path, key])
        if (isNode(item.value)) n += this.size(item.value, [...path, key])
      })
    }
    if (node.anchor) this.sizes.set(node, n)
    return n
  }

  private expand(alias: Alias, path: ConfigPath): number {
    const source = alias.source
    const target = this.anchors.get(source)
    if (!target) throw new Found({ path, message: `alias *${source} has no anchor &${source} before it` })
    this.targets.set(alias, target)
    if (this.targets.size > MAX_ALIASES)
      throw new Found({
        path,
        message: `alias *${source} is one more than the ${MAX_ALIASES} aliases a file may hold; refused`,
      })
    const n = this.sizes.get(target)
    if (n === undefined)
      throw new Found({ path, message: `alias *${source} is inside the node anchored &${source} (a cycle)` })
    this.aliased += n
    if (this.aliased > MAX_ALIASED_VALUES) {
      throw new Found({
        path,
        message: `alias *${source} makes the file's aliases expand to more than ${MAX_ALIASED_VALUES} values (an alias bomb?); refused`,
      })
    }
    return n
  }
}
