// @vitest-environment node
// Seeds 2501-5000 of the simulation (test/sim/README.md): four files, so vitest runs them in parallel.
import { simulateSeeds } from './seeds.js'

simulateSeeds(2501, 2_500)
