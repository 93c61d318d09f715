/**
 * The golden-signals plugin's latency sketch (assembly/latency-sketch.ts),
 * driven through its fixture (test-fixtures/sketch, plain exports), against
 * @datadog/sketches-js: its base64 decodes with `DDSketch.fromProto` into
 * the sketch `new DDSketch({ relativeAccuracy: 0.01 })` builds from the same
 * latencies (same gamma bits, same keys, same counts), merges with the
 * collector's sketches, keeps the 1% accuracy, and reset() leaves it as new.
 */
import { readFile } from 'node:fs/promises'
import { DDSketch } from '@datadog/sketches-js'
import proto from '@datadog/sketches-js/dist/ddsketch/proto/compiled.js'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { wasmPath } from '../../../modules.ts'

interface SketchFixture {
  add(ms: number): void
  reset(): void
  count(): number
  key(ms: number): number
  multiplier(): number
  encode(): number
  encodedLength(): number
  memory: WebAssembly.Memory
}

// The library's static protobuf codecs (its .d.ts types them only as a protobufjs Root).
const ProtoDDSketch = (
  proto as unknown as { DDSketch: { decode(bytes: Uint8Array): { mapping?: { gamma?: number } | null } } }
).DDSketch

let fixture: WebAssembly.Module

beforeAll(async () => {
  fixture = await WebAssembly.compile(await readFile(wasmPath('fixture-sketch')))
})

/** A new instance: a sketch that nothing was added to. */
function fresh(): SketchFixture {
  // Its only imports are WASI's, for abort messages: reaching one fails the test.
  const imports: Record<string, Record<string, () => never>> = {}
  for (const i of WebAssembly.Module.imports(fixture)) {
    const functions = (imports[i.module] ??= {})
    functions[i.name] = () => {
      throw new Error(`fixture-sketch called ${i.module}.${i.name}`)
    }
  }
  const exports = new WebAssembly.Instance(fixture, imports).exports as unknown as SketchFixture & { _start(): void }
  // The start function sets the module's globals (the mapping's multiplier).
  exports._start()
  return exports
}

function encode(f: SketchFixture): string {
  const ptr = f.encode()
  // Read the memory after encoding: growing it detaches the old buffer.
  return Buffer.from(new Uint8Array(f.memory.buffer, ptr, f.encodedLength())).toString('latin1')
}

function filled(values: readonly number[], f = fresh()): SketchFixture {
  for (const v of values) f.add(v)
  return f
}

function jsSketch(values: readonly number[]): DDSketch {
  const s = new DDSketch({ relativeAccuracy: 0.01 })
  for (const v of values) s.accept(v)
  return s
}

const decode = (b64: string) => DDSketch.fromProto(Buffer.from(b64, 'base64'))

const mapping = new DDSketch({ relativeAccuracy: 0.01 }).mapping
const { gamma, minPossible } = mapping
// Not on the Mapping type, but what LogarithmicMapping keys with.
const multiplier = (mapping as unknown as { _multiplier: number })._multiplier

/** The non-empty bins of a sketch's positive store, by key. */
function bins(s: DDSketch): Map<number, number> {
  const out = new Map<number, number>()
  s.store.bins.forEach((count, i) => {
    if (count !== 0) out.set(i + s.store.offset, count)
  })
  return out
}

/** `x` moved by `ulps` units in the last place (x > 0). */
function ulpStep(x: number, ulps: number): number {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, x)
  view.setBigUint64(0, view.getBigUint64(0) + BigInt(ulps))
  return view.getFloat64(0)
}

/** How far `v` is, relatively, from the nearest bin boundary gamma^k. */
const boundaryDistance = (v: number) => {
  const x = Math.log2(v) * multiplier
  return (Math.abs(x - Math.round(x)) * Math.LN2) / multiplier
}

/**
 * The bins sketches-js gets for `values`, each value moved to the key the
 * Wasm sketch gives it where the two differ. With gamma and the multiplier
 * the same doubles (checked below), a key could differ only if Wasm's log2
 * (AssemblyScript's, fdlibm's at the build's shrink level) and V8's (also
 * fdlibm's, but compiled C++: a compiler may fuse a multiply-add where Wasm
 * cannot) ever differ by an ulp, and then only where log2(v) * multiplier
 * rounds across an integer: v within about 1e-15 relative of a boundary
 * gamma^k (1e-13 at the largest doubles). Such a value may land in the
 * neighbouring key if it lies within 1e-12 relative of a boundary; every
 * other value must get the same key.
 */
function expectedBins(f: SketchFixture, values: readonly number[]): Map<number, number> {
  const expected = bins(jsSketch(values))
  for (const v of values) {
    if (!(v > minPossible)) continue
    const jsKey = mapping.key(v)
    const wasmKey = f.key(v)
    if (wasmKey === jsKey) continue
    expect(Math.abs(wasmKey - jsKey), `key of ${v}`).toBe(1)
    expect(boundaryDistance(v), `key of ${v}`).toBeLessThan(1e-12)
    const left = (expected.get(jsKey) ?? 0) - 1
    if (left === 0) expected.delete(jsKey)
    else expected.set(jsKey, left)
    expected.set(wasmKey, (expected.get(wasmKey) ?? 0) + 1)
  }
  return expected
}

/** Latencies in ms: zeros, sub-microsecond, typical, rare huge ones, and values at and next to bin boundaries. */
const latency = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.double({ min: 1e-4, max: 1e-2, noNaN: true }) },
  { weight: 6, arbitrary: fc.double({ min: 0.1, max: 5000, noNaN: true }) },
  { weight: 1, arbitrary: fc.double({ min: 5000, max: 86_400_000, noNaN: true }) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: -350, max: 900 }), fc.integer({ min: -2, max: 2 }))
      .map(([k, ulps]) => ulpStep(2 ** (k / multiplier), ulps)),
  },
)
const latencies = fc.array(latency, { maxLength: 300 })

describe('golden-signals latency sketch', () => {
  it('decodes to the DDSketch sketches-js builds from the same latencies', () => {
    fc.assert(
      fc.property(latencies, (values) => {
        const f = filled(values)
        const b64 = encode(f)
        // Standard, padded base64: re-encoding the bytes gives the same text.
        expect(Buffer.from(b64, 'base64').toString('base64')).toBe(b64)
        const raw = ProtoDDSketch.decode(Buffer.from(b64, 'base64'))
        // fromProto recomputes gamma from the relative accuracy: the bits must match before that.
        expect(Object.is(raw.mapping?.gamma, gamma)).toBe(true)
        const decoded = decode(b64)
        const js = jsSketch(values)
        expect(f.count()).toBe(values.length)
        expect(decoded.count).toBe(values.length)
        expect(decoded.zeroCount).toBe(js.zeroCount)
        expect(decoded.negativeStore.count).toBe(0)
        expect(bins(decoded)).toEqual(expectedBins(f, values))
      }),
      { numRuns: 200 },
    )
  })

  it('maps values to keys with the same doubles as sketches-js', () => {
    const f = fresh()
    expect(Object.is(f.multiplier(), multiplier)).toBe(true)
    const values = fc.sample(fc.oneof(latency, fc.double({ min: 1e-6, max: 1e9, noNaN: true })), {
      numRuns: 50_000,
      seed: 42,
    })
    const sketch = filled(values, f)
    expect(bins(decode(encode(sketch)))).toEqual(expectedBins(f, values))
  })

  it('matches sketches-js at the edges of the mapping', () => {
    // At or below minPossible a value counts as zero; just above it and at the largest double, the extreme keys.
    const values = [0, 5e-324, minPossible, ulpStep(minPossible, 1), 1e-300, Number.MAX_VALUE, 1]
    const f = filled(values)
    const decoded = decode(encode(f))
    expect(decoded.count).toBe(values.length)
    expect(decoded.zeroCount).toBe(3)
    expect(bins(decoded)).toEqual(expectedBins(f, values))
  })

  it('merges with sketches-js sketches both ways, counts adding up', () => {
    fc.assert(
      fc.property(latencies, latencies, (ours, theirs) => {
        const decoded = decode(encode(filled(ours)))
        const js = jsSketch(theirs)
        expect(decoded.mapping.gamma).toBe(js.mapping.gamma)
        const intoJs = jsSketch(theirs)
        intoJs.merge(decoded)
        expect(intoJs.count).toBe(ours.length + theirs.length)
        decoded.merge(js)
        expect(decoded.count).toBe(ours.length + theirs.length)
        expect(decoded.store.count + decoded.zeroCount).toBe(ours.length + theirs.length)
      }),
      { numRuns: 100 },
    )
  })

  it('keeps quantiles within 1% of the exact ones', () => {
    const quantiles = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1]
    fc.assert(
      fc.property(fc.array(latency, { minLength: 1, maxLength: 300 }), (values) => {
        const decoded = decode(encode(filled(values)))
        const sorted = [...values].sort((a, b) => a - b)
        for (const q of quantiles) {
          // DDSketch's rank: the value at index floor(q * (n - 1)) of the sorted inputs.
          const exact = sorted[Math.floor(q * (values.length - 1))] ?? Number.NaN
          const estimate = decoded.getValueAtQuantile(q)
          if (exact <= minPossible) expect(estimate).toBe(0)
          // 1% is reached exactly at the bin boundaries; allow floating-point rounding beyond it.
          else expect(Math.abs(estimate - exact) / exact).toBeLessThanOrEqual(0.01 * (1 + 1e-9))
        }
      }),
      { numRuns: 100 },
    )
  })

  it('after reset() encodes exactly as a new sketch given the same latencies', () => {
    fc.assert(
      fc.property(latencies, latencies, (before, after) => {
        const reused = filled(before)
        reused.reset()
        expect(reused.count()).toBe(0)
        filled(after, reused)
        expect(reused.count()).toBe(after.length)
        expect(encode(reused)).toBe(encode(filled(after)))
      }),
      { numRuns: 100 },
    )
  })

  it('encodes an empty sketch that decodes with count 0', () => {
    const decoded = decode(encode(fresh()))
    expect(decoded.count).toBe(0)
    expect(decoded.zeroCount).toBe(0)
    expect(decoded.mapping.gamma).toBe(gamma)
    expect(decoded.getValueAtQuantile(0.5)).toBeNaN()
  })
})
