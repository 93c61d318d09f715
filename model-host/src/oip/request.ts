/**
 * @module
 * Decoding and validating an Open Inference Protocol infer request, JSON or
 * with the binary tensor data extension, against a model's configuration.
 * Everything is checked here, before the request joins a batch, so one bad
 * request can never fail its batch-mates. Errors name the offending field.
 */
import { z } from 'zod'
import type { ModelConfig, TensorSpec } from '../config.ts'
import { formatPath } from '../config.ts'
import { InferenceError } from '../errors.ts'
import type { RequestTensors } from '../runtime/tensor-batch.ts'
import { DATATYPE_INFO, isNumericDatatype, type NumericDatatype, type TensorData } from './datatypes.ts'

/** Header of the binary tensor data extension: length of the JSON part of the body. */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length'

const parameters = z.record(z.string(), z.unknown())

const requestInput = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  datatype: z.string(),
  parameters: parameters.optional(),
  data: z.unknown().optional(),
})

const requestOutput = z.object({
  name: z.string(),
  parameters: parameters.optional(),
})

/** Longest request `id` echoed in the `x-request-id` response header (when the request has no such header). */
export const MAX_REQUEST_ID_LENGTH = 256

/**
 * Longest request `id` at all. One that is not echoed in a header is only
 * echoed in the JSON body, which can carry any string: bounded as the mesh
 * bounds ids in events (contracts/events.ts), past any header Envoy takes.
 */
export const MAX_BODY_REQUEST_ID_LENGTH = 65_536

const requestId = z.string().max(MAX_BODY_REQUEST_ID_LENGTH, `must be at most ${MAX_BODY_REQUEST_ID_LENGTH} characters`)

/**
 * The id the response's `x-request-id` echoes: the request's header when it
 * has one (it arrived as a header, so it is one), else the body's `id`,
 * which must then be header-safe. Visible ASCII and space only: a header
 * value cannot carry control characters (CR/LF would split it) nor anything
 * beyond Latin-1, and Latin-1 bytes read differently from client to client.
 * Called before inference, so a bad id is a 400 rather than a 500 after it.
 */
export function echoedRequestId(headerId: string | undefined, bodyId: string | undefined): string | undefined {
  if (headerId !== undefined || bodyId === undefined) return headerId
  if (bodyId.length > MAX_REQUEST_ID_LENGTH) {
    throw bad(
      'id',
      `must be at most ${MAX_REQUEST_ID_LENGTH} characters without an x-request-id header (it is echoed in that header)`,
    )
  }
  if (!/^[\x20-\x7e]*$/.test(bodyId)) {
    throw bad(
      'id',
      'must be printable ASCII (letters, digits, punctuation, space) without an x-request-id header (it is echoed in that header)',
    )
  }
  return bodyId
}

const inferRequestSchema = z.object({
  id: requestId.optional(),
  parameters: parameters.optional(),
  inputs: z.array(requestInput).min(1),
  outputs: z.array(requestOutput).optional(),
})

export interface DecodedRequest {
  id: string | undefined
  rows: number
  tensors: RequestTensors
  /** Outputs to return, in order, each with whether it goes as binary data. */
  outputs: { name: string; binary: boolean }[]
  /** Request `timeout` parameter in microseconds (Triton's convention), if given. */
  timeoutUs: number | undefined
  priority: number | undefined
  /** Row shapes joined: requests batch only with same-shaped requests. */
  shapeKey: string
}

const bad = (field: string, reason: string) => new InferenceError(`${field}: ${reason}`, 400)

/**
 * Deepest nesting of arrays and objects a JSON request may use. OIP tensors
 * nest only as deep as their shape: a few levels.
 */
export const MAX_JSON_DEPTH = 64

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d

/**
 * Refuses JSON nested deeper than `max` levels, from its bytes, before it is
 * parsed: parsing 8 MB of `[` blocks the event loop for seconds and takes
 * hundreds of MB, and a recursive walk of the result would overflow the stack.
 * Brackets inside strings do not count; malformed JSON passes, for the parser
 * to name. It hops from one byte that matters to the next with Buffer#indexOf
 * (memchr), which costs a few percent of the parse, where a loop over every
 * byte cost half of it.
 */
export function checkJsonDepth(bytes: Buffer, max: number = MAX_JSON_DEPTH): void {
  let quote = nextByte(bytes, QUOTE, 0)
  let openArray = nextByte(bytes, OPEN_ARRAY, 0)
  let closeArray = nextByte(bytes, CLOSE_ARRAY, 0)
  let openObject = nextByte(bytes, OPEN_OBJECT, 0)
  let closeObject = nextByte(bytes, CLOSE_OBJECT, 0)
  let depth = 0
  for (;;) {
    const at = Math.min(quote, openArray, closeArray, openObject, closeObject)
    if (at === bytes.length) return
    if (at === quote) {
      const from = closingQuote(bytes, at) + 1
      quote = nextByte(bytes, QUOTE, from)
      if (openArray < from) openArray = nextByte(bytes, OPEN_ARRAY, from)
      if (closeArray < from) closeArray = nextByte(bytes, CLOSE_ARRAY, from)
      if (openObject < from) openObject = nextByte(bytes, OPEN_OBJECT, from)
      if (closeObject < from) closeObject = nextByte(bytes, CLOSE_OBJECT, from)
    } else if (at === openArray || at === openObject) {
      if (++depth > max) throw bad('body', `JSON nested deeper than ${max} levels of arrays and objects`)
      if (at === openArray) openArray = nextByte(bytes, OPEN_ARRAY, at + 1)
      else openObject = nextByte(bytes, OPEN_OBJECT, at + 1)
    } else {
      depth--
      if (at === closeArray) closeArray = nextByte(bytes, CLOSE_ARRAY, at + 1)
      else closeObject = nextByte(bytes, CLOSE_OBJECT, at + 1)
    }
  }
}

/** Index of the next `byte` at or after `from`, or the length when there is none. */
function nextByte(bytes: Buffer, byte: number, from: number): number {
  const i = from < bytes.length ? bytes.indexOf(byte, from) : -1
  return i < 0 ? bytes.length : i
}

/** Index of the quote closing the string opened at `open` (one not escaped by an odd run of backslashes), or the length. */
function closingQuote(bytes: Buffer, open: number): number {
  let q = open
  for (;;) {
    q = bytes.indexOf(QUOTE, q + 1)
    if (q < 0) return bytes.length
    let slashes = 0
    while (bytes[q - 1 - slashes] === BACKSLASH) slashes++
    if (slashes % 2 === 0) return q
  }
}

/**
 * Deepest nesting of a tensor's JSON `data`: `checkJsonDepth` already bounds
 * a parsed body, this keeps `decodeInferRequest` safe on JSON from elsewhere.
 */
export const MAX_DATA_DEPTH = MAX_JSON_DEPTH

/** Splits a body into its JSON part and binary part per the binary tensor data extension. */
export function splitBody(body: Uint8Array, headerLength: string | undefined): { json: unknown; binary: Uint8Array } {
  let jsonBytes = body
  let binary: Uint8Array = new Uint8Array(0)
  if (headerLength !== undefined) {
    const n = Number(headerLength)
    if (!Number.isInteger(n) || n < 0 || n > body.length) {
      throw bad(
        'Inference-Header-Content-Length',
        `must be an integer between 0 and the body length (${body.length}), got "${headerLength}"`,
      )
    }
    jsonBytes = body.subarray(0, n)
    binary = body.subarray(n)
  }
  const text = Buffer.from(jsonBytes.buffer, jsonBytes.byteOffset, jsonBytes.byteLength)
  checkJsonDepth(text)
  try {
    return { json: JSON.parse(text.toString('utf8')), binary }
  } catch (e) {
    throw new InferenceError(`malformed JSON in request body: ${(e as Error).message}`, 400)
  }
}

/** Validates the request against the model's inputs and outputs and builds its tensors. */
export function decodeInferRequest(json: unknown, binary: Uint8Array, config: ModelConfig): DecodedRequest {
  const parsed = inferRequestSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw bad(formatPath(issue.path) || 'body', issue.message)
  }
  const req = parsed.data
  const tensors: RequestTensors = {}
  let binaryOffset = 0
  let rows: number | undefined
  const shapeKeys: string[] = []

  req.inputs.forEach((input, i) => {
    const field = `inputs[${i}]`
    const spec = config.inputs.find((s) => s.name === input.name)
    if (!spec)
      throw bad(
        `${field}.name`,
        `unknown input "${input.name}"; model "${config.name}" expects ${config.inputs.map((s) => `"${s.name}"`).join(', ')}`,
      )
    if (tensors[input.name]) throw bad(`${field}.name`, `input "${input.name}" given more than once`)
    if (input.datatype !== spec.datatype)
      throw bad(`${field}.datatype`, `input "${spec.name}" is ${spec.datatype}, got ${input.datatype}`)
    checkShape(input.shape, spec, config.max_batch_size, `${field}.shape`)
    const n = input.shape[0]!
    if (rows !== undefined && n !== rows)
      throw bad(`${field}.shape`, `batch size ${n} differs from the other inputs' ${rows}`)
    rows = n
    if (!isNumericDatatype(spec.datatype))
      throw bad(`${field}.datatype`, `${spec.datatype} tensors are not supported by this host`)
    const count = input.shape.reduce((a, b) => a * b, 1)
    // Every element takes at least a byte on any wire: a shape claiming more than the request may hold is refused
    // before anything is allocated for it (a dimension of any size could claim 2^40).
    if (count > config.max_request_bytes)
      throw bad(
        `${field}.shape`,
        `${fmtShape(input.shape)} holds ${count} elements, more than a request of at most ${config.max_request_bytes} bytes (max_request_bytes) can carry`,
      )
    const size = input.parameters?.binary_data_size
    let data: TensorData
    if (size !== undefined) {
      if (input.data !== undefined) throw bad(`${field}.data`, 'must be absent when parameters.binary_data_size is set')
      const expected = count * DATATYPE_INFO[spec.datatype].bytes
      if (size !== expected)
        throw bad(
          `${field}.parameters.binary_data_size`,
          `shape ${fmtShape(input.shape)} of ${spec.datatype} needs ${expected} bytes, got ${String(size)}`,
        )
      if (binaryOffset + expected > binary.length)
        throw bad(
          `${field}.parameters.binary_data_size`,
          `body holds ${binary.length - binaryOffset} bytes of binary data for this input, needs ${expected}`,
        )
      data = fromBinary(binary.subarray(binaryOffset, binaryOffset + expected), spec.datatype)
      binaryOffset += expected
    } else {
      if (input.data === undefined)
        throw bad(`${field}.data`, 'missing (give data, or parameters.binary_data_size with a binary body)')
      data = fromJson(input.data, spec.datatype, count, input.shape, `${field}.data`)
    }
    if (!spec.allow_non_finite && (spec.datatype === 'FP32' || spec.datatype === 'FP64')) {
      const at = (data as Float32Array).findIndex((x) => !Number.isFinite(x))
      if (at >= 0)
        throw bad(
          `${field}.data[${at}]`,
          `${(data as Float32Array)[at]} is not allowed (input "${spec.name}" accepts finite numbers only)`,
        )
    }
    tensors[spec.name] = { type: DATATYPE_INFO[spec.datatype].ort, dims: input.shape, data }
    shapeKeys.push(input.shape.slice(1).join('x'))
  })
  if (binaryOffset !== binary.length)
    throw bad(
      'body',
      `${binary.length - binaryOffset} bytes of binary data are not claimed by any input's binary_data_size`,
    )
  const missing = config.inputs.filter((s) => !tensors[s.name])
  if (missing.length)
    throw bad('inputs', `missing input ${missing.map((s) => `"${s.name}"`).join(', ')} for model "${config.name}"`)

  const binaryAll = req.parameters?.binary_data_output === true
  const outputs = (req.outputs ?? config.outputs.map((o) => ({ name: o.name, parameters: undefined }))).map((o, i) => {
    if (!config.outputs.some((s) => s.name === o.name)) {
      throw bad(
        `outputs[${i}].name`,
        `unknown output "${o.name}"; model "${config.name}" has ${config.outputs.map((s) => `"${s.name}"`).join(', ')}`,
      )
    }
    const flag = o.parameters?.binary_data
    return { name: o.name, binary: flag === undefined ? binaryAll : flag === true }
  })

  return {
    id: req.id,
    rows: rows!,
    tensors,
    outputs,
    timeoutUs: positiveNumber(req.parameters?.timeout, 'parameters.timeout'),
    priority: positiveInteger(req.parameters?.priority, 'parameters.priority'),
    shapeKey: shapeKeys.join(';'),
  }
}

function checkShape(shape: number[], spec: TensorSpec, maxBatch: number, field: string): void {
  const expected = `[n, ${spec.shape.map((d) => (d < 0 ? '*' : d)).join(', ')}] with 1 <= n <= ${maxBatch}`
  const ok =
    shape.length === spec.shape.length + 1 &&
    shape[0]! >= 1 &&
    shape[0]! <= maxBatch &&
    spec.shape.every((d, i) => d < 0 || shape[i + 1] === d)
  if (!ok) throw bad(field, `input "${spec.name}" expects shape ${expected}, got ${fmtShape(shape)}`)
}

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`

/** Copies little-endian bytes into an aligned typed array of their own. */
function fromBinary(bytes: Uint8Array, datatype: NumericDatatype): TensorData {
  // Uint8Array's slice copies; a Buffer's would return a view into the body's pool.
  const copy = Uint8Array.prototype.slice.call(bytes)
  const info = DATATYPE_INFO[datatype]
  return info.create(copy.buffer, 0, copy.length / info.bytes)
}

/** Writes nested or flat JSON data into a typed array, checking each element's type and range. */
function fromJson(data: unknown, datatype: NumericDatatype, count: number, shape: number[], field: string): TensorData {
  const info = DATATYPE_INFO[datatype]
  const out = info.create(count)
  let n = 0
  // Depth-first over nested arrays, no intermediate flattened copy: this runs for every request.
  const fill = (value: unknown, depth: number): void => {
    if (Array.isArray(value)) {
      if (depth === MAX_DATA_DEPTH)
        throw bad(
          field,
          `nested more than ${MAX_DATA_DEPTH} levels deep (a tensor nests only as deep as its shape, ${fmtShape(shape)})`,
        )
      for (let i = 0; i < value.length; i++) fill(value[i], depth + 1)
      return
    }
    const at = n++
    if (at >= count) return
    let v = value
    if (datatype === 'BOOL' && typeof v === 'boolean') v = v ? 1 : 0
    if (typeof v !== 'number')
      throw bad(`${field}[${at}]`, `expected a number for ${datatype}, got ${v === null ? 'null' : typeof v}`)
    if (info.integer && (!Number.isInteger(v) || v < info.min! || v > info.max!))
      throw bad(`${field}[${at}]`, `${v} is not a valid ${datatype}`)
    if (info.big) (out as BigInt64Array)[at] = BigInt(v)
    else (out as Float64Array)[at] = v
  }
  fill(data, 0)
  if (n !== count) throw bad(field, `shape ${fmtShape(shape)} needs ${count} elements, got ${n}`)
  return out
}

function positiveNumber(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw bad(field, 'must be a positive number')
  return v
}

function positiveInteger(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw bad(field, 'must be a positive integer')
  return v
}
