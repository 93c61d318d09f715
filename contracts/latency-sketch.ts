/**
 * @module
 * Latency as a mergeable sketch: DDSketch with a logarithmic mapping, whose
 * quantiles are within 1% of the true value whatever the distribution, and
 * whose sketches merge exactly across workers, nodes and minutes. The
 * golden-signals filter builds the same mapping in AssemblyScript and sends
 * it as DDSketch's protobuf (base64) in its request_stats records; the
 * collector reads and merges it with `@datadog/sketches-js`.
 */
import { DDSketch } from '@datadog/sketches-js'

/** The relative accuracy of every latency sketch in the mesh: sketches merge only with the same mapping. */
export const LATENCY_SKETCH_ACCURACY = 0.01

/** A sketch's text in a record: a day's range at 1% is about 1,300 bins of 8 bytes, base64. */
export const MAX_LATENCY_SKETCH_CHARS = 32_768

export const newLatencySketch = () => new DDSketch({ relativeAccuracy: LATENCY_SKETCH_ACCURACY })

/** A sketch as a record carries it: DDSketch's protobuf in base64. */
export const encodeLatencySketch = (sketch: DDSketch) => Buffer.from(sketch.toProto()).toString('base64')

const MAPPING_GAMMA = newLatencySketch().mapping.gamma
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * The sketch in `base64` (DDSketch's protobuf), checked for what it says: it
 * decodes, uses the mesh's mapping, holds exactly `count` values, none
 * negative, every bin a whole count, none above `maxValue`. A string says
 * what is wrong. Never throws.
 */
export function decodeLatencySketch(base64: string, count: number, maxValue: number): DDSketch | string {
  if (base64.length > MAX_LATENCY_SKETCH_CHARS) return `more than ${MAX_LATENCY_SKETCH_CHARS} characters`
  if (base64.length % 4 !== 0 || !BASE64.test(base64)) return 'not base64'
  let sketch: DDSketch
  try {
    sketch = DDSketch.fromProto(Buffer.from(base64, 'base64'))
  } catch {
    return "not a DDSketch's protobuf"
  }
  if (sketch.mapping.gamma !== MAPPING_GAMMA)
    return `gamma ${sketch.mapping.gamma} is not the mesh's (${LATENCY_SKETCH_ACCURACY} relative accuracy)`
  if (sketch.negativeStore.count !== 0) return 'negative latencies'
  const bins = [...sketch.store.bins, sketch.zeroCount]
  if (bins.some((n) => !Number.isInteger(n) || n < 0)) return 'a bin whose count is not a whole number ≥ 0'
  if (sketch.count !== count) return `holds ${sketch.count} values, not ${count}`
  if (count > 0 && sketch.getValueAtQuantile(1) > maxValue * (1 + LATENCY_SKETCH_ACCURACY))
    return `values above ${maxValue}`
  return sketch
}
