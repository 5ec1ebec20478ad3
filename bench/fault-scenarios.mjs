// e)–g) Faults in fake time: a 10-minute outage of the token server (one tab, and 4 tabs),
// Retry-After: 120, and an API that rejects every token. The scenarios themselves are in
// bench/fault-scenarios.bench-run.ts: they need vitest's fake timers, msw and the modelled tabs
// of test/mocks/tabs.ts, so they run in vitest (bench/vitest.faults.config.ts, against the built
// package), write their figures to a JSON file, and this module prints them next to their targets.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { root } from './dist-freshness.mjs'

const TARGETS = {
  outageRequests: 20,
  recovery: 65_000,
  retryAfter: 120_000,
  rejectingRequests: 8,
}

const verdict = (ok) => (ok ? 'meets target' : 'MISSES target')

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/**
 * `min / median / max` of one figure over the runs, with `show` formatting each value; a run in
 * which the event never came (`null`) is counted and named.
 */
function spread(runs, figure, show = String) {
  const values = runs.map(figure)
  const seen = values.filter((value) => value !== null)
  const missing = values.length - seen.length
  const text =
    seen.length === 0
      ? 'never'
      : `${show(Math.min(...seen))} / ${show(median(seen))} / ${show(Math.max(...seen))}`
  return {
    text: missing ? `${text} (${missing} runs: never)` : text,
    worst: missing ? Infinity : Math.max(...seen),
  }
}

const seconds = (ms) => `${(ms / 1_000).toFixed(1)} s`

/** Runs the vitest file; resolves to its figures, or rejects with the end of its output. */
function runScenarios() {
  const dir = mkdtempSync(join(tmpdir(), 'freshtoken-bench-'))
  const out = join(dir, 'faults.json')
  return new Promise((resolve, reject) => {
    execFile(
      'npx',
      ['vitest', 'run', '--config', 'bench/vitest.faults.config.ts'],
      {
        cwd: root,
        env: { ...process.env, FRESHTOKEN_BENCH_OUT: out },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        try {
          if (error) {
            const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-15).join('\n')
            reject(new Error(`vitest failed:\n${tail}`))
          } else {
            resolve(JSON.parse(readFileSync(out, 'utf8')))
          }
        } catch (failure) {
          reject(failure)
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      },
    )
  })
}

function printOutage(label, { runs, seconds: took }, tabs) {
  const all = tabs > 1 ? ', all tabs together' : ''
  console.log(
    `\n${label} the token server down for 10 minutes (network errors and 503s alternating), ${tabs === 1 ? 'one tab' : `${tabs} tabs of one session`} ` +
      `calling getAccessToken() and auth.fetch every 100 ms, 60 s access tokens; ${runs.length} runs (${took.toFixed(0)} s real): min / median / max`,
  )
  const requests = spread(runs, (run) => run.requests)
  console.log(
    `   token requests in the 10 minutes${all}: ${requests.text} (target <= ${TARGETS.outageRequests}${tabs > 1 ? ', the tabs share one pause' : ''}: ${verdict(requests.worst <= TARGETS.outageRequests)})`,
  )
  console.log(`   of those in the first minute: ${spread(runs, (run) => run.firstMinute).text}`)
  const survived = runs.filter((run) => run.survived).length
  console.log(
    `   session survived (no 'expired'${tabs > 1 ? ' in any tab' : ''}): ${survived} of ${runs.length} runs (target all: ${verdict(survived === runs.length)})`,
  )
  const renewed = spread(runs, (run) => run.renewed, seconds)
  console.log(
    `   server recovers: first successful renewal after ${renewed.text} (target <= ${seconds(TARGETS.recovery)}: ${verdict(renewed.worst <= TARGETS.recovery)})`,
  )
  const firstOk = spread(runs, (run) => run.firstOk, seconds)
  const everyTab =
    tabs > 1 ? `; in every tab after ${spread(runs, (run) => run.everyTabOk, seconds).text}` : ''
  console.log(`   first call answered 200 after ${firstOk.text}${everyTab}`)
}

function printRetryAfter(figures) {
  const count = figures.retryAfter503.runs.length
  console.log(
    `\nf) Retry-After: 120 on a token request (the access token has expired, so every call wants a renewal; calls every 100 ms); ${count} runs each: min / median / max`,
  )
  for (const status of [503, 429]) {
    const { runs } = figures[`retryAfter${status}`]
    const within = spread(runs, (run) => run.within)
    const next = spread(runs, (run) => run.next, seconds)
    const earliest = Math.min(...runs.map((run) => run.next ?? Infinity))
    const ok = runs.filter((run) => run.nextStatus === 200).length
    console.log(
      `   ${status}: token requests in the 120 s after it ${within.text} (target 0: ${verdict(within.worst === 0)}); ` +
        `next request after ${next.text} (target >= 120 s: ${verdict(earliest >= TARGETS.retryAfter)}), answered 200 in ${ok} of ${runs.length} runs`,
    )
  }
}

function printRejecting({ runs, seconds: took }) {
  console.log(
    `\ng) an API that answers 401 to every token, polled with auth.fetch 10 times a second for 60 s (60 s access tokens); ${runs.length} runs (${took.toFixed(0)} s real): min / median / max`,
  )
  const requests = spread(runs, (run) => run.requests)
  console.log(
    `   token requests in the 60 s: ${requests.text} (target <= ${TARGETS.rejectingRequests}: ${verdict(requests.worst <= TARGETS.rejectingRequests)})`,
  )
  const calls = runs.reduce((sum, run) => sum + run.calls, 0)
  const resolved = runs.reduce((sum, run) => sum + run.resolved401, 0)
  const rejected = runs.reduce((sum, run) => sum + run.rejected, 0)
  const share = (100 * resolved) / calls
  console.log(
    `   calls resolved with the API's 401 Response: ${resolved} of ${calls} = ${share.toFixed(1)} % (target 100 %: ${verdict(resolved === calls)}), ${rejected} rejected`,
  )
  const kept = runs.filter((run) => run.survived).length
  console.log(
    `   token_rejected reported ${spread(runs, (run) => run.reported).text} times; session kept in ${kept} of ${runs.length} runs (target all: ${verdict(kept === runs.length)})`,
  )
  const firstOk = spread(runs, (run) => run.firstOk, seconds)
  console.log(
    `   API recovers (accepting only tokens issued from then on): calls answer 200 again after ${firstOk.text} (target <= ${seconds(TARGETS.recovery)}: ${verdict(firstOk.worst <= TARGETS.recovery)})`,
  )
}

/** Runs e)–g) and prints their lines. */
export async function benchFaults() {
  console.log(
    '\ne)–g) faults in fake time: the built package against the msw mock token server (freshtoken/testing), real Math.random jitter, in vitest …',
  )
  let figures
  try {
    figures = await runScenarios()
  } catch (error) {
    console.log(`   could not run: ${error.message}`)
    process.exitCode = 1
    return
  }
  printOutage('e)', figures.outage, 1)
  printOutage("e')", figures.outageTabs, 4)
  printRetryAfter(figures)
  printRejecting(figures.rejecting)
}
