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

const MAPPING = newLatencySketch().mapping
/** The lowest key a latency may have: 1 ns (a shorter one is 0, the zero bucket). */
const MIN_KEY = MAPPING.key(1e-6)
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * Adds `from` into `into`, bin by bin. Not DDSketch's own merge: its dense
 * store extends its range with `secondKey || key`, which takes a last key
 * of 0 (about 1 ms) for none, and only its chunked padding keeps that from
 * writing past the bins; adding bin by bin grows the store key by key,
 * whatever the keys. Only what quantiles read is kept (min, max and sum
 * are not: a decoded sketch has none).
 */
export function mergeLatencySketch(into: DDSketch, from: DDSketch): void {
  const { bins, offset } = from.store
  for (let i = 0; i < bins.length; i++) if (bins[i]! > 0) into.store.add(i + offset, bins[i]!)
  into.zeroCount += from.zeroCount
  into.count += from.count
}

/**
 * The sketch in `base64` (DDSketch's protobuf), checked for what it says: it
 * decodes, uses the mesh's mapping (logarithmic, this accuracy, no index
 * offset), holds exactly `count` values, none negative, every bin a whole
 * count, every value between 1 ns and `maxValue` (by its key, so nothing it
 * holds can make a store it is merged into grow past that range). A string
 * says what is wrong. Never throws.
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
  const mapping = sketch.mapping
  if (mapping.gamma !== MAPPING.gamma)
    return `gamma ${mapping.gamma} is not the mesh's (${LATENCY_SKETCH_ACCURACY} relative accuracy)`
  // The same class and no index offset (an interpolated mapping has the same gamma; an offset shifts every key).
  if (mapping.constructor !== MAPPING.constructor || mapping.key(1) !== 0)
    return "not the mesh's mapping (logarithmic, no index offset)"
  if (sketch.negativeStore.bins.some((n) => n !== 0)) return 'negative latencies'
  const { bins, offset } = sketch.store
  if ([...bins, sketch.zeroCount].some((n) => !Number.isInteger(n) || n < 0))
    return 'a bin whose count is not a whole number ≥ 0'
  if (sketch.count !== count) return `holds ${sketch.count} values, not ${count}`
  const first = bins.findIndex((n) => n > 0)
  if (first >= 0) {
    let last = bins.length - 1
    while (bins[last] === 0) last--
    if (first + offset < MIN_KEY) return 'values under 1 ns'
    if (last + offset > MAPPING.key(maxValue) + 1) return `values above ${maxValue}`
  }
  return sketch
}
