/**
 * @module
 * What the collector does with one delivery, for tests that fill a store
 * without NATS: load the stored minutes late events need, apply, commit.
 */
import type { TelemetryEvent } from '@model-mesh/contracts'
import type { Aggregator } from '../state/aggregator.ts'
import type { Store } from '../store/store.ts'

export async function applyAndCommit(
  store: Store,
  agg: Aggregator,
  events: TelemetryEvent[],
  now: number,
): Promise<void> {
  const missing = agg.missingMinutes(events)
  for (const e of await store.signals.loadMinutes(missing.requests)) agg.restoreMinute(e)
  for (const e of await store.signals.loadHostMinutes(missing.hosts)) agg.restoreHostMinute(e)
  for (const e of events) agg.apply(e)
  await store.commit(agg.takeChanges(now), new Map())
}
