/**
 * The SDK's own tests: a plugin written against the SDK alone
 * (test-fixtures/sdk-probe) in the TypeScript proxy-wasm host. Contexts and
 * their lifecycle (a live update's new root, the old one's onDelete),
 * configuration with located errors, header maps, body capture with its
 * cap and UTF-8 decoding, properties, metrics and timers, and the sticky hash
 * against an independent implementation. The plugins' tests cover what they
 * build on top (OIP paths: the golden-signals plugin's tests).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { wasmPath } from '../modules.ts'
import { int64Property, ProxyWasmHost } from '../test-host/proxy-wasm-host.ts'

const load = (config: unknown) =>
  ProxyWasmHost.load(wasmPath('fixture-sdk-probe'), {
    pluginConfiguration: typeof config === 'string' ? config : JSON.stringify(config),
  })

/** FNV-1a over UTF-8, then murmur3's 32-bit finaliser: what sdk/assembly/hash.ts must compute. */
function referenceHash(key: string): number {
  let h = 0x811c9dc5
  for (const b of new TextEncoder().encode(key)) h = Math.imul(h ^ b, 0x01000193) >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b) >>> 0
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35) >>> 0
  h ^= h >>> 16
  return h >>> 0
}

function request(host: ProxyWasmHost, headers: Record<string, string>, body: (string | Uint8Array)[] = []) {
  const stream = host.newStream()
  stream.setProperty('request.duration', int64Property(1_500_000))
  stream.sendRequestHeaders({ ':method': 'POST', ...headers })
  body.forEach((chunk, i) => stream.sendRequestBody(chunk, i === body.length - 1))
  stream.complete()
  return stream
}

describe('SDK (TypeScript host, sdk-probe fixture)', () => {
  it('reads header maps in one call: present, absent, non-ASCII values; sets and removes headers', async () => {
    const host = await load({ echo: ['x-a', 'x-missing', 'x-utf8'] })
    const s = request(host, {
      ':path': '/v2/models/credit-risk/versions/2/infer',
      'x-a': 'one',
      'x-utf8': 'Zoë 東京',
      'x-remove-me': 'yes',
    })
    expect(s.requestHeaders.get('x-echo-x-a')).toBe('one')
    expect(s.requestHeaders.get('x-echo-x-missing')).toBe('(absent)')
    expect(s.requestHeaders.get('x-echo-x-utf8')).toBe('Zoë 東京')
    expect(s.requestHeaders.has('x-remove-me')).toBe(false)
  })

  it('hashes keys as the reference FNV-1a + murmur3 finaliser does, for any string', async () => {
    const host = await load({ hash_header: 'x-key' })
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (key) => {
        expect(Number(request(host, { ':path': '/', 'x-key': key }).requestHeaders.get('x-hash'))).toBe(
          referenceHash(key),
        )
      }),
      { numRuns: 300 },
    )
    // Pinned: a change to the hash would move sticky callers to the other variant, and change which requests are sampled.
    expect(request(host, { ':path': '/', 'x-key': 'credit-risk\nuser-1' }).requestHeaders.get('x-hash')).toBe(
      '437745005',
    )
  })

  it('captures a body across chunks up to its cap, decoding UTF-8 once: a character split by a chunk survives, one cut by the cap is left out, invalid bytes become U+FFFD', async () => {
    const host = await load({ capture_bytes: 8 })
    const e = new TextEncoder().encode('aé東')
    // 'a' (1) + 'é' (2) + '東' (3) = 6 bytes, sent split inside 'é' and inside '東'.
    request(host, { ':path': '/' }, [e.slice(0, 2), e.slice(2, 4), e.slice(4)])
    expect(host.logText()).toContain('body [aé東] duration 1500000')
    // 8-byte cap over 'aé東東' (9 bytes): the second '東' is cut after its first two bytes and left out.
    request(host, { ':path': '/' }, ['aé東東'])
    expect(host.logText()).toContain('body [aé東]')
    request(host, { ':path': '/' }, [new Uint8Array([0x61, 0xff, 0x62])])
    expect(host.logText()).toContain('body [a\uFFFDb]')
  })

  it('counts metrics and runs the timer', async () => {
    const host = await load({ tick_ms: 100 })
    for (let i = 0; i < 3; i++) request(host, { ':path': '/' })
    host.tick()
    host.tick()
    expect(host.metricByName('probe.requests')?.value).toBe(3n)
    expect(host.metricByName('probe.ticks')?.value).toBe(2n)
  })

  it('gives a live update a new root and deletes the old one; a refused update keeps the old root', async () => {
    const host = await load({ echo: ['x-a'] })
    expect(host.replaceRoot(JSON.stringify({ echo: ['x-b'] }))).toBe(true)
    expect(host.logText()).toMatch(/sdk-probe: root 1 deleted/)
    expect(request(host, { ':path': '/', 'x-b': 'new' }).requestHeaders.get('x-echo-x-b')).toBe('new')
    expect(host.replaceRoot(JSON.stringify({ ech: [] }))).toBe(false)
    expect(host.logText()).toContain('sdk-probe: invalid configuration: ech: unknown field')
    expect(request(host, { ':path': '/', 'x-b': 'still' }).requestHeaders.get('x-echo-x-b')).toBe('still')
  })

  it('refuses configurations with located errors: strict JSON, duplicate and unknown keys, wrong types', async () => {
    const refused = async (text: string) => {
      const host = await load(text)
      expect(host.configured).toBe(false)
      return host.logText()
    }
    expect(await refused('{"echo":["a"],"echo":["b"]}')).toContain(
      'sdk-probe: invalid configuration: echo: duplicate key',
    )
    expect(await refused('{"echo":[1]}')).toContain('sdk-probe: invalid configuration: echo[0]: must be a string')
    expect(await refused('{"tick_ms":0100}')).toContain(
      'sdk-probe: invalid configuration: tick_ms: invalid JSON: malformed number',
    )
    expect(await refused('{"echo":["\\uZZZZ"]}')).toContain('sdk-probe: invalid configuration: echo[0]: invalid JSON')
    expect(await refused('[]')).toContain('sdk-probe: invalid configuration: (configuration): must be a JSON object')
  })
})
