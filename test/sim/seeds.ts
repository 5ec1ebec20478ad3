/** The seeds `npm test` runs, as vitest tests of 250 seeds each (one file per range). */
import { describe, expect, it } from 'vitest'
import { runBatch, summarize } from './batch.js'

/** Seeds per test: small enough to show progress, large enough to keep vitest's overhead low. */
const CHUNK = 250

/**
 * Declares the tests for seeds `from` .. `from + count - 1`: each fails with the report of its
 * failing seeds (the trace, and the command that replays them).
 */
export function simulateSeeds(from: number, count: number): void {
  describe(`the cross-tab simulation, seeds ${from}-${from + count - 1}`, () => {
    for (let start = from; start < from + count; start += CHUNK) {
      const size = Math.min(CHUNK, from + count - start)
      it(`keeps every invariant for seeds ${start}-${start + size - 1}`, async () => {
        const batch = await runBatch(start, size)
        expect(batch.failures.length, summarize(batch)).toBe(0)
      }, 300_000)
    }
  })
}
