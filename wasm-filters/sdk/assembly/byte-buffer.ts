// @module
// Bytes gathered from a stream up to a cap, for a copy that is read once at
// the end (a sampled body). Bytes go into blocks that never move: a block
// is added only when the last one is full, sized at least as large as
// everything held so far (few blocks, however small the chunks) but never
// past the cap. So the memory held stays close to the bytes captured, never
// more than the cap, and growing copies nothing.
//
// Allocation order matters with the allocator's good-fit search: a block
// of n bytes freed between two live ones is not found again for another
// n-byte request. A host copy (proxy_get_buffer_bytes) is allocated, copied
// from and freed; reserve() allocates the block first, so the host's copy
// lies after it, next to free memory it merges back into when freed.

/** Blocks below this size are not worth their header (a body in 1-byte chunks). */
const MIN_BLOCK: i32 = 1024

export class ByteBuffer {
  private blocks: ArrayBuffer[] = []
  /** Bytes used in the last block. */
  private used: i32 = 0
  /** The block to fill when the last is full, allocated by reserve(). */
  private spare: ArrayBuffer | null = null
  /** Bytes held. */
  length: i32 = 0

  constructor(readonly cap: i32) {}

  /** Room left under the cap. */
  get room(): i32 {
    return this.cap - this.length
  }

  /** Makes room for `size` more bytes, or as many as the cap allows, before they are fetched; returns how many. */
  reserve(size: i32): i32 {
    const n = min(size, this.room)
    const free = this.free
    if (n > free && this.spare === null) this.spare = new ArrayBuffer(this.blockSize(n - free))
    return n
  }

  /** Appends the `size` bytes at `ptr`, or as many as the cap leaves room for; returns how many it took. */
  append(ptr: usize, size: i32): i32 {
    const n = min(size, this.room)
    let done = 0
    while (done < n) {
      if (this.free == 0) this.nextBlock()
      const block = this.blocks[this.blocks.length - 1]
      const take = min(n - done, this.free)
      memory.copy(changetype<usize>(block) + <usize>this.used, ptr + <usize>done, <usize>take)
      this.used += take
      this.length += take
      done += take
    }
    return n
  }

  /**
   * All bytes, contiguous: the first `length` bytes of the result. Joins the
   * blocks (one copy) when there are several; the buffer then holds the join.
   */
  contiguous(): ArrayBuffer {
    if (this.blocks.length == 1) return this.blocks[0]
    const joined = new ArrayBuffer(this.length)
    let at: usize = 0
    for (let i = 0; i < this.blocks.length; i++) {
      const size = i == this.blocks.length - 1 ? this.used : this.blocks[i].byteLength
      memory.copy(changetype<usize>(joined) + at, changetype<usize>(this.blocks[i]), <usize>size)
      at += <usize>size
    }
    this.blocks = [joined]
    this.used = this.length
    this.spare = null
    return joined
  }

  /** Free bytes in the last block. */
  private get free(): i32 {
    return this.blocks.length == 0 ? 0 : this.blocks[this.blocks.length - 1].byteLength - this.used
  }

  private nextBlock(): void {
    const spare = this.spare
    this.blocks.push(spare !== null ? spare : new ArrayBuffer(this.blockSize(1)))
    this.spare = null
    this.used = 0
  }

  /** At least `wanted` bytes (and at least what is held), within what the cap leaves past the last block. */
  private blockSize(wanted: i32): i32 {
    return min(this.room - this.free, max(wanted, max(this.length, MIN_BLOCK)))
  }
}
