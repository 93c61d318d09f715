/**
 * @module
 * How many instances each autoscaled host runs now, locally: the
 * supervisor's autoscaler writes it under the state directory and every
 * render of the local mesh reads it, so an operator's `mesh apply` while a
 * pool is scaled keeps Envoy sending to every running instance. Beside it,
 * what `mesh status` shows of the autoscaler: each pool's replicas,
 * signal, target and last decision with its reason.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { OWNER_ONLY_FILE } from '@model-mesh/contracts'
import type { MeshConfig } from './schema.ts'
import { writeAtomic } from './state.ts'

export const replicasFile = (stateDir: string) => join(stateDir, 'replicas.json')
export const autoscaleStatusFile = (stateDir: string) => join(stateDir, 'autoscale.json')

/** One decision of the autoscaler. */
export interface ScaleDecision {
  /** ms since the epoch. */
  at: number
  from: number
  to: number
  reason: string
}

/** What `mesh status` shows of one autoscaled pool. */
export interface PoolStatus {
  host: string
  replicas: number
  min: number
  max: number
  signal: 'queue_wait' | 'pending'
  target: number
  /** The signal's last reading (ms for queue_wait, requests per replica for pending); null before the first. */
  value: number | null
  last: ScaleDecision | null
}

/** The replica counts written by the autoscaler; {} when none (or the file is unreadable: mesh.yaml's counts then). */
export function currentReplicas(stateDir: string): Record<string, number> {
  try {
    const parsed = JSON.parse(readFileSync(replicasFile(stateDir), 'utf8')) as unknown
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {}
    return Object.fromEntries(
      Object.entries(parsed).filter(([, n]) => typeof n === 'number' && Number.isInteger(n) && n > 0),
    ) as Record<string, number>
  } catch {
    return {}
  }
}

/** `config` with each autoscaled host at its current count, within its policy's bounds. */
export function withReplicas(config: MeshConfig, replicas: Record<string, number>): MeshConfig {
  if (Object.keys(replicas).length === 0) return config
  return {
    ...config,
    hosts: config.hosts.map((h) => {
      const n = replicas[h.name]
      if (!h.autoscale || n === undefined) return h
      return { ...h, instances: Math.min(h.autoscale.max, Math.max(h.autoscale.min, n)) }
    }),
  }
}

export async function writeReplicas(stateDir: string, replicas: Record<string, number>): Promise<void> {
  await writeAtomic(replicasFile(stateDir), `${JSON.stringify(replicas)}\n`, OWNER_ONLY_FILE)
}

export async function writeAutoscaleStatus(stateDir: string, pools: PoolStatus[]): Promise<void> {
  await writeAtomic(autoscaleStatusFile(stateDir), `${JSON.stringify({ pools })}\n`, OWNER_ONLY_FILE)
}

/** What the autoscaler last wrote; [] when it is not running here. */
export function readAutoscaleStatus(stateDir: string): PoolStatus[] {
  try {
    const parsed = JSON.parse(readFileSync(autoscaleStatusFile(stateDir), 'utf8')) as { pools?: PoolStatus[] }
    return Array.isArray(parsed.pools) ? parsed.pools : []
  } catch {
    return []
  }
}
