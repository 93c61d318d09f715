// @module
// The end of a capture the byte cap cut off: a value cut there is masked
// when its start could be PII, since a pattern cannot recognise what it
// does not see whole ("jane.doe@exam", "4111 1111 11"). Recognisable starts:
// an e-mail with its @; a run of digits that could begin a card or phone
// (a leading + or parenthesis, a separator, or a first digit 2-6, as cards
// have), or any run of digits in free text (a long number's start: see
// pii-patterns.ts); an IBAN's country and check digits. A word cut before anything
// recognisable (an e-mail cut before its @) stays: it cannot be told from
// a word. JSON field values cut off are masked by the field masker.
import { AT, BACKSLASH, CLOSE_PAREN, DASH, DOT, isAlnum, isDigit, isEmailLocal, isLetter, OPEN_PAREN, PLUS, SLASH, SPACE, unit } from "./pii-chars"
import { isJsonText } from "./pii-json-shape"
import { escaped, gapStart } from "./pii-patterns"

export const TRUNCATED = "[TRUNCATED]"

/** How far back from the cut a card, phone or IBAN may start: the longest, an IBAN in groups, has 42 characters. */
const LONGEST_GROUPED = 48
/** How far back an e-mail address may start (64 + 1 + 255 characters, RFC 5321). */
const LONGEST_EMAIL = 320

/** `text` with the value the cut ended inside replaced by [TRUNCATED], when it could be PII. */
export function maskCutTail(text: string): string {
  const n = text.length
  const from = min(cutEmailStart(text), min(cutNumberStart(text), cutIbanStart(text)))
  return from < n ? text.substring(0, from) + TRUNCATED : text
}

/** The start of a cut e-mail address (a word with an @ in it, space around the @ allowed: see gapStart), or the text's length. */
function cutEmailStart(text: string): i32 {
  const n = text.length
  let s = cutEscapeStart(text)
  let at = false
  while (s > 0 && n - s < LONGEST_EMAIL) {
    const b = gapStart(text, s, 0)
    if (b < s) {
      // Space next to the @ belongs to the address ("bob @ exam", "bob\\t@\\texam").
      if (unit(text, s) != AT && (at || unit(text, b - 1) != AT)) break
      s = b
      continue
    }
    const c = unit(text, s - 1)
    if (c == AT) at = true
    else if (!isEmailLocal(c)) break
    s--
  }
  return at ? s : n
}

/** Where an escape the cut ended inside starts (a last backslash, `\u00a`), or the text's length. */
function cutEscapeStart(text: string): i32 {
  const n = text.length
  for (let b = n - 1; b >= 0 && b >= n - 5; b--) {
    if (unit(text, b) != BACKSLASH || escaped(text, b)) continue
    // \uXXXX is six characters, the others two: complete ones are no cut escape.
    const whole = unit(text, b + 1) == 117 ? 6 : 2
    return n - b < whole ? b : n
  }
  return n
}

function isNumberChar(c: i32): bool {
  return isDigit(c) || c == SPACE || c == DASH || c == DOT || c == SLASH || c == OPEN_PAREN || c == CLOSE_PAREN
}

/** The start of a cut run of digits that could begin a card or phone, or the text's length. */
function cutNumberStart(text: string): i32 {
  const n = text.length
  let s = n
  while (s > 0 && n - s < LONGEST_GROUPED && isNumberChar(unit(text, s - 1))) s--
  // Stopped by the bound: inside a run longer than any card or phone, whose last part is masked.
  const inRun = s > 0 && isNumberChar(unit(text, s - 1))
  if (!inRun && s > 0 && unit(text, s - 1) == PLUS) s--
  while (s < n && !isDigit(unit(text, s)) && unit(text, s) != OPEN_PAREN && unit(text, s) != PLUS) s++
  if (s >= n || (!inRun && s > 0 && isAlnum(unit(text, s - 1)))) return n // nothing, or inside a word
  let digits = 0
  let separated = false
  for (let k = s; k < n; k++) {
    if (isDigit(unit(text, k))) digits++
    else if (digits > 0) separated = true
  }
  if (digits == 0) return n
  const c = unit(text, s)
  let firstDigit = s
  while (!isDigit(unit(text, firstDigit))) firstDigit++
  const d = unit(text, firstDigit)
  return inRun || c == PLUS || c == OPEN_PAREN || separated || (d >= 50 && d <= 54) || endsInFreeText(text) ? s : n
}

/** Whether the text ends in free text: it is not JSON, or it ends inside one of its strings (an odd count of unescaped quotes). */
function endsInFreeText(text: string): bool {
  if (!isJsonText(text)) return true
  let inString = false
  for (let q = text.indexOf("\""); q >= 0; q = text.indexOf("\"", q + 1)) if (!escaped(text, q)) inString = !inString
  return inString
}

/** The start of a cut IBAN (CCdd, then alphanumerics and single spaces to the cut), or the text's length. */
function cutIbanStart(text: string): i32 {
  const n = text.length
  let s = n
  while (s > 0 && n - s < LONGEST_GROUPED) {
    const c = unit(text, s - 1)
    const singleSpace = c == SPACE && s >= 2 && isAlnum(unit(text, s - 2)) && (s == n || isAlnum(unit(text, s)))
    if (!isAlnum(c) && !singleSpace) break
    s--
  }
  // The earliest word start from there that reads CCdd.
  for (let w = s; w + 4 <= n; w++) {
    const wordStart = w == s ? w == 0 || !isAlnum(unit(text, w - 1)) || n - s >= LONGEST_GROUPED : unit(text, w - 1) == SPACE
    if (!wordStart) continue
    if (isLetter(unit(text, w)) && isLetter(unit(text, w + 1)) && isDigit(unit(text, w + 2)) && isDigit(unit(text, w + 3))) return w
  }
  return n
}
