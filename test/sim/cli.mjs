#!/usr/bin/env node
// `npm run sim`: runs the cross-tab simulator (test/sim/README.md) on many seeds, in parallel
// vitest workers, or replays one seed with its trace.
//
//   npm run sim -- --seeds 1000000 --from 1 [--workers 2] [--options '{"webLocks":false}'] [--strict]
//   npm run sim -- --replay 1234 [--options '{...}']
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const outDir = `${root}test-results/sim/`
const vitest = `${root}node_modules/vitest/vitest.mjs`

function parse(argv) {
  const args = { seeds: 1000, from: 1, workers: availableParallelism(), options: undefined }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = () => argv[++i]
    if (flag === '--seeds') args.seeds = Number(value())
    else if (flag === '--from') args.from = Number(value())
    else if (flag === '--workers') args.workers = Number(value())
    else if (flag === '--replay') args.replay = Number(value())
    else if (flag === '--options') args.options = value()
    else if (flag === '--strict') args.strict = true
    else throw new Error(`unknown argument ${flag}`)
  }
  if (args.options !== undefined) JSON.parse(args.options)
  return args
}

/** Runs one vitest worker; resolves with its exit code. */
function worker(env, log) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [vitest, 'run', '--config', 'test/sim/vitest.config.ts'],
      {
        cwd: root,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    const output = []
    child.stdout.on('data', (chunk) => output.push(chunk))
    child.stderr.on('data', (chunk) => output.push(chunk))
    child.on('close', (code) => {
      if (code !== 0) log(Buffer.concat(output).toString())
      resolve(code)
    })
  })
}

const read = (file) => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    return undefined
  }
}

async function main() {
  const args = parse(process.argv.slice(2))
  mkdirSync(outDir, { recursive: true })
  const common = {
    ...(args.options ? { SIM_OPTIONS: args.options } : {}),
    ...(args.strict ? { SIM_STRICT: '1' } : {}),
  }
  if (args.replay !== undefined) {
    const file = `${outDir}replay-${args.replay}.txt`
    const code = await worker(
      { ...common, SIM_REPLAY: String(args.replay), SIM_OUT: file },
      console.error,
    )
    if (code === 0) process.stdout.write(`${readFileSync(file, 'utf8')}\n`)
    process.exit(code === 0 && !/^seed \d+: FAILED/.test(readFileSync(file, 'utf8')) ? 0 : 1)
  }
  const shards = Math.max(1, Math.min(args.workers, args.seeds))
  const files = Array.from({ length: shards }, (_, i) => `${outDir}shard-${i}.json`)
  for (const file of files) rmSync(file, { force: true })
  const started = Date.now()
  console.log(`running seeds ${args.from}..${args.from + args.seeds - 1} in ${shards} worker(s)`)
  const progress = setInterval(() => {
    const done = files.map(read).reduce((sum, shard) => sum + (shard?.done ?? 0), 0)
    const s = (Date.now() - started) / 1000
    console.log(`  ${done}/${args.seeds} seeds, ${(done / s).toFixed(1)} seeds/s`)
  }, 30_000)
  const codes = await Promise.all(
    files.map((file, i) =>
      worker(
        {
          ...common,
          SIM_FROM: String(args.from),
          SIM_SEEDS: String(args.seeds),
          SIM_SHARD: String(i),
          SIM_SHARDS: String(shards),
          SIM_OUT: file,
        },
        console.error,
      ),
    ),
  )
  clearInterval(progress)
  const seconds = (Date.now() - started) / 1000
  const results = files.map(read)
  const done = results.reduce((sum, shard) => sum + (shard?.done ?? 0), 0)
  const failures = results.flatMap((shard) => shard?.failures ?? []).sort((a, b) => a.seed - b.seed)
  const known = {}
  for (const shard of results) {
    for (const [bug, seeds] of Object.entries(shard?.known ?? {})) {
      known[bug] = [...(known[bug] ?? []), ...seeds].sort((a, b) => a - b)
    }
  }
  for (const failure of failures.filter((f) => f.report).slice(0, 3))
    console.log(`\n${failure.report}`)
  console.log(`\n${done} seeds in ${seconds.toFixed(1)} s: ${(done / seconds).toFixed(1)} seeds/s`)
  const totals = {}
  for (const shard of results) {
    for (const [key, value] of Object.entries(shard?.totals ?? {}))
      totals[key] = (totals[key] ?? 0) + value
  }
  if (done > 0) {
    const per = (key) => ((totals[key] ?? 0) / done).toFixed(1)
    console.log(
      `per seed: ${per('steps')} steps, ${(per('simulatedMs') / 1000).toFixed(0)} s simulated, ${per('calls')} calls, ${per('tokenRequests')} token requests`,
    )
    console.log(
      `documented limit (a rotation whose answer reached no tab): ${totals.limitLostAnswer ?? 0} lost answers, ${totals.limitCrashedRequest ?? 0} late requests of crashed tabs`,
    )
  }
  const slowest = results
    .flatMap((shard) => shard?.slowest ?? [])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
  if (slowest.length > 0) {
    console.log(`slowest seeds: ${slowest.map(([seed, ms]) => `${seed} (${ms} ms)`).join(', ')}`)
  }
  for (const [bug, seeds] of Object.entries(known)) {
    console.log(`known bug ${bug}: ${seeds.length} seed(s), e.g. ${seeds.slice(0, 8).join(' ')}`)
  }
  if (failures.length > 0) {
    console.log(`${failures.length} failing seed(s):`)
    const extra = args.options ? ` --options '${args.options}'` : ''
    for (const f of failures.slice(0, 50)) {
      console.log(`  npm run sim -- --replay ${f.seed}${extra}   ${f.violations[0]}`)
    }
  } else {
    console.log('no failing seed')
  }
  process.exit(failures.length > 0 || codes.some((code) => code !== 0) || done < args.seeds ? 1 : 0)
}

main().catch((error) => {
  console.error(error)
  process.exit(2)
})
