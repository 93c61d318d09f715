/**
 * The mesh filter's sampling plugin's captures in the TypeScript host: bodies are held as bytes
 * and decoded once, with invalid UTF-8 replaced (never swallowing what follows),
 * whatever the chunking; cut at the cap on a character boundary, with a
 * value the cap cut off masked when it could be PII; and little memory per
 * request in flight.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { byteChunks, exchange, masker, sampler, splitAt, utf8 } from './sampler-host.ts'

const planted = {
  name: 'John Smith',
  email: 'jane.doe@example.com',
  card: '4111 1111 1111 1111',
  phone: '+44 20 7946 0958',
  iban: 'DE89 3704 0044 0532 0130 00',
}

/** Multi-byte characters next to every kind of PII value. */
const body = JSON.stringify({
  note: 'é € 😀 中',
  first_name: planted.name,
  city: 'Zürich',
  email: planted.email,
  memo: `paid with ${planted.card} · call ${planted.phone} · IBAN ${planted.iban} ✓`,
})
const masked =
  '{"note":"é € 😀 中","first_name":"[REDACTED]","city":"Zürich","email":"[REDACTED]","memo":"paid with [CARD] · call [PHONE] · IBAN [IBAN] ✓"}'

function expectNoPlanted(text: string) {
  for (const [kind, value] of Object.entries(planted)) {
    expect(text, kind).not.toContain(value)
    expect(text, kind).not.toContain(value.replace(/[ +]/g, ''))
  }
}

describe('mesh-filter sampling plugin captures (TypeScript host)', () => {
  it('masks the corpus in one chunk', async () => {
    const { mask } = await masker()
    expect(mask(body).request).toBe(masked)
  })

  it('gives the same sample whatever byte offset a chunk boundary falls on, inside characters and PII values', async () => {
    const { mask } = await masker()
    const bytes = utf8(body)
    for (let at = 1; at < bytes.length; at++) {
      const sample = mask(splitAt(bytes, [at]))
      expect(sample.request, `split at byte ${at}`).toBe(masked)
    }
  })

  it('gives the same sample with every byte its own chunk, and in three chunks at every pair of offsets around a character', async () => {
    const { mask } = await masker()
    const bytes = utf8(body)
    expect(mask(byteChunks(bytes)).request).toBe(masked)
    const euro = bytes.indexOf(0xe2) // the first byte of €
    for (let a = euro - 2; a <= euro + 3; a++)
      for (let b = a + 1; b <= euro + 4; b++) expect(mask(splitAt(bytes, [a, b])).request, `${a},${b}`).toBe(masked)
  })

  it('replaces each invalid byte of a body that is not UTF-8 (Latin-1) with U+FFFD, never the bytes after it', async () => {
    const { mask } = await masker()
    const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0))
    expect(mask(latin1('{"city":"Mont\xe9","first_name":"John Smith","x":1}')).request).toBe(
      '{"city":"Mont\ufffd","first_name":"[REDACTED]","x":1}',
    )
    expect(mask(latin1('{"a":"\x80","email":"jane.doe@example.com"}')).request).toBe(
      '{"a":"\ufffd","email":"[REDACTED]"}',
    )
    expect(mask(latin1('{"a":"\xf0\x9f","first_name":"John Smith"}')).request).toBe(
      '{"a":"\ufffd","first_name":"[REDACTED]"}',
    )
    // Over-long forms and surrogates are invalid too (as TextDecoder decodes them).
    const odd = Uint8Array.of(0x22, 0xc0, 0xaf, 0x22, 0xed, 0xa0, 0x80, 0x22, 0xf4, 0x90, 0x80, 0x80, 0x22)
    expect(mask(odd).request).toBe(new TextDecoder().decode(odd))
  })

  it('decodes random bytes exactly as TextDecoder does (WHATWG replacement), in any chunks', async () => {
    const { mask } = await masker()
    // No digits, letters a masker could read as a pattern, '@' or quotes: only decoding can change these bytes.
    const byte = fc.oneof(
      fc.integer({ min: 0x80, max: 0xff }),
      fc.constantFrom(0x20, 0x0a, 0x7b, 0x7d, 0x2c, 0x3a, 0x78, 0x79),
    )
    fc.assert(
      fc.property(
        fc.array(byte, { minLength: 1, maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (values, cuts) => {
          const bytes = Uint8Array.from(values)
          const offsets = [...new Set(cuts.map((c) => c % bytes.length))].filter((c) => c > 0).sort((a, b) => a - b)
          expect(mask(splitAt(bytes, offsets)).request).toBe(new TextDecoder().decode(bytes))
        },
      ),
      { numRuns: 500, seed: 11 },
    )
  })

  it('cuts a capture over the cap on a character boundary, and says it was truncated', async () => {
    for (const cap of [9, 10, 11]) {
      const { mask } = await masker({ max_capture_bytes: cap })
      const sample = mask(['abcdef', 'gh€xyz']) // € is bytes 9-11
      expect(sample.request, `cap ${cap}`).toBe(cap === 11 ? 'abcdefgh€' : 'abcdefgh')
      expect(sample.request_truncated).toBe(true)
    }
  })

  it('masks a value the cap cut off when it could be PII: nothing of a cut e-mail, card, phone or IBAN survives', async () => {
    // Each value, and from how many characters on its start is recognisable (an e-mail by its @).
    const cases: [string, string, number][] = [
      ['contact: ', planted.email, planted.email.indexOf('@') + 1],
      ['card: ', planted.card, 1],
      ['card: ', planted.card.replace(/ /g, ''), 1],
      ['card: ', planted.card.replace(/ /g, '-'), 1],
      ['call: ', planted.phone, 2],
      ['call: ', '(415) 555-2671', 2],
      ['iban: ', planted.iban, 4],
      ['iban: ', 'gb82west12345698765432', 4],
    ]
    for (const [before, value, from] of cases) {
      const text = `${before}${value} and more`
      for (let keep = from; keep < value.length; keep++) {
        const { mask } = await masker({ max_capture_bytes: before.length + keep })
        const sample = mask(text)
        expect(sample.request_truncated).toBe(true)
        expect(sample.request, `${value} cut after ${keep}`).toBe(`${before}[TRUNCATED]`)
      }
    }
  })

  it('masks a JSON value the cap cut off, and keeps what could not be PII', async () => {
    const json = '{"features":[0.12,-1.5,3],"email":"jane.doe@example.com","note":"abcdefghij klmnop"}'
    const { mask } = await masker({ max_capture_bytes: json.indexOf('@') + 3 })
    expect(mask(json).request).toBe('{"features":[0.12,-1.5,3],"email":"[REDACTED]"')
    const plain = await masker({ max_capture_bytes: json.length - 2 })
    expect(plain.mask(json).request).toBe('{"features":[0.12,-1.5,3],"email":"[REDACTED]","note":"abcdefghij klmnop')
  })

  it('masks digits the cap cut inside a JSON string (a long number may go on), never numbers of tensor data', async () => {
    const note = '{"note":"ssn 123456789 or bob @ example.org"}'
    for (const [keep, masked] of [
      [note.indexOf('1') + 1, '{"note":"ssn [TRUNCATED]'],
      [note.indexOf('9') + 1, '{"note":"ssn [TRUNCATED]'],
      [note.indexOf('@') + 1, '{"note":"ssn [NUMBER] or [TRUNCATED]'],
      [note.indexOf('@') + 6, '{"note":"ssn [NUMBER] or [TRUNCATED]'],
    ] as const) {
      const { mask } = await masker({ max_capture_bytes: keep })
      expect(mask(note).request, `cut after ${keep}`).toBe(masked)
    }
    const tensor = '{"inputs":[{"name":"ids","datatype":"INT64","shape":[1,2],"data":[123456789,1234567890]}]}'
    const { mask } = await masker({ max_capture_bytes: tensor.length - 5 })
    expect(mask(tensor).request).toBe(tensor.slice(0, -5))
  })

  it('masks a cut e-mail with tabs, line breaks or no-break spaces around its @, a cut SSN with slashes, and cut digits of a log line', async () => {
    const cases: [string, string, string][] = [
      ['{"note":"mail bob\\t@\\texample.org"}', '@', '{"note":"mail [TRUNCATED]'],
      ['{"note":"mail bob\\n@\\r\\nexample.org"}', '@', '{"note":"mail [TRUNCATED]'],
      ['{"note":"mail bob\u00a0@\u00a0example.org"}', '@', '{"note":"mail [TRUNCATED]'],
      ['{"note":"mail bob\\u00a0@\\u00A0example.org"}', '@', '{"note":"mail [TRUNCATED]'],
      ['mail bob\t@\nexample.org', '@', 'mail [TRUNCATED]'],
      ['{"note":"ssn 123/45/6789"}', '/', '{"note":"ssn [TRUNCATED]'],
      ['[INFO] ssn 123456789', '1', '[INFO] ssn [TRUNCATED]'],
    ]
    for (const [body, from, masked] of cases) {
      // Every cut from just after `from` to just before the value ends (in bytes: a no-break space is two).
      const start = utf8(body.slice(0, body.indexOf(from) + 1)).length
      const end = utf8(body.replace(/"}$/, '')).length
      for (let cap = start; cap < end; cap++) {
        const { mask } = await masker({ max_capture_bytes: cap })
        expect(mask(body).request, `${JSON.stringify(body)} cut after ${cap} bytes`).toBe(masked)
      }
    }
  })

  it('holds a request body in flight as bytes: about one byte of VM memory per byte captured', async () => {
    const cap = 65536
    const streams = 80
    const { host } = await sampler({
      routes: [{ model: 'credit-risk', confidence_threshold: 0.5 }],
      max_capture_bytes: cap,
    })
    const before = host.memoryBytes
    const chunk = utf8('x'.repeat(cap / 4))
    const open = Array.from({ length: streams }, (_, i) => {
      const s = host.newStream()
      s.sendRequestHeaders({ ':path': '/v2/models/credit-risk/infer', 'x-request-id': `inflight-${i}` })
      for (let k = 0; k < 4; k++) s.sendRequestBody(chunk, k === 3)
      return s
    })
    // The VM's memory grows by doubling, so it is at most twice what it holds: held ≤ 1.25 bytes per byte.
    // As UTF-16 strings grown by +=, the same bodies took 32 MiB.
    expect(host.memoryBytes - before).toBeLessThan(2 * streams * cap * 1.25)
    for (const s of open) {
      s.sendResponseHeaders({ ':status': '200', 'x-model-confidence': '0.9' })
      s.complete()
    }
  })

  it('leaves no planted PII in samples of bodies split at every offset, decoded strictly as UTF-8 JSON', async () => {
    const { host, take } = await sampler({
      routes: [{ model: 'credit-risk', confidence_threshold: 0.9 }],
      max_capture_bytes: 4096,
    })
    const corpus = [
      body,
      `Grüße: ${planted.email} — ${planted.card}; ${planted.phone}. ${planted.iban} ✓`,
      JSON.stringify({
        log: JSON.stringify({ first_name: planted.name, note: 'naïve ☃', contact: { email: planted.email } }),
      }),
    ]
    for (const text of corpus) {
      const bytes = utf8(text)
      for (let at = 1; at < bytes.length; at++)
        exchange(host, {
          requestId: `split-${at}`,
          confidence: '0.2',
          request: splitAt(bytes, [at]),
          response: splitAt(bytes, [bytes.length - at]),
        })
      const samples = take()
      expect(samples).toHaveLength(bytes.length - 1)
      for (const s of samples) {
        expectNoPlanted(s.request)
        expectNoPlanted(s.response)
      }
      // One sample for all: every split gives the same text.
      expect(new Set(samples.map((s) => s.request)).size).toBe(1)
      expect(new Set(samples.map((s) => s.response)).size).toBe(1)
    }
  })
})
