/**
 * @module
 * One autoscaling policy (mesh.yaml's hosts[].autoscale), decided the way
 * Kubernetes' HorizontalPodAutoscaler decides it for the ScaledObject
 * `render --target kubernetes` makes of the same policy, so a pool scales
 * alike locally and there: the replicas a signal asks for are
 * ceil(replicas × signal / target) within the bounds, nothing changes within
 * 10% of target, and a change is made, one replica at a time, only once
 * the signal has asked for it through the whole window. Pure: the local
 * autoscaler (local-autoscaler.ts) reads the signal and acts.
 */
import type { Host } from './schema.ts'

export type AutoscalePolicy = NonNullable<Host['autoscale']>

/** How far from target the signal may be before it asks for a change (the HPA's default tolerance). */
export const TOLERANCE = 0.1

/** The replicas `value` asks for: per replica for `pending`, the pool's own level for `queue_wait`. */
export function desiredReplicas(policy: AutoscalePolicy, replicas: number, value: number): number {
  const ratio = value / policy.target
  if (Math.abs(ratio - 1) <= TOLERANCE) return replicas
  return Math.min(policy.max, Math.max(policy.min, Math.ceil(replicas * ratio)))
}

/** Since when the signal has asked for more (or fewer) replicas than run, without a break; null when it does not. */
export interface ScaleWindows {
  overSince: number | null
  underSince: number | null
}

export const NO_WINDOWS: ScaleWindows = { overSince: null, underSince: null }

/**
 * One look at a pool: its windows after `desired` was asked at `now`, and
 * the replicas to go to when a window has run its length (one more or one
 * fewer), else null. After a change the caller starts its windows afresh.
 */
export function scaleStep(
  policy: AutoscalePolicy,
  windows: ScaleWindows,
  replicas: number,
  desired: number,
  now: number,
): { windows: ScaleWindows; to: number | null } {
  if (desired > replicas && replicas < policy.max) {
    const overSince = windows.overSince ?? now
    const due = now - overSince >= policy.up_window_s * 1000
    return { windows: { overSince, underSince: null }, to: due ? replicas + 1 : null }
  }
  if (desired < replicas && replicas > policy.min) {
    const underSince = windows.underSince ?? now
    const due = now - underSince >= policy.down_window_s * 1000
    return { windows: { overSince: null, underSince }, to: due ? replicas - 1 : null }
  }
  return { windows: NO_WINDOWS, to: null }
}

/** Why a pool went from `from` to `to`, in words for `mesh status` and the log. */
export function scaleReason(policy: AutoscalePolicy, value: number, from: number, to: number): string {
  const reading =
    policy.signal === 'queue_wait'
      ? `queue wait ${value.toFixed(1)} ms against a target of ${policy.target} ms`
      : `${value.toFixed(1)} requests pending per replica against a target of ${policy.target}`
  return to > from
    ? `${reading}, over it for ${policy.up_window_s} s`
    : `${reading}, under it for ${policy.down_window_s} s`
}
