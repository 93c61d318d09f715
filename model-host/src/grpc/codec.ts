/**
 * @module
 * The gRPC service's messages to and from what the REST side speaks: a
 * ModelInferRequest becomes the REST request's JSON and binary parts (typed
 * contents as `data`, raw contents as binary data), so one decoder
 * validates both and names the same fields; outputs go back as raw
 * contents, as Triton sends them. Pure, so the service stays a thin shell.
 */
import { status } from '@grpc/grpc-js'
import { InferenceError } from '../errors.ts'
import type { OrtTensor } from '../runtime/types.ts'
import { datatypeOfOrt } from '../oip/datatypes.ts'

/** An InferParameter as proto-loader gives it (oneofs on): one field set, its name in parameter_choice. */
export interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param'
  bool_param?: boolean
  int64_param?: number
  string_param?: string
  double_param?: number
  uint64_param?: number
}

export interface InferTensorContents {
  bool_contents?: boolean[]
  int_contents?: number[]
  int64_contents?: number[]
  uint_contents?: number[]
  uint64_contents?: number[]
  fp32_contents?: number[]
  fp64_contents?: number[]
  bytes_contents?: Uint8Array[]
}

export interface ModelInferRequest {
  model_name: string
  model_version: string
  id: string
  parameters: Record<string, InferParameter>
  inputs: {
    name: string
    datatype: string
    shape: number[]
    parameters: Record<string, InferParameter>
    contents?: InferTensorContents | null
  }[]
  outputs: { name: string; parameters: Record<string, InferParameter> }[]
  raw_input_contents: Uint8Array[]
}

/** Which typed contents field carries each datatype (the specification's table). */
const CONTENTS_FIELD: Record<string, keyof InferTensorContents> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
}

/** An InferParameter's value, or undefined when none is set. */
export function parameterValue(p: InferParameter | undefined): boolean | number | string | undefined {
  return p?.parameter_choice === undefined ? undefined : p[p.parameter_choice]
}

/**
 * Response parameters as InferParameters, each key always of one type: the
 * numbers the host answers with are confidences, so a double_param even
 * when one is exactly 1.
 */
export function inferParameters(values: Record<string, boolean | number | string>): Record<string, InferParameter> {
  const out: Record<string, InferParameter> = {}
  for (const [k, v] of Object.entries(values))
    out[k] =
      typeof v === 'boolean' ? { bool_param: v } : typeof v === 'number' ? { double_param: v } : { string_param: v }
  return out
}

/** Parameters as the REST request's JSON has them (unset ones left out). */
function values(params: Record<string, InferParameter> | undefined): Record<string, boolean | number | string> {
  const out: Record<string, boolean | number | string> = {}
  for (const [k, p] of Object.entries(params ?? {})) {
    const v = parameterValue(p)
    if (v !== undefined) out[k] = v
  }
  return out
}

/**
 * The REST request's JSON and binary body for `req`: raw contents become
 * binary data (each input's `binary_data_size`), typed contents `data`.
 * The specification allows raw contents only for every input at once.
 */
export function restFormOf(req: ModelInferRequest): { json: unknown; binary: Uint8Array } {
  const raw = req.raw_input_contents ?? []
  if (raw.length > 0 && raw.length !== req.inputs.length)
    throw new InferenceError(
      `raw_input_contents: ${raw.length} given for ${req.inputs.length} inputs (raw contents go for every input, in order, or for none)`,
      400,
    )
  const inputs = req.inputs.map((input, i) => {
    const base = {
      name: input.name,
      datatype: input.datatype,
      shape: input.shape,
      parameters: values(input.parameters),
    }
    if (raw.length > 0) {
      if (input.contents && Object.values(input.contents).some((c) => Array.isArray(c) && c.length > 0))
        throw new InferenceError(`inputs[${i}].contents: must be empty when raw_input_contents is given`, 400)
      return { ...base, parameters: { ...base.parameters, binary_data_size: raw[i]!.length } }
    }
    const field = CONTENTS_FIELD[input.datatype]
    const data = field ? input.contents?.[field] : undefined
    return { ...base, ...(data && data.length > 0 ? { data } : {}) }
  })
  const json = {
    ...(req.id ? { id: req.id } : {}),
    parameters: values(req.parameters),
    inputs,
    ...(req.outputs?.length ? { outputs: req.outputs.map((o) => ({ name: o.name })) } : {}),
  }
  return { json, binary: raw.length === 0 ? new Uint8Array(0) : concat(raw) }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/**
 * The tensor bytes `req` carries, raw or typed (each typed element at its
 * datatype's width, a BYTES element at its length): held to the model's
 * max_request_bytes before anything is decoded or allocated for it.
 */
export function requestBytes(req: ModelInferRequest): number {
  let bytes = 0
  for (const raw of req.raw_input_contents ?? []) bytes += raw.length
  for (const input of req.inputs ?? []) {
    const c = input.contents
    if (!c) continue
    for (const [field, values] of Object.entries(c) as [keyof InferTensorContents, unknown[]][]) {
      if (!Array.isArray(values) || values.length === 0) continue
      if (field === 'bytes_contents') for (const b of values as Uint8Array[]) bytes += b.length
      else bytes += values.length * CONTENTS_WIDTH[field]
    }
  }
  return bytes
}

/** Bytes per element of each typed contents field, as raw contents would carry it. */
const CONTENTS_WIDTH: Record<Exclude<keyof InferTensorContents, 'bytes_contents'>, number> = {
  bool_contents: 1,
  int_contents: 4,
  int64_contents: 8,
  uint_contents: 4,
  uint64_contents: 8,
  fp32_contents: 4,
  fp64_contents: 8,
}

/**
 * A request's time budget in ms, as REST's: the client's own (its gRPC
 * deadline, else its `timeout` parameter in microseconds) where the model
 * allows overrides, else the model's default; never past the deadline,
 * since the client stops waiting then. `deadline` is grpc-js's: a Date, or
 * a number of ms since the epoch, Infinity when the client set none.
 */
export function timeBudgetMs(
  deadline: Date | number,
  timeoutUs: number | undefined,
  policy: { default_timeout_ms: number; allow_timeout_override: boolean },
  now = Date.now(),
): number {
  const left = Number(deadline) - now
  const clientSet = Number.isFinite(left)
  if (policy.allow_timeout_override) {
    if (clientSet) return Math.max(0, left)
    if (timeoutUs !== undefined) return timeoutUs / 1000
  }
  return clientSet ? Math.max(0, Math.min(policy.default_timeout_ms, left)) : policy.default_timeout_ms
}

/** The response's outputs, each as raw little-endian contents (Triton's way; its clients read them). */
export function outputsOf(outputs: { name: string; tensor: OrtTensor }[]) {
  return {
    outputs: outputs.map(({ name, tensor }) => ({
      name,
      datatype: datatypeOfOrt(tensor.type),
      shape: tensor.dims,
      parameters: {},
    })),
    raw_output_contents: outputs.map(({ tensor }) => {
      const d = tensor.data
      return Buffer.from(d.buffer, d.byteOffset, d.byteLength)
    }),
  }
}

/** The gRPC status of an error the REST side answers with an HTTP status. */
export function grpcStatusOf(e: unknown): status {
  if (!(e instanceof InferenceError)) return status.INTERNAL
  if (e.queueFull) return status.RESOURCE_EXHAUSTED
  switch (e.status) {
    case 400:
    case 413:
    case 415:
    case 422:
      return status.INVALID_ARGUMENT
    case 404:
      return status.NOT_FOUND
    case 429:
      return status.RESOURCE_EXHAUSTED
    case 499:
      return status.CANCELLED
    case 503:
      return status.UNAVAILABLE
    case 504:
      return status.DEADLINE_EXCEEDED
    default:
      return status.INTERNAL
  }
}
