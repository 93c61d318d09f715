/**
 * The HTTP warm-up's requests and what the host reports of them; run for
 * real (a host's first request against a warm one's) by
 * model-host/test/warm-up.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { modelConfigSchema } from './config.ts'
import type { BatchReport, FallbackReport, HostReporter } from './host-stats.ts'
import { newWarmUpPrefix, warmUpRequestBody, withoutWarmUp } from './http-warm-up.ts'

const config = (inputs: { name: string; datatype: string; shape: number[] }[]) =>
  modelConfigSchema.parse({
    name: 'm',
    platform: 'onnxruntime',
    max_batch_size: 8,
    inputs,
    outputs: [{ name: 'y', datatype: 'FP32', shape: [1] }],
  })

describe('HTTP warm-up', () => {
  it('asks one row of every input, fractions for floats, and nothing of a model with a BYTES input', () => {
    const body = JSON.parse(
      warmUpRequestBody(
        config([
          { name: 'x', datatype: 'FP32', shape: [3] },
          { name: 'ids', datatype: 'INT64', shape: [-1] },
        ]),
      )!,
    )
    expect(body).toEqual({
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [1, 3], data: [0.5, 0.5, 0.5] },
        { name: 'ids', datatype: 'INT64', shape: [1, 1], data: [0] },
      ],
    })
    expect(warmUpRequestBody(config([{ name: 'text', datatype: 'BYTES', shape: [1] }]))).toBeNull()
  })

  it("leaves out of the host's reports what only its warm-up did, and nothing a caller did", () => {
    const prefix = newWarmUpPrefix()
    expect(newWarmUpPrefix()).not.toBe(prefix)
    const seen: string[][] = []
    const reporter: HostReporter = {
      batch: (b) => seen.push(b.request_ids),
      fallback: (f) => seen.push([f.request_id]),
    }
    const filtered = withoutWarmUp(reporter, prefix)
    const batch = (ids: string[]) => ({ request_ids: ids }) as BatchReport
    filtered.batch(batch([`${prefix}0`, `${prefix}1`]))
    filtered.batch(batch([`${prefix}2`, 'caller-1']))
    filtered.batch(batch(['warm-up-guessed-0']))
    filtered.fallback({ request_id: `${prefix}3` } as FallbackReport)
    filtered.fallback({ request_id: 'caller-2' } as FallbackReport)
    expect(seen).toEqual([[`${prefix}2`, 'caller-1'], ['warm-up-guessed-0'], ['caller-2']])
  })
})
