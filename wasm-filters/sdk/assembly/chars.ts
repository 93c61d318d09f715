// @module
// ASCII character classes the SDK's JSON parser needs (the PII scanners
// build theirs on these).

export function isDigit(c: i32): bool {
  return c >= 48 && c <= 57
}

/** 0-15 for a hex digit, -1 otherwise. */
export function hexValue(c: i32): i32 {
  if (isDigit(c)) return c - 48
  if (c >= 65 && c <= 70) return c - 55
  if (c >= 97 && c <= 102) return c - 87
  return -1
}
