/**
 * The autoscaling policy's decisions (HorizontalPodAutoscaler's rule, which
 * KEDA applies to the same policy on Kubernetes): what a signal asks for,
 * and when a window has run long enough to act on it.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AutoscalePolicy,
  desiredReplicas,
  NO_WINDOWS,
  scaleReason,
  scaleStep,
  type ScaleWindows,
} from '../src/autoscale-policy.ts'

const policy: AutoscalePolicy = {
  min: 1,
  max: 4,
  signal: 'queue_wait',
  target: 50,
  up_window_s: 10,
  down_window_s: 60,
}

describe('desiredReplicas', () => {
  it('asks for ceil(replicas × signal / target), within the bounds, and nothing within 10% of target', () => {
    expect(desiredReplicas(policy, 1, 100)).toBe(2)
    expect(desiredReplicas(policy, 2, 80)).toBe(4)
    expect(desiredReplicas(policy, 2, 1000)).toBe(4)
    expect(desiredReplicas(policy, 3, 10)).toBe(1)
    expect(desiredReplicas(policy, 3, 0)).toBe(1)
    expect(desiredReplicas(policy, 2, 54)).toBe(2)
    expect(desiredReplicas(policy, 2, 46)).toBe(2)
  })

  it('never leaves the bounds (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.double({ min: 0, max: 1e6, noNaN: true }), (replicas, value) => {
        const d = desiredReplicas(policy, replicas, value)
        expect(d).toBeGreaterThanOrEqual(policy.min)
        expect(d).toBeLessThanOrEqual(policy.max)
      }),
    )
  })
})

describe('scaleStep', () => {
  /** Feeds `desired` every second from `from` to `to` (seconds); the first change it makes, with when. */
  const run = (replicas: number, desired: (t: number) => number, seconds: number) => {
    let w: ScaleWindows = NO_WINDOWS
    for (let t = 0; t <= seconds; t++) {
      const r = scaleStep(policy, w, replicas, desired(t), t * 1000)
      w = r.windows
      if (r.to !== null) return { at: t, to: r.to }
    }
    return null
  }

  it('adds one replica once the signal has asked for more through the whole up window', () => {
    expect(run(1, () => 3, 30)).toEqual({ at: 10, to: 2 })
  })

  it('starts the window again when the signal stops asking', () => {
    // Over for 8 s, a second at target, then over again: 10 s from the new start.
    expect(run(1, (t) => (t === 8 ? 1 : 3), 40)).toEqual({ at: 19, to: 2 })
  })

  it('removes one replica once the signal has asked for fewer through the whole down window', () => {
    expect(run(3, () => 1, 100)).toEqual({ at: 60, to: 2 })
  })

  it('stays within the bounds whatever the signal asks', () => {
    expect(run(4, () => 8, 100)).toBeNull()
    expect(run(1, () => 0, 100)).toBeNull()
  })

  it('says why, with the reading and the window', () => {
    expect(scaleReason(policy, 87.25, 1, 2)).toBe('queue wait 87.3 ms against a target of 50 ms, over it for 10 s')
    expect(scaleReason({ ...policy, signal: 'pending', target: 8 }, 1, 3, 2)).toBe(
      '1.0 requests pending per replica against a target of 8, under it for 60 s',
    )
  })
})
