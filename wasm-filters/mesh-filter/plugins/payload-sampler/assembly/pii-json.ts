// @module
// Masks the values of configured JSON field names (case-insensitive, keys
// compared after decoding their escapes, so `full\u005fname` is full_name) at
// any depth, in plain JSON and in JSON escaped inside a JSON string (a body
// that echoes or logs another: `{"log":"{\"email\":…}"}`). It scans the text
// rather than parsing it, so a capture cut off mid-document is masked as well
// as a whole one. A value that is an object or array is replaced whole.
//
// Nesting levels: a quote after r backslashes delimits plain strings
// (level 0) when r is even, strings of JSON escaped once (level 1, `\"`) when
// r is 1 mod 4 (`\\\\\"` ends a level-1 string whose value ends in an escaped
// backslash), level 2 when r is 3 mod 8: the level is the number of trailing
// 1 bits of r. A pass at level L reads strings delimited at level L; a quote
// of a lower level ends the string the level-L text is embedded in.
import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, hexValue, isSpace, OPEN_BRACE, OPEN_BRACKET, QUOTE, unit } from "./pii-chars"
import { TextBuilder } from "./text-builder"

export const REDACTED = "[REDACTED]"

/** The deepest level masked: JSON escaped once inside a JSON string. Deeper JSON is masked by the patterns only. */
const DEEPEST_LEVEL = 1

export function maskJsonFields(text: string, fields: string[]): string {
  let out = maskFieldsAt(text, fields, 0)
  for (let level = 1; level <= DEEPEST_LEVEL; level++) {
    if (out.indexOf("\\\"") < 0) break // no escaped JSON: nothing more to do
    out = maskFieldsAt(out, fields, level)
  }
  return out
}

/** The longest field name: a key that decodes to more is no field. */
function longest(fields: string[]): i32 {
  let most = 0
  for (let f = 0; f < fields.length; f++) most = max(most, fields[f].length)
  return most
}

/** One pass over the strings delimited at `level`: each that is a key of a field gets its value replaced. */
function maskFieldsAt(text: string, fields: string[], level: i32): string {
  const out = new TextBuilder(text)
  const n = text.length
  // The backslashes before a level's quote, and the quote: `"`, `\"`.
  const delimiter = "\\".repeat((1 << level) - 1) + "\""
  const masked = delimiter + REDACTED + delimiter
  const longestField = longest(fields)
  let i = 0
  while (i < n) {
    const open = nextQuote(text, i, level)
    if (open < 0) break
    i = open + 1
    if (quoteLevel(text, open) < level) continue // the embedding string ends here: no string opens
    const close = nextQuote(text, open + 1, level)
    if (close < 0) break // cut off: no key follows
    i = close + 1
    if (quoteLevel(text, close) < level) continue // cut off where its embedding string ends
    const colon = skipSpace(text, close + 1, level)
    if (colon >= n || unit(text, colon) != COLON) continue
    if (!isField(text, open + 1, close - delimiter.length + 1, level, fields, longestField)) continue
    const start = skipSpace(text, colon + 1, level)
    const end = valueEnd(text, start, level)
    out.replace(start, end, masked)
    i = end
  }
  return out.finish()
}

/** The level of the quote at `q`, from the backslashes before it (see the module comment). */
function quoteLevel(text: string, q: i32): i32 {
  let r = 0
  while (q - r > 0 && unit(text, q - r - 1) == BACKSLASH) r++
  return ctz<i32>(~r)
}

/** The next quote at or after `from` that delimits strings at `level` or lower; -1 when none. */
function nextQuote(text: string, from: i32, level: i32): i32 {
  let q = text.indexOf("\"", from)
  while (q >= 0 && quoteLevel(text, q) > level) q = text.indexOf("\"", q + 1)
  return q
}

/** Skips whitespace; in escaped JSON also escaped whitespace (`\n`, `\t`, `\r` of a pretty-printed document). */
function skipSpace(text: string, from: i32, level: i32): i32 {
  const n = text.length
  let i = from
  while (i < n) {
    const c = unit(text, i)
    if (isSpace(c)) i++
    else if (level > 0 && c == BACKSLASH && i + 1 < n && isEscapedSpace(unit(text, i + 1))) i += 2
    else break
  }
  return i
}

function isEscapedSpace(c: i32): bool {
  return c == 110 || c == 116 || c == 114 // n t r
}

// Scratch for decoding escaped keys (one buffer per decoding step), so that comparing allocates nothing.
let decodedOnce = new StaticArray<u16>(64)
let decodedTwice = new StaticArray<u16>(64)

/**
 * Whether the key text[from, to), as written at `level`, names a field:
 * compared after decoding its escapes once per level (`full\\u005fname` in
 * escaped JSON is full\u005fname, which is full_name).
 */
function isField(text: string, from: i32, to: i32, level: i32, fields: string[], longestField: i32): bool {
  const raw = changetype<usize>(text) + (<usize>from << 1)
  const length = to - from
  let escaped = false
  for (let i = from; i < to && !escaped; i++) escaped = unit(text, i) == BACKSLASH
  if (!escaped) return namesField(raw, length, fields)
  // \uXXXX is six characters for one, so a level-0 decoding may hold six times the longest field before the last.
  const wide = longestField * 6
  if (decodedOnce.length < wide) decodedOnce = new StaticArray<u16>(wide)
  if (decodedTwice.length < longestField) decodedTwice = new StaticArray<u16>(longestField)
  const once = unescapeUnits(raw, length, changetype<usize>(decodedOnce), level == 0 ? longestField : wide)
  if (once < 0 || level == 0) return once >= 0 && namesField(changetype<usize>(decodedOnce), once, fields)
  const twice = unescapeUnits(changetype<usize>(decodedOnce), once, changetype<usize>(decodedTwice), longestField)
  return twice >= 0 && namesField(changetype<usize>(decodedTwice), twice, fields)
}

/** The `length` UTF-16 units at `at` equal one of the (lower-case) fields, ignoring ASCII case. */
function namesField(at: usize, length: i32, fields: string[]): bool {
  for (let f = 0; f < fields.length; f++) {
    const field = fields[f]
    if (field.length != length) continue
    let same = true
    for (let k = 0; k < length && same; k++) {
      let c = <i32>load<u16>(at + (<usize>k << 1))
      if (c >= 65 && c <= 90) c += 32
      same = c == unit(field, k)
    }
    if (same) return true
  }
  return false
}

/**
 * Decodes the JSON escapes (\u005f, \", \n…) of the `length` UTF-16 units at
 * `src` into `dst`; returns the decoded length, or -1 once it passes `most`.
 * A \u without four hex digits leaves its backslash.
 */
function unescapeUnits(src: usize, length: i32, dst: usize, most: i32): i32 {
  let o = 0
  let i = 0
  while (i < length) {
    if (o >= most) return -1
    let c = <i32>load<u16>(src + (<usize>i << 1))
    let step = 1
    if (c == BACKSLASH && i + 1 < length) {
      const e = <i32>load<u16>(src + (<usize>(i + 1) << 1))
      step = 2
      if (e == 117) {
        const h = i + 6 <= length ? hexUnits(src + (<usize>(i + 2) << 1)) : -1
        if (h >= 0) {
          c = h
          step = 6
        } else step = 1
      } else if (e == 110) c = 10
      else if (e == 116) c = 9
      else if (e == 114) c = 13
      else if (e == 98) c = 8
      else if (e == 102) c = 12
      else c = e // \" \\ \/ stand for themselves
    }
    store<u16>(dst + (<usize>o << 1), <u16>c)
    o++
    i += step
  }
  return o
}

/** The value of four hex digits at `at` (UTF-16 units), or -1. */
function hexUnits(at: usize): i32 {
  let v = 0
  for (let k = 0; k < 4; k++) {
    const h = hexValue(<i32>load<u16>(at + (<usize>k << 1)))
    if (h < 0) return -1
    v = (v << 4) | h
  }
  return v
}

/** Index just past the JSON value at `start`; where the text (or its embedding string) ends when the value is cut off. */
function valueEnd(text: string, start: i32, level: i32): i32 {
  const n = text.length
  if (start >= n) return n
  const quote = start + (1 << level) - 1
  if (quote < n && unit(text, quote) == QUOTE && quoteLevel(text, quote) == level && (quote == start || unit(text, start) == BACKSLASH)) {
    const close = nextQuote(text, quote + 1, level)
    if (close < 0) return n
    return quoteLevel(text, close) == level ? close + 1 : close
  }
  const c = unit(text, start)
  if (c == OPEN_BRACE || c == OPEN_BRACKET) return containerEnd(text, start, level)
  // A number, true, false or null: up to what ends it.
  let i = start
  while (i < n) {
    const ch = unit(text, i)
    if (ch == COMMA || ch == CLOSE_BRACE || ch == CLOSE_BRACKET || ch == QUOTE || isSpace(ch) || (level > 0 && ch == BACKSLASH)) break
    i++
  }
  return i
}

/** Index just past the object or array at `start`, skipping the strings inside it. */
function containerEnd(text: string, start: i32, level: i32): i32 {
  const n = text.length
  let depth = 0
  let i = start
  while (i < n) {
    const ch = unit(text, i)
    if (ch == QUOTE) {
      const l = quoteLevel(text, i)
      if (l < level) return i // the embedding string ends: the value is cut off here
      if (l == level) {
        const close = nextQuote(text, i + 1, level)
        if (close < 0) return n
        if (quoteLevel(text, close) < level) return close
        i = close + 1
        continue
      }
    } else if (ch == OPEN_BRACE || ch == OPEN_BRACKET) {
      depth++
    } else if (ch == CLOSE_BRACE || ch == CLOSE_BRACKET) {
      depth--
      if (depth == 0) return i + 1
    }
    i++
  }
  return n
}
