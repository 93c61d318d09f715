/**
 * @module
 * The agent's spool against real files in a temp folder: order, the
 * next/ack/release protocol, recovery after a kill (a new Spool on the same
 * folder, the old one never closed), torn records, the disk bound and its
 * drop counts, and a model-based run against a plain array.
 */
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { readSegment, Spool, type SpooledMessage, type SpoolOptions } from './spool.ts'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'spool-test-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function msg(i: number, size = 100, events = 1 + (i % 3)): SpooledMessage {
  const data = new Uint8Array(size)
  for (let k = 0; k < size; k++) data[k] = (i * 31 + k) & 0xff
  return { id: `agent.boot.${i}`, subject: 'mesh.requests.m', events, receivedAt: 1_000_000 + i, data, spooled: false }
}

/** Bytes of a message's record on disk. */
function recordBytes(m: SpooledMessage): number {
  return (
    8 +
    Buffer.byteLength(JSON.stringify({ id: m.id, subject: m.subject, events: m.events, receivedAt: m.receivedAt })) +
    m.data.length
  )
}

function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^seg-\d{12}\.log$/.test(f))
    .sort()
}
function bytesOnDisk(dir: string): number {
  return segmentFiles(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0)
}

/** Publishes everything: next + ack until empty. */
function drain(spool: Spool): SpooledMessage[] {
  const out: SpooledMessage[] = []
  for (let m = spool.next(); m; m = spool.next()) {
    out.push(m)
    spool.ack(m)
    if (out.length > 100_000) throw new Error('spool does not drain')
  }
  return out
}

const ids = (ms: SpooledMessage[]) => ms.map((m) => m.id)
const sumEvents = (ms: SpooledMessage[]) => ms.reduce((a, m) => a + m.events, 0)

function expectSame(got: SpooledMessage | undefined, want: SpooledMessage): void {
  expect(got, `expected ${want.id}`).toBeDefined()
  expect(got!.id).toBe(want.id)
  expect(got!.subject).toBe(want.subject)
  expect(got!.events).toBe(want.events)
  expect(got!.receivedAt).toBe(want.receivedAt)
  expect(Buffer.from(got!.data).equals(Buffer.from(want.data))).toBe(true)
}

function open(dir: string, o: Partial<SpoolOptions> = {}): Spool {
  return new Spool({ dir, memoryBytes: 1 << 20, diskBytes: 64 << 20, ...o })
}

describe('Spool: order and the publish protocol', () => {
  it('starts empty', () => {
    const s = open(tempDir())
    expect(s.stats).toEqual({ messages: 0, events: 0, memoryBytes: 0, diskBytes: 0, oldestReceivedAt: null })
    expect(s.next()).toBeUndefined()
    expect(s.peek()).toBeUndefined()
  })

  it('keeps FIFO order across many segments and the move from memory to disk only', () => {
    const dir = tempDir()
    const s = open(dir, { memoryBytes: 2000, segmentBytes: 1024 })
    const sent = Array.from({ length: 300 }, (_, i) => msg(i, 50 + (i % 7) * 20))
    for (const m of sent) s.append(m)
    expect(segmentFiles(dir).length).toBeGreaterThan(20)
    const st = s.stats
    expect(st.messages).toBe(300)
    expect(st.events).toBe(sumEvents(sent))
    expect(st.diskBytes).toBe(sent.reduce((a, m) => a + recordBytes(m), 0))
    expect(st.diskBytes).toBe(bytesOnDisk(dir))
    // Memory holds what it may; the rest is on disk only.
    expect(st.memoryBytes).toBeGreaterThan(0)
    expect(st.memoryBytes).toBeLessThanOrEqual(2000)
    expect(st.oldestReceivedAt).toBe(sent[0]!.receivedAt)

    const got = drain(s)
    expect(ids(got)).toEqual(ids(sent))
    got.forEach((m, i) => expectSame(m, sent[i]!))
    expect(s.stats).toEqual({
      messages: 0,
      events: 0,
      memoryBytes: 0,
      diskBytes: bytesOnDisk(dir),
      oldestReceivedAt: null,
    })
    expect(segmentFiles(dir).length).toBeLessThanOrEqual(1)
  })

  it('keeps FIFO order when appends and publishes interleave', () => {
    const s = open(tempDir(), { memoryBytes: 700, segmentBytes: 500 })
    const sent: SpooledMessage[] = []
    const got: SpooledMessage[] = []
    let i = 0
    for (let round = 0; round < 40; round++) {
      for (let k = 0; k < (round % 5) + 1; k++) s.append(sent[sent.push(msg(i++, 10 + ((i * 37) % 200))) - 1]!)
      for (let k = 0; k < round % 4; k++) {
        const m = s.next()
        if (!m) break
        got.push(m)
        s.ack(m)
      }
    }
    got.push(...drain(s))
    expect(ids(got)).toEqual(ids(sent))
    got.forEach((m, k) => expectSame(m, sent[k]!))
  })

  it('serves what memory holds without reading the disk', () => {
    const dir = tempDir()
    const s = open(dir, { memoryBytes: 1 << 20, segmentBytes: 4096 })
    const sent = Array.from({ length: 40 }, (_, i) => msg(i))
    for (const m of sent) s.append(m)
    // Spoil the files: a spool that read them now would lose or garble messages.
    for (const f of segmentFiles(dir)) truncateSync(join(dir, f), 0)
    const got = drain(s)
    expect(ids(got)).toEqual(ids(sent))
    got.forEach((m, i) => expectSame(m, sent[i]!))
  })

  it('ack removes the message; a second ack, or an ack of another message, changes nothing', () => {
    const s = open(tempDir())
    const [a, b, c] = [msg(1, 10, 2), msg(2, 20, 3), msg(3, 30, 4)]
    for (const m of [a, b, c]) s.append(m)
    const m = s.next()!
    expectSame(m, a)
    s.ack(m)
    expect(s.stats).toMatchObject({ messages: 2, events: 7, memoryBytes: 50, oldestReceivedAt: b.receivedAt })
    expectSame(s.peek(), b)
    s.ack(m)
    s.ack(c)
    expect(s.stats).toMatchObject({ messages: 2, events: 7 })
    // Not in flight until next() gives it.
    s.ack(s.peek()!)
    expect(s.stats.messages).toBe(2)
    expect(ids(drain(s))).toEqual([b.id, c.id])
  })

  it('release keeps the message first in line', () => {
    const s = open(tempDir())
    const [a, b] = [msg(1), msg(2)]
    s.append(a)
    s.append(b)
    const before = s.stats
    for (let k = 0; k < 3; k++) {
      const m = s.next()!
      expectSame(m, a)
      s.release(m)
      expect(s.stats).toEqual(before)
    }
    expectSame(s.peek(), a)
    expect(ids(drain(s))).toEqual([a.id, b.id])
  })

  it('a message appended after the spool emptied is next', () => {
    const s = open(tempDir(), { segmentBytes: 1 << 20 })
    s.append(msg(1))
    drain(s)
    s.append(msg(2))
    expectSame(s.next(), msg(2))
  })
})

describe('Spool: recovery after a kill', () => {
  it('replays exactly the unacknowledged messages, in order, marked spooled, after a checkpoint', () => {
    const dir = tempDir()
    const s = open(dir, { memoryBytes: 1500, segmentBytes: 700 })
    const sent = Array.from({ length: 60 }, (_, i) => msg(i, 40 + (i % 5) * 30))
    for (const m of sent) s.append(m)
    for (let k = 0; k < 23; k++) s.ack(s.next()!)
    s.checkpoint()
    // Killed: never closed.
    const r = open(dir, { memoryBytes: 1500, segmentBytes: 700 })
    const pending = sent.slice(23)
    expect(r.stats).toMatchObject({
      messages: pending.length,
      events: sumEvents(pending),
      oldestReceivedAt: pending[0]!.receivedAt,
    })
    expect(r.stats.diskBytes).toBe(bytesOnDisk(dir))
    const got = drain(r)
    expect(ids(got)).toEqual(ids(pending))
    got.forEach((m, i) => expectSame(m, pending[i]!))
    for (const m of got) expect(m.spooled).toBe(true)
  })

  it('replays a superset, in order, of the unacknowledged ones when acks came after the last checkpoint', () => {
    const dir = tempDir()
    const s = open(dir, { segmentBytes: 600 })
    const sent = Array.from({ length: 50 }, (_, i) => msg(i, 60))
    for (const m of sent) s.append(m)
    for (let k = 0; k < 5; k++) s.ack(s.next()!)
    s.checkpoint()
    for (let k = 0; k < 20; k++) s.ack(s.next()!)
    const got = drain(open(dir, { segmentBytes: 600 }))
    // A contiguous run from somewhere between the checkpoint and the first unacked one to the end.
    const start = sent.findIndex((m) => m.id === got[0]!.id)
    expect(start).toBeGreaterThanOrEqual(5)
    expect(start).toBeLessThanOrEqual(25)
    expect(ids(got)).toEqual(ids(sent.slice(start)))
    for (const m of got) expect(m.spooled).toBe(true)
  })

  it('replays everything when no checkpoint was ever written', () => {
    const dir = tempDir()
    const s = open(dir, { segmentBytes: 300 })
    const sent = Array.from({ length: 12 }, (_, i) => msg(i, 50))
    for (const m of sent) s.append(m)
    expect(ids(drain(open(dir, { segmentBytes: 300 })))).toEqual(ids(sent))
  })

  it('ignores a torn last record, and goes on publishing what is appended after the restart', () => {
    const dir = tempDir()
    const s = open(dir)
    const sent = Array.from({ length: 10 }, (_, i) => msg(i, 80))
    for (const m of sent) s.append(m)
    const [file] = segmentFiles(dir)
    truncateSync(join(dir, file!), statSync(join(dir, file!)).size - 3)
    const r = open(dir)
    expect(r.stats).toMatchObject({
      messages: 9,
      events: sumEvents(sent.slice(0, 9)),
      oldestReceivedAt: sent[0]!.receivedAt,
    })
    const later = [msg(100), msg(101)]
    for (const m of later) r.append(m)
    expect(r.stats.messages).toBe(11)
    const got = drain(r)
    expect(ids(got)).toEqual(ids([...sent.slice(0, 9), ...later]))
    expect(r.stats).toMatchObject({ messages: 0, events: 0, oldestReceivedAt: null })
  })

  it('goes on publishing new messages once the recovered ones are published', () => {
    const dir = tempDir()
    const s = open(dir)
    for (const m of [msg(1), msg(2)]) s.append(m)
    const r = open(dir)
    expect(ids(drain(r))).toEqual([msg(1).id, msg(2).id])
    r.append(msg(3))
    expect(r.stats).toMatchObject({ messages: 1, oldestReceivedAt: msg(3).receivedAt })
    expectSame(r.peek() ?? r.next(), msg(3))
    expect(ids(drain(r))).toEqual([msg(3).id])
  })

  it('reads whole records only, wherever the file is cut (property)', () => {
    const dir = tempDir()
    const s = open(dir)
    const sent = Array.from({ length: 6 }, (_, i) => msg(i, 5 + i * 13))
    for (const m of sent) s.append(m)
    const file = join(dir, segmentFiles(dir)[0]!)
    const full = readSegment(file)!
    expect(ids(full)).toEqual(ids(sent))
    // Where each record ends: the running sum of their sizes.
    let sum = 0
    const ends = sent.map((m) => (sum += recordBytes(m)))
    const copy = join(tempDir(), 'seg-000000000001.log')
    const bytes = readFileSync(file)
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length }), (cut) => {
        writeFileSync(copy, bytes.subarray(0, cut))
        const whole = ends.filter((e) => e <= cut).length
        expect(ids(readSegment(copy)!)).toEqual(ids(sent.slice(0, whole)))
      }),
      { numRuns: 300 },
    )
  })

  it('does not lose messages appended after a restart that found every segment published but the checkpoint behind', () => {
    const dir = tempDir()
    // One record per segment.
    const o = { segmentBytes: 1 }
    const a = open(dir, o)
    for (const m of [msg(1), msg(2), msg(3)]) a.append(m)
    a.ack(a.next()!)
    a.checkpoint()
    a.ack(a.next()!)
    a.ack(a.next()!)
    // Killed before the next checkpoint; restarted; killed again before a checkpoint.
    const b = open(dir, o)
    expect(b.stats.messages).toBe(0)
    b.append(msg(4))
    b.append(msg(5))
    const c = open(dir, o)
    expect(ids(drain(c))).toEqual([msg(4).id, msg(5).id])
  })
})

describe('Spool: the disk bound', () => {
  it('drops the oldest segments, counting their events, and keeps stats consistent', () => {
    const dir = tempDir()
    const s = open(dir, { memoryBytes: 1 << 20, diskBytes: 4000, segmentBytes: 1000 })
    const drops: { events: number; messages: number }[] = []
    s.onDrop = (events, messages) => drops.push({ events, messages })
    const sent = Array.from({ length: 120 }, (_, i) => msg(i, 90, 1 + (i % 4)))
    for (const m of sent) {
      s.append(m)
      expect(s.stats.diskBytes).toBe(bytesOnDisk(dir))
      expect(s.stats.diskBytes).toBeLessThanOrEqual(4000 + 1000 + recordBytes(m))
    }
    expect(drops.length).toBeGreaterThan(0)
    const droppedMessages = drops.reduce((a, d) => a + d.messages, 0)
    const droppedEvents = drops.reduce((a, d) => a + d.events, 0)
    const st = s.stats
    expect(st.messages + droppedMessages).toBe(sent.length)
    // The oldest went: what is left is the newest, in order.
    const kept = sent.slice(droppedMessages)
    expect(droppedEvents).toBe(sumEvents(sent.slice(0, droppedMessages)))
    expect(st.events).toBe(sumEvents(kept))
    expect(st.oldestReceivedAt).toBe(kept[0]!.receivedAt)
    expect(st.memoryBytes).toBe(kept.reduce((a, m) => a + m.data.length, 0))
    expect(ids(drain(s))).toEqual(ids(kept))
  })

  it('keeps a single segment even past the bound', () => {
    const drops: number[] = []
    const s = open(tempDir(), { diskBytes: 100, segmentBytes: 1 << 20 })
    s.onDrop = (e) => drops.push(e)
    for (let i = 0; i < 5; i++) s.append(msg(i, 100))
    expect(drops).toEqual([])
    expect(s.stats.messages).toBe(5)
  })

  for (const outcome of ['release', 'ack'] as const) {
    for (const memory of ['cached', 'on disk only'] as const) {
      it(`counts a dropped in-flight message only when released (${outcome}, its segment ${memory})`, () => {
        const dir = tempDir()
        // Small memory: the head (then the tail too) is moved to disk only while its first message is in flight.
        const s = open(dir, { memoryBytes: memory === 'cached' ? 1 << 20 : 300, diskBytes: 2500, segmentBytes: 1000 })
        const drops: { events: number; messages: number }[] = []
        s.onDrop = (events, messages) => drops.push({ events, messages })
        const first = msg(0, 100, 5)
        s.append(first)
        const m = s.next()!
        expectSame(m, first)
        const sent = [first]
        for (let i = 1; drops.length === 0; i++) {
          if (i > 100) throw new Error('the bound never dropped')
          const next = msg(i, 250)
          sent.push(next)
          s.append(next)
          // peek() never reads the disk: it sees the head only while it is cached.
          if (i === 1) expect(s.peek() !== undefined).toBe(memory === 'cached')
        }
        const droppedMessages = drops.reduce((a, d) => a + d.messages, 0)
        const droppedEvents = drops.reduce((a, d) => a + d.events, 0)
        // The in-flight message went with its segment but is not counted yet.
        const gone = droppedMessages + 1
        expect(droppedEvents).toBe(sumEvents(sent.slice(1, gone)))
        const kept = sent.slice(gone)
        expect(s.stats).toMatchObject({
          messages: kept.length,
          events: sumEvents(kept),
          oldestReceivedAt: kept[0]!.receivedAt,
        })

        const counted = drops.length
        if (outcome === 'release') s.release(m)
        else s.ack(m)
        // Released: it is lost after all, and counted now; acked: it was published, never counted.
        expect(drops.slice(counted)).toEqual(outcome === 'release' ? [{ events: first.events, messages: 1 }] : [])
        // Neither touches what is still spooled.
        expect(s.stats).toMatchObject({ messages: kept.length, events: sumEvents(kept) })
        expect(ids(drain(s))).toEqual(ids(kept))
        expect(s.stats).toMatchObject({ messages: 0, events: 0, memoryBytes: 0 })
      })
    }
  }
})

describe('Spool: the age of the oldest message', () => {
  it('is the oldest pending message’s receive time', () => {
    const s = open(tempDir(), { memoryBytes: 300, segmentBytes: 1 << 20 })
    expect(s.stats.oldestReceivedAt).toBeNull()
    s.append(msg(0, 100))
    expect(s.stats.oldestReceivedAt).toBe(msg(0).receivedAt)
    s.ack(s.next()!)
    expect(s.stats.oldestReceivedAt).toBeNull()
    s.append(msg(1, 100))
    expect(s.stats.oldestReceivedAt).toBe(msg(1).receivedAt)
    // Memory is full: the segment is on disk only now.
    s.append(msg(2, 250))
    expect(s.stats.messages).toBe(2)
    expect(s.stats.oldestReceivedAt).toBe(msg(1).receivedAt)
    s.ack(s.next()!)
    expect(s.stats.oldestReceivedAt).toBe(msg(2).receivedAt)
  })

  it('is right when the first pending message is the one that did not fit in memory', () => {
    const s = open(tempDir(), { memoryBytes: 300, segmentBytes: 1 << 20 })
    s.append(msg(0, 100))
    s.ack(s.next()!)
    s.append(msg(1, 400))
    expect(s.stats).toMatchObject({ messages: 1, oldestReceivedAt: msg(1).receivedAt })
  })

  it('is right for segments recovered from disk', () => {
    const dir = tempDir()
    const s = open(dir, { segmentBytes: 400 })
    for (let i = 0; i < 10; i++) s.append(msg(i, 50))
    for (let k = 0; k < 4; k++) s.ack(s.next()!)
    s.checkpoint()
    expect(open(dir, { segmentBytes: 400 }).stats.oldestReceivedAt).toBe(msg(4).receivedAt)
  })
})

type Cmd =
  | { op: 'append'; size: number; events: number }
  | { op: 'ack' }
  | { op: 'release' }
  | { op: 'inflight'; appends: { size: number; events: number }[]; ack: boolean }
  | { op: 'restart' }
  | { op: 'kill' }
  | { op: 'checkpoint' }

describe('Spool: model-based (property)', () => {
  it('behaves like an array: FIFO, drops from the front with exact counts, recovery after a kill', () => {
    const appendCmd = fc.record({ size: fc.integer({ min: 0, max: 300 }), events: fc.integer({ min: 1, max: 5 }) })
    const cmd: fc.Arbitrary<Cmd> = fc.oneof(
      { weight: 6, arbitrary: appendCmd.map((a) => ({ op: 'append' as const, ...a })) },
      { weight: 4, arbitrary: fc.constant({ op: 'ack' as const }) },
      { weight: 1, arbitrary: fc.constant({ op: 'release' as const }) },
      {
        weight: 1,
        arbitrary: fc
          .record({ appends: fc.array(appendCmd, { maxLength: 12 }), ack: fc.boolean() })
          .map((r) => ({ op: 'inflight' as const, ...r })),
      },
      { weight: 1, arbitrary: fc.constant({ op: 'restart' as const }) },
      { weight: 1, arbitrary: fc.constant({ op: 'kill' as const }) },
      { weight: 1, arbitrary: fc.constant({ op: 'checkpoint' as const }) },
    )
    const options = fc.record({
      memoryBytes: fc.constantFrom(200, 1500, 1 << 20),
      diskBytes: fc.constantFrom(1500, 5000, 1 << 24),
      segmentBytes: fc.constantFrom(1, 300, 1000, 64 << 10),
    })
    fc.assert(
      fc.property(options, fc.array(cmd, { maxLength: 80 }), (o, cmds) => {
        const dir = mkdtempSync(join(tmpdir(), 'spool-model-'))
        try {
          let seq = 0
          let model: SpooledMessage[] = []
          let dropped = { events: 0, messages: 0 }
          /** Acked since the last checkpoint or drop: a kill may replay a tail of these (the message ids dedupe them). */
          let replayable: SpooledMessage[] = []
          // Set after acking a message whose segment went to disk only while it was in flight: until the next
          // next() reads the segment back, the spool knows only an older bound for the oldest time (the agent's
          // publisher calls next() right after every ack, so its gauge never sees this).
          let oldestIsBound = false
          const start = () => {
            oldestIsBound = false
            const s = new Spool({ dir, ...o })
            s.onDrop = (events, messages) => {
              dropped.events += events
              dropped.messages += messages
            }
            return s
          }
          let spool = start()
          const make = (a: { size: number; events: number }) => msg(seq++, a.size, a.events)
          const same = (got: SpooledMessage | undefined, want: SpooledMessage) => {
            expectSame(got, want)
            // Recovered ones are marked; one read back from disk in the same run may be too (the record does not keep the flag).
            if (want.spooled) expect(got!.spooled).toBe(true)
          }
          const recovered = (ms: SpooledMessage[]) => ms.map((m) => ({ ...m, spooled: true }))
          /** Appends with drops: what the spool reports must be the front of the model. */
          const append = (ms: SpooledMessage[]) => {
            dropped = { events: 0, messages: 0 }
            for (const m of ms) spool.append(m)
            model.push(...ms)
          }
          const check = () => {
            const st = spool.stats
            expect(st.messages).toBe(model.length)
            expect(st.events).toBe(sumEvents(model))
            if (oldestIsBound && model.length > 0) expect(st.oldestReceivedAt).toBeLessThanOrEqual(model[0]!.receivedAt)
            else expect(st.oldestReceivedAt).toBe(model[0]?.receivedAt ?? null)
            expect(st.diskBytes).toBe(bytesOnDisk(dir))
            expect(st.memoryBytes).toBeGreaterThanOrEqual(0)
            if (model.length === 0) expect(st.memoryBytes).toBe(0)
          }
          for (const c of cmds) {
            if (c.op === 'append') {
              const before = model.length
              append([make(c)])
              // Nothing in flight: the dropped messages are the oldest, their events counted.
              const gone = before + 1 - spool.stats.messages
              expect(dropped).toEqual({ messages: gone, events: sumEvents(model.slice(0, gone)) })
              model = model.slice(gone)
              if (gone > 0) replayable = []
            } else if (c.op === 'ack' || c.op === 'release') {
              const m = spool.next()
              oldestIsBound = false
              if (!m) {
                expect(model).toEqual([])
              } else {
                same(m, model[0]!)
                if (c.op === 'ack') {
                  spool.ack(m)
                  replayable.push(model.shift()!)
                } else spool.release(m)
              }
            } else if (c.op === 'inflight') {
              const m = spool.next()
              oldestIsBound = false
              if (!m) {
                expect(model).toEqual([])
                continue
              }
              same(m, model[0]!)
              const before = model.length
              const added = c.appends.map(make)
              append(added)
              // How many went with the bound, the in-flight one (first in line) included.
              const gone = before + added.length - spool.stats.messages
              if (gone === 0) {
                expect(dropped).toEqual({ events: 0, messages: 0 })
              } else {
                expect(dropped).toEqual({ messages: gone - 1, events: sumEvents(model.slice(1, gone)) })
              }
              model = model.slice(gone)
              if (gone > 0) replayable = []
              dropped = { events: 0, messages: 0 }
              if (c.ack) {
                spool.ack(m)
                if (gone === 0) replayable.push(model.shift()!)
                oldestIsBound = gone === 0 && spool.peek() === undefined
                expect(dropped).toEqual({ events: 0, messages: 0 })
              } else {
                spool.release(m)
                expect(dropped).toEqual(gone === 0 ? { events: 0, messages: 0 } : { events: m.events, messages: 1 })
              }
            } else if (c.op === 'checkpoint') {
              spool.checkpoint()
              replayable = []
            } else if (c.op === 'restart') {
              spool.checkpoint()
              replayable = []
              spool = start()
              model = recovered(model)
            } else {
              // Killed: no checkpoint since the last one. Some of what was acked since may come back, in order, before the pending.
              spool = start()
              const candidates = [...replayable, ...model]
              const k = spool.stats.messages
              expect(k).toBeGreaterThanOrEqual(model.length)
              expect(k).toBeLessThanOrEqual(candidates.length)
              model = recovered(candidates.slice(candidates.length - k))
              replayable = []
            }
            check()
          }
          // Whatever is left comes out in order.
          const rest = drain(spool)
          expect(ids(rest)).toEqual(ids(model))
          rest.forEach((m, i) => same(m, model[i]!))
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      }),
      { numRuns: 1000 },
    )
  })
})

describe('Spool, a segment that cannot be read back', () => {
  it('is read again later instead of being lost', () => {
    const dir = tempDir()
    const s = new Spool({ dir, memoryBytes: 1, diskBytes: 1 << 20, segmentBytes: 1 << 20 })
    for (let i = 0; i < 3; i++) s.append(msg(i, 10))
    const file = join(dir, segmentFiles(dir)[0]!)
    // Tests run as root, who reads any file whatever its mode: the file goes away for a while instead.
    renameSync(file, `${file}.away`)
    expect(s.next()).toBeUndefined()
    expect(s.stats.messages).toBe(3)
    renameSync(`${file}.away`, file)
    const first = s.next()
    expect(first?.id).toBe(msg(0, 10).id)
  })
})
