// @vitest-environment node
// The simulation's share of `npm run mutate` (test/vitest.mutate.config.ts): the first 250 of the
// seeds `npm test` runs (test/sim/seeds-1.test.ts), a few seconds per mutant that reaches the
// cross-tab code. Named .sim.ts so that `npm test` does not run these seeds twice.
import { simulateSeeds } from './seeds.js'

simulateSeeds(1, 250)
