// @module
// Metrics by name: proxy-wasm metrics carry no labels, so filters encode
// labels in the name and Envoy's stats_tags turn them back into tags. Ids
// are cached per VM so each name is defined once.
import { MetricType } from "./constants"
import { defineMetric, incrementMetric } from "./host"

const ids = new Map<string, u32>()

function idOf(type: u32, name: string): u32 {
  if (ids.has(name)) return ids.get(name)
  const id = defineMetric(type, name)
  if (id != 0) ids.set(name, id)
  return id
}

export function increment(name: string, by: i64 = 1): void {
  const id = idOf(MetricType.Counter, name)
  if (id != 0) incrementMetric(id, by)
}

/** A label value safe inside a dotted metric name: dots and spaces become underscores, empty becomes "none". */
export function labelValue(s: string): string {
  if (s.length == 0) return "none"
  return s.replaceAll(".", "_").replaceAll(" ", "_").replaceAll(":", "_")
}
