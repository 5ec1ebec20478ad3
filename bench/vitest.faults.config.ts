// Runs the fault scenarios e)–g) of `npm run bench` (bench/fault-scenarios.bench-run.ts), and
// nothing else: `npm test` includes only test/**/*.test.ts, so they never run as tests.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const root = fileURLToPath(new URL('..', import.meta.url))

export default defineConfig({
  root,
  resolve: {
    // The built package, as bench/run.mjs measures it everywhere else.
    alias: {
      'freshtoken/testing': fileURLToPath(new URL('../dist/testing.js', import.meta.url)),
      freshtoken: fileURLToPath(new URL('../dist/index.js', import.meta.url)),
    },
  },
  test: {
    include: ['bench/fault-scenarios.bench-run.ts'],
    // BroadcastChannel and Web Locks of one origin, modelled in-process: clients of one scenario
    // are the tabs of one browser.
    setupFiles: ['test/mocks/tabs-setup.ts'],
    // Node's own fetch, intercepted by msw. (happy-dom's fetch would add a CORS preflight to every
    // API call and triple the run time without changing what is counted.)
    environment: 'node',
    testTimeout: 900_000,
    // The figures go to a JSON file for bench/run.mjs; nothing is printed from here.
    silent: true,
  },
})
