// @vitest-environment node
/**
 * Each invariant can fail: a switch injects the violation it is about (options.ts, `inject`), and
 * the simulator must report it under that invariant, while the same seeds without the switch
 * report nothing of the kind.
 */
import { describe, expect, it } from 'vitest'
import type { Injection, SimOptions } from './options.js'
import { runSeed } from './run.js'

/** The injection, the invariant it must break, and options that give it a chance to show. */
const CASES: [Injection, string, Partial<SimOptions>][] = [
  ['stale-refresh', '[1]', { faults: 'none', chaos: 'calm', lifetime: 5_000 }],
  ['second-request', '[2]', { faults: 'none', chaos: 'calm', lifetime: 5_000, latency: 'wan' }],
  ['lose-session-messages', '[3]', { faults: 'none', chaos: 'calm', tabs: 3, storage: 'memory' }],
  ['forged-logout', '[4]', { faults: 'none', chaos: 'calm' }],
  [
    'hidden-fault',
    '[5]',
    { faults: 'none', chaos: 'calm', lifetime: 5_000, faultWindow: [1_000, 60_000] },
  ],
  ['leak-after-dispose', '[6]', { faults: 'none', chaos: 'calm', actionEvery: 1_000 }],
  [
    'token-in-network-error',
    '[7]',
    { faults: 'none', chaos: 'calm', lifetime: 5_000, faultWindow: [1_000, 60_000] },
  ],
]

/** DPoP and resource indicators (api-watch.ts). */
const API_CASES: [Injection, string, Partial<SimOptions>][] = [
  ['foreign-audience', '[audience]', { dpop: true, resources: 1, faults: 'none', chaos: 'calm' }],
]

/** Backend mode: the same proof for the checks that differ there (the session backend's refresh). */
const BACKEND_CASES: [Injection, string, Partial<SimOptions>][] = [
  [
    'second-request',
    '[2]',
    { mode: 'backend', faults: 'none', chaos: 'calm', lifetime: 5_000, latency: 'wan' },
  ],
]

/** The first of `seeds` seeds whose run reports `invariant`, if any. */
async function firstCatch(invariant: string, options: Partial<SimOptions>, seeds = 40) {
  for (let seed = 1; seed <= seeds; seed++) {
    const result = await runSeed(seed, options, { trace: false })
    // A violation proper: a known bug's signature must not excuse an injected one.
    const caught = result.violations.find((v) => v.startsWith(invariant))
    if (caught) return { seed, caught }
  }
  return undefined
}

describe('every invariant', () => {
  it.each(CASES)('catches %s as %s', async (inject, invariant, drawn) => {
    // The injections speak the token endpoint's protocol: OAuth mode.
    const options: Partial<SimOptions> = { mode: 'oauth', ...drawn }
    const found = await firstCatch(invariant, { ...options, inject })
    expect(found, `no seed showed ${invariant} with ${inject}`).toBeDefined()
    const control = await runSeed(found?.seed ?? 0, options, { trace: false })
    expect(
      [...control.violations, ...control.known].filter((v) => v.startsWith(invariant)),
    ).toEqual([])
  })
})

describe('every DPoP and resource invariant', () => {
  it.each(API_CASES)('catches %s as %s', async (inject, invariant, options) => {
    const found = await firstCatch(invariant, { ...options, inject }, 10)
    expect(found, `no seed showed ${invariant} with ${inject}`).toBeDefined()
    const control = await runSeed(found?.seed ?? 0, options, { trace: false })
    expect(
      [...control.violations, ...control.known].filter((v) => v.startsWith(invariant)),
    ).toEqual([])
  })
})

describe('every backend-mode invariant', () => {
  it.each(BACKEND_CASES)('catches %s as %s', async (inject, invariant, options) => {
    const found = await firstCatch(invariant, { ...options, inject })
    expect(found, `no seed showed ${invariant} with ${inject}`).toBeDefined()
    const control = await runSeed(found?.seed ?? 0, options, { trace: false })
    expect(
      [...control.violations, ...control.known].filter((v) => v.startsWith(invariant)),
    ).toEqual([])
  })
})
