// @module
// PII masking for application/x-www-form-urlencoded bodies: names and
// values are percent- and plus-decoded before matching (jane%40x.io is an
// e-mail, %2B44+20+7946+0958 a phone), and masked in place: a value that
// changed is written back form-encoded, everything else is left byte for
// byte. A field's name is compared whole and, for nested names in the
// customer[email] style, by its innermost part.
import { REDACTED } from "./pii-json"
import { maskText } from "./pii-text"
import { AMPERSAND, CLOSE_BRACKET, DASH, DOT, EQUALS, hexValue, isAlnum, OPEN_BRACKET, PERCENT, PLUS, SPACE, UNDERSCORE, unit } from "./pii-chars"
import { TextBuilder } from "./text-builder"
import { decodeUtf8 } from "../../../../sdk/assembly/index"

/** Whether a content-type is a form body (parameters such as charset allowed). */
export function isFormContentType(contentType: string): bool {
  const type = contentType.trim().toLowerCase()
  const name = "application/x-www-form-urlencoded"
  if (!type.startsWith(name)) return false
  if (type.length == name.length) return true
  const next = unit(type, name.length)
  return next == 59 || next == SPACE // ';'
}

/** Masks each pair of a form body; `cut`: the cap cut the body, inside its last value. */
export function maskForm(text: string, fields: string[], cut: bool): string {
  const out = new TextBuilder(text)
  const n = text.length
  let i = 0
  while (i < n) {
    let end = i
    let eq = -1
    while (end < n && unit(text, end) != AMPERSAND) {
      if (eq < 0 && unit(text, end) == EQUALS) eq = end
      end++
    }
    // A pair without '=' is a name alone: masked as a value would be.
    const valueStart = eq < 0 ? i : eq + 1
    const name = eq < 0 ? "" : formDecode(text.substring(i, eq))
    if (valueStart < end) maskValue(text, name, valueStart, end, fields, cut && end == n, out)
    i = end + 1
  }
  return out.finish()
}

function maskValue(text: string, name: string, from: i32, to: i32, fields: string[], cut: bool, out: TextBuilder): void {
  if (isFieldName(name, fields)) {
    out.replace(from, to, REDACTED)
    return
  }
  const value = formDecode(text.substring(from, to))
  // A value may hold JSON, or any text: the same masking as a body.
  const masked = maskText(value, fields, cut)
  if (masked != value) out.replace(from, to, formEncode(masked))
}

function isFieldName(name: string, fields: string[]): bool {
  if (name.length == 0) return false
  const lower = name.toLowerCase()
  if (fields.includes(lower)) return true
  // customer[email]: the innermost name.
  const close = lower.length - 1
  if (unit(lower, close) != CLOSE_BRACKET) return false
  const open = lower.lastIndexOf("[")
  return open >= 0 && fields.includes(lower.substring(open + 1, close))
}

/** Percent- and plus-decoded, as UTF-8 (invalid bytes become U+FFFD); a % without two hex digits stays. */
function formDecode(raw: string): string {
  if (raw.indexOf("%") < 0 && raw.indexOf("+") < 0) return raw
  const bytes = String.UTF8.encode(raw)
  const base = changetype<usize>(bytes)
  const n = bytes.byteLength
  let w = 0
  for (let r = 0; r < n; r++) {
    let b = <i32>load<u8>(base + r)
    if (b == PLUS) b = SPACE
    else if (b == PERCENT && r + 2 < n) {
      const hi = hexValue(load<u8>(base + r + 1))
      const lo = hexValue(load<u8>(base + r + 2))
      if (hi >= 0 && lo >= 0) {
        b = (hi << 4) | lo
        r += 2
      }
    }
    store<u8>(base + w++, <u8>b)
  }
  return decodeUtf8(base, w)
}

/** Form-encoded as URLSearchParams writes it, except that [ and ] stay, so the masks read [EMAIL]. */
function formEncode(s: string): string {
  const bytes = String.UTF8.encode(s)
  return encodeBytes(changetype<usize>(bytes), bytes.byteLength)
}

const HEX = "0123456789ABCDEF"

function encodeBytes(base: usize, n: i32): string {
  // At most three characters a byte.
  const out = __new(<usize>n * 6, idof<String>())
  let o = out
  for (let r = 0; r < n; r++) {
    const b = <i32>load<u8>(base + r)
    if (isAlnum(b) || b == 42 || b == DASH || b == DOT || b == UNDERSCORE || b == OPEN_BRACKET || b == CLOSE_BRACKET) {
      store<u16>(o, <u16>b)
      o += 2
    } else if (b == SPACE) {
      store<u16>(o, <u16>PLUS)
      o += 2
    } else {
      store<u16>(o, <u16>PERCENT)
      store<u16>(o + 2, <u16>unit(HEX, b >> 4))
      store<u16>(o + 4, <u16>unit(HEX, b & 15))
      o += 6
    }
  }
  return changetype<string>(__renew(out, o - out))
}
