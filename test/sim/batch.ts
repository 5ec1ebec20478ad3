/**
 * Runs a range of seeds and sums them up: the failing ones (with their reports), the seeds that
 * showed a known SDK bug, and the speed.
 */
import type { KnownBug } from './known-bugs.js'
import type { SimOptions } from './options.js'
import { checkSeed, formatReport } from './run.js'
import type { RunFlags, RunResult } from './world.js'

/** What a range of seeds gave. */
export interface BatchResult {
  readonly from: number
  readonly count: number
  /** Seeds with a violation that is not a known bug. */
  readonly failures: RunResult[]
  /** Seeds per known bug. */
  readonly known: Map<KnownBug, number[]>
  readonly ms: number
}

/**
 * Runs seeds `from` .. `from + count - 1`.
 *
 * @param onResult - called after each seed (progress)
 */
export async function runBatch(
  from: number,
  count: number,
  overrides: Partial<SimOptions> = {},
  flags: RunFlags = {},
  onResult?: (result: RunResult) => void,
): Promise<BatchResult> {
  const started = performance.now()
  const failures: RunResult[] = []
  const known = new Map<KnownBug, number[]>()
  for (let seed = from; seed < from + count; seed++) {
    const result = await checkSeed(seed, overrides, flags)
    if (result.violations.length > 0) failures.push(result)
    else if (result.known.length > 0) {
      const bug = /known bug: ([\w-]+)/.exec(result.known[0] ?? '')?.[1] as KnownBug
      known.set(bug, [...(known.get(bug) ?? []), seed])
    }
    onResult?.(result)
  }
  return { from, count, failures, known, ms: performance.now() - started }
}

/** A summary: failing seeds with their reports (the first `reports`), known bugs, speed. */
export function summarize(
  batch: BatchResult,
  overrides: Partial<SimOptions> = {},
  reports = 3,
): string {
  const { from, count, failures, known, ms } = batch
  const lines = [
    `seeds ${from}..${from + count - 1}: ${count - failures.length} passed, ${failures.length} failed, ${(count / (ms / 1000)).toFixed(1)} seeds/s`,
  ]
  for (const [bug, seeds] of known) {
    lines.push(`known bug ${bug}: ${seeds.length} seed(s), e.g. ${seeds.slice(0, 5).join(' ')}`)
  }
  for (const failure of failures.slice(0, reports)) lines.push('', formatReport(failure, overrides))
  if (failures.length > reports) {
    lines.push(
      '',
      `more failing seeds: ${failures
        .slice(reports)
        .map((f) => f.options.seed)
        .join(' ')}`,
    )
  }
  return lines.join('\n')
}
