import { describe, expect, it } from 'vitest'
import { concatBatch, splitBatch } from './tensor-batch.ts'

const t = (rows: number, start: number) => ({
  x: { type: 'float32', dims: [rows, 2], data: Float32Array.from({ length: rows * 2 }, (_, i) => start + i) },
})

describe('concatBatch / splitBatch', () => {
  it('joins requests along the batch dimension and splits outputs back', () => {
    const a = t(1, 0)
    const b = t(2, 100)
    const feeds = concatBatch([a, b])
    expect(feeds.x!.dims).toEqual([3, 2])
    expect(Array.from(feeds.x!.data as Float32Array)).toEqual([0, 1, 100, 101, 102, 103])
    const parts = splitBatch({ y: { type: 'float32', dims: [3, 1], data: Float32Array.of(7, 8, 9) } }, [1, 2])
    expect(parts.map((p) => Array.from(p.y!.data as Float32Array))).toEqual([[7], [8, 9]])
    expect(parts[1]!.y!.dims).toEqual([2, 1])
  })

  it('copies even a single request, so the request keeps its tensors for a fallback', () => {
    const a = t(1, 0)
    const feeds = concatBatch([a])
    expect(feeds.x!.data).not.toBe(a.x.data)
    expect(Array.from(feeds.x!.data as Float32Array)).toEqual([0, 1])
  })
})
