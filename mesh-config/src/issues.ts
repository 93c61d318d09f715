/**
 * @module
 * A problem in mesh.yaml, located for the operator: file, line and column,
 * the path in the config (`routes[2].canary.weight`) and the reason.
 */
import { isNode, type LineCounter, type Document } from 'yaml'
import { formatPath } from '@model-mesh/model-host'

export type ConfigPath = readonly (string | number)[]

export interface ConfigIssue {
  file: string
  line: number
  col: number
  /** `routes[2].canary.weight`; empty for the whole file. */
  path: string
  message: string
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ''}${i.message}`
}

/** Stable order: by position, then path, then message. */
export function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort(
    (a, b) => a.line - b.line || a.col - b.col || a.path.localeCompare(b.path) || a.message.localeCompare(b.message),
  )
}

/**
 * Places issues on the YAML source: the node at the path, or the nearest
 * ancestor that exists (a missing field points at the mapping that lacks it).
 */
export class SourceMap {
  constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  issue(path: ConfigPath, message: string): ConfigIssue {
    const { line, col } = this.position(path)
    return { file: this.file, line, col, path: formatPath(path), message }
  }

  position(path: ConfigPath): { line: number; col: number } {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true)
      if (isNode(node) && node.range) return this.lines.linePos(node.range[0])
    }
    return { line: 1, col: 1 }
  }
}
