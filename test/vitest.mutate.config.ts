/**
 * The vitest config Stryker runs for every mutant (`npm run mutate`, see stryker.config.mjs): the
 * project's config without its global setup, on the tests that exercise `src/` directly.
 *
 * - No `globalSetup`: test/global-setup.ts rebuilds `dist/` when the sources are newer, and in a
 *   Stryker sandbox they always are (every mutant run would start with a build).
 * - Unit, integration, interop and property tests, the simulator's regression seeds and 250 of
 *   its seeds (test/sim/mutate.sim.ts): the tabs of the simulation are where the cross-tab code
 *   meets every order of events. The end-to-end and package tests load the built package, which
 *   no mutant of `src/` reaches; the Django OAuth Toolkit interop test (an external server,
 *   renewals in real time) is too slow to run for every mutant.
 * - One fixed fast-check seed (test/property/fixed-seed.ts), so results do not vary between runs.
 */
import { configDefaults, defineConfig } from 'vitest/config'
import project from './vitest.config.js'

export default defineConfig({
  ...project,
  test: {
    ...project.test,
    include: [
      'test/unit/**/*.test.ts',
      'test/integration/**/*.test.ts',
      'test/interop/**/*.test.ts',
      'test/property/**/*.test.ts',
      'test/sim/regressions.test.ts',
      'test/sim/mutate.sim.ts',
    ],
    exclude: [
      ...configDefaults.exclude,
      // Needs Debian's Django OAuth Toolkit, and waits in real time for five renewals of 3 s tokens:
      // minutes per mutant it covers. The in-process servers of the other interop tests stay.
      'test/interop/django-oauth-toolkit.test.ts',
    ],
    globalSetup: [],
    setupFiles: [project.test?.setupFiles ?? [], 'test/property/fixed-seed.ts'].flat(),
    reporters: ['default'],
    // Coverage counting and two workers on a shared machine make the slowest tests (600 calls
    // through msw in rejection-breaker.test.ts take 11 s alone) run past the usual 20 s.
    testTimeout: 60_000,
  },
})
