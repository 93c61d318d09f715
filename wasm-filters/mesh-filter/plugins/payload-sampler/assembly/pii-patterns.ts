// @module
// PII patterns in any text, JSON or not: e-mail addresses, card numbers
// that pass Luhn, IBANs that pass mod-97, and phone numbers. There are no
// regular expressions in AssemblyScript, so each pattern is a small scanner;
// all of them together read each character a bounded number of times, so
// the masking is linear in the text whatever it holds.
//
// Digits are read as runs of groups (digits between single separators:
// space, dash, dot, parentheses). Within a run, every window of whole
// groups is a candidate, so a card inside a longer run, or two in a row, is
// found. What must survive decides the shapes: a decimal (two groups joined
// by one dot) is never part of a card or phone, a card's groups are those
// cards are printed in (one group of 13-19 digits, 4-4-4-4 and the like,
// Amex's 4-6-5), its first digit is 2-6 (the card networks; epoch milliseconds
// start with 1), and a phone without a leading + is a whole
// segment of 3-4 groups with one separator (415-555-2671, 020 7946 0958),
// so lists of integers ("12 34 56 …") and dates ("2024-01-15 10:30") stay.
//
// Free text also hides identifiers in no such shape ("ssn 123456789", "ph
// 4155550100", "ssn123456789"): a lone run of 9 or more digits, or an SSN's
// 3-2-4 groups, also glued to a label, is masked where the text is free
// text: everywhere in a body that is not JSON (pii-json-shape.ts), and
// inside the strings of one that is. Numbers outside JSON strings are data
// (tensors) and stay, whatever their length.
import { AT, BACKSLASH, CLOSE_PAREN, DASH, DOT, isAlnum, isDigit, isEmailDomain, isEmailLocal, isLetter, NO_BREAK_SPACE, NEWLINE, OPEN_PAREN, PLUS, QUOTE, RETURN, SLASH, SPACE, TAB, unit } from "./pii-chars"
import { TextBuilder } from "./text-builder"

export const EMAIL = "[EMAIL]"
export const CARD = "[CARD]"
export const IBAN = "[IBAN]"
export const PHONE = "[PHONE]"
export const NUMBER = "[NUMBER]"

/**
 * Replaces every e-mail, card, IBAN and phone number in text, and long
 * numbers in its free text; `json`: the text is JSON (isJsonText, asked
 * before other maskers changed it), so only its strings are free text.
 */
export function maskPatterns(text: string, json: bool): string {
  const out = new TextBuilder(text)
  const n = text.length
  // Whether i is inside free text: a JSON string (quotes not escaped at level 0), or anywhere in other text.
  let free = !json
  let i = 0
  while (i < n) {
    const c = unit(text, i)
    if (c == QUOTE) {
      if (json && !escaped(text, i)) free = !free
      i++
    } else if (c == AT) i = maskEmail(text, i, out)
    else if (!startsToken(text, i)) i++
    else if (isLetter(c)) i = maskWord(text, i, out, free)
    else if (isDigit(c) || c == PLUS || c == OPEN_PAREN || c == BACKSLASH) i = maskNumbers(text, i, out, free)
    else i++
  }
  return out.finish()
}

/** An odd run of backslashes before `q`. Each run is read for one quote only, so this stays linear. */
export function escaped(text: string, q: i32): bool {
  let r = 0
  while (q - r > 0 && unit(text, q - r - 1) == BACKSLASH) r++
  return (r & 1) == 1
}

/** Tokens start at a boundary: not inside a word or a number (the fraction of 37.2463), but after an escape such as \n. */
function startsToken(text: string, i: i32): bool {
  if (i == 0) return true
  const p = unit(text, i - 1)
  if (p == DOT) return !(i >= 2 && isDigit(unit(text, i - 2)))
  if (!isAlnum(p)) return true
  return i >= 2 && unit(text, i - 2) == BACKSLASH && (p == 110 || p == 116 || p == 114 || p == 98 || p == 102) // \n \t \r \b \f
}

// --- e-mail ---

/**
 * At an '@': masks the address around it; returns where to go on. Space
 * around the '@' ("bob @ example.org", "bob\t@\nexample.org", written to
 * dodge filters) is part of the address when its top-level domain starts
 * with a letter, so prices ("2 @ 3.50") stay.
 */
function maskEmail(text: string, at: i32, out: TextBuilder): i32 {
  const n = text.length
  const local = gapStart(text, at, out.copiedTo) // where the local part ends
  let s = local
  while (s > out.copiedTo && isEmailLocal(unit(text, s - 1))) s--
  s = pastEscape(text, s, local)
  const domain = gapEnd(text, at + 1)
  let e = domain
  while (e < n && isEmailDomain(unit(text, e))) e++
  while (e > domain && unit(text, e - 1) == DOT) e-- // a sentence's full stop
  // The domain has a dot with at least two characters after it.
  let dot = e - 1
  while (dot > domain && unit(text, dot) != DOT) dot--
  const spaced = local < at || domain > at + 1
  if (s < local && dot > domain && dot < e - 2 && (!spaced || isLetter(unit(text, dot + 1)))) {
    out.replace(s, e, EMAIL)
    return e
  }
  return at + 1
}

// --- words: IBANs, labels glued to long numbers ---

const MAX_IBAN = 34

/**
 * At a word: masks the IBAN starting there; in free text, a label glued to
 * a number ("ssn123456789", "tel415-555-2671": letters, then digits) has
 * its number masked as if a space parted them. Returns where to go on (past
 * the IBAN, the number's run or the word). A word with digits before its
 * letters end (a hex id such as 4f3a…) is no label: its digits stay.
 */
function maskWord(text: string, i: i32, out: TextBuilder, free: bool): i32 {
  const n = text.length
  const end = ibanEnd(text, i)
  if (end > i) {
    out.replace(i, end, IBAN)
    return end
  }
  let w = i
  while (w < n && isLetter(unit(text, w))) w++
  if (free && isDigit(unit(text, w))) return maskNumbers(text, w, out, free)
  while (w < n && isAlnum(unit(text, w))) w++
  return w
}

/**
 * The end of the IBAN starting at `i`, or -1: CCdd (either case) then
 * alphanumerics with single spaces between groups; the longest stretch of
 * 15-34 characters that ends a word and passes mod-97 is the IBAN.
 */
function ibanEnd(text: string, i: i32): i32 {
  const n = text.length
  if (i + 4 > n) return -1
  const c0 = unit(text, i)
  const c1 = unit(text, i + 1)
  const c2 = unit(text, i + 2)
  const c3 = unit(text, i + 3)
  if (!isLetter(c0) || !isLetter(c1) || !isDigit(c2) || !isDigit(c3)) return -1
  // mod 97 of the rearranged IBAN (the account part, then the first four as six digits, letters as 10-35)
  // is 1 when the account part's remainder r has r * 10^6 + head ≡ 1, that is r = (1 - head) * 18 (mod 97),
  // 18 being the inverse of 10^6 ≡ 27: one comparison a length, the remainder kept as the stretch grows.
  const head = ((letterValue(c0) * 100 + letterValue(c1)) * 100 + (c2 - 48) * 10 + (c3 - 48)) % 97
  const wanted = ((98 - head) * 18) % 97
  let rem = 0
  let count = 4
  let best = -1
  let e = i + 4
  while (e < n && count < MAX_IBAN) {
    const ch = unit(text, e)
    if (ch == SPACE) {
      // One space between groups.
      if (e + 1 >= n || !isAlnum(unit(text, e + 1))) break
      e++
      continue
    }
    if (!isAlnum(ch)) break
    rem = isDigit(ch) ? (rem * 10 + ch - 48) % 97 : (rem * 100 + letterValue(ch)) % 97
    count++
    e++
    if (count >= 15 && rem == wanted && (e >= n || !isAlnum(unit(text, e)))) best = e
  }
  return best
}

/**
 * Space next to an '@': spaces, tabs, line breaks and no-break spaces, raw
 * or as JSON escapes (\t, \n, \r, \u00a0) in a string. The characters a
 * '@' can hide behind.
 */
function isGap(c: i32): bool {
  return c == SPACE || c == TAB || c == NEWLINE || c == RETURN || c == NO_BREAK_SPACE
}

function isEscapedGap(c: i32): bool {
  return c == 116 || c == 110 || c == 114 // t n r
}

/** The escape \u00a0 (either case) at `i`, after its backslash. */
function isEscapedNoBreakSpace(text: string, i: i32): bool {
  return unit(text, i) == 117 && unit(text, i + 1) == 48 && unit(text, i + 2) == 48 && (unit(text, i + 3) == 97 || unit(text, i + 3) == 65) && unit(text, i + 4) == 48
}

/**
 * A local part read back to `s` may have run into an escape (\n, \u00a0)
 * of a JSON string: "line\nbob@…" is "line", a line break, "bob@…". The
 * local part starts after it (at most at `local`).
 */
function pastEscape(text: string, s: i32, local: i32): i32 {
  if (s == 0 || unit(text, s - 1) != BACKSLASH || escaped(text, s - 1)) return s
  return min(local, s + (unit(text, s) == 117 ? 5 : 1)) // \uXXXX, or one letter
}

/** Just past the gap starting at `from`. */
function gapEnd(text: string, from: i32): i32 {
  let i = from
  while (i < text.length) {
    const c = unit(text, i)
    if (isGap(c)) i++
    else if (c == BACKSLASH && isEscapedGap(unit(text, i + 1))) i += 2
    else if (c == BACKSLASH && isEscapedNoBreakSpace(text, i + 1)) i += 6
    else break
  }
  return i
}

/** Where the gap ending at `to` starts, not before `limit`. An escape counts when an odd run of backslashes opens it. */
export function gapStart(text: string, to: i32, limit: i32): i32 {
  let i = to
  while (i > limit) {
    const c = unit(text, i - 1)
    if (isGap(c)) i--
    else if (isEscapedGap(c) && i - 2 >= limit && escaped(text, i - 1)) i -= 2
    else if (c == 48 && i - 6 >= limit && isEscapedNoBreakSpace(text, i - 5) && escaped(text, i - 5)) i -= 6
    else break
  }
  return i
}

function letterValue(c: i32): i32 {
  return c >= 97 ? c - 87 : c - 55
}

// --- digit runs: cards and phones ---

// The kind of separator before a group.
const NONE = 0
const SPACED = 1
const DASHED = 2
const DOTTED = 3
/** Parentheses, with or without a space or dash: "(415) 555", "+1 (415)", "(0)20". They join any kind. */
const PARENS = 4
/** A slash, as in 123/45/6789: only an SSN's groups take it (dates and fractions are written with it, cards and phones are not). */
const SLASHED = 5

/** Groups a window may span, plus the two after it that tell whether its last group is a decimal. */
const MAX_CARD_GROUPS = 6
const MAX_PLAIN_PHONE_GROUPS = 4
const MAX_READ = 18 // a +phone: 15 digits at most, so 15 groups
const READ_AHEAD = 2

// The groups read from the current start group on, in a ring so that each
// group of a run is read once: group k is at ring slot (ringBase + k) & MASK.
const RING = 32 // a power of two above MAX_READ
const MASK = RING - 1
const ringStart = new StaticArray<i32>(RING)
const ringEnd = new StaticArray<i32>(RING)
/** Where the group opens: its first digit, or the '(' just before it. */
const ringOpen = new StaticArray<i32>(RING)
/** The kind of separator before the group. */
const ringSep = new StaticArray<i32>(RING)
let ringBase = 0
/** Groups read from the start group on. */
let gCount = 0
/** The read reached the run's end: nothing joins the last group read. */
let gRunEnded = false
/** The separator before the group before the start group was a dot (for the start group's decimal test). */
let gDotBeforePrevious = false
// The next group to read, while the run goes on.
let nextAt = 0
let nextSep = NONE
let nextOpen = 0

@inline function gStart(k: i32): i32 {
  return unchecked(ringStart[(ringBase + k) & MASK])
}
@inline function gEnd(k: i32): i32 {
  return unchecked(ringEnd[(ringBase + k) & MASK])
}
@inline function gOpen(k: i32): i32 {
  return unchecked(ringOpen[(ringBase + k) & MASK])
}
@inline function gSep(k: i32): i32 {
  return unchecked(ringSep[(ringBase + k) & MASK])
}

/**
 * At a digit, '+', '(' or '\' (of an escaped \u002B): masks the cards and
 * phones in the run of digit groups starting there, and in free text long
 * numbers; returns the run's end.
 * Each group is tried as a window's start in turn, with a few read ahead.
 */
function maskNumbers(text: string, i: i32, out: TextBuilder, free: bool): i32 {
  const n = text.length
  let plus = -1
  let p = i
  const c = unit(text, i)
  if (c == PLUS) p = (plus = i) + 1
  else if (c == BACKSLASH) {
    p = escapedPlusEnd(text, i)
    if (p < 0) return i + 1
    plus = i
  }
  const open = p
  if (plus < 0 && c == OPEN_PAREN) p++
  if (p >= n || !isDigit(unit(text, p))) return i + 1

  beginRun(p, open)
  let first = true
  for (;;) {
    readUpTo(text, first && plus >= 0 ? MAX_READ : MAX_CARD_GROUPS + READ_AHEAD)
    let next = 1
    const last = matchCard(text)
    if (last >= 0) {
      out.replace(gStart(0), gEnd(last), CARD)
      next = last + 1
    } else {
      const phone = first && plus >= 0 ? matchPlusPhone(text) : matchPlainPhone(text)
      if (phone >= 0) {
        out.replace(first && plus >= 0 ? plus : gOpen(0), gEnd(phone), PHONE)
        next = phone + 1
      } else if (free) {
        const long = matchLongNumber(text)
        if (long >= 0) {
          out.replace(gStart(0), gEnd(long), NUMBER)
          next = long + 1
        }
      }
    }
    // A window ends only where what follows is known, so this is the run's end.
    if (next >= gCount) break
    advance(next)
    first = false
  }
  return gEnd(gCount - 1)
}

function beginRun(at: i32, open: i32): void {
  ringBase = 0
  gCount = 0
  gRunEnded = false
  gDotBeforePrevious = false
  nextAt = at
  nextSep = NONE
  nextOpen = open
}

/** Reads groups until `count` are known from the start group on, or the run ends. */
function readUpTo(text: string, count: i32): void {
  const n = text.length
  while (gCount < count && !gRunEnded) {
    let q = nextAt
    while (q < n && isDigit(unit(text, q))) q++
    const slot = (ringBase + gCount) & MASK
    unchecked((ringStart[slot] = nextAt))
    unchecked((ringEnd[slot] = q))
    unchecked((ringOpen[slot] = nextOpen))
    unchecked((ringSep[slot] = nextSep))
    gCount++
    const s = separatorAt(text, q)
    if (s == 0) {
      gRunEnded = true
      return
    }
    nextSep = s & 7
    nextAt = q + (s >> 3)
    nextOpen = unit(text, nextAt - 1) == OPEN_PAREN ? nextAt - 1 : nextAt
  }
}

/** Makes group `by` the start group. */
function advance(by: i32): void {
  gDotBeforePrevious = gSep(by - 1) == DOTTED
  ringBase = (ringBase + by) & MASK
  gCount -= by
}

/** After a \u002B (a + as JSON encoders such as .NET's write it), or -1; `i` is the first backslash. */
function escapedPlusEnd(text: string, i: i32): i32 {
  if (i > 0 && unit(text, i - 1) == BACKSLASH) return -1
  let u = i
  while (u < text.length && unit(text, u) == BACKSLASH) u++
  if (u + 5 > text.length) return -1
  const code = text.substring(u, u + 5)
  return code == "u002B" || code == "u002b" ? u + 5 : -1
}

/** The separator at `q` if a digit follows it: its kind | its length << 3; 0 when there is none. */
function separatorAt(text: string, q: i32): i32 {
  const n = text.length
  if (q + 1 >= n) return 0
  const a = unit(text, q)
  if (isDigit(unit(text, q + 1))) {
    if (a == SPACE) return SPACED | (1 << 3)
    if (a == DASH) return DASHED | (1 << 3)
    if (a == DOT) return DOTTED | (1 << 3)
    if (a == SLASH) return SLASHED | (1 << 3)
    if (a == OPEN_PAREN || a == CLOSE_PAREN) return PARENS | (1 << 3)
    return 0
  }
  if (q + 2 >= n || !isDigit(unit(text, q + 2))) return 0
  const b = unit(text, q + 1)
  const closeThen = a == CLOSE_PAREN && (b == SPACE || b == DASH || b == DOT || b == OPEN_PAREN)
  const thenOpen = (a == SPACE || a == DASH) && b == OPEN_PAREN
  return closeThen || thenOpen ? PARENS | (2 << 3) : 0
}

@inline function digitsIn(k: i32): i32 {
  return gEnd(k) - gStart(k)
}

/** Whether group `last` of a window is known to end it: read far enough to know what follows. */
function known(last: i32): bool {
  return last + READ_AHEAD < gCount || gRunEnded
}

function dotBefore(k: i32): bool {
  return k < 0 ? gDotBeforePrevious : gSep(k) == DOTTED
}

function dotAfter(k: i32): bool {
  return k + 1 < gCount && gSep(k + 1) == DOTTED
}

/** A decimal number (two groups joined by one dot, as 37.2463) is never part of a card or phone. */
function isDecimal(k: i32): bool {
  return (dotAfter(k) && !dotBefore(k) && !dotAfter(k + 1)) || (dotBefore(k) && !dotAfter(k) && !dotBefore(k - 1))
}

/** No decimals in groups 0..last, and the last does not run into a word. */
function cleanWindow(text: string, last: i32): bool {
  for (let k = 0; k <= last; k++) if (isDecimal(k)) return false
  if (last + 1 < gCount) return true
  const after = gEnd(last)
  return after >= text.length || !isAlnum(unit(text, after))
}

/** Whether a slash joins groups 0..last. */
function slashed(last: i32): bool {
  for (let k = 1; k <= last; k++) if (gSep(k) == SLASHED) return true
  return false
}

function digitsUpTo(last: i32): i32 {
  let d = 0
  for (let k = 0; k <= last; k++) d += digitsIn(k)
  return d
}

/** The last group of the longest card window from group 0, or -1. */
function matchCard(text: string): i32 {
  const first = unit(text, gStart(0))
  if (first < 50 || first > 54) return -1 // 2-6
  for (let last = min(gCount, MAX_CARD_GROUPS) - 1; last >= 0; last--) {
    const digits = digitsUpTo(last)
    if (digits < 13 || digits > 19 || !known(last) || !cardGroups(text, last) || !cleanWindow(text, last)) continue
    if (luhn(text, last)) return last
  }
  return -1
}

/**
 * The groupings cards are printed in: one group; groups of 4 and a last of
 * 1-4 (4-4-4-4, 4-4-4-4-3); or Amex's 4-6-5 (34, 37) and Diners' 4-6-4
 * (30, 36, 38). One kind of separator, no parentheses. Lists of integers
 * rarely take these shapes.
 */
function cardGroups(text: string, last: i32): bool {
  if (last == 0) return true
  for (let k = 1; k <= last; k++) if (gSep(k) != gSep(1) || gSep(k) == PARENS || gSep(k) == SLASHED) return false
  if (digitsIn(0) != 4) return false
  if (last == 2 && digitsIn(1) == 6) {
    const prefix = (unit(text, gStart(0)) - 48) * 10 + unit(text, gStart(0) + 1) - 48
    if (digitsIn(2) == 5) return prefix == 34 || prefix == 37
    return digitsIn(2) == 4 && (prefix == 30 || prefix == 36 || prefix == 38)
  }
  for (let k = 1; k < last; k++) if (digitsIn(k) != 4) return false
  return digitsIn(last) >= 1 && digitsIn(last) <= 4
}

/** Luhn checksum over the digits of groups 0..last, counted in place. */
function luhn(text: string, last: i32): bool {
  let sum = 0
  let double = false
  for (let k = last; k >= 0; k--) {
    for (let p = gEnd(k) - 1; p >= gStart(k); p--) {
      sum += luhnDigit(unit(text, p) - 48, double)
      double = !double
    }
  }
  return sum % 10 == 0
}

/** One digit's share of a Luhn sum: every second digit from the right is doubled, its digits summed. */
function luhnDigit(d: i32, double: bool): i32 {
  if (!double) return d
  const twice = d * 2
  return twice > 9 ? twice - 9 : twice
}

/** After a leading +: the longest window of 9-15 digits, any grouping. */
function matchPlusPhone(text: string): i32 {
  for (let last = gCount - 1; last >= 0; last--) {
    const digits = digitsUpTo(last)
    if (digits >= 9 && digits <= 15 && known(last) && !slashed(last) && cleanWindow(text, last)) return last
  }
  return -1
}

/**
 * Without a +: a whole segment of 3-4 groups joined by one kind of
 * separator (parentheses join any), 9-12 digits, the first group 1-5
 * digits and the others 3-4: 415-555-2671, (415) 555-2671, 1-800-555-0199,
 * 020 7946 0958.
 */
function matchPlainPhone(text: string): i32 {
  for (let last = min(gCount, MAX_PLAIN_PHONE_GROUPS) - 1; last >= 2; last--) {
    const digits = digitsUpTo(last)
    if (digits < 9 || digits > 12 || !known(last) || digitsIn(0) > 5) continue
    let kind = PARENS
    let shaped = true
    for (let k = 1; k <= last && shaped; k++) {
      if (digitsIn(k) < 3 || digitsIn(k) > 4 || gSep(k) == SLASHED) shaped = false
      else if (gSep(k) != PARENS) {
        if (kind == PARENS) kind = gSep(k)
        else if (gSep(k) != kind) shaped = false
      }
    }
    // The whole segment: the same separator neither before nor after it.
    const after = last + 1 < gCount ? gSep(last + 1) : NONE
    if (!shaped || gSep(0) == kind || after == kind || !cleanWindow(text, last)) continue
    return last
  }
  return -1
}

/** Digits in one group from which a number in free text is an identifier (an SSN has 9, a phone 10). */
const LONG_NUMBER_DIGITS = 9

/**
 * In free text, a number no card or phone pattern took that is still an
 * identifier: one group of 9 or more digits (123456789, 4155550100), or a
 * whole segment of 3-2-4 digits joined by one kind of separator: dash,
 * space, dot or slash (an SSN, 123-45-6789, 123.45.6789, 123/45/6789). Not
 * a decimal's part, not running into a word. The last group of the match,
 * or -1.
 */
function matchLongNumber(text: string): i32 {
  if (digitsIn(0) >= LONG_NUMBER_DIGITS && known(0) && cleanWindow(text, 0)) return 0
  if (gCount < 3 || !known(2) || digitsIn(0) != 3 || digitsIn(1) != 2 || digitsIn(2) != 4) return -1
  const kind = gSep(1)
  if (kind == PARENS || gSep(2) != kind || gSep(0) == kind) return -1
  const after = gCount > 3 ? gSep(3) : NONE
  return after != kind && cleanWindow(text, 2) ? 2 : -1
}
