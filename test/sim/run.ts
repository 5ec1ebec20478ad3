/**
 * Runs seeds and reports failing ones: the seed, its options, the violations and the trace (the
 * events in order), with the command that replays exactly that seed.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describeOptions, drawOptions, type SimOptions } from './options.js'
import { type RunFlags, type RunResult, World } from './world.js'

/** Runs one seed. */
export async function runSeed(
  seed: number,
  overrides: Partial<SimOptions> = {},
  flags: RunFlags = {},
): Promise<RunResult> {
  return new World(drawOptions(seed, overrides), flags).run()
}

/**
 * Runs one seed without its trace (the fast way), and runs a failing seed again with it: a seed
 * replays exactly, so the second run fails the same way and shows how.
 */
export async function checkSeed(
  seed: number,
  overrides: Partial<SimOptions> = {},
  flags: RunFlags = {},
): Promise<RunResult> {
  const result = await runSeed(seed, overrides, { ...flags, trace: false })
  if (result.violations.length + result.known.length === 0) return result
  const traced = await runSeed(seed, overrides, { ...flags, trace: true })
  const found = (r: RunResult) => [...r.violations, ...r.known].join('\n')
  if (found(traced) !== found(result)) {
    return {
      ...traced,
      violations: [
        ...traced.violations,
        `[determinism] the traced replay differs from the first run: ${result.violations.join('; ')}`,
      ],
    }
  }
  return traced
}

/** The one-line command that replays `seed` (with `overrides`, if any). */
export function replayCommand(seed: number, overrides: Partial<SimOptions> = {}): string {
  const extra = Object.keys(overrides).length > 0 ? ` --options '${JSON.stringify(overrides)}'` : ''
  return `npm run sim -- --replay ${seed}${extra}`
}

/** Where full traces of failing seeds are written (git-ignored). */
const TRACE_DIR = fileURLToPath(new URL('../../test-results/sim/', import.meta.url))

/**
 * The report of a run: header, violations, the last `tail` lines of the trace (all with
 * `tail = Infinity`). The full trace of a failing seed is also written under test-results/sim/.
 */
export function formatReport(
  result: RunResult,
  overrides: Partial<SimOptions> = {},
  tail = 250,
): string {
  const { options, trace, violations, known, stats } = result
  const lines = [
    `seed ${options.seed}: ${violations.length > 0 ? 'FAILED' : known.length > 0 ? 'known bug' : 'ok'}`,
    describeOptions(options),
    `stats ${Object.entries(stats)
      .map(([k, v]) => `${k}=${Math.round(v)}`)
      .join(' ')}`,
    ...violations.map((v) => `violation ${v}`),
    ...known.map((v) => `known ${v}`),
    `replay: ${replayCommand(options.seed, overrides)}`,
  ]
  if (trace.length > tail) lines.push(`... ${trace.length - tail} earlier trace lines`)
  lines.push(...trace.slice(Math.max(0, trace.length - tail)))
  if (violations.length + known.length > 0) {
    try {
      mkdirSync(TRACE_DIR, { recursive: true })
      const file = `${TRACE_DIR}seed-${options.seed}.txt`
      const head = 5 + violations.length + known.length
      writeFileSync(file, [...lines.slice(0, head), ...trace].join('\n'))
      lines.splice(head - 1, 0, `full trace: ${file}`)
    } catch {}
  }
  return lines.join('\n')
}
