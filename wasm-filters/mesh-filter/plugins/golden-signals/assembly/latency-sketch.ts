// @module
// A latency distribution as a DDSketch (relative accuracy 1%), the very
// sketch that @datadog/sketches-js builds with `new DDSketch({ relativeAccuracy: 0.01 })`:
// same logarithmic mapping, same keys, same counts, written as that
// library's protobuf in base64 so the collector decodes it with
// `DDSketch.fromProto` and merges it with its own sketches.
//
// Adding a value costs one log2, a multiply, a ceil and an increment in a
// dense array of counts; the array grows (the only allocation) when a key
// falls outside it, and reset() clears it in place, so a sketch that is
// encoded and reset every second stops allocating once its range is known.
import { Utf8Writer } from "../../../../sdk/assembly/index"

const RELATIVE_ACCURACY: f64 = 0.01

// The mapping computed with the same floating-point operations as sketches-js's
// KeyMapping/LogarithmicMapping, so gamma is the same double (its merge
// demands `gamma ===`) and the keys are the same integers. AssemblyScript's
// log1p and log2 (at the build's shrink level) are fdlibm's, as V8's are.
const GAMMA_MANTISSA: f64 = (2 * RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
const GAMMA: f64 = 1 + GAMMA_MANTISSA
/** sketches-js's `_multiplier = 1 / log1p(gm)`, then `_multiplier *= Math.log(2)`: key = ceil(log2(v) * multiplier). */
export const KEY_MULTIPLIER: f64 = (1 / Math.log1p(GAMMA_MANTISSA)) * Math.LN2
// 2^-1023 (sketches-js's MIN_SAFE_FLOAT) times gamma: values at or below it count as zero.
const MIN_POSSIBLE: f64 = reinterpret<f64>(0x0008000000000000) * GAMMA

// Finite values above MIN_POSSIBLE have keys within -35,452..35,488; only
// Infinity (saturated to i32.MAX_VALUE) falls outside, and is clamped to
// the edge rather than growing the array without bound.
const KEY_LIMIT: i32 = 35500

/** Bins allocated at the first value: a few decades of latency around it. */
const INITIAL_BINS: i32 = 256

/** The key of a value above MIN_POSSIBLE: the bin whose value is within 1% of it. */
@inline export function sketchKey(ms: f64): i32 {
  return <i32>Math.ceil(Math.log2(ms) * KEY_MULTIPLIER)
}

export class LatencySketch {
  /** Values added, the zero bin's included. */
  count: f64 = 0
  /** Values at or below MIN_POSSIBLE (0 ms). */
  private zeroCount: f64 = 0
  /** Counts (f64, as the protobuf carries them) of keys offset .. offset + capacity - 1. */
  private bins: ArrayBuffer = new ArrayBuffer(0)
  private capacity: i32 = 0
  /** The key of the first bin. */
  private offset: i32 = 0
  /** The protobuf, built here before it is written as base64; kept between encodings. */
  private proto: ArrayBuffer = new ArrayBuffer(0)
  private protoLength: i32 = 0

  add(ms: f64): void {
    this.count += 1
    if (ms > MIN_POSSIBLE) {
      const key = sketchKey(ms)
      let index = key - this.offset
      if (<u32>index >= <u32>this.capacity) index = this.makeRoom(key)
      const at = changetype<usize>(this.bins) + (<usize>index << 3)
      store<f64>(at, load<f64>(at) + 1)
    } else {
      this.zeroCount += 1
    }
  }

  /** Empty again; the bins' memory (and range) is kept for the next interval. */
  reset(): void {
    memory.fill(changetype<usize>(this.bins), 0, <usize>this.bins.byteLength)
    this.count = 0
    this.zeroCount = 0
  }

  /**
   * The sketch as sketches-js's DDSketch protobuf, in base64 (no quotes):
   *   1 mapping {1 gamma, 2 indexOffset 0; interpolation NONE by default}
   *   2 positiveValues {2 contiguousBinCounts (packed doubles), 3 contiguousBinIndexOffset (sint32)}
   *   3 negativeValues {} (present: fromProto throws without it)
   *   4 zeroCount (when not 0)
   * Only the keys from the lowest to the highest counted one are written.
   */
  writeBase64(w: Utf8Writer): void {
    const base = changetype<usize>(this.bins)
    let low = 0
    while (low < this.capacity && load<f64>(base + (<usize>low << 3)) == 0) low++
    let high = this.capacity - 1
    while (high > low && load<f64>(base + (<usize>high << 3)) == 0) high--
    const bins = low < this.capacity ? high - low + 1 : 0
    const countsBytes = bins << 3
    const offsetZigzag = zigzag(this.offset + low)
    const storeLength = bins > 0 ? 1 + varintLength(countsBytes) + countsBytes + 1 + varintLength(offsetZigzag) : 0

    this.protoLength = 0
    this.reserveProto(40 + storeLength)
    this.protoByte(0x0a) // mapping: two tagged doubles
    this.protoByte(18)
    this.protoByte(0x09)
    this.protoDouble(GAMMA)
    this.protoByte(0x11)
    this.protoDouble(0)
    this.protoByte(0x12) // positiveValues
    this.protoVarint(storeLength)
    if (bins > 0) {
      this.protoByte(0x12)
      this.protoVarint(countsBytes)
      memory.copy(changetype<usize>(this.proto) + <usize>this.protoLength, base + (<usize>low << 3), <usize>countsBytes)
      this.protoLength += countsBytes
      this.protoByte(0x18)
      this.protoVarint(offsetZigzag)
    }
    this.protoByte(0x1a) // negativeValues, empty
    this.protoByte(0)
    if (this.zeroCount != 0) {
      this.protoByte(0x21)
      this.protoDouble(this.zeroCount)
    }
    w.base64(changetype<usize>(this.proto), this.protoLength)
  }

  /** Grows the bins so that `key` (clamped) has one, keeping the counts; returns its index. */
  private makeRoom(key: i32): i32 {
    key = min(max(key, -KEY_LIMIT), KEY_LIMIT)
    if (this.capacity == 0) {
      this.bins = new ArrayBuffer(INITIAL_BINS << 3)
      this.capacity = INITIAL_BINS
      this.offset = key - INITIAL_BINS / 2
      return key - this.offset
    }
    const index = key - this.offset
    if (<u32>index < <u32>this.capacity) return index
    // Doubles at least, the new room on the side the key fell, so a range
    // that keeps widening one way grows a few times only.
    const end = this.offset + this.capacity
    const capacity = max(this.capacity * 2, key < this.offset ? end - key : key - this.offset + 1)
    const offset = key < this.offset ? end - capacity : this.offset
    const grown = new ArrayBuffer(capacity << 3)
    memory.copy(changetype<usize>(grown) + (<usize>(this.offset - offset) << 3), changetype<usize>(this.bins), <usize>this.capacity << 3)
    this.bins = grown
    this.capacity = capacity
    this.offset = offset
    return key - offset
  }

  private reserveProto(bytes: i32): void {
    if (bytes <= this.proto.byteLength) return
    this.proto = new ArrayBuffer(max(bytes, this.proto.byteLength * 2))
  }

  /** One byte; callers reserve room first. */
  @inline private protoByte(b: u32): void {
    store<u8>(changetype<usize>(this.proto) + <usize>this.protoLength, <u8>b)
    this.protoLength++
  }

  private protoVarint(n: u32): void {
    while (n >= 0x80) {
      this.protoByte((n & 0x7f) | 0x80)
      n >>= 7
    }
    this.protoByte(n)
  }

  /** Little-endian, as protobuf's doubles and Wasm's memory both are. */
  private protoDouble(value: f64): void {
    store<f64>(changetype<usize>(this.proto) + <usize>this.protoLength, value)
    this.protoLength += 8
  }
}

/** sint32's encoding: small magnitudes, either sign, in few varint bytes. */
function zigzag(n: i32): u32 {
  return <u32>((n << 1) ^ (n >> 31))
}

function varintLength(n: u32): i32 {
  let length = 1
  while (n >= 0x80) {
    n >>= 7
    length++
  }
  return length
}
