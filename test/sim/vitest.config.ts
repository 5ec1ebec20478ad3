/**
 * The vitest configuration of `npm run sim` (test/sim/cli.mjs): only the simulator's worker, in
 * Node, without the package build that `npm test` runs first. Aliases and setup files as in
 * test/vitest.config.ts.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const root = fileURLToPath(new URL('../..', import.meta.url))

export default defineConfig({
  root,
  resolve: {
    alias: {
      'freshtoken/testing': fileURLToPath(new URL('../../src/testing/index.ts', import.meta.url)),
      freshtoken: fileURLToPath(new URL('../../src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['test/sim/worker.sim.ts'],
    setupFiles: ['test/mocks/tabs-setup.ts', 'test/mocks/lazy-chunks-setup.ts'],
    environment: 'node',
    testTimeout: 0,
    reporters: ['dot'],
  },
})
