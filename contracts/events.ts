/**
 * @module
 * Telemetry event schemas shared by the mesh's producers (Wasm filters, the
 * model host) and consumers (agent, collector), and the one decoder every
 * consumer uses. Events are newline-delimited JSON objects with a `kind` and
 * a schema version `v`. Decoding accepts unknown fields (producers may be
 * newer) and the previous version of each kind (producers may be older,
 * during a rolling upgrade); anything else is refused with a reason, never
 * thrown.
 *
 * The AssemblyScript filters cannot import this file:
 * wasm-filters/golden-signals/assembly/signals.ts and the payload sampler
 * write exactly these fields, and their tests parse them with `decodeEvent`.
 */
import type { DDSketch } from '@datadog/sketches-js'
import { z } from 'zod'
import { decodeLatencySketch, encodeLatencySketch, MAX_LATENCY_SKETCH_CHARS } from './latency-sketch.ts'

/** Version 2: a request's own event is its story, kept only when worth one (`kept`); request_stats records count every request. */
export const GOLDEN_SIGNAL_EVENT_VERSION = 2
export const REQUEST_STATS_VERSION = 1
export const PAYLOAD_SAMPLE_EVENT_VERSION = 1
export const REVIEW_ITEM_EVENT_VERSION = 1
/**
 * Host events are at version 3: a batch's or a fallback's own event is its
 * story (`kept`), the counts are in host_stats records. Version 2 (an event
 * for every batch and fallback) and version 1 (the host's in-process shape:
 * camelCase, no `v`) are still accepted, and counted from their events.
 */
export const HOST_EVENT_VERSION = 3
export const HOST_STATS_VERSION = 1

/**
 * Bounds on values, by meaning: an event is checked for what it says, not
 * only its types, since everything after the decoder (the store's typed
 * columns, label values, sums) trusts it.
 */
const EVENT_LIMITS = {
  /**
   * Names and ids (routes, models, versions, request ids, traceparents...).
   * Some come from a request's path and headers, which Envoy caps at 60 KiB:
   * a real request's event always fits, so none goes uncounted for a long
   * id; labels are bounded further by the collector's label policy.
   */
  fieldChars: 65_536,
  /** A captured body (sampling.max_capture_bytes is at most 1 MiB; masking and escapes leave room). */
  bodyChars: 4 << 20,
  /** Requests of one host batch. */
  batchRequests: 65_536,
  /** A duration longer than a day is a wrong unit or a broken clock. */
  durationMs: 86_400_000,
} as const

/** An event stamped further ahead of its reader's clock than this is refused (a wrong unit or clock). Well under the telemetry-stale alert's 5 minutes, so one event stamped ahead cannot hide a stall. */
export const MAX_CLOCK_SKEW_MS = 30_000

const str = z.string().max(EVENT_LIMITS.fieldChars)
const body = z.string().max(EVENT_LIMITS.bodyChars)
/** Counts a host reports per batch or per instance: 32-bit, as they are stored. */
const u32 = z.number().int().min(0).max(0xffff_ffff)
/** Milliseconds since the epoch (how far ahead of the reader is checked on decode). */
const timestamp = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
const ms = z.number().nonnegative().max(EVENT_LIMITS.durationMs)
const us = z
  .number()
  .int()
  .nonnegative()
  .max(EVENT_LIMITS.durationMs * 1000)
/** x-model-confidence: a probability. */
const confidence = z.number().min(0).max(1)
const httpStatus = z.number().int().min(0).max(999)

/** What the golden-signals filter reports of one request, at log time. */
const requestFields = {
  /** Milliseconds since the epoch, when the request was logged. */
  ts: timestamp,
  /** The reporting Envoy's role, from the filter configuration. */
  service: str,
  request_id: str,
  traceparent: str,
  route: str,
  /** The model of the OIP path; "" when the path named none. */
  model: str,
  /** The version that answered (the host's x-model-version), else the one the router chose. */
  version: str,
  /** stable, canary, or "" when the canary router did not route it. */
  variant: str,
  cluster: str,
  upstream: str,
  /** HTTP status; 0 when no response was sent. */
  status: httpStatus,
  /** Envoy's response flags bitmask (see ENVOY_RESPONSE_FLAGS). */
  flags: u32,
  /** A fallback model answered (x-model-fallback: true). */
  fallback: z.boolean(),
  duration_us: us,
}

/**
 * Why a request has its own event (its story): it failed (4xx, 5xx, no
 * response), it was slower than its route's p99 objective, its payload was
 * sampled, its answer's confidence was low, or the caller asked
 * (`x-mesh-trace: 1`, where the route allows it). `every_request` marks a
 * version 1 producer, which sends an event for every request and no
 * request_stats: such an event is the request's count too.
 */
export const KEPT_REASONS = ['failed', 'slow', 'sampled', 'low_confidence', 'traced', 'every_request'] as const
export type KeptReason = (typeof KEPT_REASONS)[number]

/** One request's story, emitted by the golden-signals filter at log time when it is worth one. */
const goldenSignalEvent = z.object({
  v: z.literal(GOLDEN_SIGNAL_EVENT_VERSION),
  kind: z.literal('request'),
  ...requestFields,
  kept: z.array(z.enum(KEPT_REASONS)).min(1).max(KEPT_REASONS.length),
})
/** Version 1: an event for every request (filters before request_stats). Upgraded with `kept: ['every_request']`. */
const goldenSignalEventV1 = z.object({ v: z.literal(1), kind: z.literal('request'), ...requestFields })

/** Status classes, as request_stats records and the collector's series count them ("none": no response was sent). */
export const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'none'] as const
export type CodeClass = (typeof CODE_CLASSES)[number]

export function codeClass(status: number): CodeClass {
  return status >= 100 && status <= 599 ? CODE_CLASSES[Math.floor(status / 100) - 1]! : 'none'
}

/** A record's sketch field (`text`), decoded and checked to hold `count` values of a day at most; else an issue at `path`. */
function sketchField(ctx: z.RefinementCtx, path: string, text: string, count: number): DDSketch | undefined {
  const sketch = decodeLatencySketch(text, count, EVENT_LIMITS.durationMs)
  if (typeof sketch !== 'string') return sketch
  ctx.addIssue({ code: 'custom', path: [path], message: sketch })
  return undefined
}

/** The longest interval one request_stats record may cover. */
const MAX_STATS_INTERVAL_MS = 3_600_000

/**
 * What one worker of one Envoy counted of one label set (route, model,
 * version, variant, status class, response flags) over one interval: exact
 * counts and a latency sketch (milliseconds, DDSketch's protobuf in base64;
 * decoded here, so consumers get the sketch). Every request is in exactly
 * one record, its story or not.
 */
const requestStatsEvent = z
  .object({
    v: z.literal(REQUEST_STATS_VERSION),
    kind: z.literal('request_stats'),
    /** Milliseconds since the epoch: the end of the interval. */
    ts: timestamp,
    interval_ms: z.number().int().min(0).max(MAX_STATS_INTERVAL_MS),
    service: str,
    route: str,
    model: str,
    version: str,
    variant: str,
    code_class: z.enum(CODE_CLASSES),
    flags: u32,
    requests: u32.min(1),
    fallbacks: u32,
    /** The requests' durations added up, in microseconds. */
    duration_us_sum: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    latency_ms: z.string().max(MAX_LATENCY_SKETCH_CHARS),
  })
  .superRefine((e, ctx) => {
    if (e.fallbacks > e.requests)
      ctx.addIssue({ code: 'custom', path: ['fallbacks'], message: `more than the ${e.requests} requests` })
    if (e.duration_us_sum > e.requests * EVENT_LIMITS.durationMs * 1000)
      ctx.addIssue({ code: 'custom', path: ['duration_us_sum'], message: 'more than a day per request' })
  })
  .transform((e, ctx) => {
    const latency = sketchField(ctx, 'latency_ms', e.latency_ms, e.requests)
    if (!latency) return z.NEVER
    const { latency_ms: _text, ...rest } = e
    return { ...rest, latency }
  })
export type RequestStatsEvent = z.output<typeof requestStatsEvent>

export type GoldenSignalEvent = z.output<typeof goldenSignalEvent>

/** A sampled request and response, PII masked, emitted by the payload-sampler filter at log time. */
const payloadSampleEvent = z.object({
  v: z.literal(PAYLOAD_SAMPLE_EVENT_VERSION),
  kind: z.literal('sample'),
  ts: timestamp,
  request_id: str,
  traceparent: str,
  model: str,
  /** The version that answered (x-model-version on the response). */
  version: str,
  variant: str,
  /** Why it was sampled: the request id's hash fell under the rate, the confidence under the threshold, or both. */
  reason: z.enum(['rate', 'low_confidence', 'rate+low_confidence']),
  /** x-model-confidence of the response, null when absent. */
  confidence: confidence.nullable(),
  status: httpStatus,
  /** Captured bodies (UTF-8 text, up to max_capture_bytes each), PII masked. */
  request: body,
  request_truncated: z.boolean(),
  response: body,
  response_truncated: z.boolean(),
})
export type PayloadSampleEvent = z.output<typeof payloadSampleEvent>

/**
 * A low-confidence prediction for a person to label: the sample, as the
 * agent copies it to the review queue (mesh.review.<model>) when its
 * confidence is under the model's review threshold.
 */
const reviewItemEvent = payloadSampleEvent.extend({
  v: z.literal(REVIEW_ITEM_EVENT_VERSION),
  kind: z.literal('review'),
})
export type ReviewItemEvent = z.output<typeof reviewItemEvent>

/**
 * Why a host event is kept whole: its batch failed, a fallback answered its
 * request, or the request was refused. `every_event` marks a version 1 or 2
 * host, which sends an event for every batch and fallback and no
 * host_stats: such an event is the count too.
 */
export const HOST_KEPT_REASONS = ['failed', 'fallback', 'refused', 'every_event'] as const
const hostKept = z.array(z.enum(HOST_KEPT_REASONS)).min(1).max(HOST_KEPT_REASONS.length)

const hostCommon = {
  v: z.literal(HOST_EVENT_VERSION),
  ts: timestamp,
  /** The reporting host process (`<mesh host name>` or `<address>:<port>`). */
  host: str,
  model: str,
  version: str,
}

/** One executed batch on a model host. */
const hostBatchEvent = z.object({
  ...hostCommon,
  kind: z.literal('host_batch'),
  batch_id: str,
  request_ids: z.array(str).max(EVENT_LIMITS.batchRequests),
  /** Each request's W3C traceparent ("" when it had none), in the order of request_ids. */
  traceparents: z.array(str).max(EVENT_LIMITS.batchRequests),
  rows: u32,
  /** The most rows a batch of this version may hold (batch fill ratio = rows / max_batch_rows). */
  max_batch_rows: u32,
  queue_wait_ms: ms,
  execution_ms: ms,
  queue_depth: u32,
  device: str,
  ok: z.boolean(),
  kept: hostKept,
})
export type HostBatchEvent = z.output<typeof hostBatchEvent>

/**
 * Why a host's primary did not answer a request (model-host's RejectReason):
 * a closed set, so consumers label any other reason `other`.
 */
export const FALLBACK_REASONS = [
  'queue_full',
  'deadline',
  'cancelled',
  'runtime_error',
  'unloaded',
  'fallback_role',
] as const
export type FallbackReason = (typeof FALLBACK_REASONS)[number]

/** One request the host served with a fallback model, or refused. */
const hostFallbackEvent = z.object({
  ...hostCommon,
  kind: z.literal('host_fallback'),
  request_id: str,
  traceparent: str,
  /** The fallback model that answered; null when the request was refused. */
  fallback_model: str.nullable(),
  /** Why the primary did not answer: one of FALLBACK_REASONS from this host (a newer host may name others). */
  reason: str,
  kept: hostKept,
})
export type HostFallbackEvent = z.output<typeof hostFallbackEvent>

/** Periodic saturation of one model version on a host. */
const hostSaturationEvent = z.object({
  ...hostCommon,
  kind: z.literal('host_saturation'),
  queue_depth: u32,
  busy_instances: u32,
  instances: u32,
})
export type HostSaturationEvent = z.output<typeof hostSaturationEvent>

/** Reasons and their counts, as a host reports them (labelled by the collector; bounded here). */
const countsByReason = z.record(str.max(64), u32).refine((o) => Object.keys(o).length <= 64, 'more than 64 reasons')

/**
 * What one host process did for one model version over one interval: its
 * batches (with queue wait and execution time as latency sketches, in
 * milliseconds, DDSketch's protobuf in base64, decoded here), and the
 * requests it served with a fallback or refused, by reason. Every batch and
 * fallback is counted in exactly one record, its story or not.
 */
const hostStatsEvent = z
  .object({
    v: z.literal(HOST_STATS_VERSION),
    kind: z.literal('host_stats'),
    /** The end of the interval. */
    ts: timestamp,
    interval_ms: z.number().int().min(0).max(MAX_STATS_INTERVAL_MS),
    host: str,
    model: str,
    version: str,
    device: str,
    batches: u32,
    failed_batches: u32,
    rows: u32,
    /** rows / max_batch_rows added up over the batches that said their maximum (fill_count of them). */
    fill_sum: z.number().nonnegative(),
    fill_count: u32,
    queue_wait_ms_sum: z.number().nonnegative(),
    execution_ms_sum: z.number().nonnegative(),
    max_queue_depth: u32,
    queue_wait_ms: z.string().max(MAX_LATENCY_SKETCH_CHARS),
    execution_ms: z.string().max(MAX_LATENCY_SKETCH_CHARS),
    fallbacks: countsByReason,
    refusals: countsByReason,
  })
  .superRefine((e, ctx) => {
    if (e.failed_batches > e.batches)
      ctx.addIssue({ code: 'custom', path: ['failed_batches'], message: `more than the ${e.batches} batches` })
    if (e.fill_count > e.batches)
      ctx.addIssue({ code: 'custom', path: ['fill_count'], message: `more than the ${e.batches} batches` })
    if (e.fill_sum > e.fill_count)
      ctx.addIssue({ code: 'custom', path: ['fill_sum'], message: 'a batch fuller than full' })
    for (const field of ['queue_wait_ms_sum', 'execution_ms_sum'] as const)
      if (e[field] > e.batches * EVENT_LIMITS.durationMs)
        ctx.addIssue({ code: 'custom', path: [field], message: 'more than a day per batch' })
  })
  .transform((e, ctx) => {
    const queueWait = sketchField(ctx, 'queue_wait_ms', e.queue_wait_ms, e.batches)
    const execution = queueWait && sketchField(ctx, 'execution_ms', e.execution_ms, e.batches)
    if (!queueWait || !execution) return z.NEVER
    return { ...e, queue_wait_ms: queueWait, execution_ms: execution }
  })
export type HostStatsEvent = z.output<typeof hostStatsEvent>

export type HostEvent = HostBatchEvent | HostFallbackEvent | HostSaturationEvent | HostStatsEvent
export type TelemetryEvent = GoldenSignalEvent | RequestStatsEvent | PayloadSampleEvent | ReviewItemEvent | HostEvent
export type EventKind = TelemetryEvent['kind']

/**
 * Version 1 of the host events: the host's in-process shape before events
 * left the process (camelCase, no `v`, no timestamp or host). Upgraded on
 * decode with what it lacks left empty.
 */
const hostBatchEventV1 = z.object({
  kind: z.literal('batch'),
  model: str,
  version: str,
  batchId: str,
  requestIds: z.array(str).max(EVENT_LIMITS.batchRequests),
  rows: u32,
  queueWaitMs: ms,
  executionMs: ms,
  queueDepth: u32,
  device: str,
  ok: z.boolean(),
})
const hostFallbackEventV1 = z.object({
  kind: z.literal('fallback'),
  model: str,
  version: str,
  fallbackModel: str.nullable(),
  requestId: str,
  reason: str,
})

function upgradeHostV1(e: unknown, receivedAt: number): HostEvent | z.ZodError {
  const kind = (e as { kind?: unknown }).kind
  if (kind === 'batch') {
    const r = hostBatchEventV1.safeParse(e)
    if (!r.success) return r.error
    const b = r.data
    return {
      v: HOST_EVENT_VERSION,
      kind: 'host_batch',
      ts: receivedAt,
      host: '',
      model: b.model,
      version: b.version,
      batch_id: b.batchId,
      request_ids: b.requestIds,
      traceparents: b.requestIds.map(() => ''),
      rows: b.rows,
      max_batch_rows: 0,
      queue_wait_ms: b.queueWaitMs,
      execution_ms: b.executionMs,
      queue_depth: b.queueDepth,
      device: b.device,
      ok: b.ok,
      kept: ['every_event'],
    }
  }
  const r = hostFallbackEventV1.safeParse(e)
  if (!r.success) return r.error
  const f = r.data
  return {
    v: HOST_EVENT_VERSION,
    kind: 'host_fallback',
    ts: receivedAt,
    host: '',
    model: f.model,
    version: f.version,
    request_id: f.requestId,
    traceparent: '',
    fallback_model: f.fallbackModel,
    reason: f.reason,
    kept: ['every_event'],
  }
}

/** Version 2 of the host events: this version's fields, less `kept` (an event for every batch and fallback). */
const HOST_EVENTS_V2 = {
  host_batch: hostBatchEvent.omit({ kept: true }).extend({ v: z.literal(2) }),
  host_fallback: hostFallbackEvent.omit({ kept: true }).extend({ v: z.literal(2) }),
  host_saturation: hostSaturationEvent.extend({ v: z.literal(2) }),
} as const

/** A version 2 host event as this version's: the batch or fallback counts itself (`every_event`). */
function upgradeHostV2(kind: keyof typeof HOST_EVENTS_V2, value: unknown): HostEvent | z.ZodError {
  const r = HOST_EVENTS_V2[kind].safeParse(value)
  if (!r.success) return r.error
  return r.data.kind === 'host_saturation'
    ? { ...r.data, v: HOST_EVENT_VERSION }
    : ({ ...r.data, v: HOST_EVENT_VERSION, kept: ['every_event'] } as HostEvent)
}

const CURRENT = {
  request: { version: GOLDEN_SIGNAL_EVENT_VERSION, schema: goldenSignalEvent },
  request_stats: { version: REQUEST_STATS_VERSION, schema: requestStatsEvent },
  sample: { version: PAYLOAD_SAMPLE_EVENT_VERSION, schema: payloadSampleEvent },
  review: { version: REVIEW_ITEM_EVENT_VERSION, schema: reviewItemEvent },
  host_batch: { version: HOST_EVENT_VERSION, schema: hostBatchEvent },
  host_fallback: { version: HOST_EVENT_VERSION, schema: hostFallbackEvent },
  host_saturation: { version: HOST_EVENT_VERSION, schema: hostSaturationEvent },
  host_stats: { version: HOST_STATS_VERSION, schema: hostStatsEvent },
} as const satisfies Record<EventKind, { version: number; schema: z.ZodType }>

/** Why an event was refused: counted by reason, never thrown. */
export type RefusalReason = 'malformed' | 'unknown_kind' | 'unknown_version' | 'invalid'

export type Decoded = { ok: true; event: TelemetryEvent } | { ok: false; reason: RefusalReason; detail: string }

/**
 * Checks one parsed JSON value against the schemas: the current version of
 * its kind, or the previous one (upgraded). `receivedAt` stands in for the
 * timestamp a previous version lacked.
 */
export function decodeEvent(value: unknown, receivedAt = Date.now()): Decoded {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, reason: 'malformed', detail: 'not a JSON object' }
  const { kind, v } = value as { kind?: unknown; v?: unknown }
  if ((kind === 'batch' || kind === 'fallback') && v === undefined) {
    const e = upgradeHostV1(value, receivedAt)
    return e instanceof z.ZodError ? refusal(e) : { ok: true, event: e }
  }
  if (v === 2 && typeof kind === 'string' && Object.hasOwn(HOST_EVENTS_V2, kind)) {
    const e = upgradeHostV2(kind as keyof typeof HOST_EVENTS_V2, value)
    return e instanceof z.ZodError ? refusal(e) : checkedTime(e, receivedAt)
  }
  if (kind === 'request' && v === 1) {
    const r = goldenSignalEventV1.safeParse(value)
    if (!r.success) return refusal(r.error)
    return checkedTime({ ...r.data, v: GOLDEN_SIGNAL_EVENT_VERSION, kept: ['every_request'] }, receivedAt)
  }
  const current = typeof kind === 'string' && Object.hasOwn(CURRENT, kind) ? CURRENT[kind as EventKind] : undefined
  if (!current) return { ok: false, reason: 'unknown_kind', detail: `kind: ${JSON.stringify(kind)}` }
  if (v !== current.version)
    return {
      ok: false,
      reason: 'unknown_version',
      detail: `${kind} v: ${JSON.stringify(v)} (this reader knows ${current.version})`,
    }
  const r = current.schema.safeParse(value)
  if (!r.success) return refusal(r.error)
  return checkedTime(r.data as TelemetryEvent, receivedAt)
}

/** `e`, unless stamped further ahead of the reader's clock than MAX_CLOCK_SKEW_MS. */
function checkedTime(e: TelemetryEvent, receivedAt: number): Decoded {
  if (e.ts > receivedAt + MAX_CLOCK_SKEW_MS)
    return {
      ok: false,
      reason: 'invalid',
      detail: `ts: ${e.ts} is more than ${MAX_CLOCK_SKEW_MS / 1000} s ahead of this reader's clock`,
    }
  return { ok: true, event: e }
}

function refusal(e: z.ZodError): Decoded {
  const first = e.issues[0]!
  return { ok: false, reason: 'invalid', detail: `${first.path.join('.') || '(event)'}: ${first.message}` }
}

/** One event as a line of NDJSON (no newline): what `decodeLine` reads back, its sketches as base64 text again. */
export function encodeEvent(e: TelemetryEvent): string {
  if (e.kind === 'request_stats') {
    const { latency, ...rest } = e
    return JSON.stringify({ ...rest, latency_ms: encodeLatencySketch(latency) })
  }
  if (e.kind === 'host_stats')
    return JSON.stringify({
      ...e,
      queue_wait_ms: encodeLatencySketch(e.queue_wait_ms),
      execution_ms: encodeLatencySketch(e.execution_ms),
    })
  return JSON.stringify(e)
}

/** Decodes one NDJSON line; never throws. */
export function decodeLine(line: string, receivedAt = Date.now()): Decoded {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return { ok: false, reason: 'malformed', detail: 'not JSON' }
  }
  return decodeEvent(value, receivedAt)
}

/**
 * Envoy's response flags (StreamInfo::CoreResponseFlag), by bit, with the
 * short names Envoy's access logs use. The golden-signal event carries the
 * bitmask; consumers name the flags with this table.
 */
export const ENVOY_RESPONSE_FLAGS: readonly string[] = [
  'LH',
  'UH',
  'UT',
  'LR',
  'UR',
  'UF',
  'UC',
  'UO',
  'NR',
  'DI',
  'FI',
  'RL',
  'UAEX',
  'RLSE',
  'DC',
  'URX',
  'SI',
  'IH',
  'DPE',
  'UMSDR',
  'RFCF',
  'NFCF',
  'DT',
  'UPE',
  'NC',
  'OM',
  'DF',
  'DO',
  'DR',
  'UDO',
]

/** The short names of the flags set in a bitmask, in bit order. */
export function responseFlagNames(flags: number): string[] {
  const names: string[] = []
  for (let bit = 0; bit < ENVOY_RESPONSE_FLAGS.length; bit++)
    if (flags & (1 << bit)) names.push(ENVOY_RESPONSE_FLAGS[bit]!)
  return names
}
