/**
 * @module
 * The proxy-wasm wire format for header maps: a u32 pair count, then each
 * pair's key and value sizes (u32), then each key and value followed by NUL.
 * Little-endian throughout.
 */

export type HeaderPairs = [string, string][]

const encoder = new TextEncoder()

export function serializePairs(pairs: HeaderPairs): Uint8Array {
  const encoded = pairs.map(([k, v]) => [encoder.encode(k), encoder.encode(v)] as const)
  const size = 4 + encoded.length * 8 + encoded.reduce((n, [k, v]) => n + k.length + v.length + 2, 0)
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  view.setUint32(0, encoded.length, true)
  let offset = 4
  for (const [k, v] of encoded) {
    view.setUint32(offset, k.length, true)
    view.setUint32(offset + 4, v.length, true)
    offset += 8
  }
  for (const [k, v] of encoded) {
    out.set(k, offset)
    offset += k.length + 1
    out.set(v, offset)
    offset += v.length + 1
  }
  return out
}

export function deserializePairs(bytes: Uint8Array): HeaderPairs {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const count = view.getUint32(0, true)
  const sizes: [number, number][] = []
  let offset = 4
  for (let i = 0; i < count; i++, offset += 8)
    sizes.push([view.getUint32(offset, true), view.getUint32(offset + 4, true)])
  const decoder = new TextDecoder()
  return sizes.map(([k, v]) => {
    const key = decoder.decode(bytes.subarray(offset, offset + k))
    offset += k + 1
    const value = decoder.decode(bytes.subarray(offset, offset + v))
    offset += v + 1
    return [key, value]
  })
}
