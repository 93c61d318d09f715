// @module
// Stable 32-bit hash for sticky decisions: FNV-1a over UTF-8 bytes, then
// murmur3's finaliser to spread nearby keys. The same key gives the same
// value in every worker, instance and restart (no seed).

export function stableHash(key: string): u32 {
  const bytes = Uint8Array.wrap(String.UTF8.encode(key))
  let h: u32 = 0x811c9dc5
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]
    h *= 0x01000193
  }
  h ^= h >>> 16
  h *= 0x85ebca6b
  h ^= h >>> 13
  h *= 0xc2b2ae35
  h ^= h >>> 16
  return h
}
