import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readModelConfig } from './config.ts'
import { ConfigError } from './errors.ts'
import { creditRiskConfig } from './test-fixtures.ts'

const base = `name: credit-risk
max_batch_size: 8
inputs: [{ name: features, datatype: FP32, shape: [16] }]
outputs: [{ name: probabilities, datatype: FP32, shape: [2] }]
`

async function configError(text: string, dirName = 'credit-risk'): Promise<ConfigError> {
  const dir = await mkdtemp(join(tmpdir(), 'cfg-'))
  const file = join(dir, 'config.yaml')
  await writeFile(file, text)
  const err = await readModelConfig(file, dirName).catch((e) => e)
  expect(err).toBeInstanceOf(ConfigError)
  expect(err.file).toBe(file)
  return err
}

describe('model config', () => {
  it('fills Triton-like defaults', () => {
    const c = creditRiskConfig()
    expect(c.dynamic_batching).toMatchObject({
      max_queue_delay_ms: 2,
      max_queue_size: 1024,
      default_timeout_ms: 1000,
      priority_levels: 1,
    })
    expect(c.instance_count).toBe(1)
    expect(c.retained_versions).toBe(10)
  })

  it.each([
    [base.replace('max_batch_size: 8', 'max_batch_size: 0'), 'max_batch_size', /too small|>0/],
    [base.replace('FP32, shape: [16]', 'FLOAT, shape: [16]'), 'inputs[0].datatype', /./],
    [
      `${base}dynamic_batching: { preferred_batch_sizes: [4, 16] }\n`,
      'dynamic_batching.preferred_batch_sizes[1]',
      /at most max_batch_size/,
    ],
    [
      `${base}dynamic_batching: { priority_levels: 2, default_priority_level: 3 }\n`,
      'dynamic_batching.default_priority_level',
      /at most priority_levels/,
    ],
    [`${base}fallback: credit-risk\n`, 'fallback', /its own fallback/],
    [`${base}max_batch: 8\n`, '', /max_batch/],
    [`${base}execution_providers: [tpu]\n`, 'execution_providers[0]', /./],
    [base.replace('name: credit-risk', 'name: other'), 'name', /does not match its folder/],
    [`${base}: : :\n  - [`, '', /invalid YAML/],
  ])('refuses a bad config naming the field (%#)', async (text, field, reason) => {
    const err = await configError(text)
    expect(err.field).toBe(field)
    expect(err.reason).toMatch(reason)
    expect(err.message).toContain(`config.yaml: ${field || '(root)'}: `)
  })
})
