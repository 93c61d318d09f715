/**
 * @module
 * The dashboard's time ranges, shared by the server (which rollups to read)
 * and the page (the picker). Steps are the rollup API's.
 */
export const RANGES = {
  '5m': { label: '5 minutes', ms: 5 * 60_000, step: '1m', cacheMs: 2_000 },
  '1h': { label: '1 hour', ms: 3_600_000, step: '1m', cacheMs: 5_000 },
  '24h': { label: '24 hours', ms: 86_400_000, step: '5m', cacheMs: 30_000 },
  '30d': { label: '30 days', ms: 30 * 86_400_000, step: '1h', cacheMs: 300_000 },
} as const

export type RangeName = keyof typeof RANGES

export const DEFAULT_RANGE: RangeName = '1h'

export const isRange = (v: unknown): v is RangeName => typeof v === 'string' && Object.hasOwn(RANGES, v)
