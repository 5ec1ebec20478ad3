// @vitest-environment node
/**
 * DPoP (RFC 9449) and resource indicators (RFC 8707) in the simulation: a fixed batch of seeds with
 * both on (two APIs with their own resource, one with the session's token), and a few with one of
 * them only, must keep every invariant, the new ones of api-watch.ts included. Seeds that show an
 * open known SDK bug (known-bugs.ts) pass, as in the other seed tests. About 30 s on one core.
 */
import { describe, expect, it } from 'vitest'
import { runBatch, summarize } from './batch.js'
import type { SimOptions } from './options.js'

const BATCHES: [number, number, Partial<SimOptions>][] = [
  [1, 60, { dpop: true, resources: 2 }],
  [101, 15, { dpop: true, resources: 0 }],
  [201, 15, { dpop: false, resources: 1 }],
]

describe('the simulation with DPoP and resource indicators', () => {
  it.each(BATCHES)(
    'keeps every invariant for seeds from %i (%i of them) with %j',
    async (from, count, options) => {
      const batch = await runBatch(from, count, options)
      expect(batch.failures.length, summarize(batch, options)).toBe(0)
    },
    120_000,
  )
})
