import { defineConfig } from 'vitest/config'

/**
 * Tests that measure the machine's time: a whole multi-node mesh (20
 * processes) under load, a pool scaled under a load step, a host's first
 * request against its steady state. Alone, after the rest, one file at a time.
 */
const NODE_MESH = ['test/multi-node.test.ts', 'test/autoscale.test.ts', 'model-host/test/warm-up.test.ts']

export default defineConfig({
  test: {
    exclude: ['node_modules/**', 'models/**', '.local/**'],
    // Integration tests spawn real host processes; two cores are shared with them.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    globalSetup: ['test/global-setup.ts'],
    projects: [
      // Timing-sensitive tests (batching, canary latency) never share the machine with a three-node mesh.
      {
        extends: true,
        test: {
          name: 'components',
          include: ['**/*.test.ts'],
          exclude: [...NODE_MESH, 'node_modules/**', 'models/**', '.local/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'nodes', include: NODE_MESH, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
})
