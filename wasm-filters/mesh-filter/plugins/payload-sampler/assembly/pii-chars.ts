// @module
// Character classes the PII scanners share (ASCII only: the patterns are);
// digits and hex digits are the SDK's, which its JSON parser uses too.
import { hexValue, isDigit } from "../../../../sdk/assembly/index"

export { hexValue, isDigit }

export const TAB = 9
export const NEWLINE = 10
export const RETURN = 13
export const SPACE = 32
export const QUOTE = 34
export const PERCENT = 37
export const AMPERSAND = 38
export const OPEN_PAREN = 40
export const CLOSE_PAREN = 41
export const PLUS = 43
export const COMMA = 44
export const DASH = 45
export const DOT = 46
export const SLASH = 47
export const COLON = 58
export const EQUALS = 61
export const AT = 64
export const OPEN_BRACKET = 91
export const BACKSLASH = 92
export const CLOSE_BRACKET = 93
export const UNDERSCORE = 95
export const OPEN_BRACE = 123
export const CLOSE_BRACE = 125
export const NO_BREAK_SPACE = 0xa0

export function isLetter(c: i32): bool {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
}

export function isAlnum(c: i32): bool {
  return isDigit(c) || isLetter(c)
}

export function isSpace(c: i32): bool {
  return c == SPACE || c == TAB || c == NEWLINE || c == RETURN
}

export function isEmailLocal(c: i32): bool {
  return isAlnum(c) || c == DOT || c == UNDERSCORE || c == PERCENT || c == PLUS || c == DASH
}

export function isEmailDomain(c: i32): bool {
  return isAlnum(c) || c == DOT || c == DASH
}



/**
 * s.charCodeAt(i), inlined (-1 outside the string): the scanners call it
 * for every character, and the optimiser leaves the method a call.
 */
@inline export function unit(s: string, i: i32): i32 {
  return <u32>i < <u32>s.length ? <i32>load<u16>(changetype<usize>(s) + (<usize>i << 1)) : -1
}
