/**
 * @module
 * HTTP header names shared by every component of the mesh. Import them from
 * here; never spell them again elsewhere.
 */

/** Correlation id of one request everywhere (Envoy generates it). */
export const REQUEST_ID = 'x-request-id'
/** W3C trace context, passed through untouched. */
export const TRACEPARENT = 'traceparent'
/** `stable` or `canary`, set by the canary router. */
export const MESH_VARIANT = 'x-mesh-variant'
/** On a request: the version the canary router chose. On a response: the version that answered. */
export const MODEL_VERSION = 'x-model-version'
/** On a response: the model that answered (differs from the requested one when a fallback served). */
export const MODEL_NAME = 'x-model-name'
/** On a response: `true` when a fallback model served it, else `false`. */
export const MODEL_FALLBACK = 'x-model-fallback'
/** On a classifier's response: the top-class probability (the least confident row's, for a batch). */
export const MODEL_CONFIDENCE = 'x-model-confidence'
/** Envoy's time budget for the request, in ms: the host's deadline. */
export const ENVOY_EXPECTED_TIMEOUT_MS = 'x-envoy-expected-rq-timeout-ms'
/** On a request: `1` asks the mesh to keep the request's story, where its route allows it (`trace_header`). */
export const MESH_TRACE = 'x-mesh-trace'
