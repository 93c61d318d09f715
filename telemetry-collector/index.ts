/**
 * @module
 * The telemetry collector's front door for the benches and the cross-component
 * tests: the streams and consumers it reads, its settings from mesh.yaml's
 * stream limits, and the shapes its JSON API answers with. The collector
 * starts through `@model-mesh/telemetry-collector/cli`, or in process with
 * `startCollector` (a test that wires its own Envoys and agents to it).
 */
export { ms } from './dashboard/app/format.ts'
export type { WalkEvent } from './analysis/canary-walk.ts'
export type { VersionDrift } from './analysis/drift-monitor.ts'
export { startCollector } from './collector.ts'
export type { RunningCollector } from './collector.ts'
export { CONSUMED_STREAMS, consumerSpecs } from './ingest/consumers.ts'
export { streamLimitsOf } from './settings.ts'
export type { SeriesSummary } from './state/windows.ts'
