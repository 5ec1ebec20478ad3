// Mutation testing of the core: `npm run mutate`, or one file: `npm run mutate -- --mutate src/storage.ts`.
// Reports land in reports/ (git-ignored): a score table in the terminal, mutation.html and
// mutation.json, and the incremental file that lets the next run reuse every result whose code and
// tests did not change.

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: {
    configFile: 'test/vitest.mutate.config.ts',
    // The project's default pool; under 'threads' msw and happy-dom behave differently.
    pool: 'forks',
    // Every test file runs in the dry run; per-test coverage then picks the tests for each mutant.
    // (Related-file selection would miss the chunks the SDK loads with a dynamic import.)
    related: false,
  },
  // The core: every file in src/ (new ones included), not the mock server and not the export list.
  mutate: ['src/**/*.ts', '!src/testing/**', '!src/index.ts'],
  // Stryker's tsconfig preprocessor calls parseConfigFileTextToJson, which TypeScript 7 no longer
  // has. Pointing it at a file that does not exist skips it; vitest transpiles on its own.
  tsconfigFile: 'stryker-skips-the-tsconfig-preprocessor.json',
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  clearTextReporter: { reportTests: false, logTests: false, reportScoreTable: true },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // Two workers for two cores; each runs one vitest fork at a time.
  concurrency: 2,
  // A shared machine is sometimes slow: a mutant counts as a timeout only well past its test time.
  timeoutMS: 10_000,
  thresholds: { high: 90, low: 80, break: 70 },
  tempDirName: '.stryker-tmp',
  // Not needed in the sandbox: build output, reports, the end-to-end app and the demo.
  ignorePatterns: ['dist', 'build', 'reports', 'test-results', 'coverage', 'demo/dist', '.tmp'],
}
