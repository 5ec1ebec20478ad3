// @vitest-environment node
// Seeds 1-2500 of the simulation (test/sim/README.md): four files, so vitest runs them in parallel.
import { simulateSeeds } from './seeds.js'

simulateSeeds(1, 2_500)
