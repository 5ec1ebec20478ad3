// @vitest-environment node
// Seeds 7501-10000 of the simulation (test/sim/README.md): four files, so vitest runs them in parallel.
import { simulateSeeds } from './seeds.js'

simulateSeeds(7501, 2_500)
