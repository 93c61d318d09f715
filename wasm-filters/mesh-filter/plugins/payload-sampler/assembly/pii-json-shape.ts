// @module
// Whether a text is JSON, for the PII patterns: numbers outside JSON strings
// are data (tensors) and stay, so only a text whose structure is JSON gets
// that treatment; any other is free text throughout. A first `{` or `[` is
// not enough: log lines open with them ("[INFO] ssn 123456789"). The check
// reads the structure (containers, keys, commas, colons, scalars' shapes)
// without building anything, in one pass; string contents are opaque. A
// text that stops where JSON could go on passes (a capture the byte cap cut
// is a prefix of its body), and so do documents one after another (JSON
// lines); each must be an object or an array. NaN and Infinity, which
// Python's encoder writes in tensor data, count as numbers.
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, DASH, DOT, isDigit, isSpace, OPEN_BRACE, OPEN_BRACKET, PLUS, QUOTE, unit } from "./pii-chars"

// What may come next.
const DOCUMENT = 0 // between documents: an object or array
const VALUE = 1 // after ':' or ',' in an array
const VALUE_OR_CLOSE = 2 // after '['
const KEY = 3 // after ',' in an object
const KEY_OR_CLOSE = 4 // after '{'
const COLON_NEXT = 5 // after a key
const AFTER_VALUE = 6 // ',' or the container's close

const IN_OBJECT: u8 = 1
const IN_ARRAY: u8 = 2

/** The open containers, innermost last: grown as needed and kept, so checking allocates only for deeper bodies than before. */
let open = new StaticArray<u8>(64)

export function isJsonText(text: string): bool {
  const n = text.length
  let depth = 0
  let state = DOCUMENT
  let seen = false
  let i = 0
  while (i < n) {
    const c = unit(text, i)
    if (isSpace(c)) {
      i++
    } else if (c == OPEN_BRACE || c == OPEN_BRACKET) {
      if (state != DOCUMENT && state != VALUE && state != VALUE_OR_CLOSE) return false
      push(depth++, c == OPEN_BRACE ? IN_OBJECT : IN_ARRAY)
      seen = true
      state = c == OPEN_BRACE ? KEY_OR_CLOSE : VALUE_OR_CLOSE
      i++
    } else if (state == DOCUMENT) {
      return false
    } else if (c == CLOSE_BRACE || c == CLOSE_BRACKET) {
      const kind = c == CLOSE_BRACE ? IN_OBJECT : IN_ARRAY
      if (unchecked(open[depth - 1]) != kind) return false
      if (state != AFTER_VALUE && state != (kind == IN_OBJECT ? KEY_OR_CLOSE : VALUE_OR_CLOSE)) return false
      depth--
      state = depth == 0 ? DOCUMENT : AFTER_VALUE
      i++
    } else if (c == COMMA) {
      if (state != AFTER_VALUE) return false
      state = unchecked(open[depth - 1]) == IN_OBJECT ? KEY : VALUE
      i++
    } else if (c == COLON) {
      if (state != COLON_NEXT) return false
      state = VALUE
      i++
    } else if (c == QUOTE) {
      const key = state == KEY || state == KEY_OR_CLOSE
      if (!key && state != VALUE && state != VALUE_OR_CLOSE) return false
      i = stringEnd(text, i)
      state = key ? COLON_NEXT : AFTER_VALUE
    } else {
      if (state != VALUE && state != VALUE_OR_CLOSE) return false
      i = scalarEnd(text, i)
      if (i < 0) return false
      state = AFTER_VALUE
    }
  }
  // Nothing but space is no JSON; a text cut inside a document is (see above).
  return seen
}

function push(at: i32, kind: u8): void {
  if (at >= open.length) {
    const grown = new StaticArray<u8>(open.length * 2)
    memory.copy(changetype<usize>(grown), changetype<usize>(open), <usize>open.length)
    open = grown
  }
  unchecked((open[at] = kind))
}

/** Just past the string opening at `q` (past its closing quote), or the text's length when it is cut off. */
function stringEnd(text: string, q: i32): i32 {
  const n = text.length
  let i = q + 1
  while (i < n) {
    const c = unit(text, i)
    if (c == QUOTE) return i + 1
    i += c == BACKSLASH ? 2 : 1
  }
  return n
}

/** Just past a number or literal at `i` that a delimiter (or the text's end) follows; -1 when it is neither. */
function scalarEnd(text: string, i: i32): i32 {
  const end = literalEnd(text, i)
  const e = end >= 0 ? end : numberEnd(text, i)
  if (e < 0) return -1
  const d = unit(text, e)
  return d < 0 || isSpace(d) || d == COMMA || d == CLOSE_BRACE || d == CLOSE_BRACKET ? e : -1
}

const LITERALS: string[] = ["true", "false", "null", "NaN", "Infinity", "-Infinity"]

/** Just past the literal at `i` (or a start of one the text's end cut), or -1. */
function literalEnd(text: string, i: i32): i32 {
  for (let l = 0; l < LITERALS.length; l++) {
    const word = LITERALS[l]
    let k = 0
    while (k < word.length && i + k < text.length && unit(text, i + k) == unit(word, k)) k++
    if (k == word.length || (k > 0 && i + k == text.length)) return i + k
  }
  return -1
}

/** Just past the number at `i` (RFC 8259's shape, leading zeros allowed), or -1; a number the text's end cut passes. */
function numberEnd(text: string, i: i32): i32 {
  const n = text.length
  let p = i
  if (unit(text, p) == DASH) p++
  const digits = p
  while (p < n && isDigit(unit(text, p))) p++
  if (p == digits) return p == n ? p : -1
  if (unit(text, p) == DOT) {
    const fraction = ++p
    while (p < n && isDigit(unit(text, p))) p++
    if (p == fraction && p < n) return -1
  }
  const e = unit(text, p)
  if (e == 101 || e == 69) { // e E
    p++
    if (unit(text, p) == PLUS || unit(text, p) == DASH) p++
    const exponent = p
    while (p < n && isDigit(unit(text, p))) p++
    if (p == exponent && p < n) return -1
  }
  return p
}
