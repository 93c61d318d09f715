// @module
// A small, strict JSON parser (RFC 8259) for filter configurations:
// numbers and escapes follow the RFC's grammar exactly, and an object with
// a key twice is refused. AssemblyScript has no exceptions (a throw aborts
// the VM), so errors come back as values that name the field where parsing
// stopped ("routes[0].canary_weight_bp: invalid JSON: malformed number at
// offset 57"), "(configuration)" at the top.
import { hexValue, isDigit } from "./chars"

export const enum JsonKind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

export class JsonValue {
  kind: JsonKind = JsonKind.Null
  bool: bool = false
  number: f64 = 0
  str: string = ""
  items: JsonValue[] = []
  keys: string[] = []
  values: JsonValue[] = []

  get(key: string): JsonValue | null {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) return this.values[i]
    return null
  }
}

export class JsonResult {
  constructor(
    readonly value: JsonValue | null,
    readonly error: string,
  ) {}
}

/** A field path from its segments ("routes", "[0]", "model" → "routes[0].model"). */
function fieldPath(segments: string[]): string {
  if (segments.length == 0) return "(configuration)"
  let out = ""
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]
    if (i > 0 && !s.startsWith("[")) out += "."
    out += s
  }
  return out
}

class Parser {
  pos: i32 = 0
  error: string = ""
  /** Where the value being parsed sits: keys and "[index]" segments. */
  path: string[] = []
  constructor(readonly text: string) {}

  fail(message: string, at: i32 = this.pos): JsonValue | null {
    if (this.error.length == 0) this.error = fieldPath(this.path) + ": invalid JSON: " + message + " at offset " + at.toString()
    return null
  }

  at(i: i32): i32 {
    return i < this.text.length ? this.text.charCodeAt(i) : -1
  }

  skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos)
      if (c != 32 && c != 9 && c != 10 && c != 13) break
      this.pos++
    }
  }

  /** Whether a scalar ends here: what may follow a number or literal is space, `,`, `]`, `}` or the end. */
  atDelimiter(): bool {
    const c = this.at(this.pos)
    return c == -1 || c == 32 || c == 9 || c == 10 || c == 13 || c == 44 || c == 93 || c == 125
  }

  value(depth: i32): JsonValue | null {
    if (depth > 64) return this.fail("nesting too deep")
    this.skipSpace()
    if (this.pos >= this.text.length) return this.fail("unexpected end of input")
    const c = this.text.charCodeAt(this.pos)
    if (c == 123) return this.object(depth)
    if (c == 91) return this.array(depth)
    if (c == 34) {
      const s = this.string()
      if (s === null) return null
      const v = new JsonValue()
      v.kind = JsonKind.String
      v.str = s
      return v
    }
    if (c == 45 || isDigit(c)) return this.num()
    if (this.text.startsWith("true", this.pos)) return this.literal(4, JsonKind.Bool, true)
    if (this.text.startsWith("false", this.pos)) return this.literal(5, JsonKind.Bool, false)
    if (this.text.startsWith("null", this.pos)) return this.literal(4, JsonKind.Null, false)
    return this.fail("unexpected character '" + String.fromCharCode(c) + "'")
  }

  literal(length: i32, kind: JsonKind, b: bool): JsonValue | null {
    const start = this.pos
    this.pos += length
    if (!this.atDelimiter()) return this.fail("unexpected character after a literal", start)
    const v = new JsonValue()
    v.kind = kind
    v.bool = b
    return v
  }

  /** number = [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ] */
  num(): JsonValue | null {
    const start = this.pos
    if (this.at(this.pos) == 45) this.pos++
    if (this.at(this.pos) == 48) this.pos++
    else if (!this.digits()) return this.fail("malformed number", start)
    if (this.at(this.pos) == 46) {
      this.pos++
      if (!this.digits()) return this.fail("malformed number", start)
    }
    const e = this.at(this.pos)
    if (e == 101 || e == 69) {
      this.pos++
      const sign = this.at(this.pos)
      if (sign == 43 || sign == 45) this.pos++
      if (!this.digits()) return this.fail("malformed number", start)
    }
    if (!this.atDelimiter()) return this.fail("malformed number", start)
    const n = parseFloat(this.text.substring(start, this.pos))
    if (!isFinite(n)) return this.fail("number out of range", start)
    const v = new JsonValue()
    v.kind = JsonKind.Number
    v.number = n
    return v
  }

  /** One or more digits; false when there is none. */
  digits(): bool {
    const start = this.pos
    while (isDigit(this.at(this.pos))) this.pos++
    return this.pos > start
  }

  string(): string | null {
    this.pos++ // opening quote
    let out = ""
    let start = this.pos
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos)
      if (c == 34) {
        out += this.text.substring(start, this.pos)
        this.pos++
        return out
      }
      if (c < 32) {
        this.fail("control character in string")
        return null
      }
      if (c == 92) {
        out += this.text.substring(start, this.pos)
        const escape = this.pos
        const e = this.at(this.pos + 1)
        if (e == 34 || e == 92 || e == 47) out += String.fromCharCode(e)
        else if (e == 110) out += "\n"
        else if (e == 116) out += "\t"
        else if (e == 114) out += "\r"
        else if (e == 98) out += "\b"
        else if (e == 102) out += "\f"
        else if (e == 117) {
          let code = 0
          for (let i = 2; i < 6; i++) {
            const h = hexValue(this.at(this.pos + i))
            if (h < 0) {
              this.fail("invalid \\u escape", escape)
              return null
            }
            code = code * 16 + h
          }
          out += String.fromCharCode(code)
          this.pos += 4
        } else {
          this.fail("invalid escape", escape)
          return null
        }
        this.pos += 2
        start = this.pos
        continue
      }
      this.pos++
    }
    this.fail("unterminated string")
    return null
  }

  array(depth: i32): JsonValue | null {
    this.pos++
    const v = new JsonValue()
    v.kind = JsonKind.Array
    this.skipSpace()
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 93) {
      this.pos++
      return v
    }
    while (true) {
      this.path.push("[" + v.items.length.toString() + "]")
      const item = this.value(depth + 1)
      if (item === null) return null
      this.path.pop()
      v.items.push(item)
      this.skipSpace()
      if (this.pos >= this.text.length) return this.fail("unterminated array")
      const c = this.text.charCodeAt(this.pos++)
      if (c == 93) return v
      if (c != 44) return this.fail("expected ',' or ']'", this.pos - 1)
    }
  }

  object(depth: i32): JsonValue | null {
    this.pos++
    const v = new JsonValue()
    v.kind = JsonKind.Object
    this.skipSpace()
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 125) {
      this.pos++
      return v
    }
    while (true) {
      this.skipSpace()
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 34) return this.fail("expected a string key")
      const key = this.string()
      if (key === null) return null
      this.path.push(key)
      if (v.keys.includes(key)) {
        this.error = fieldPath(this.path) + ": duplicate key"
        return null
      }
      this.skipSpace()
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 58) return this.fail("expected ':'")
      this.pos++
      const item = this.value(depth + 1)
      if (item === null) return null
      this.path.pop()
      v.keys.push(key)
      v.values.push(item)
      this.skipSpace()
      if (this.pos >= this.text.length) return this.fail("unterminated object")
      const c = this.text.charCodeAt(this.pos++)
      if (c == 125) return v
      if (c != 44) return this.fail("expected ',' or '}'", this.pos - 1)
    }
  }
}

/** Parses one JSON text; the error names the field where parsing stopped, "(configuration)" at the top. */
export function parseJson(text: string): JsonResult {
  const p = new Parser(text)
  const v = p.value(0)
  if (v === null) return new JsonResult(null, p.error)
  p.skipSpace()
  if (p.pos != text.length) {
    p.fail("unexpected text after the value")
    return new JsonResult(null, p.error)
  }
  return new JsonResult(v, "")
}

/** Parses a plugin configuration, which must be a JSON object. */
export function parseConfigObject(text: string): JsonResult {
  const parsed = parseJson(text)
  if (parsed.value === null) return parsed
  if (parsed.value!.kind != JsonKind.Object) return new JsonResult(null, "(configuration): must be a JSON object")
  return parsed
}

