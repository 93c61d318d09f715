/**
 * The mesh filter's sampling plugin's PII masking in the TypeScript host: the patterns
 * (cards, phones, IBANs, e-mails), JSON fields also when escaped, form
 * bodies, what must survive (tensor data, timestamps), a time bound that
 * holds for adversarial bodies, and a property over random bodies with
 * planted values.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { masker, splitAt, utf8 } from './sampler-host.ts'

const FORM = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }

describe('mesh-filter sampling plugin PII masking (TypeScript host)', () => {
  it.each([
    ['two cards in a row', '{"cards":"4111111111111111 5500000000000004"}', '{"cards":"[CARD] [CARD]"}'],
    ['two grouped cards in a row', 'cards 4111 1111 1111 1111 5500 0000 0000 0004 ok', 'cards [CARD] [CARD] ok'],
    ['a card followed by more digit groups', 'pay 4111 1111 1111 1111 2025 0001', 'pay [CARD] 2025 0001'],
    ['a card and its expiry', 'pay 4111 1111 1111 1111 12/25', 'pay [CARD] 12/25'],
    ['an Amex card in its 4-6-5 groups', 'amex 3782 822463 10005.', 'amex [CARD].'],
    ['a 19-digit card (the longest window that passes Luhn)', 'card 6011 0009 9013 9424 124', 'card [CARD]'],
    ['a 16-digit card followed by three digits (the 19 fail Luhn)', 'card 6011 0009 9013 9424 123', 'card [CARD] 123'],
    ['a card with dots', 'card 4111.1111.1111.1111', 'card [CARD]'],
    ['a phone with dots', 'call 415.555.2671 now', 'call [PHONE] now'],
    ['a phone with dashes after digits', 'call 415-555-2671 12 times', 'call [PHONE] 12 times'],
    ['a US phone with a leading 1', 'call 1-800-555-0199', 'call [PHONE]'],
    ['a lower-case IBAN', 'iban gb82west12345698765432', 'iban [IBAN]'],
    ['a lower-case IBAN in groups', 'iban de89 3704 0044 0532 0130 00', 'iban [IBAN]'],
    ['an escaped plus', '{"contact":"\\u002B44 20 7946 0958"}', '{"contact":"[PHONE]"}'],
    [
      'an escaped plus in escaped JSON',
      '{"log":"{\\"contact\\":\\"\\\\u002B44 20 7946 0958\\"}"}',
      '{"log":"{\\"contact\\":\\"[PHONE]\\"}"}',
    ],
  ])('masks %s', async (_, body, expected) => {
    const { mask } = await masker()
    expect(mask(body).request).toBe(expected)
  })

  // Issue 17's strings: free text with PII in no field and no card's or phone's shape.
  it.each([
    [
      'a 9-digit run after "ssn" and a 10-digit phone run',
      '{"note":"ssn 123456789 … ph 4155550100"}',
      '{"note":"ssn [NUMBER] … ph [NUMBER]"}',
    ],
    ['an e-mail with spaces around the @', '{"note":"bob @ example.org"}', '{"note":"[EMAIL]"}'],
    [
      'an e-mail with a space on one side',
      '{"note":"mail bob@ example.org or ann @example.co.uk."}',
      '{"note":"mail [EMAIL] or [EMAIL]."}',
    ],
    [
      'an SSN in its 3-2-4 groups',
      '{"note":"ssn 123-45-6789, or 123 45 6789"}',
      '{"note":"ssn [NUMBER], or [NUMBER]"}',
    ],
    [
      'long runs in escaped JSON inside a string',
      '{"log":"{\\"note\\":\\"id 987654321\\"}"}',
      '{"log":"{\\"note\\":\\"id [NUMBER]\\"}"}',
    ],
    ['long runs in a body that is not JSON', 'ssn 123456789 ph 4155550100', 'ssn [NUMBER] ph [NUMBER]'],
  ])('masks %s', async (_, body, expected) => {
    const { mask } = await masker()
    expect(mask(body).request).toBe(expected)
  })

  // The review's misses: bodies that open like JSON but are not, labels glued to numbers, SSNs with dots or
  // slashes, and e-mails with tabs, line breaks or no-break spaces (raw or JSON-escaped) around the @.
  it.each([
    ['a log line that opens with [', '[INFO] user ssn 123456789 ph 4155550100', '[INFO] user ssn [NUMBER] ph [NUMBER]'],
    [
      'a log line that opens with a bracketed timestamp',
      '[2024-01-15T10:30:00Z] ssn 123456789',
      '[2024-01-15T10:30:00Z] ssn [NUMBER]',
    ],
    ['text that opens with {', '{ not json } ssn 123456789', '{ not json } ssn [NUMBER]'],
    ['text after a JSON document', '{"a":1}{"b":"x"} 123456789', '{"a":1}{"b":"x"} [NUMBER]'],
    [
      'a label glued to a long number',
      '{"note":"ssn123456789, tel4155550100."}',
      '{"note":"ssn[NUMBER], tel[NUMBER]."}',
    ],
    ['a glued label in a body that is not JSON', 'SSN123456789', 'SSN[NUMBER]'],
    [
      'labels glued to numbers in groups',
      '{"note":"ssn123-45-6789 tel415-555-2671 card4111111111111111"}',
      '{"note":"ssn[NUMBER] tel[PHONE] card[CARD]"}',
    ],
    ['an SSN with dots or slashes', '{"note":"ssn 123.45.6789 or 123/45/6789"}', '{"note":"ssn [NUMBER] or [NUMBER]"}'],
    ['an e-mail with JSON-escaped tabs around the @', '{"note":"bob\\t@\\texample.org"}', '{"note":"[EMAIL]"}'],
    [
      'an e-mail with JSON-escaped line breaks around the @',
      '{"note":"bob\\n@\\r\\nexample.org"}',
      '{"note":"[EMAIL]"}',
    ],
    ['an e-mail with raw tabs and line breaks around the @', 'mail bob\t@\nexample.org now', 'mail [EMAIL] now'],
    ['an e-mail with no-break spaces around the @', '{"note":"bob\u00a0@\u00a0example.org"}', '{"note":"[EMAIL]"}'],
    [
      'an e-mail with JSON-escaped no-break spaces around the @',
      '{"note":"bob\\u00a0@\\u00A0example.org"}',
      '{"note":"[EMAIL]"}',
    ],
    [
      'e-mails after JSON escapes, which stay',
      '{"note":"line\\nbob@example.org\\tann @ example.org\\u00a0eve@example.org"}',
      '{"note":"line\\n[EMAIL]\\t[EMAIL]\\u00a0[EMAIL]"}',
    ],
  ])('masks %s', async (_, body, expected) => {
    const { mask } = await masker()
    expect(mask(body).request).toBe(expected)
  })

  it('keeps numbers outside strings in JSON lines, NaN-bearing tensors and cut JSON; leaves hex ids, dates and fractions', async () => {
    const { mask } = await masker()
    const bodies = [
      '{"data":[123456789]}\n{"data":[4155550100]}\n',
      '{"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"data":[NaN,123456789,-Infinity,Infinity]}]}',
      ' [ [123456789 , 4155550100e0] , {"a" : -123456789.5, "b": [true, false, null]} ] ',
      JSON.stringify({
        note: 'ids 4f3a123456789012 a1b2c3d4e5f67890123 sha 9e107d9d372bb6826bd81d3542a419d6, on 01/15/2024 or 2024/01/15, 1/2 cup, 12/25',
      }),
    ]
    for (const body of bodies) expect(mask(body).request).toBe(body)
    // Cut inside a tensor: the end is masked as a cut value may be, the rest is still JSON, its numbers data.
    const cut = await masker({ max_capture_bytes: '{"data":[123456789,4155550100,0.25'.length })
    expect(cut.mask('{"data":[123456789,4155550100,0.25,0.5]}').request).toBe(
      '{"data":[123456789,4155550100,[TRUNCATED]',
    )
  })

  it('masks planted long numbers and spaced e-mails in free text among any words (property)', async () => {
    const { mask } = await masker()
    const planted = [
      '123456789',
      '4155550100',
      '078-05-1120',
      '98765432101234',
      'bob @ example.org',
      'ann@ mail.example.co',
      'joe @x-y.io',
      'ssn078051120',
      '078.05.1120',
      '078/05/1120',
      'eve\t@\nexample.org',
      'max\u00a0@\u00a0example.org',
    ]
    const word = fc.constantFrom(
      'ssn',
      'ph',
      'note:',
      '…',
      'é',
      ',',
      '(',
      ')',
      '12',
      '3.5',
      'and',
      '-',
      '"quoted"',
      '\n',
    )
    fc.assert(
      fc.property(fc.array(fc.oneof(word, fc.constantFrom(...planted)), { minLength: 1, maxLength: 12 }), (words) => {
        const masked = mask(JSON.stringify({ note: words.join(' '), data: [123456789, 4155550100] })).request
        const tail = ',"data":[123456789,4155550100]}'
        expect(masked.endsWith(tail)).toBe(true)
        // As planted, and as JSON writes it (tabs and line breaks escaped).
        for (const v of planted)
          for (const w of [v, JSON.stringify(v).slice(1, -1)]) expect(masked.slice(0, -tail.length)).not.toContain(w)
      }),
      { numRuns: 300, seed: 17 },
    )
  })

  it('leaves long numbers outside JSON strings (tensor data), decimals, prices and words with digits', async () => {
    const { mask } = await masker()
    const bodies = [
      JSON.stringify({
        id: 'r-1',
        inputs: [
          { name: 'ids', datatype: 'INT64', shape: [1, 4], data: [123456789, 4155550100, 1234567890123, -987654321] },
        ],
        parameters: { seed: 123456789 },
      }),
      '[[123456789, 4155550100], [1.23456789, 12345678901.5]]',
      JSON.stringify({
        note: 'pi 3.14159265358979, total 12345678901.5, 2 @ 3.50 each, sku A1B2C3456789, 12 345 6789 0',
      }),
      JSON.stringify({ note: 'lists 12 34 56 78 90 12 and 123 45 6789 0 stay, as do 8-digit ids 12345678' }),
    ]
    for (const body of bodies) expect(mask(body).request).toBe(body)
  })

  it.each([
    [
      'a value ending in an escaped backslash',
      '{"log":"{\\"a\\":\\"x\\\\\\\\\\",\\"full_name\\":\\"John Smith\\"}"}',
      '{"log":"{\\"a\\":\\"x\\\\\\\\\\",\\"full_name\\":\\"[REDACTED]\\"}"}',
    ],
    [
      'a plain value ending in an escaped backslash',
      '{"a":"x\\\\","full_name":"John Smith"}',
      '{"a":"x\\\\","full_name":"[REDACTED]"}',
    ],
    [
      'an escaped quote after an escaped backslash',
      '{"log":"{\\"a\\":\\"x\\\\\\\\\\\\\\"y\\",\\"full_name\\":\\"John Smith\\"}"}',
      '{"log":"{\\"a\\":\\"x\\\\\\\\\\\\\\"y\\",\\"full_name\\":\\"[REDACTED]\\"}"}',
    ],
    ['an escaped key', '{"full\\u005fname":"John Smith"}', '{"full\\u005fname":"[REDACTED]"}'],
    [
      'an escaped key in upper case hex',
      '{"FULL\\u005Fname":"John Smith","x":1}',
      '{"FULL\\u005Fname":"[REDACTED]","x":1}',
    ],
    ['a key with an escaped letter', '{"\\u0065mail":"jane"}', '{"\\u0065mail":"[REDACTED]"}'],
    [
      'an escaped key in escaped JSON',
      '{"log":"{\\"full\\\\u005fname\\":\\"John Smith\\"}"}',
      '{"log":"{\\"full\\\\u005fname\\":\\"[REDACTED]\\"}"}',
    ],
  ])('masks JSON fields after %s', async (_, body, expected) => {
    const { mask } = await masker()
    expect(mask(body).request).toBe(expected)
  })

  it('masks form bodies after percent- and plus-decoding, in place', async () => {
    const { mask } = await masker()
    expect(mask('email=jane.doe%40example.com&phone=%2B44+20+7946+0958&amount=12.50', FORM).request).toBe(
      'email=[REDACTED]&phone=[REDACTED]&amount=12.50',
    )
    expect(
      mask('note=mail+jane.doe%40example.com+or+call+%2B44+20+7946+0958&card=4111%201111%201111%201111', FORM).request,
    ).toBe('note=mail+[EMAIL]+or+call+[PHONE]&card=[CARD]')
    expect(mask('customer%5Bemail%5D=jane%40x.io&customer%5Bfirst_name%5D=Jane&q=caf%C3%A9', FORM).request).toBe(
      'customer%5Bemail%5D=[REDACTED]&customer%5Bfirst_name%5D=[REDACTED]&q=caf%C3%A9',
    )
    expect(mask('E%6Dail=jane%40x.io&full%5Fname=Jane+Doe', FORM).request).toBe(
      'E%6Dail=[REDACTED]&full%5Fname=[REDACTED]',
    )
    // A form value is free text: long numbers and spaced e-mails in it are masked too.
    expect(mask('note=ssn+123456789+ph+4155550100&from=bob+%40+example.org&n=12.5', FORM).request).toBe(
      'note=ssn+[NUMBER]+ph+[NUMBER]&from=[EMAIL]&n=12.5',
    )
  })

  it('masks a form body split at every byte offset, and one the cap cut', async () => {
    const { mask } = await masker()
    const body = utf8('msg=gr%C3%BC%C3%9Fe+%E2%82%AC+from+jane.doe%40example.com&x=1')
    for (let at = 1; at < body.length; at++)
      expect(mask(splitAt(body, [at]), FORM).request).toBe('msg=gr%C3%BC%C3%9Fe+%E2%82%AC+from+[EMAIL]&x=1')
    const cut = await masker({ max_capture_bytes: 'note=call+%2B44+20+79'.length })
    expect(cut.mask('note=call+%2B44+20+7946+0958', FORM).request).toBe('note=call+[TRUNCATED]')
  })

  it('leaves numeric tensor data, integer features and timestamps unchanged', async () => {
    const { mask } = await masker()
    const data = [
      0.12, -1.5, 3, 42, 0.30000000000000004, 0.4234567890123456, 41111111111.5, 1e-7, 12345678901234, 2024, 1, 15, 10,
      30, 415, 555, 2671,
    ]
    const bodies = [
      JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, data.length], data }] }),
      JSON.stringify({
        inputs: [
          {
            name: 'ids',
            datatype: 'INT64',
            shape: [1, 6],
            data: [1705314600000, 4155552671, 20240115, 3782822463, 9007199254740991, 1234567890123],
          },
        ],
      }),
      JSON.stringify({
        features: '12 7 0 3 145 22 1 0 9 33 4000 18 2',
        more: '12 34 56 78 90 12',
        dashes: '1-2-3-4-5-6-7-8-9-10',
        codes: '415 555 2671 18 22',
      }),
      JSON.stringify({
        at: '2024-01-15 10:30:00',
        iso: '2024-01-15T10:30:00.123Z',
        offset: '2024-01-15T10:30:00+01:00',
        local: '15.01.2024 10:30',
        ts: 1705314600000,
      }),
      '1.5 2.5 3.5 -4.25 1e10 0.333 22.75 100.125',
      'id,age,income\n1,37,34198.1\n2,42,51000\n',
    ]
    for (const body of bodies) expect(mask(body).request).toBe(body)
  })

  it('leaves generated OIP bodies unchanged: float tensors, integer tensors and lists, timestamps', async () => {
    const { mask } = await masker()
    const body = fc
      .record({
        floats: fc.array(fc.double({ min: -1e12, max: 1e12, noNaN: true }), { maxLength: 64 }),
        ints: fc.array(fc.integer({ min: -999_999_999, max: 999_999_999 }), { maxLength: 32 }),
        list: fc.array(fc.nat({ max: 999_999 }), { maxLength: 32 }),
        at: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }),
      })
      .map(({ floats, ints, list, at }) =>
        JSON.stringify({
          inputs: [
            { name: 'features', datatype: 'FP64', shape: [1, floats.length], data: floats },
            { name: 'counts', datatype: 'INT64', shape: [1, ints.length], data: ints },
          ],
          parameters: {
            features: list.join(' '),
            at: at.toISOString(),
            local: at.toISOString().replace('T', ' ').slice(0, 19),
          },
        }),
      )
    fc.assert(
      fc.property(body, (b) => {
        expect(mask(b).request).toBe(b)
      }),
      { numRuns: 500, seed: 9 },
    )
  })

  describe('time: linear in the body, whatever its shape', () => {
    const adversarial: [string, (n: number) => string][] = [
      ['1 1 1 …', (n) => '1 '.repeat(n / 2)],
      [
        '1-2-3-…',
        (n) =>
          Array.from({ length: n / 2 }, (_, i) => i % 10)
            .join('-')
            .slice(0, n),
      ],
      [
        '12 34 56 …',
        (n) =>
          Array.from({ length: n / 3 }, (_, i) => String(10 + (i % 90)))
            .join(' ')
            .slice(0, n),
      ],
      ['4111 1111 …', (n) => '4111 '.repeat(n / 5)],
      ['(1 (1 (1 …', (n) => '(1 '.repeat(n / 3)],
      ['+1 +1 …', (n) => '+1 '.repeat(n / 3)],
      ['DE89 3704 …', (n) => 'DE89 3704 '.repeat(n / 10)],
      ['a@a@a@ …', (n) => 'a@a.'.repeat(n / 4)],
      ['a @ a @ …', (n) => 'a @ a.'.repeat(n / 6)],
      ['"123456789" strings', (n) => '{"a":[' + '"123456789",'.repeat(n / 12) + '""]}'],
      ['123-45-6789 …', (n) => '{"a":"' + '123-45-6789 '.repeat(n / 12) + '"}'],
      ['escaped quotes', (n) => '{"log":"' + '\\\\\\"a\\":'.repeat(n / 10) + '"}'],
      ['keys', (n) => '{' + '"full_name":"x",'.repeat(n / 16) + '"x":1}'],
      ['%40%40 form', (n) => 'a=' + '%40'.repeat(n / 3)],
      ['ssn123456789 …', (n) => '{"a":"' + 'ssn123456789 '.repeat(n / 13) + '"}'],
      ['[INFO] 123/45/6789 …', (n) => '[INFO] ' + '123/45/6789 '.repeat(n / 12)],
      ['a\\t@\\t …', (n) => '{"a":"' + 'a\\t@\\t'.repeat(n / 7) + '"}'],
      ['\\u00a0@ …', (n) => '{"a":"' + '\\u00a0@'.repeat(n / 7) + '"}'],
      ['backslashes then t@', (n) => '{"a":"' + ('\\'.repeat(60) + 't@').repeat(n / 62) + '"}'],
      ['[[[[ …', (n) => '['.repeat(n)],
      ['{"a":{"a": …', (n) => '{"a":'.repeat(n / 5)],
    ]
    // The old masker took seconds at 16 KiB (8.5 s for "12 34 56 …"); this one takes about 0.1 ms per KiB here.
    // The bound leaves a wide margin for a loaded machine.
    const MS_PER_KIB = 0.5
    // One VM for all, warmed up: V8 first runs Wasm with its baseline compiler and optimises hot code later.
    beforeAll(async () => {
      plain = await masker()
      form = await masker()
      for (const [, make] of adversarial)
        for (let k = 0; k < 3; k++) plain.mask(make(4096)), form.mask(make(4096), FORM)
    })
    let plain: Awaited<ReturnType<typeof masker>>
    let form: Awaited<ReturnType<typeof masker>>

    /**
     * The best of three exchanges (the filter's work, not the test's decoding of the sample), in ms per KiB
     * of this process's CPU time: unlike the wall clock, it does not grow when other processes share the cores.
     */
    function timed(mask: (b: string) => unknown, body: string): number {
      let best = Infinity
      for (let run = 0; run < 3; run++) {
        const before = process.cpuUsage()
        mask(body)
        const used = process.cpuUsage(before)
        best = Math.min(best, (used.user + used.system) / 1000)
      }
      return best / (body.length / 1024)
    }

    it.each(adversarial)('%s at 16 KiB and 64 KiB', (_, make) => {
      for (const kib of [16, 64]) {
        const body = make(kib * 1024)
        expect(timed(plain.send, body), `${kib} KiB`).toBeLessThan(MS_PER_KIB)
        expect(
          timed((b) => form.send(b, FORM), body),
          `${kib} KiB as a form`,
        ).toBeLessThan(MS_PER_KIB)
      }
    })

    it('holds for generated bodies of digits, separators and PII punctuation', () => {
      const { send } = plain
      const unit = fc.constantFrom(
        '1',
        '4',
        '0',
        ' ',
        '-',
        '.',
        '(',
        ')',
        '+',
        '@',
        'a',
        'D',
        'E',
        '8',
        '9',
        '"',
        '\\',
        ':',
        ',',
        '%',
        '12 ',
        '4111 ',
        '/',
        '\t',
        '\u00a0',
        'u00a0',
        '[',
        '{',
        't',
      )
      fc.assert(
        fc.property(fc.array(unit, { minLength: 64, maxLength: 256 }), (units) => {
          const piece = units.join('')
          const body = piece.repeat(Math.ceil(16384 / piece.length)).slice(0, 16384)
          expect(timed(send, body)).toBeLessThan(MS_PER_KIB)
        }),
        { numRuns: 40, seed: 5 },
      )
    })
  })

  it('leaves no planted value in events from random bodies, decoded strictly, whatever the chunks', async () => {
    const { mask } = await masker({ max_capture_bytes: 4096 })
    const values = [
      'jane.doe@example.com',
      'j_doe+x@mail.example.org',
      '4111 1111 1111 1111',
      '4111-1111-1111-1111',
      '5500000000000004',
      '3782 822463 10005',
      '+44 20 7946 0958',
      '(415) 555-2671',
      '415.555.2671',
      'DE89 3704 0044 0532 0130 00',
      'gb82west12345698765432',
    ]
    const noise = fc.oneof(
      fc.uint8Array({ maxLength: 24 }),
      fc.constantFrom(...['{"note":"', '"}', '\\"', ' é ', '€', ',', ' '].map(utf8)),
    )
    const around = fc.constantFrom(' ', '\n', '"', ' "', '" ', ': ', '(', ')')
    fc.assert(
      fc.property(
        fc.array(fc.tuple(noise, around, fc.constantFrom(...values), around), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (parts, cuts) => {
          const planted = parts.map((p) => p[2])
          const bytes = concat(parts.flatMap(([n, a, v, b]) => [n, utf8(a), utf8(v), utf8(b)]))
          const offsets = [...new Set(cuts.map((c) => c % bytes.length))].filter((c) => c > 0).sort((a, b) => a - b)
          const sample = mask(splitAt(bytes, offsets))
          for (const v of planted) {
            expect(sample.request).not.toContain(v)
            expect(sample.request).not.toContain(v.replace(/[ .()+-]/g, ''))
          }
        },
      ),
      { numRuns: 400, seed: 3 },
    )
  })
})

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
