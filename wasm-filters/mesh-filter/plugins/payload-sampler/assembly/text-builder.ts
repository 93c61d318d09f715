// @module
// A copy of a text with spans replaced, built in one pass: the pieces are
// collected and joined once at the end. Growing a string with += copies
// everything built so far on each step, which makes many replacements
// quadratic in the text's length; so does AssemblyScript's Array#join for
// strings, which is built on +=.

export class TextBuilder {
  private parts: string[] = []
  /** The source is copied (or replaced) up to here. */
  private copied: i32 = 0

  constructor(private readonly source: string) {}

  /** Where the next replacement may start: spans are replaced in order, without overlap. */
  get copiedTo(): i32 {
    return this.copied
  }

  /** Replaces source[from, to) with `text`; `from` is at least `copiedTo`. */
  replace(from: i32, to: i32, text: string): void {
    if (from > this.copied) this.parts.push(this.source.substring(this.copied, from))
    this.parts.push(text)
    this.copied = to
  }

  /** The result; the source itself when nothing was replaced. */
  finish(): string {
    if (this.parts.length == 0) return this.source
    if (this.copied < this.source.length) this.parts.push(this.source.substring(this.copied))
    return concatAll(this.parts)
  }
}

/** The strings one after another, in one allocation. */
function concatAll(parts: string[]): string {
  let bytes: usize = 0
  for (let i = 0; i < parts.length; i++) bytes += <usize>parts[i].length << 1
  const out = __new(bytes, idof<String>())
  let at = out
  for (let i = 0; i < parts.length; i++) {
    const size = <usize>parts[i].length << 1
    memory.copy(at, changetype<usize>(parts[i]), size)
    at += size
  }
  return changetype<string>(out)
}
