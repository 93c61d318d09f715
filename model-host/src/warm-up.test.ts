/**
 * Warm-up's batches: the sizes a version will see, and zeros shaped as its
 * inputs; run for real on the heavy example model by
 * model-host/test/warm-up.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { modelConfigSchema } from './config.ts'
import { warmUpBatchSizes, warmUpFeeds, warmUpMaxRows } from './warm-up.ts'

describe('warm-up', () => {
  it('runs powers of two up to the largest batch, and the largest batch itself', () => {
    expect(warmUpBatchSizes(1)).toEqual([1])
    expect(warmUpBatchSizes(64)).toEqual([1, 2, 4, 8, 16, 32, 64])
    expect(warmUpBatchSizes(100)).toEqual([1, 2, 4, 8, 16, 32, 64, 100])
    // Never past what the memory bound allows.
    expect(warmUpBatchSizes(65_536, 1000)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000])
  })

  it('holds each warm-up batch under its memory bound, by the widest input', () => {
    const wide = modelConfigSchema.parse({
      name: 'm',
      platform: 'onnxruntime',
      max_batch_size: 65_536,
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [3] },
        { name: 'image', datatype: 'FP64', shape: [512, 512] },
      ],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [1] }],
    })
    // 512 × 512 × 8 bytes a row: 16 rows make 32 MiB.
    expect(warmUpMaxRows(wide)).toBe(16)
    expect(warmUpBatchSizes(wide.max_batch_size, warmUpMaxRows(wide)).at(-1)).toBe(16)
  })

  it('feeds zeros of each input, any-size dimensions taken as 1', () => {
    const config = modelConfigSchema.parse({
      name: 'm',
      platform: 'onnxruntime',
      max_batch_size: 8,
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [3] },
        { name: 'ids', datatype: 'INT64', shape: [-1, 2] },
      ],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [1] }],
    })
    const feeds = warmUpFeeds(config, 4)!
    expect(feeds.x!.dims).toEqual([4, 3])
    expect(feeds.x!.type).toBe('float32')
    expect([...(feeds.x!.data as Float32Array)]).toEqual(Array(12).fill(0))
    expect(feeds.ids!.dims).toEqual([4, 1, 2])
    expect(feeds.ids!.data).toBeInstanceOf(BigInt64Array)
    expect(feeds.ids!.data.length).toBe(8)
  })
})
