import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const root = fileURLToPath(new URL('..', import.meta.url))

export default defineConfig({
  root,
  resolve: {
    alias: {
      'freshtoken/testing': fileURLToPath(new URL('../src/testing/index.ts', import.meta.url)),
      freshtoken: fileURLToPath(new URL('../src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ once for the package, end-to-end and demo tests, which load the built package.
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/mocks/tabs-setup.ts', 'test/mocks/lazy-chunks-setup.ts'],
    environment: 'happy-dom',
    environmentOptions: {
      happyDOM: { url: 'https://app.example.com/' },
    },
    // In CI a JSON report goes beside the usual output, for .ci/run's closing count line.
    reporters: process.env.CI
      ? ['default', ['json', { outputFile: 'test-results/vitest.json' }]]
      : ['default'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
})
