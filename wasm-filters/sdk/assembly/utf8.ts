// @module
// A validating UTF-8 decoder: the WHATWG "UTF-8 decode" with replacement,
// exactly what TextDecoder does. Each maximal invalid subsequence becomes one
// U+FFFD and the byte that ended it is read again, so an invalid byte (a
// Latin-1 é, a stray continuation byte, a sequence a chunk boundary cut)
// never swallows the bytes after it. AssemblyScript's String.UTF8.decodeUnsafe
// does not validate: it reads an invalid lead byte's length from the byte
// and consumes that many bytes, quotes and commas included.

const REPLACEMENT: u32 = 0xfffd

/** The `length` bytes at `ptr` as a string; invalid sequences become U+FFFD. */
export function decodeUtf8(ptr: usize, length: usize): string {
  // One byte gives at most one UTF-16 unit (four bytes give two).
  const out = __new(length << 1, idof<String>())
  let o = out
  let i = ptr
  const end = ptr + length
  while (i < end) {
    const b = <u32>load<u8>(i)
    if (b < 0x80) {
      store<u16>(o, <u16>b)
      o += 2
      i++
      continue
    }
    const next = sequenceEnd(i, end)
    if (next == 0) {
      // Invalid: one U+FFFD for the bytes read so far; the byte that ended it is read again.
      store<u16>(o, <u16>REPLACEMENT)
      o += 2
      i = lastRead
      continue
    }
    o = writeCodePoint(o, decoded)
    i = next
  }
  return changetype<string>(__renew(out, o - out))
}

// sequenceEnd's results besides its return value (no tuples in AssemblyScript).
let decoded: u32 = 0
let lastRead: usize = 0

/**
 * Reads the multi-byte sequence whose lead is at `at`: returns the address
 * after it and sets `decoded`, or returns 0 when it is invalid and sets
 * `lastRead` to where decoding resumes (the lead's successor, or the first
 * byte that did not fit).
 */
function sequenceEnd(at: usize, end: usize): usize {
  const b = <u32>load<u8>(at)
  let need = 0
  // The second byte's range excludes over-long forms, surrogates and code points above U+10FFFF.
  let lower: u32 = 0x80
  let upper: u32 = 0xbf
  let cp: u32 = 0
  if (b >= 0xc2 && b <= 0xdf) {
    need = 1
    cp = b & 0x1f
  } else if (b >= 0xe0 && b <= 0xef) {
    need = 2
    cp = b & 0x0f
    if (b == 0xe0) lower = 0xa0
    else if (b == 0xed) upper = 0x9f
  } else if (b >= 0xf0 && b <= 0xf4) {
    need = 3
    cp = b & 0x07
    if (b == 0xf0) lower = 0x90
    else if (b == 0xf4) upper = 0x8f
  } else {
    lastRead = at + 1
    return 0
  }
  let j = at + 1
  for (let k = 0; k < need; k++) {
    const c = j < end ? <u32>load<u8>(j) : 0
    if (j >= end || c < lower || c > upper) {
      lastRead = j
      return 0
    }
    cp = (cp << 6) | (c & 0x3f)
    lower = 0x80
    upper = 0xbf
    j++
  }
  decoded = cp
  return j
}

function writeCodePoint(o: usize, cp: u32): usize {
  if (cp < 0x10000) {
    store<u16>(o, <u16>cp)
    return o + 2
  }
  const v = cp - 0x10000
  store<u16>(o, <u16>(0xd800 | (v >> 10)))
  store<u16>(o + 2, <u16>(0xdc00 | (v & 0x3ff)))
  return o + 4
}

/**
 * `length` less a multi-byte sequence that is cut off at the end (a capture
 * the cap ended inside a character), so that decoding the rest ends on a
 * character boundary instead of in U+FFFD.
 */
export function completeLength(ptr: usize, length: usize): usize {
  let back: usize = 0
  while (back < 3 && back < length && (load<u8>(ptr + length - 1 - back) & 0xc0) == 0x80) back++
  if (back == length) return length
  const lead = <u32>load<u8>(ptr + length - 1 - back)
  const need: usize = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1
  return back + 1 < need ? length - back - 1 : length
}
