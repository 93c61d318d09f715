/** Operator edits keep mesh.yaml's comments and layout, and refuse what they cannot do. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { EditError, parseWeight, promoteCanary, rollbackCanary, setCanaryWeight } from '../src/edit.ts'
import { ROOT } from '../src/local-mesh.ts'

const example = readFileSync(join(ROOT, 'mesh.yaml'), 'utf8')

/** The lines that differ between two texts of the same length in lines. */
function changedLines(a: string, b: string): [string, string][] {
  const x = a.split('\n')
  const y = b.split('\n')
  expect(y.length).toBe(x.length)
  return x.flatMap((line, i) => (line === y[i] ? [] : [[line, y[i]!] as [string, string]]))
}

describe('canary edits', () => {
  it('set changes the weight and nothing else, comments included', () => {
    expect(changedLines(example, setCanaryWeight(example, 'credit-risk', 2500))).toEqual([
      [
        '      weight: 1000                  # basis points: 1000 is 10% of callers',
        '      weight: 2500                  # basis points: 1000 is 10% of callers',
      ],
    ])
  })

  it('promote makes the canary version stable at weight 0', () => {
    const { text, version } = promoteCanary(example, 'credit-risk')
    expect(version).toBe('2')
    expect(changedLines(example, text)).toEqual([
      ['    stable: { version: 1, hosts: [stable] }', '    stable: { version: 2, hosts: [stable] }'],
      [
        '      weight: 1000                  # basis points: 1000 is 10% of callers',
        '      weight: 0                  # basis points: 1000 is 10% of callers',
      ],
    ])
  })

  it('rollback is weight 0', () => {
    expect(rollbackCanary(example, 'credit-risk')).toBe(setCanaryWeight(example, 'credit-risk', 0))
  })

  it('names the routes when the route is unknown, and refuses a route without a canary', () => {
    expect(() => setCanaryWeight(example, 'fraud', 10)).toThrow(new EditError('no route "fraud" (routes: credit-risk)'))
    const noCanary = 'routes:\n  - name: a\n    stable: { version: 1, hosts: [h] }\n'
    expect(() => setCanaryWeight(noCanary, 'a', 10)).toThrow(/route "a" has no canary/)
    expect(() => promoteCanary(noCanary, 'a')).toThrow(/no canary to promote/)
  })
})

describe('canary edits of a model served by several routes', () => {
  const twoRoutes = `routes:
  - name: by-path
    model: credit-risk
    stable: { version: 1, hosts: [a] }
    canary: { version: 2, weight: 100, hosts: [b] }   # by path
  - name: other
    model: fraud
    canary: { version: 5, weight: 100, hosts: [b] }
  - name: by-header
    model: credit-risk
    stable: { version: 1, hosts: [a] }
    canary: { version: 2, weight: 100, hosts: [b] }
`

  it('set and promote change every route to the same model, and only those', () => {
    const set = setCanaryWeight(twoRoutes, 'by-header', 700)
    expect(changedLines(twoRoutes, set)).toEqual([
      [
        '    canary: { version: 2, weight: 100, hosts: [b] }   # by path',
        '    canary: { version: 2, weight: 700, hosts: [b] }   # by path',
      ],
      ['    canary: { version: 2, weight: 100, hosts: [b] }', '    canary: { version: 2, weight: 700, hosts: [b] }'],
    ])
    const promoted = promoteCanary(twoRoutes, 'by-path').text
    expect(promoted.match(/stable: \{ version: 2/g)).toHaveLength(2)
    expect(promoted).toContain('canary: { version: 5, weight: 100, hosts: [b] }')
  })
})

describe('parseWeight', () => {
  it.each([
    ['2500', 2500],
    ['25%', 2500],
    ['2.5%', 250],
    ['0', 0],
    ['100%', 10_000],
    ['0.01%', 1],
  ])('%s → %i basis points', (input, bp) => expect(parseWeight(input)).toBe(bp))

  it.each(['10001', '101%', '-5', 'ten', '', '1e3'])('refuses %j', (input) =>
    expect(() => parseWeight(input)).toThrow(EditError),
  )
})
