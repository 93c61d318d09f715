/**
 * @module
 * The agent's spool: every message waiting for JetStream, in order, bounded.
 *
 * Messages are written through to segment files before the agent answers
 * its source, so a SIGKILLed agent loses nothing it acknowledged; a restart
 * replays them (the message ids make a republish land once). Memory holds
 * the messages of each segment as long as `memoryBytes` allows, so a
 * healthy pipeline never reads the disk; past that, a segment stays on disk
 * only and is read back when the publisher reaches it. Past `diskBytes`
 * the oldest segment is dropped and its events counted.
 *
 * Record: u32 header length, header JSON, u32 data length, data.
 * The checkpoint file says which segment and record come next.
 */
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'

export interface SpooledMessage {
  /** JetStream message id: `<agent>.<boot>.<seq>`. */
  id: string
  subject: string
  events: number
  /** When the agent received the message's events (ms since the epoch). */
  receivedAt: number
  data: Uint8Array
  /** Whether it had to wait for NATS (set on append, and on everything recovered at start). */
  spooled: boolean
}

export interface SpoolOptions {
  dir: string
  memoryBytes: number
  diskBytes: number
  /** Default: an eighth of diskBytes, at most 8 MiB, at most half of memoryBytes, at least 64 KiB. */
  segmentBytes?: number
}

interface Segment {
  n: number
  file: string
  /** Bytes of the file. */
  bytes: number
  /** Records in the file. */
  count: number
  /** Records of it already published. */
  acked: number
  /** Its messages in order, while held in memory; null when on disk only. */
  cached: SpooledMessage[] | null
  /** Events in the records not yet acknowledged (for drop counts). */
  pendingEvents: number
  /** When its first record was received: the age of the oldest message while it is on disk only. */
  firstReceivedAt: number
}

export interface SpoolStats {
  messages: number
  events: number
  memoryBytes: number
  diskBytes: number
  oldestReceivedAt: number | null
}

const CHECKPOINT = 'checkpoint.json'
const segmentName = (n: number) => `seg-${String(n).padStart(12, '0')}.log`

export class Spool {
  readonly #opts: Required<SpoolOptions>
  readonly #segments: Segment[] = []
  #tailFd = -1
  #memoryBytes = 0
  #diskBytes = 0
  #messages = 0
  #events = 0
  #checkpointDirty = false
  #inFlight: SpooledMessage | null = null
  #inFlightDropped = false
  /** Called with the events of a segment dropped for the disk bound. */
  onDrop: (events: number, messages: number) => void = () => {}

  constructor(opts: SpoolOptions) {
    const segmentBytes =
      opts.segmentBytes ??
      Math.max(64 << 10, Math.min(8 << 20, Math.floor(opts.diskBytes / 8), Math.floor(opts.memoryBytes / 2)))
    this.#opts = { ...opts, segmentBytes }
    mkdirSync(opts.dir, { recursive: true })
    this.#recover()
  }

  get stats(): SpoolStats {
    const head = this.#segments[0]
    const oldest = this.#messages === 0 ? null : (this.peek()?.receivedAt ?? head?.firstReceivedAt ?? null)
    return {
      messages: this.#messages,
      events: this.#events,
      memoryBytes: this.#memoryBytes,
      diskBytes: this.#diskBytes,
      oldestReceivedAt: oldest,
    }
  }

  /** Appends a message to the tail; synchronous, so it is on disk (in the page cache) when this returns. */
  append(m: SpooledMessage): void {
    const record = encodeRecord(m)
    let tail = this.#segments.at(-1)
    if (!tail || this.#tailFd < 0 || tail.bytes >= this.#opts.segmentBytes) tail = this.#newTail(m.receivedAt)
    const written = writeSync(this.#tailFd, record)
    if (written !== record.length) {
      // A short write (disk full): cut the partial record off so what follows stays readable, and refuse this one.
      ftruncateSync(this.#tailFd, tail.bytes)
      throw new Error(`spool: wrote ${written} of ${record.length} bytes to ${tail.file}`)
    }
    tail.bytes += record.length
    tail.count++
    tail.pendingEvents += m.events
    this.#diskBytes += record.length
    this.#messages++
    this.#events += m.events
    if (tail.cached && this.#memoryBytes + m.data.length <= this.#opts.memoryBytes) {
      tail.cached.push(m)
      this.#memoryBytes += m.data.length
    } else if (tail.cached) {
      // Memory is full: this segment is read back from disk when its turn comes.
      tail.firstReceivedAt = tail.cached[tail.acked]?.receivedAt ?? m.receivedAt
      this.#uncache(tail)
    }
    this.#enforceDiskBound()
  }

  /** The oldest message, without taking it; never reads the disk. */
  peek(): SpooledMessage | undefined {
    const head = this.#segments[0]
    return head && head.acked < head.count ? head.cached?.[head.acked] : undefined
  }

  /**
   * The next message to publish (reading its segment back from disk when
   * needed); it stays in the spool until `ack` or `release`.
   */
  next(): SpooledMessage | undefined {
    const head = this.#segments[0]
    if (!head || head.acked >= head.count) return undefined
    if (!head.cached) {
      // Unreadable now (out of descriptors, say): try again on the next call rather than lose the segment.
      const read = readSegment(head.file)
      if (read === null) return undefined
      head.cached = read
      if (read.length < head.count) this.#lose(head, read)
      for (const m of head.cached.slice(head.acked)) this.#memoryBytes += m.data.length
      if (head.acked >= head.count) {
        this.#removeHead()
        return undefined
      }
    }
    this.#inFlight = head.cached[head.acked]!
    this.#inFlightDropped = false
    return this.#inFlight
  }

  /** The message `next` gave was published. */
  ack(m: SpooledMessage): void {
    if (m !== this.#inFlight) return
    this.#inFlight = null
    // Dropped for the disk bound while in flight: it was published after all, and not counted as dropped.
    if (this.#inFlightDropped) return
    const head = this.#segments[0]!
    head.acked++
    head.pendingEvents -= m.events
    this.#messages--
    this.#events -= m.events
    if (head.cached) this.#memoryBytes -= m.data.length
    // Kept only while it is the open tail (a segment recovered at start is never appended to).
    if (
      head.acked >= head.count &&
      (this.#segments.length > 1 || head.bytes >= this.#opts.segmentBytes || this.#tailFd < 0)
    )
      this.#removeHead()
    this.#checkpointDirty = true
  }

  /** Publishing the message `next` gave failed: it stays first in line (unless the disk bound dropped it meanwhile). */
  release(m: SpooledMessage): void {
    if (m !== this.#inFlight) return
    this.#inFlight = null
    if (this.#inFlightDropped) this.onDrop(m.events, 1)
  }

  /** Writes the checkpoint if acks happened since the last one (the caller coalesces). */
  checkpoint(): void {
    if (!this.#checkpointDirty) return
    this.#checkpointDirty = false
    const head = this.#segments[0]
    const state = head ? { segment: head.n, acked: head.acked } : { segment: 0, acked: 0 }
    const tmp = join(this.#opts.dir, `${CHECKPOINT}.tmp`)
    writeFileSync(tmp, JSON.stringify(state))
    renameSync(tmp, join(this.#opts.dir, CHECKPOINT))
  }

  close(): void {
    this.checkpoint()
    if (this.#tailFd >= 0) closeSync(this.#tailFd)
    this.#tailFd = -1
  }

  #newTail(firstReceivedAt: number): Segment {
    if (this.#tailFd >= 0) closeSync(this.#tailFd)
    const n = (this.#segments.at(-1)?.n ?? this.#lastSegmentNumber) + 1
    this.#lastSegmentNumber = n
    const file = join(this.#opts.dir, segmentName(n))
    this.#tailFd = openSync(file, 'a')
    const s: Segment = { n, file, bytes: 0, count: 0, acked: 0, cached: [], pendingEvents: 0, firstReceivedAt }
    this.#segments.push(s)
    return s
  }

  #lastSegmentNumber = 0

  /** Records of `s` that could not be read back (torn by a crash mid-write): dropped, and counted. */
  #lose(s: Segment, read: SpooledMessage[]): void {
    const kept = read.slice(s.acked).reduce((a, m) => a + m.events, 0)
    const lostMessages = s.count - Math.max(read.length, s.acked)
    const lostEvents = Math.max(0, s.pendingEvents - kept)
    s.count = read.length
    s.pendingEvents = kept
    this.#messages -= lostMessages
    this.#events -= lostEvents
    if (lostEvents > 0) this.onDrop(lostEvents, lostMessages)
  }

  #uncache(s: Segment): void {
    if (!s.cached) return
    for (const m of s.cached.slice(s.acked)) this.#memoryBytes -= m.data.length
    s.cached = null
  }

  #removeHead(): void {
    const head = this.#segments.shift()!
    if (this.#segments.length === 0) {
      if (this.#tailFd >= 0) closeSync(this.#tailFd)
      this.#tailFd = -1
    }
    this.#uncache(head)
    this.#diskBytes -= head.bytes
    rmSync(head.file, { force: true })
  }

  #enforceDiskBound(): void {
    while (this.#diskBytes > this.#opts.diskBytes && this.#segments.length > 1) {
      const head = this.#segments[0]!
      let messages = head.count - head.acked
      let events = head.pendingEvents
      this.#messages -= messages
      this.#events -= events
      // The message being published is counted when its outcome is known (release or ack).
      // It is always the head's next record, cached or not, until its segment is dropped.
      if (this.#inFlight && !this.#inFlightDropped) {
        this.#inFlightDropped = true
        messages--
        events -= this.#inFlight.events
      }
      this.#removeHead()
      this.#checkpointDirty = true
      if (messages > 0) this.onDrop(events, messages)
    }
  }

  #recover(): void {
    const files = readdirSync(this.#opts.dir)
      .filter((f) => /^seg-\d{12}\.log$/.test(f))
      .sort()
    let checkpoint = { segment: 0, acked: 0 }
    try {
      checkpoint = JSON.parse(readFileSync(join(this.#opts.dir, CHECKPOINT), 'utf8'))
    } catch {
      // No checkpoint: nothing was acknowledged yet.
    }
    // New segments number past the checkpoint's, even when its files are gone: a reused number would be skipped or cut.
    if (Number.isSafeInteger(checkpoint.segment)) this.#lastSegmentNumber = checkpoint.segment
    for (const f of files) {
      const n = Number(f.slice(4, 16))
      const file = join(this.#opts.dir, f)
      this.#lastSegmentNumber = Math.max(this.#lastSegmentNumber, n)
      if (n < checkpoint.segment) {
        rmSync(file, { force: true })
        continue
      }
      const messages = readSegment(file)
      // Better not to start than to delete a segment that could not be read.
      if (messages === null) throw new Error(`spool: cannot read ${file}`)
      const acked = n === checkpoint.segment ? Math.min(checkpoint.acked, messages.length) : 0
      const pending = messages.slice(acked)
      if (pending.length === 0) {
        rmSync(file, { force: true })
        continue
      }
      const bytes = statSync(file).size
      const events = pending.reduce((a, m) => a + m.events, 0)
      this.#segments.push({
        n,
        file,
        bytes,
        count: messages.length,
        acked,
        cached: null,
        pendingEvents: events,
        firstReceivedAt: pending[0]!.receivedAt,
      })
      this.#diskBytes += bytes
      this.#messages += pending.length
      this.#events += events
    }
    this.#checkpointDirty = true
  }
}

function encodeRecord(m: SpooledMessage): Buffer {
  const header = Buffer.from(
    JSON.stringify({ id: m.id, subject: m.subject, events: m.events, receivedAt: m.receivedAt }),
  )
  const out = Buffer.allocUnsafe(8 + header.length + m.data.length)
  out.writeUInt32LE(header.length, 0)
  header.copy(out, 4)
  out.writeUInt32LE(m.data.length, 4 + header.length)
  out.set(m.data, 8 + header.length)
  return out
}

/** The whole records of a segment file (stopping at a torn one); null when the file cannot be read now. */
export function readSegment(file: string): SpooledMessage[] | null {
  let buf: Buffer
  try {
    buf = readFileSync(file)
  } catch {
    return null
  }
  const out: SpooledMessage[] = []
  let at = 0
  while (at + 4 <= buf.length) {
    const hl = buf.readUInt32LE(at)
    if (at + 8 + hl > buf.length) break
    const dl = buf.readUInt32LE(at + 4 + hl)
    if (at + 8 + hl + dl > buf.length) break
    let header: { id: string; subject: string; events: number; receivedAt: number }
    try {
      header = JSON.parse(buf.toString('utf8', at + 4, at + 4 + hl))
    } catch {
      break
    }
    out.push({ ...header, data: buf.subarray(at + 8 + hl, at + 8 + hl + dl), spooled: true })
    at += 8 + hl + dl
  }
  return out
}
