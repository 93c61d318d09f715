import { describe, expect, it } from 'vitest'
import { HOST_EVENT_VERSION, type HostEvent } from '@model-mesh/contracts'
import { noopEmitter, safeEmitter } from './telemetry.ts'

const event: HostEvent = {
  v: HOST_EVENT_VERSION,
  kind: 'host_fallback',
  ts: 1,
  host: 'h',
  model: 'm',
  version: '1',
  request_id: 'r',
  traceparent: '',
  fallback_model: null,
  reason: 'queue_full',
  kept: ['refused'],
}

describe('host emitter', () => {
  it('never lets an emitter that throws reach the request path, and counts it', () => {
    const guarded = safeEmitter({
      emit() {
        throw new Error('agent down')
      },
    })
    expect(() => guarded.emit(event)).not.toThrow()
    expect(() => guarded.emit(event)).not.toThrow()
    expect(guarded.failures).toBe(2)
  })

  it('passes events through to a well-behaved emitter', () => {
    const seen: HostEvent[] = []
    const guarded = safeEmitter({ emit: (e) => void seen.push(e) })
    guarded.emit(event)
    expect(seen).toEqual([event])
    expect(guarded.failures).toBe(0)
    expect(() => noopEmitter.emit(event)).not.toThrow()
  })
})
