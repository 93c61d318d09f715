// @module
// A small JSON parser for filter configurations. AssemblyScript has no
// exceptions (a throw aborts the VM), so errors come back as values with
// the offset where parsing stopped.

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

class Parser {
  pos: i32 = 0
  error: string = ""
  constructor(readonly text: string) {}

  fail(message: string): JsonValue | null {
    if (this.error.length == 0) this.error = message + " at offset " + this.pos.toString()
    return null
  }

  skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos)
      if (c != 32 && c != 9 && c != 10 && c != 13) break
      this.pos++
    }
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
    if (this.text.startsWith("true", this.pos)) return this.literal(4, JsonKind.Bool, true)
    if (this.text.startsWith("false", this.pos)) return this.literal(5, JsonKind.Bool, false)
    if (this.text.startsWith("null", this.pos)) return this.literal(4, JsonKind.Null, false)
    if (c == 45 || (c >= 48 && c <= 57)) return this.num()
    return this.fail("unexpected character '" + String.fromCharCode(c) + "'")
  }

  literal(length: i32, kind: JsonKind, b: bool): JsonValue {
    this.pos += length
    const v = new JsonValue()
    v.kind = kind
    v.bool = b
    return v
  }

  num(): JsonValue | null {
    const start = this.pos
    if (this.text.charCodeAt(this.pos) == 45) this.pos++
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos)
      if ((c >= 48 && c <= 57) || c == 46 || c == 101 || c == 69 || c == 43 || c == 45) this.pos++
      else break
    }
    const n = parseFloat(this.text.substring(start, this.pos))
    if (isNaN(n)) return this.fail("invalid number")
    const v = new JsonValue()
    v.kind = JsonKind.Number
    v.number = n
    return v
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
        this.pos++
        if (this.pos >= this.text.length) break
        const e = this.text.charCodeAt(this.pos)
        if (e == 110) out += "\n"
        else if (e == 116) out += "\t"
        else if (e == 114) out += "\r"
        else if (e == 98) out += "\b"
        else if (e == 102) out += "\f"
        else if (e == 117) {
          if (this.pos + 4 >= this.text.length) break
          const code = I32.parseInt(this.text.substring(this.pos + 1, this.pos + 5), 16)
          out += String.fromCharCode(code)
          this.pos += 4
        } else out += String.fromCharCode(e) // \" \\ \/
        this.pos++
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
      const item = this.value(depth + 1)
      if (item === null) return null
      v.items.push(item)
      this.skipSpace()
      if (this.pos >= this.text.length) return this.fail("unterminated array")
      const c = this.text.charCodeAt(this.pos++)
      if (c == 93) return v
      if (c != 44) return this.fail("expected ',' or ']'")
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
      this.skipSpace()
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 58) return this.fail("expected ':'")
      this.pos++
      const item = this.value(depth + 1)
      if (item === null) return null
      v.keys.push(key)
      v.values.push(item)
      this.skipSpace()
      if (this.pos >= this.text.length) return this.fail("unterminated object")
      const c = this.text.charCodeAt(this.pos++)
      if (c == 125) return v
      if (c != 44) return this.fail("expected ',' or '}'")
    }
  }
}

export function parseJson(text: string): JsonResult {
  const p = new Parser(text)
  const v = p.value(0)
  if (v === null) return new JsonResult(null, p.error)
  p.skipSpace()
  if (p.pos != text.length) return new JsonResult(null, "unexpected text after the value at offset " + p.pos.toString())
  return new JsonResult(v, "")
}

/** Parses a plugin configuration, which must be a JSON object; errors name "(configuration)". */
export function parseConfigObject(text: string): JsonResult {
  const parsed = parseJson(text)
  if (parsed.value === null) return new JsonResult(null, "(configuration): invalid JSON: " + parsed.error)
  if (parsed.value!.kind != JsonKind.Object) return new JsonResult(null, "(configuration): must be a JSON object")
  return parsed
}

