/**
 * How Envoy treats a filter's own failure, and the policy the mesh takes.
 * The mesh runs every filter with failure_policy FAIL_OPEN. When a VM traps,
 * Envoy fails the one request that was in it (503) and from then on skips
 * the broken VM on that worker, so everything after passes. Hence the
 * filters are written not to trap at all (no throws; errors are values) and
 * fail open in their own logic. A configuration a filter refuses still stops
 * Envoy from starting with it, FAIL_OPEN or not: bad config is caught at
 * load, never by silently running without the filter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  EnvoyExitError,
  httpListener,
  startEnvoy,
  staticCluster,
  wasmHttpFilter,
  type RunningEnvoy,
} from '@model-mesh/testkit/envoy'
import { startUpstream, type Upstream } from '@model-mesh/testkit/upstream'
import { wasmPath } from './modules.ts'
import { MESH_FILTER, meshFilterWasm } from './mesh-filter/config.ts'

describe('failure policy in Envoy', () => {
  let upstream: Upstream
  let envoy: RunningEnvoy
  beforeAll(async () => {
    upstream = await startUpstream('stable')
    const route = [{ match: { prefix: '/' }, route: { cluster: 'stable' } }]
    envoy = await startEnvoy(
      {
        static_resources: {
          listeners: [
            httpListener('open', route, [
              wasmHttpFilter('trap-open', wasmPath('fixture-trap'), {}, { failurePolicy: 'FAIL_OPEN' }),
            ]),
            httpListener('closed', route, [
              wasmHttpFilter('trap-closed', wasmPath('fixture-trap'), {}, { failurePolicy: 'FAIL_CLOSED' }),
            ]),
          ],
          clusters: [staticCluster('stable', upstream.port)],
        },
        // One worker, so one VM: which request traps does not depend on which worker each connection lands on
        // (with two, a connection opened late could meet the second worker's VM for the first time).
      },
      { concurrency: 1 },
    )
  })
  afterAll(async () => {
    await envoy?.stop()
    await upstream?.close()
  })

  it('FAIL_OPEN: after the request that trapped, requests pass the broken filter', async () => {
    const before = upstream.requests
    const statuses: number[] = []
    for (let i = 0; i < 20; i++)
      statuses.push(
        await fetch(`${envoy.listenerUrl('open')}/v2/models/m/infer`, { method: 'POST', body: '{}' }).then(
          (r) => r.status,
        ),
      )
    // Only the request that was inside the VM when it trapped fails.
    expect(statuses[0]).not.toBe(200)
    expect(statuses.slice(1).every((s) => s === 200)).toBe(true)
    expect(upstream.requests - before).toBe(statuses.filter((s) => s === 200).length)
    expect(envoy.logs()).toContain('proxy_on_request_headers failed: Uncaught RuntimeError: unreachable')
  })

  it('FAIL_CLOSED (not what the mesh renders): the broken filter fails every request', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 6; i++)
      statuses.push(
        await fetch(`${envoy.listenerUrl('closed')}/v2/models/m/infer`, { method: 'POST', body: '{}' }).then(
          (r) => r.status,
        ),
      )
    expect(statuses.every((s) => s >= 500)).toBe(true)
  })

  it('FAIL_OPEN still refuses to start with a configuration the filter rejects', async () => {
    const bad = wasmHttpFilter(
      MESH_FILTER,
      meshFilterWasm(),
      { canary: { routes: [] } },
      { failurePolicy: 'FAIL_OPEN' },
    )
    const err = await startEnvoy({
      static_resources: {
        listeners: [httpListener('gw', [{ match: { prefix: '/' }, route: { cluster: 'stable' } }], [bad])],
        clusters: [staticCluster('stable', upstream.port)],
      },
    }).then(
      async (e) => {
        await e.stop()
        return undefined
      },
      (e) => e,
    )
    expect(err).toBeInstanceOf(EnvoyExitError)
    expect(err.output).toContain('mesh-filter: invalid configuration: canary.routes: required, a non-empty array')
  })
})
