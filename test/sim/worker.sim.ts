/**
 * One worker of `npm run sim` (test/sim/cli.mjs), run by vitest with test/sim/vitest.config.ts.
 * It reads what to do from the environment and writes what it found to a JSON file:
 *
 * - SIM_REPLAY=<seed>: runs that seed with its full trace; SIM_OUT gets the report.
 * - SIM_FROM, SIM_SEEDS, SIM_SHARD, SIM_SHARDS: runs seeds SIM_FROM + SIM_SHARD, then every
 *   SIM_SHARDS-th seed up to SIM_FROM + SIM_SEEDS - 1; SIM_OUT gets progress, then the summary.
 * - SIM_OPTIONS: JSON overrides of the drawn options; SIM_STRICT=1: the attribution check.
 */
import { writeFileSync } from 'node:fs'
import { it } from 'vitest'
import type { KnownBug } from './known-bugs.js'
import { checkSeed, formatReport, runSeed } from './run.js'

const env = process.env
const out = env.SIM_OUT ?? '/dev/stdout'
const overrides = JSON.parse(env.SIM_OPTIONS ?? '{}')
const strict = env.SIM_STRICT === '1'

it('runs the simulator', async () => {
  if (env.SIM_REPLAY) {
    const seed = Number(env.SIM_REPLAY)
    const result = await runSeed(seed, overrides, { trace: true, strict })
    writeFileSync(out, formatReport(result, overrides, Number.POSITIVE_INFINITY))
    return
  }
  const from = Number(env.SIM_FROM ?? 1)
  const count = Number(env.SIM_SEEDS ?? 1000)
  const shard = Number(env.SIM_SHARD ?? 0)
  const shards = Number(env.SIM_SHARDS ?? 1)
  const started = performance.now()
  const failures: { seed: number; violations: readonly string[]; report?: string }[] = []
  const known: Partial<Record<KnownBug, number[]>> = {}
  const totals: Record<string, number> = {}
  /** The slowest seeds (ms of wall time, with the traced rerun of a failing one). */
  let slowest: [number, number][] = []
  let done = 0
  const save = (finished: boolean) =>
    writeFileSync(
      out,
      JSON.stringify({
        finished,
        done,
        ms: performance.now() - started,
        failures,
        known,
        totals,
        slowest,
      }),
    )
  for (let seed = from + shard; seed < from + count; seed += shards) {
    const seedStarted = performance.now()
    const result = await checkSeed(seed, overrides, { strict })
    slowest = [...slowest, [seed, Math.round(performance.now() - seedStarted)] as [number, number]]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
    done++
    for (const [key, value] of Object.entries(result.stats))
      totals[key] = (totals[key] ?? 0) + value
    if (result.violations.length > 0) {
      failures.push({
        seed,
        violations: result.violations,
        // The first few with their trace; the others can be replayed.
        ...(failures.length < 3 ? { report: formatReport(result, overrides) } : {}),
      })
    } else if (result.known.length > 0) {
      const bug = /known bug: ([\w-]+)/.exec(result.known[0] ?? '')?.[1] as KnownBug
      const seeds = known[bug] ?? []
      if (seeds.length < 1000) seeds.push(seed)
      known[bug] = seeds
    }
    if (done % 200 === 0) save(false)
  }
  save(true)
})
