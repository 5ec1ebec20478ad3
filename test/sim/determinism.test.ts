// @vitest-environment node
/**
 * The simulator's own guarantees: a seed replays exactly (the same trace twice, and the same
 * outcome with or without the trace), and every step's work finishes within that step, so a
 * timer or a message is always attributed to the tab that made it.
 */
import { describe, expect, it } from 'vitest'
import type { SimOptions } from './options.js'
import { runSeed } from './run.js'

/** A few seeds, some forced into the less common configurations. */
const CASES: [number, Partial<SimOptions>][] = [
  [1, {}],
  [2, {}],
  [671, {}],
  [3803, {}],
  [5, { webLocks: false, storage: 'custom-async' }],
  [6, { storage: 'local', chaos: 'wild', faults: 'mixed' }],
  [7, { messages: 'slow', tabs: 8 }],
  [8, { storage: 'session', faults: 'lossy', latency: 'slow', lifetime: 60_000 }],
  // DPoP (the fake WebCrypto and IndexedDB, webcrypto.ts) and resource indicators.
  [3, { dpop: true, resources: 2 }],
  [9, { dpop: true, resources: 0, latency: 'slow', lifetime: 60_000 }],
]

describe('the simulator', () => {
  it.each(CASES)('gives the same trace twice for seed %i %j', async (seed, options) => {
    const first = await runSeed(seed, options, { trace: true })
    const second = await runSeed(seed, options, { trace: true })
    expect(second.trace).toEqual(first.trace)
    expect(second.stats).toEqual(first.stats)
    expect(first.trace.length).toBeGreaterThan(50)
  })

  it('gives the same outcome with and without the trace', async () => {
    for (let seed = 100; seed < 130; seed++) {
      const quiet = await runSeed(seed, {}, { trace: false })
      const traced = await runSeed(seed, {}, { trace: true })
      expect({ seed, ...quiet.stats, found: [...quiet.violations, ...quiet.known] }).toEqual({
        seed,
        ...traced.stats,
        found: [...traced.violations, ...traced.known],
      })
    }
  })

  it("runs every step's work within the step (nothing runs between steps)", async () => {
    const misattributed: string[] = []
    for (let seed = 200; seed < 260; seed++) {
      const result = await runSeed(seed, {}, { strict: true, trace: false })
      for (const v of [...result.violations, ...result.known]) {
        if (v.startsWith('[attribution]')) misattributed.push(`seed ${seed}: ${v}`)
      }
    }
    expect(misattributed).toEqual([])
  })

  it("runs every step's work within the step with DPoP and resource indicators", async () => {
    // The proofs' WebCrypto and the keys' IndexedDB are the simulator's (webcrypto.ts): settled
    // within the step. Node's own would settle from its thread pool, between steps.
    const misattributed: string[] = []
    for (let seed = 300; seed < 320; seed++) {
      const options = { dpop: true, resources: 2 }
      const result = await runSeed(seed, options, { strict: true, trace: false })
      for (const v of [...result.violations, ...result.known]) {
        if (v.startsWith('[attribution]') || v.startsWith('[model]'))
          misattributed.push(`seed ${seed}: ${v}`)
      }
    }
    expect(misattributed).toEqual([])
  })
})
