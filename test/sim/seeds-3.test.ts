// @vitest-environment node
// Seeds 5001-7500 of the simulation (test/sim/README.md): four files, so vitest runs them in parallel.
import { simulateSeeds } from './seeds.js'

simulateSeeds(5001, 2_500)
