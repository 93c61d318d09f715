/**
 * @module
 * Model names as subject tokens: mesh.yaml's names unchanged but for ".",
 * distinct names distinct, every token a valid NATS token, and the token
 * read back from a subject.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  OTHER_MODEL_TOKEN,
  STREAM_OF_KIND,
  STREAMS,
  subjectOf,
  subjectToken,
  tokenOfSubject,
  type StreamKey,
} from './subjects.ts'

/** What NATS allows in one subject token (and the wildcards it must not be). */
function isValidToken(t: string): boolean {
  return t.length > 0 && !/[.*>\s]/u.test(t) && t !== '*' && t !== '>'
}

/** Names mesh.yaml allows (mesh-config/src/schema.ts). */
const meshName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$/)
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c))
/** Any JavaScript string, lone surrogates and the characters that matter here included. */
const anyName = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({
    unit: fc.oneof(
      fc.constantFrom('.', '~', '_', '-', '*', '>', ' ', '\t', 'a', '0', 'é', '\u{1F600}', '\ufffd'),
      loneSurrogate,
    ),
    maxLength: 8,
  }),
  meshName,
)
const SPECIAL = [
  '',
  '.',
  '..',
  '~',
  '~2e',
  '_other',
  OTHER_MODEL_TOKEN,
  'a.b',
  'a~2eb',
  'a-b',
  'a_b',
  'é',
  'e\u0301',
  '\u{1F600}',
  ' ',
  '*',
  '>',
  '\ud800',
  '\udc00',
  '\ufffd',
  '\ud83d\ude00',
]

describe('subjectToken', () => {
  it('keeps mesh.yaml-style names without dots as they are', () => {
    for (const name of ['credit-risk', 'credit-risk-fallback', 'fraud_v2', 'A1', '0', 'x-_-y'])
      expect(subjectToken(name)).toBe(name)
    fc.assert(
      fc.property(
        meshName.filter((n) => !n.includes('.')),
        (n) => subjectToken(n) === n,
      ),
    )
  })

  it('encodes the dot, the empty name and everything else outside [A-Za-z0-9_-]', () => {
    expect(subjectToken('resnet.v2')).toBe('resnet~2ev2')
    expect(subjectToken('')).toBe('~')
    expect(subjectToken('.')).toBe('~2e')
    expect(subjectToken('~')).toBe('~7e')
    expect(subjectToken('é')).toBe('~c3~a9')
    expect(subjectToken('a b')).toBe('a~20b')
  })

  it('gives the special names distinct, valid tokens', () => {
    const tokens = SPECIAL.map(subjectToken)
    for (const t of tokens) expect(isValidToken(t), JSON.stringify(t)).toBe(true)
    const distinctNames = new Set(SPECIAL).size
    expect(new Set(tokens).size).toBe(distinctNames)
  })

  it('gives distinct strings distinct tokens (property)', () => {
    fc.assert(
      fc.property(anyName, anyName, (a, b) => {
        fc.pre(a !== b)
        expect(subjectToken(a)).not.toBe(subjectToken(b))
      }),
      { numRuns: 5000 },
    )
    fc.assert(
      fc.property(fc.uniqueArray(fc.oneof(anyName, fc.constantFrom(...SPECIAL)), { maxLength: 40 }), (names) => {
        expect(new Set(names.map(subjectToken)).size).toBe(names.length)
      }),
      { numRuns: 500 },
    )
  })

  it('gives every string a valid NATS subject token (property)', () => {
    fc.assert(
      fc.property(anyName, (name) => {
        const t = subjectToken(name)
        expect(isValidToken(t), `${JSON.stringify(name)} -> ${JSON.stringify(t)}`).toBe(true)
        expect(t).toMatch(/^[A-Za-z0-9_~-]+$/)
      }),
      { numRuns: 5000 },
    )
  })

  it('never gives a name mesh.yaml allows the token of unnamed models', () => {
    fc.assert(fc.property(meshName, (n) => subjectToken(n) !== OTHER_MODEL_TOKEN))
  })
})

describe('subjects of the streams', () => {
  it('every kind goes to a stream, and each stream has its own prefix', () => {
    for (const key of Object.values(STREAM_OF_KIND)) expect(STREAMS[key]).toBeDefined()
    const prefixes = Object.values(STREAMS).map((s) => s.prefix)
    expect(new Set(prefixes).size).toBe(prefixes.length)
    expect(subjectOf('requests', 'credit-risk')).toBe('mesh.requests.credit-risk')
    expect(subjectOf('review', OTHER_MODEL_TOKEN)).toBe('mesh.review._other')
  })

  it('reads the token back from a subject (property)', () => {
    const keys = Object.keys(STREAMS) as StreamKey[]
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.oneof(anyName, fc.constantFrom(...SPECIAL)), (key, name) => {
        const t = subjectToken(name)
        const subject = subjectOf(key, t)
        expect(subject.startsWith(`${STREAMS[key].prefix}.`)).toBe(true)
        expect(tokenOfSubject(subject)).toBe(t)
        // One token past the prefix: the stream's `<prefix>.*` matches it.
        expect(subject.split('.')).toHaveLength(STREAMS[key].prefix.split('.').length + 1)
      }),
      { numRuns: 2000 },
    )
    expect(tokenOfSubject('nodots')).toBeUndefined()
  })
})
