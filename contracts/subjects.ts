/**
 * @module
 * NATS subjects and JetStream streams of the telemetry pipeline: the
 * contract between the telemetry agent (the one publisher on a node) and
 * the collectors (the consumers). Each message carries one or more events
 * of one kind for one model, as NDJSON (see WIRE_CONTENT_TYPE).
 */
import type { EventKind } from './events.ts'

/** What a message's payload is: newline-delimited JSON events (contracts/events.ts). */
export const WIRE_CONTENT_TYPE = 'application/x-ndjson'
/**
 * NATS header saying how the payload is compressed: `deflate` (raw DEFLATE,
 * RFC 1951) or absent (plain NDJSON). The agent compresses every message:
 * about 6x fewer bytes kept for 30 days, for about 1.5 µs per event on each
 * side (bench/encoding.bench.ts).
 */
export const ENCODING_HEADER = 'Content-Encoding'
export const DEFLATE = 'deflate'
/**
 * The most bytes a message's payload may inflate to; a reader stops there
 * (a few KB of deflated zeros would otherwise inflate to gigabytes). The
 * agent cuts messages at maxMessageChars (256 Ki characters, under 1 MiB
 * of UTF-8) and sends a longer event alone; an event is at most the
 * agent's 16 MiB body cap, so no message it publishes inflates past this.
 */
export const MAX_INFLATED_MESSAGE_BYTES = 16 << 20
/** NATS header naming the producer of a message, `<agent id>` (the message id says the rest). */
export const SOURCE_HEADER = 'Mesh-Source'

/** JetStream's header with a message's id (the agent sets it through `msgID`). */
export const MESSAGE_ID_HEADER = 'Nats-Msg-Id'

/**
 * The id an agent publishes each message with: `<agent id>.<boot>.<batch>`,
 * the batch counting up from 1 within one start of the agent, in the order
 * it publishes (oldest first, one at a time). JetStream drops a repeat
 * within its duplicate window; past it, the collector drops one by the
 * highest batch it applied of that agent's start, stored with its state.
 */
export const messageId = (agent: string, boot: string, batch: number) => `${agent}.${boot}.${batch}`

/** The agent start (`<agent id>.<boot>`) and batch a message id names; undefined for any other id. */
export function batchOf(id: string | undefined): { source: string; batch: number } | undefined {
  if (!id || id.length > 256) return undefined
  const m = /^(.+\.[0-9a-z]+)\.([1-9]\d{0,15})$/.exec(id)
  if (!m) return undefined
  const batch = Number(m[2])
  return Number.isSafeInteger(batch) ? { source: m[1]!, batch } : undefined
}
/** NATS header with the number of events in a message. */
export const EVENT_COUNT_HEADER = 'Mesh-Events'

/** The subject token of events whose model the mesh config does not name (a client's typo in a URL, say). */
export const OTHER_MODEL_TOKEN = '_other'

/**
 * A model name as one subject token. Names mesh.yaml allows
 * (`[A-Za-z0-9][A-Za-z0-9_.-]*`) keep every character but ".", which
 * separates tokens; it and anything else outside `[A-Za-z0-9_-]` become
 * `~` and the UTF-8 bytes in hex (a lone surrogate, which has no UTF-8:
 * `~u` and its code unit in hex), so distinct names stay distinct.
 */
export function subjectToken(model: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(model)) return model
  const utf8 = new TextEncoder()
  let out = ''
  for (const ch of model) {
    const cp = ch.codePointAt(0)!
    // A lone surrogate has no UTF-8 (TextEncoder would make each one U+FFFD): `~u` and its 4 hex digits.
    if (cp >= 0xd800 && cp <= 0xdfff) {
      out += `~u${cp.toString(16)}`
      continue
    }
    for (const byte of utf8.encode(ch)) {
      const c = String.fromCharCode(byte)
      out += /[A-Za-z0-9_-]/.test(c) ? c : `~${byte.toString(16).padStart(2, '0')}`
    }
  }
  // "" stands for the empty name: no other name encodes to it.
  return out === '' ? '~' : out
}

export type StreamKey = 'requests' | 'payloads' | 'host' | 'review'

export interface StreamSpec {
  key: StreamKey
  /** The JetStream stream's name. */
  name: string
  /** Subjects are `<prefix>.<model token>`. */
  prefix: string
  /** Default retention: how long messages are kept. */
  maxAgeDays: number
  /** `workqueue` streams keep a message until a consumer acknowledges it. */
  retention: 'limits' | 'workqueue'
}

export const STREAMS: Record<StreamKey, StreamSpec> = {
  requests: { key: 'requests', name: 'MESH_REQUESTS', prefix: 'mesh.requests', maxAgeDays: 30, retention: 'limits' },
  payloads: { key: 'payloads', name: 'MESH_PAYLOADS', prefix: 'mesh.payloads', maxAgeDays: 14, retention: 'limits' },
  host: { key: 'host', name: 'MESH_HOST', prefix: 'mesh.host', maxAgeDays: 30, retention: 'limits' },
  review: { key: 'review', name: 'MESH_REVIEW', prefix: 'mesh.review', maxAgeDays: 30, retention: 'workqueue' },
}

/** Which stream each kind of event is published to. */
export const STREAM_OF_KIND: Record<EventKind, StreamKey> = {
  request: 'requests',
  request_stats: 'requests',
  sample: 'payloads',
  review: 'review',
  host_batch: 'host',
  host_fallback: 'host',
  host_saturation: 'host',
  host_stats: 'host',
}

export function subjectOf(stream: StreamKey, modelToken: string): string {
  return `${STREAMS[stream].prefix}.${modelToken}`
}

/** The model token of a subject of one of the streams, or undefined. */
export function tokenOfSubject(subject: string): string | undefined {
  const dot = subject.lastIndexOf('.')
  return dot < 0 ? undefined : subject.slice(dot + 1)
}

/** Where the telemetry agent takes NDJSON event batches over loopback (Envoy's exporter and the model hosts). */
export const AGENT_EVENTS_PATH = '/v1/events'
/** HTTP header naming who posted a batch to the agent (`envoy:<service>`, `host:<name>`). */
export const AGENT_SOURCE_HEADER = 'x-mesh-source'
/** HTTP header with the number of events in a posted batch (the Wasm exporter writes it too: it cannot import this). */
export const AGENT_EVENT_COUNT_HEADER = 'x-event-count'

/** The event count a header claims (Mesh-Events, x-event-count), when it is a sane one; else 1. */
export function eventCount(header: string | string[] | undefined): number {
  const n = Number(header)
  return Number.isSafeInteger(n) && n > 0 && n <= 1_000_000 ? n : 1
}
