// @module
// Text written straight into one growing UTF-8 buffer. The filters build
// their telemetry events here, byte by byte, instead of from intermediate
// strings: once the buffer has grown to a batch, an event allocates nothing,
// and the batch goes to the host as it is, with no final encoding pass.

/** U+FFFD, for a lone surrogate. */
const REPLACEMENT: u32 = 0xfffd

export class Utf8Writer {
  private buffer: ArrayBuffer
  /** Bytes written so far. */
  length: i32 = 0

  constructor(capacity: i32 = 1024) {
    this.buffer = new ArrayBuffer(max(capacity, 16))
  }

  /** Where the bytes start (valid until the next write). */
  get dataStart(): usize {
    return changetype<usize>(this.buffer)
  }

  /** `s` as UTF-8; a lone surrogate becomes U+FFFD. */
  text(s: string): Utf8Writer {
    this.reserve(s.length * 3)
    for (let i = 0; i < s.length; i++) {
      const c = <u32>s.charCodeAt(i)
      if (c < 0x80) this.put(c)
      else i = this.codePoint(s, i)
    }
    return this
  }

  /** `s` as a JSON string literal, quotes included (RFC 8259 escapes). */
  jsonString(s: string): Utf8Writer {
    // Worst case: every code unit a control character (\u00XX, six bytes).
    this.reserve(s.length * 6 + 2)
    this.put(34)
    for (let i = 0; i < s.length; i++) {
      const c = <u32>s.charCodeAt(i)
      if (c == 34 || c == 92) {
        this.put(92)
        this.put(c)
      } else if (c < 32) {
        this.put(92)
        if (c == 10) this.put(110)
        else if (c == 13) this.put(114)
        else if (c == 9) this.put(116)
        else {
          this.put(117) // u00XX
          this.put(48)
          this.put(48)
          this.put(hexDigit(c >> 4))
          this.put(hexDigit(c & 15))
        }
      } else if (c < 0x80) {
        this.put(c)
      } else {
        i = this.codePoint(s, i)
      }
    }
    this.put(34)
    return this
  }

  /** A decimal integer. */
  int(value: i64): Utf8Writer {
    this.reserve(21)
    if (value < 0) {
      this.put(45)
      // i64.MIN_VALUE has no positive counterpart: write it as unsigned.
      return this.digits(<u64>(-(value + 1)) + 1)
    }
    return this.digits(<u64>value)
  }

  /** The `length` bytes at `ptr` (not in this writer, which may move) as standard base64 (RFC 4648, "=" padded). */
  base64(ptr: usize, length: i32): Utf8Writer {
    this.reserve((length + 2) / 3 * 4)
    let i = 0
    for (; i + 3 <= length; i += 3) {
      const at = ptr + <usize>i
      const group = (<u32>load<u8>(at) << 16) | (<u32>load<u8>(at, 1) << 8) | <u32>load<u8>(at, 2)
      this.put(base64Digit(group >> 18))
      this.put(base64Digit((group >> 12) & 63))
      this.put(base64Digit((group >> 6) & 63))
      this.put(base64Digit(group & 63))
    }
    const left = length - i
    if (left > 0) {
      const at = ptr + <usize>i
      const group = (<u32>load<u8>(at) << 16) | (left == 2 ? <u32>load<u8>(at, 1) << 8 : 0)
      this.put(base64Digit(group >> 18))
      this.put(base64Digit((group >> 12) & 63))
      this.put(left == 2 ? base64Digit((group >> 6) & 63) : 61)
      this.put(61)
    }
    return this
  }

  bool(value: bool): Utf8Writer {
    return this.text(value ? "true" : "false")
  }

  /** Forgets everything from `length` on (an event that was begun but not finished). */
  truncate(length: i32): void {
    if (length < this.length) this.length = max(length, 0)
  }

  toString(): string {
    return String.UTF8.decodeUnsafe(this.dataStart, <usize>this.length)
  }

  private digits(value: u64): Utf8Writer {
    const start = this.length
    do {
      this.put(48 + <u32>(value % 10))
      value /= 10
    } while (value != 0)
    // Written least significant first: reverse in place.
    const base = this.dataStart
    for (let a = start, b = this.length - 1; a < b; a++, b--) {
      const t = load<u8>(base + a)
      store<u8>(base + a, load<u8>(base + b))
      store<u8>(base + b, t)
    }
    return this
  }

  /** Writes the non-ASCII code point at `i` (two code units for a surrogate pair); returns the index of its last code unit. */
  private codePoint(s: string, i: i32): i32 {
    let c = <u32>s.charCodeAt(i)
    if (c < 0x800) {
      this.put(0xc0 | (c >> 6))
      this.put(0x80 | (c & 0x3f))
      return i
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < s.length ? <u32>s.charCodeAt(i + 1) : 0
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00)
        this.put(0xf0 | (cp >> 18))
        this.put(0x80 | ((cp >> 12) & 0x3f))
        this.put(0x80 | ((cp >> 6) & 0x3f))
        this.put(0x80 | (cp & 0x3f))
        return i + 1
      }
      c = REPLACEMENT
    }
    this.put(0xe0 | (c >> 12))
    this.put(0x80 | ((c >> 6) & 0x3f))
    this.put(0x80 | (c & 0x3f))
    return i
  }

  /** One byte; callers reserve room first. */
  @inline private put(byte: u32): void {
    store<u8>(changetype<usize>(this.buffer) + <usize>this.length, <u8>byte)
    this.length++
  }

  private reserve(bytes: i32): void {
    const needed = this.length + bytes
    if (needed <= this.buffer.byteLength) return
    const grown = new ArrayBuffer(max(needed, this.buffer.byteLength * 2))
    memory.copy(changetype<usize>(grown), changetype<usize>(this.buffer), <usize>this.length)
    this.buffer = grown
  }
}

function hexDigit(n: u32): u32 {
  return n < 10 ? 48 + n : 87 + n
}

/** The character of a 6-bit value in the standard base64 alphabet: A-Z a-z 0-9 + /. */
function base64Digit(n: u32): u32 {
  if (n < 26) return 65 + n
  if (n < 52) return 71 + n
  if (n < 62) return n - 4
  return n == 62 ? 43 : 47
}
