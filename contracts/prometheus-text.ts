/**
 * @module
 * Reading Prometheus' text format where a component asks another's
 * `/metrics` (the local autoscaler reads the hosts' queues; tests read
 * everyone's): the sum of a metric's samples.
 */

/** Sum of a metric's samples whose labels include `match`. */
export function metricSum(text: string, name: string, match: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) sum += Number(m[3])
  }
  return sum
}
