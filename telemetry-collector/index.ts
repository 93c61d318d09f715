/**
 * @module
 * The telemetry collector's front door for the benches and the cross-component
 * tests: the streams and consumers it reads, the headers the agent publishes
 * with, and the shapes its JSON API answers with. The agent and the collector
 * start through `@model-mesh/telemetry-collector/cli`.
 */
export { messageHeaders } from './agent/publisher.ts'
export { ms } from './dashboard/app/format.ts'
export type { WalkEvent } from './src/canary-walk.ts'
export type { VersionDrift } from './src/drift-monitor.ts'
export { CONSUMED_STREAMS, consumerSpecs } from './src/ingest.ts'
export { streamLimitsOf } from './src/mesh-settings.ts'
export { ensureStreams } from './src/streams.ts'
export type { StreamLimits } from './src/streams.ts'
export type { SeriesSummary } from './src/windows.ts'
