/**
 * @module
 * Per-model configuration (`<repo>/<model>/config.yaml`): parsed once, checked
 * with zod, and refused with the file, the field and the reason.
 */
import { readFile } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { ConfigError } from './errors.ts'
import { DATATYPES } from './oip/datatypes.ts'

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be letters, digits, "_", "." or "-"')
const positiveInt = z.number().int().positive()

const tensorSpec = z.strictObject({
  name: z.string().min(1),
  datatype: z.enum(DATATYPES),
  /** Per-row shape without the batch dimension; -1 means any size. */
  shape: z.array(z.number().int().min(-1)),
  /** Marks a class-probability output: the host reports its top probability as confidence. */
  classifier: z.boolean().default(false),
  /** Whether NaN and ±Inf are accepted in this input (floating types only). */
  allow_non_finite: z.boolean().default(false),
})

const dynamicBatching = z.strictObject({
  /** How long a batch may wait for company while other instances are busy. */
  max_queue_delay_ms: z.number().min(0).max(10_000).default(2),
  preferred_batch_sizes: z.array(positiveInt).default([]),
  /** Requests waiting, summed over priority levels; beyond it the fallback answers, or 503. */
  max_queue_size: positiveInt.default(1024),
  /** Deadline of a request that brings none (ms). */
  default_timeout_ms: positiveInt.default(1000),
  /** Whether `x-envoy-expected-rq-timeout-ms` or the `timeout` parameter may set the deadline. */
  allow_timeout_override: z.boolean().default(true),
  priority_levels: positiveInt.max(16).default(1),
  default_priority_level: positiveInt.default(1),
})

export const modelConfigSchema = z
  .strictObject({
    name,
    platform: z.literal('onnxruntime').default('onnxruntime'),
    /** The version that answers `/v2/models/{m}/infer`; default: the highest. */
    live_version: z.union([z.string(), z.number().int()]).transform(String).optional(),
    /** Which versions to load; default: every retained version. */
    versions: z.array(z.union([z.string(), z.number().int()]).transform(String)).optional(),
    fallback: name.optional(),
    /** 1 turns batching off. */
    max_batch_size: positiveInt.max(65_536),
    instance_count: positiveInt.max(64).default(1),
    execution_providers: z
      .array(z.enum(['cuda', 'cpu']))
      .min(1)
      .default(['cpu']),
    /** Where sessions run: `worker` threads, or `main` (the event loop) for models that run in microseconds. */
    session_thread: z.enum(['worker', 'main']).default('worker'),
    /** Threads per onnxruntime session; 1 keeps outputs bitwise identical across batch sizes. */
    intra_op_threads: positiveInt.max(64).default(1),
    inputs: z.array(tensorSpec).min(1),
    outputs: z.array(tensorSpec).min(1),
    dynamic_batching: dynamicBatching.default(dynamicBatching.parse({})),
    retained_versions: positiveInt.default(10),
    /** Largest request body accepted (bytes). */
    max_request_bytes: positiveInt.default(8 * 1024 * 1024),
  })
  .superRefine((c, ctx) => {
    const b = c.dynamic_batching
    if (b.default_priority_level > b.priority_levels) {
      ctx.addIssue({
        code: 'custom',
        path: ['dynamic_batching', 'default_priority_level'],
        message: `must be at most priority_levels (${b.priority_levels})`,
      })
    }
    b.preferred_batch_sizes.forEach((size, i) => {
      if (size > c.max_batch_size) {
        ctx.addIssue({
          code: 'custom',
          path: ['dynamic_batching', 'preferred_batch_sizes', i],
          message: `must be at most max_batch_size (${c.max_batch_size})`,
        })
      }
    })
    for (const key of ['inputs', 'outputs'] as const) {
      const seen = new Set<string>()
      c[key].forEach((t, i) => {
        if (seen.has(t.name))
          ctx.addIssue({ code: 'custom', path: [key, i, 'name'], message: `duplicate name "${t.name}"` })
        seen.add(t.name)
      })
    }
    if (c.fallback === c.name)
      ctx.addIssue({ code: 'custom', path: ['fallback'], message: 'a model cannot be its own fallback' })
  })

export type ModelConfig = z.output<typeof modelConfigSchema>
export type TensorSpec = ModelConfig['inputs'][number]

/** Formats a zod path the way operators write it: `dynamic_batching.preferred_batch_sizes[2]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '')
}

/** Validates an already-parsed config object; throws the first problem as a ConfigError. */
export function parseModelConfig(raw: unknown, file: string, dirName?: string): ModelConfig {
  const result = modelConfigSchema.safeParse(raw)
  if (!result.success) {
    const issue = result.error.issues[0]!
    throw new ConfigError(file, formatPath(issue.path), issue.message)
  }
  if (dirName !== undefined && result.data.name !== dirName) {
    throw new ConfigError(file, 'name', `"${result.data.name}" does not match its folder "${dirName}"`)
  }
  return result.data
}

export async function readModelConfig(file: string, dirName?: string): Promise<ModelConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw new ConfigError(file, '', `cannot read: ${(e as Error).message}`)
  }
  let raw: unknown
  try {
    raw = parseYaml(text)
  } catch (e) {
    throw new ConfigError(file, '', `invalid YAML: ${(e as Error).message}`)
  }
  return parseModelConfig(raw, file, dirName)
}
