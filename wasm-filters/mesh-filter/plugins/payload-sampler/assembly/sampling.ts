// @module
// The sampling decisions: the rate, from the request id alone, so every
// component (the filter, the host, the collector) agrees on which requests
// are sampled; and the confidence a response reports.
import { isDigit, stableHash } from "../../../../sdk/assembly/index"

export function sampledByRate(requestId: string, rateBp: i32): bool {
  return rateBp > 0 && requestId.length > 0 && <i32>(stableHash("sample\n" + requestId) % 10000) < rateBp
}

/** x-model-confidence as a number in [0, 1], or -1 (absent) for a missing header or anything else. */
export function parseConfidence(header: string | null): f64 {
  if (header === null) return -1
  const text = header.trim()
  // An unsigned decimal: parseFloat alone reads "0.5abc" as 0.5 and "1e999" as Infinity.
  if (!isUnsignedDecimal(text)) return -1
  const c = parseFloat(text)
  return isFinite(c) && c >= 0 && c <= 1 ? c : -1
}

/** digits, an optional fraction and an optional exponent: 0.52, .5, 1, 5e-1. */
function isUnsignedDecimal(s: string): bool {
  const n = s.length
  let i = 0
  let digits = 0
  while (i < n && isDigit(s.charCodeAt(i))) {
    i++
    digits++
  }
  if (i < n && s.charCodeAt(i) == 46) {
    i++
    while (i < n && isDigit(s.charCodeAt(i))) {
      i++
      digits++
    }
  }
  if (digits == 0) return false
  if (i < n && (s.charCodeAt(i) | 32) == 101) {
    i++
    if (i < n && (s.charCodeAt(i) == 43 || s.charCodeAt(i) == 45)) i++
    const start = i
    while (i < n && isDigit(s.charCodeAt(i))) i++
    if (i == start) return false
  }
  return i == n
}
