/**
 * @module
 * The mesh filter's configuration as TypeScript sees it: what mesh-config
 * renders, what the tests and benchmarks write. The module checks it again
 * (assembly/config.ts), refusing unknown fields with their full path.
 */
import { MESH_FILTER, wasmPath } from '../modules.ts'

export { MESH_FILTER }
export const meshFilterWasm = () => wasmPath(MESH_FILTER)

export interface CanaryRouteConfig {
  model: string
  stable_version: string
  canary_version: string
  canary_weight_bp: number
  sticky_header?: string
  missing_key?: 'request_id' | 'stable'
  allow_override?: boolean
  override_header?: string
}

export interface SampleRouteConfig {
  model: string
  sample_rate_bp?: number
  confidence_threshold?: number
}

/** A route's story rules for golden signals (by Envoy's route name, the mesh route's). */
export interface GoldenRouteConfig {
  name: string
  /** Requests slower than this (the route's p99 objective) have their story; 0 or absent: none is slow. */
  slow_ms?: number
  /** Whether a caller's `x-mesh-trace: 1` keeps a request's story. */
  trace_header?: boolean
}

export interface GoldenSignalsConfig {
  service?: string
  models?: string[]
  routes?: GoldenRouteConfig[]
  /** How often each worker sends its request_stats records. */
  stats_interval_ms?: number
  /** Stories each worker sends per stats interval at most (default 1000); past it counted as suppressed. */
  stories_per_interval?: number
  batch_events?: number
  flush_interval_ms?: number
}

export interface MeshFilterConfig {
  /** Where sampling and golden signals hand events to the telemetry exporter (defaults: its VM id and queue). */
  telemetry?: { exporter_vm_id?: string; queue_name?: string; max_pending_events?: number }
  canary?: { routes: CanaryRouteConfig[] }
  sampling?: { routes: SampleRouteConfig[]; max_capture_bytes?: number; pii_fields?: string[] }
  golden_signals?: GoldenSignalsConfig
}
