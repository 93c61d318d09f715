// @module
// PII masking for sampled payloads, before anything leaves the filter:
// configured JSON field names at any depth (values replaced), then patterns
// in any text, JSON or not: e-mail addresses, card numbers that pass Luhn,
// IBANs that pass mod-97, and phone numbers (a leading + or at least two
// separators, so decimals and plain integers stay). No regular expressions
// exist in AssemblyScript, so each pattern is a small scanner.

export const REDACTED = "[REDACTED]"

/**
 * Masks the values of configured JSON field names (case-insensitive) at any
 * depth, also in JSON that sits escaped inside a JSON string (a body that
 * echoes or logs another). It scans the text rather than parsing it, so a
 * capture cut off mid-document (the byte cap) is masked as well as a whole
 * one. A value that is an object or array is replaced whole.
 */
export function maskJsonFields(text: string, fields: string[]): string {
  return maskFieldsQuotedBy(maskFieldsQuotedBy(text, fields, "\""), fields, "\\\"")
}

/** One pass with `quote` as the string delimiter: `"` for JSON, `\"` for JSON escaped in a string. */
function maskFieldsQuotedBy(text: string, fields: string[], quote: string): string {
  let out = ""
  let copied = 0
  let i = text.indexOf(quote)
  const n = text.length
  const q = quote.length
  while (i >= 0 && i < n) {
    // In plain JSON, a quote preceded by a backslash is inside a string.
    if (q == 1 && i > 0 && text.charCodeAt(i - 1) == 92) {
      i = text.indexOf(quote, i + 1)
      continue
    }
    const keyEnd = quotedEnd(text, i, quote)
    if (keyEnd < 0) break
    let j = keyEnd
    while (j < n && isSpace(text.charCodeAt(j))) j++
    const key = text.substring(i + q, keyEnd - q).toLowerCase()
    if (j < n && text.charCodeAt(j) == 58 && fields.includes(key)) {
      j++
      while (j < n && isSpace(text.charCodeAt(j))) j++
      const valueEnd = valueEndAt(text, j, quote)
      out += text.substring(copied, j) + quote + REDACTED + quote
      copied = valueEnd
      i = text.indexOf(quote, valueEnd)
      continue
    }
    i = text.indexOf(quote, keyEnd)
  }
  return out + text.substring(copied)
}

function isSpace(c: i32): bool {
  return c == 32 || c == 9 || c == 10 || c == 13
}

/** Index just past the string opened by `quote` at `start`, or -1 when unterminated. */
function quotedEnd(text: string, start: i32, quote: string): i32 {
  const q = quote.length
  let i = start + q
  while (i < text.length) {
    if (q == 1) {
      const c = text.charCodeAt(i)
      if (c == 92) i += 2
      else if (c == 34) return i + 1
      else i++
    } else {
      // Escaped JSON: the string ends at the next \" that is not itself escaped (\\\").
      const at = text.indexOf(quote, i)
      if (at < 0) return -1
      if (at > 0 && text.charCodeAt(at - 1) == 92) {
        i = at + q
        continue
      }
      return at + q
    }
  }
  return -1
}

/** Index just past the JSON value at `start`; the text's end when cut off. */
function valueEndAt(text: string, start: i32, quote: string): i32 {
  const n = text.length
  if (start >= n) return n
  if (text.startsWith(quote, start)) {
    const e = quotedEnd(text, start, quote)
    return e < 0 ? n : e
  }
  const c = text.charCodeAt(start)
  if (c == 123 || c == 91) {
    let depth = 0
    let i = start
    while (i < n) {
      if (text.startsWith(quote, i)) {
        const e = quotedEnd(text, i, quote)
        if (e < 0) return n
        i = e
        continue
      }
      const ch = text.charCodeAt(i)
      if (ch == 123 || ch == 91) depth++
      else if (ch == 125 || ch == 93) {
        depth--
        if (depth == 0) return i + 1
      }
      i++
    }
    return n
  }
  let i = start
  while (i < n) {
    const ch = text.charCodeAt(i)
    if (ch == 44 || ch == 125 || ch == 93 || isSpace(ch) || text.startsWith(quote, i)) break
    i++
  }
  return i
}

function isDigit(c: i32): bool {
  return c >= 48 && c <= 57
}
function isUpper(c: i32): bool {
  return c >= 65 && c <= 90
}
function isAlnum(c: i32): bool {
  return isDigit(c) || isUpper(c) || (c >= 97 && c <= 122)
}
function isEmailLocal(c: i32): bool {
  return isAlnum(c) || c == 46 || c == 95 || c == 37 || c == 43 || c == 45
}
function isEmailDomain(c: i32): bool {
  return isAlnum(c) || c == 46 || c == 45
}

/** Luhn checksum over the digits of s. */
export function luhnValid(digits: string): bool {
  let sum = 0
  let double = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    double = !double
  }
  return sum % 10 == 0
}

/** IBAN mod-97 check over compact (no spaces) upper-case text. */
export function ibanValid(iban: string): bool {
  if (iban.length < 15 || iban.length > 34) return false
  const rearranged = iban.substring(4) + iban.substring(0, 4)
  let rem = 0
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i)
    if (isDigit(c)) rem = (rem * 10 + (c - 48)) % 97
    else if (isUpper(c)) rem = (rem * 100 + (c - 55)) % 97
    else return false
  }
  return rem == 1
}

/** Replaces every e-mail, card, IBAN and phone number in text. */
export function maskPatterns(text: string): string {
  let out = ""
  let i = 0
  let copied = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    // Tokens start at a boundary: not inside a word or a number.
    const prev = i > 0 ? text.charCodeAt(i - 1) : 32
    const boundary = !isAlnum(prev) && prev != 46
    let end = -1
    let label = ""
    if (c == 64) {
      // '@': widen to an e-mail address around it.
      let s = i
      while (s > 0 && isEmailLocal(text.charCodeAt(s - 1))) s--
      let e = i + 1
      let dot = -1
      while (e < n && isEmailDomain(text.charCodeAt(e))) {
        if (text.charCodeAt(e) == 46) dot = e
        e++
      }
      while (e > i + 1 && text.charCodeAt(e - 1) == 46) e-- // a sentence's full stop
      dot = -1
      for (let k = i + 1; k < e; k++) if (text.charCodeAt(k) == 46) dot = k
      if (s < i && dot > i + 1 && dot < e - 2 && s >= copied) {
        out += text.substring(copied, s) + "[EMAIL]"
        copied = e
        i = e
        continue
      }
    } else if (boundary && isUpper(c) && i + 3 < n && isUpper(text.charCodeAt(i + 1)) && isDigit(text.charCodeAt(i + 2)) && isDigit(text.charCodeAt(i + 3))) {
      // IBAN: CCdd then alphanumerics, spaces allowed between groups; the
      // longest stretch that passes mod-97 is the IBAN.
      let compact = ""
      const ends: i32[] = []
      let e = i
      while (e < n && compact.length < 34) {
        const ch = text.charCodeAt(e)
        if (isAlnum(ch)) {
          compact += String.fromCharCode(ch >= 97 ? ch - 32 : ch)
          ends.push(e + 1)
        } else if (!(ch == 32 && e + 1 < n && isAlnum(text.charCodeAt(e + 1)))) break
        e++
      }
      for (let len = compact.length; len >= 15; len--) {
        const stop = ends[len - 1]
        const next = stop < n ? text.charCodeAt(stop) : 32
        if (!isAlnum(next) && ibanValid(compact.substring(0, len))) {
          end = stop
          label = "[IBAN]"
          break
        }
      }
    } else if (boundary && (isDigit(c) || c == 43 || c == 40)) {
      // Digits with single spaces, dashes, dots or parentheses between them.
      let digits = ""
      let separators = 0
      let e = i
      if (c == 43 || c == 40) e++
      while (e < n) {
        const ch = text.charCodeAt(e)
        if (isDigit(ch)) {
          digits += String.fromCharCode(ch)
          e++
        } else if ((ch == 32 || ch == 45 || ch == 41 || ch == 40) && e + 1 < n && (isDigit(text.charCodeAt(e + 1)) || text.charCodeAt(e + 1) == 32 || text.charCodeAt(e + 1) == 40)) {
          separators++
          e++
        } else break
      }
      while (e > i && !isDigit(text.charCodeAt(e - 1))) e--
      const after = e < n ? text.charCodeAt(e) : 32
      const standalone = !isAlnum(after) && !(after == 46 && e + 1 < n && isDigit(text.charCodeAt(e + 1)))
      if (standalone && digits.length >= 13 && digits.length <= 19 && luhnValid(digits)) {
        end = e
        label = "[CARD]"
      } else if (standalone && digits.length >= 9 && digits.length <= 15 && (c == 43 || separators >= 2)) {
        end = e
        label = "[PHONE]"
      }
    }
    if (end > i) {
      out += text.substring(copied, i) + label
      copied = end
      i = end
    } else i++
  }
  return out + text.substring(copied)
}

/** Field values first, then patterns everywhere. */
export function maskPii(text: string, fields: string[]): string {
  return maskPatterns(fields.length > 0 ? maskJsonFields(text, fields) : text)
}
