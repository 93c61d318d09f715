// @module
// Test fixture, not a filter: the golden-signals plugin's latency sketch
// behind plain exports, so latency-sketch.unit.test.ts drives it straight
// from JavaScript (no proxy-wasm host) and checks it against sketches-js.
import { Utf8Writer } from "../../../sdk/assembly/index"
import { KEY_MULTIPLIER, LatencySketch, sketchKey } from "../../../mesh-filter/plugins/golden-signals/assembly/latency-sketch"

const sketch = new LatencySketch()
const text = new Utf8Writer()

export function add(ms: f64): void {
  sketch.add(ms)
}

export function reset(): void {
  sketch.reset()
}

export function count(): f64 {
  return sketch.count
}

/** The key sketchKey gives `ms` (> the mapping's minPossible), to compare value by value with sketches-js. */
export function key(ms: f64): i32 {
  return sketchKey(ms)
}

/** The mapping's multiplier, to compare bit for bit with sketches-js's `_multiplier`. */
export function multiplier(): f64 {
  return KEY_MULTIPLIER
}

/** Encodes the sketch as base64; returns where the text starts (valid until the next call), its length from encodedLength(). */
export function encode(): usize {
  text.truncate(0)
  sketch.writeBase64(text)
  return text.dataStart
}

export function encodedLength(): i32 {
  return text.length
}
