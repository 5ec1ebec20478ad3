/**
 * The vitest configuration of `npm run sim` (test/sim/cli.mjs): only the simulator's worker, in
 * Node, without the package build that `npm test` runs first. Aliases and setup files as in
 * test/vitest.config.ts, but the SDK may be a copy of src/ named by `SIM_SDK` (sdk-source.ts).
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import { sdkSource } from './sdk-source.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

export default defineConfig({
  root,
  resolve: {
    alias: {
      'freshtoken/testing': `${sdkSource()}/testing/index.ts`,
      freshtoken: `${sdkSource()}/index.ts`,
      // The SDK's chunks, which sdk-setup.ts loads up front.
      'sim-sdk': sdkSource(),
    },
  },
  test: {
    include: ['test/sim/worker.sim.ts'],
    setupFiles: ['test/mocks/tabs-setup.ts', 'test/sim/sdk-setup.ts'],
    environment: 'node',
    testTimeout: 0,
    reporters: ['dot'],
  },
})
