/**
 * @module
 * The contracts' front door: every value and type more than one component
 * reads (headers, event schemas, subjects, the streams and how JetStream's
 * errors read, alert thresholds, credentials, the logger, the mesh's
 * configuration as it travels to the nodes and how a node's Envoy takes it). Components
 * import `@model-mesh/contracts`, never a file of this folder.
 */
export { AgentSettingsError, agentSettingsSchema, parseAgentSettings, readAgentSettings } from './agent-settings.ts'
export type { AgentSettings } from './agent-settings.ts'
export { AGENT_STATUS_PATH, agentStatus } from './agent-status.ts'
export { metricSum } from './prometheus-text.ts'
export type { AgentStatus, ConfigSyncStatus } from './agent-status.ts'
export {
  ALERT_NAMES,
  BURN_ALERT_NAMES,
  BURN_ALERTS,
  burnThreshold,
  FAILED_CODE_CLASSES,
  TELEMETRY_LAG_MESSAGES,
  TELEMETRY_STALE_S,
} from './alert-thresholds.ts'
export type { BurnAlert } from './alert-thresholds.ts'
export { readIfExists, writeAtomic } from './atomic-file.ts'
export { HostCounts } from './host-counts.ts'
export type { BatchCounted, FallbackCounted } from './host-counts.ts'
export {
  COLLECTOR_BUCKET,
  encodeLease,
  LEASE_RENEW_MS,
  LEASE_TTL_MS,
  leaseKey,
  leaseSchema,
  parseLease,
} from './collector-shares.ts'
export type { Lease } from './collector-shares.ts'
export { baselineSchema, binOf, distributionOf, featureBaselineSchema } from './baseline.ts'
export type { Baseline, Distribution, FeatureBaseline } from './baseline.ts'
export {
  bearerMatches,
  CredentialError,
  ensureToken,
  OWNER_ONLY_FILE,
  ownerOnlyDir,
  readToken,
  tokenFromFile,
} from './credentials.ts'
export {
  decodeEvent,
  decodeLine,
  encodeEvent,
  ENVOY_RESPONSE_FLAGS,
  FALLBACK_REASONS,
  codeClass,
  CODE_CLASSES,
  GOLDEN_SIGNAL_EVENT_VERSION,
  HOST_EVENT_VERSION,
  HOST_KEPT_REASONS,
  HOST_STATS_VERSION,
  KEPT_REASONS,
  REQUEST_STATS_VERSION,
  MAX_CLOCK_SKEW_MS,
  PAYLOAD_SAMPLE_EVENT_VERSION,
  responseFlagNames,
  REVIEW_ITEM_EVENT_VERSION,
} from './events.ts'
export type {
  CodeClass,
  Decoded,
  EventKind,
  FallbackReason,
  GoldenSignalEvent,
  HostBatchEvent,
  HostEvent,
  HostFallbackEvent,
  HostSaturationEvent,
  HostStatsEvent,
  KeptReason,
  PayloadSampleEvent,
  RefusalReason,
  RequestStatsEvent,
  ReviewItemEvent,
  TelemetryEvent,
} from './events.ts'
export {
  decodeLatencySketch,
  encodeLatencySketch,
  LATENCY_SKETCH_ACCURACY,
  MAX_LATENCY_SKETCH_CHARS,
  mergeLatencySketch,
  newLatencySketch,
} from './latency-sketch.ts'
/** The header names as one namespace, for code that reads better as `H.REQUEST_ID`. */
export * as headers from './headers.ts'
export { createLogger, logTo } from './logger.ts'
export type { Log, Logger } from './logger.ts'
export { adminAt, EnvoyAdmin } from './envoy-admin.ts'
export type { Subscription } from './envoy-admin.ts'
export {
  CONFIG_BUCKET,
  CONFIG_HISTORY,
  CONFIG_KEY,
  encodeMeshRevision,
  MAX_REVISION_BYTES,
  meshRevisionSchema,
  parseMeshRevision,
} from './mesh-revision.ts'
export type { MeshRevision, NodeRevision } from './mesh-revision.ts'
export { isUnpublishable, isWorkQueueTaken, StreamConfigError } from './nats-errors.ts'
export { operatorCheck } from './operator-auth.ts'
export { serveUntilSignalled } from './process.ts'
export { DEFAULT_STREAM_LIMITS, ensureStreams, missingStreams, streamConfig } from './streams.ts'
export type { StreamLimits } from './streams.ts'
export {
  AGENT_EVENT_COUNT_HEADER,
  AGENT_EVENTS_PATH,
  AGENT_SOURCE_HEADER,
  batchOf,
  DEFLATE,
  ENCODING_HEADER,
  EVENT_COUNT_HEADER,
  eventCount,
  MAX_INFLATED_MESSAGE_BYTES,
  MESSAGE_ID_HEADER,
  messageId,
  OTHER_MODEL_TOKEN,
  SOURCE_HEADER,
  STREAM_OF_KIND,
  STREAMS,
  subjectOf,
  subjectToken,
  tokenOfSubject,
  WIRE_CONTENT_TYPE,
} from './subjects.ts'
export type { StreamKey, StreamSpec } from './subjects.ts'
export { TELEMETRY_VM_ID } from './telemetry-exporter.ts'
export { bootstrapText, fileText, swapXdsFiles } from './xds-files.ts'
export type { XdsFile, XdsSwapOptions, XdsSwapResult } from './xds-files.ts'
