// @module
// A body's copy: raw bytes up to the cap, decoded once when the sample is
// written. Bytes, because a chunk can end inside a character (decoding
// chunks one by one breaks those) and hold half the memory of a string.
import { appendBuffer, BufferType, ByteBuffer, completeLength, decodeUtf8 } from "../../../../sdk/assembly/index"

export class Capture {
  bytes: ByteBuffer | null = null
  truncated: bool = false

  /** Copies (part of) the current body chunk, up to the cap. */
  take(type: BufferType, size: usize, cap: i32): void {
    if (size == 0) return
    if (this.bytes === null) this.bytes = new ByteBuffer(cap)
    const bytes = this.bytes!
    if (<usize>bytes.room < size) this.truncated = true
    // It takes what the cap leaves room for, and asks the host for nothing when that is none.
    appendBuffer(type, size, bytes)
  }

  /** Lets go of the copy (the request was not sampled after all). */
  release(): void {
    this.bytes = null
    this.truncated = false
  }

  /** The copy as text: invalid UTF-8 becomes U+FFFD; a character the cap cut in two is left out. */
  text(): string {
    if (this.bytes === null) return ""
    const bytes = this.bytes!
    const ptr = changetype<usize>(bytes.contiguous())
    const length = this.truncated ? completeLength(ptr, <usize>bytes.length) : <usize>bytes.length
    return decodeUtf8(ptr, length)
  }
}
