/**
 * Benchmark scenarios e)–g) of `npm run bench`: the built package against the msw mock token server
 * (`freshtoken/testing`) in fake time, each repeated with real `Math.random` jitter. Run by
 * bench/run.mjs through bench/vitest.faults.config.ts, which names the file the figures go to
 * (FRESHTOKEN_BENCH_OUT); bench/run.mjs prints them next to their targets.
 *
 *  e)  a 10-minute outage of the token server (network errors and 503s alternating), one tab
 *  e') the same outage with 4 tabs of one session
 *  f)  a 503, and a 429, with `Retry-After: 120`
 *  g)  an API that answers 401 to every token, polled 10 times a second for 60 s, then recovers
 */
import { writeFileSync } from 'node:fs'
import { setImmediate as nextMacrotask } from 'node:timers/promises'
import { createTokenClient, type TokenClient, TokenRejectedError } from 'freshtoken'
import { createMockTokenServer, type MockTokenServer } from 'freshtoken/testing'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, it, vi } from 'vitest'
import { tabs } from '../test/mocks/tabs.js'
import { lazyChunks } from './dist-chunks.mjs'

const ISSUER = 'https://auth.example.com'
const API = 'https://api.example.com'
const T0 = Date.UTC(2030, 0, 1)
const MINUTE = 60_000

/** Repetitions per scenario; FRESHTOKEN_BENCH_REPS overrides them all (for a quick look). */
const quick = Number(process.env.FRESHTOKEN_BENCH_REPS) || undefined
const REPETITIONS = {
  outage: quick ?? 20,
  outageTabs: quick ?? 20,
  retryAfter: quick ?? 20,
  rejecting: quick ?? 20,
}

/** How long after a recovery the scenarios watch for the first success before giving up, ms. */
const RECOVERY_WATCH = 3 * MINUTE

// One mock token server (access tokens of 60 s, its default) for every repetition; reset between.
const mock: MockTokenServer = createMockTokenServer({
  issuer: ISSUER,
  clientId: 'spa',
  apiOrigin: API,
  allowedOrigins: ['https://app.example.com'],
})
const server = setupServer(...mock.handlers)

beforeAll(async () => {
  // The SDK loads some code on demand. Loaded here, its `import()`s resolve from the module cache,
  // as in a page once the chunk has arrived, and take no fake time.
  for (const { file } of lazyChunks()) await import(/* @vite-ignore */ file)
  server.listen({ onUnhandledFrame: 'error' })
})
afterAll(() => server.close())

/**
 * Runs fake time forward by `ms` (or until `done()`), one timer at a time, with a real macrotask
 * after each, so that promise chains and msw's intercepted requests settle before the next timer
 * fires. This is what `vi.advanceTimersByTimeAsync` does, without the real 1 ms `setTimeout` it
 * waits per timer, which would make 10 minutes of calls every 100 ms take 10 s or more.
 */
async function run(ms: number, done: () => boolean = () => false): Promise<void> {
  const end = Date.now() + ms
  // A timer at `end`, so the last step cannot overshoot it.
  const marker = setTimeout(() => undefined, ms)
  // What is already under way settles first: `done()` may be true without any time passing.
  await nextMacrotask()
  while (Date.now() < end && !done()) {
    vi.advanceTimersToNextTimer()
    await nextMacrotask()
  }
  clearTimeout(marker)
}

/** One repetition: fake time from T0, a clean mock server and browser, clients disposed after. */
async function repetition<T>(scenario: (create: () => TokenClient) => Promise<T>): Promise<T> {
  vi.useFakeTimers({ now: T0 })
  const clients: TokenClient[] = []
  const create = () => {
    const auth = createTokenClient({
      clientId: 'spa',
      tokenEndpoint: `${ISSUER}/oauth/token`,
      apiOrigins: [API],
    })
    clients.push(auth)
    return auth
  }
  try {
    return await scenario(create)
  } finally {
    for (const auth of clients) auth.dispose()
    vi.useRealTimers()
    mock.reset()
    tabs.reset()
  }
}

/** What an app's callers in one tab saw. */
interface Callers {
  /** `auth.fetch` calls made. */
  readonly started: number
  /** Each settled `auth.fetch`: the fake time it settled and its status (0: it rejected). */
  readonly outcomes: readonly { readonly at: number; readonly status: number }[]
  /** The first call answered 200 that settled at or after `since`, epoch ms. */
  firstOk(since: number): number | undefined
  stop(): void
}

/**
 * An app calling the API every `every` ms: `auth.fetch`, and first `getAccessToken()` when
 * `getter` (an app reading the token for something else).
 */
function callEvery(auth: TokenClient, every: number, getter: boolean): Callers {
  const outcomes: { at: number; status: number }[] = []
  let started = 0
  const timer = setInterval(() => {
    if (getter) auth.getAccessToken().catch(() => undefined)
    started++
    auth.fetch(`${API}/me`).then(
      (response) => {
        outcomes.push({ at: Date.now(), status: response.status })
        return response.body?.cancel()
      },
      () => outcomes.push({ at: Date.now(), status: 0 }),
    )
  }, every)
  return {
    get started() {
      return started
    },
    outcomes,
    firstOk: (since) => outcomes.find(({ at, status }) => at >= since && status === 200)?.at,
    stop: () => clearInterval(timer),
  }
}

/** Fake ms from `from` to `to`, or `null` when `to` never came. */
const after = (from: number, to: number | undefined): number | null =>
  to === undefined ? null : to - from

/** Figures of one repetition of e) or e'). */
interface OutageFigures {
  /** Token requests during the 10 minutes, all tabs together. */
  readonly requests: number
  /** Of those, in the first minute. */
  readonly firstMinute: number
  /** No 'expired' in any tab, and every tab still has its session. */
  readonly survived: boolean
  /** From the recovery to the first token request answered 200, ms. */
  readonly renewed: number | null
  /** From the recovery to the first call answered 200 (in any tab), ms. */
  readonly firstOk: number | null
  /** From the recovery until every tab had a call answered 200, ms. */
  readonly everyTabOk: number | null
}

/**
 * e) and e'): the token server is down for 10 minutes, network errors and 503s alternating, while
 * each tab calls every 100 ms (`getAccessToken` and `auth.fetch`); then it recovers.
 */
async function outage(tabCount: number): Promise<OutageFigures> {
  return repetition(async (create) => {
    const all = Array.from({ length: tabCount }, create)
    const [first, ...siblings] = all as [TokenClient, ...TokenClient[]]
    first.setTokens(mock.issueTokens())
    // The other tabs take the session from the first, as tabs opened later do.
    let joined = false
    void Promise.all(siblings.map((tab) => tab.getAccessToken())).then(() => {
      joined = true
    })
    await run(MINUTE, () => joined)
    const expired = all.map((tab) => {
      let count = 0
      tab.on('expired', () => count++)
      return () => count
    })

    const start = Date.now()
    // The outage starts with the login's token: nothing renewed it meanwhile.
    if (mock.counters.token > 0 || start - T0 > 1_000) {
      throw new Error(`the tabs took ${start - T0} ms to share the session`)
    }
    for (let i = 0; i < 1_000; i++) {
      mock.injectFault(i % 2 ? { type: 'status', status: 503 } : { type: 'network-error' })
    }
    const callers = all.map((tab) => callEvery(tab, 100, true))
    await run(10 * MINUTE)
    const requests = mock.counters.token
    const firstMinute = mock.log.token.filter(({ at }) => at < start + MINUTE).length
    const survived = expired.every((count) => count() === 0) && all.every((tab) => tab.tokens)

    mock.clearFaults()
    const recovered = Date.now()
    const everyTabOk = () => callers.every((tab) => tab.firstOk(recovered) !== undefined)
    await run(RECOVERY_WATCH, everyTabOk)
    for (const tab of callers) tab.stop()
    const renewal = mock.log.token.find(({ at, status }) => at >= recovered && status === 200)
    const oks = callers.map((tab) => tab.firstOk(recovered) ?? Number.POSITIVE_INFINITY)
    return {
      requests,
      firstMinute,
      survived,
      renewed: after(recovered, renewal?.at),
      firstOk: after(recovered, Number.isFinite(Math.min(...oks)) ? Math.min(...oks) : undefined),
      everyTabOk: after(recovered, everyTabOk() ? Math.max(...oks) : undefined),
    }
  })
}

/** Figures of one repetition of f). */
interface RetryAfterFigures {
  /** Token requests in the 120 s after the one answered with `Retry-After`. */
  readonly within: number
  /** From the first request to the next, ms. */
  readonly next: number | null
  /** The status the next request got. */
  readonly nextStatus: number | null
  /** From the first request to the first call answered 200, ms. */
  readonly firstOk: number | null
}

/**
 * f): the access token has expired, so every call needs a renewal; the token server answers the
 * first request `status` with `Retry-After: 120`, and is well after it. Calls every 100 ms.
 */
async function retryAfter(status: 503 | 429): Promise<RetryAfterFigures> {
  return repetition(async (create) => {
    const auth = create()
    auth.setTokens({ ...mock.issueTokens(), expires_in: 0 })
    mock.injectFault({ type: 'status', status, retryAfter: 120 })
    const callers = callEvery(auth, 100, true)
    await run(MINUTE, () => mock.counters.token > 0)
    const first = mock.log.token[0]?.at ?? Date.now()
    await run(RECOVERY_WATCH, () => callers.firstOk(first) !== undefined)
    callers.stop()
    const next = mock.log.token[1]
    return {
      within: mock.log.token.filter(({ at }) => at > first && at < first + 120_000).length,
      next: after(first, next?.at),
      nextStatus: next?.status ?? null,
      firstOk: after(first, callers.firstOk(first)),
    }
  })
}

/** Figures of one repetition of g). */
interface RejectingFigures {
  /** Token requests during the 60 s. */
  readonly requests: number
  /** `auth.fetch` calls made during the 60 s. */
  readonly calls: number
  /** Of those, resolved with the API's 401 Response. */
  readonly resolved401: number
  /** Of those, rejected. */
  readonly rejected: number
  /** `token_rejected` errors reported on the 'error' event. */
  readonly reported: number
  /** No 'expired', and the session is still there. */
  readonly survived: boolean
  /** From the API's recovery to the first call answered 200, ms. */
  readonly firstOk: number | null
}

/**
 * g): the API answers 401 to every token while the app polls it 10 times a second for 60 s; then
 * it recovers, accepting only tokens issued from then on.
 */
async function rejecting(): Promise<RejectingFigures> {
  return repetition(async (create) => {
    const auth = create()
    auth.setTokens(mock.issueTokens())
    let expired = 0
    let reported = 0
    auth.on('expired', () => expired++)
    auth.on('error', (error) => {
      if (error instanceof TokenRejectedError) reported++
    })
    mock.injectFault({ type: 'status', status: 401, target: 'api', times: Infinity })

    const polling = callEvery(auth, 100, false)
    await run(MINUTE)
    polling.stop()
    // The last call may still be on its way: it settles without more fake time.
    for (let turn = 0; turn < 10 && polling.outcomes.length < polling.started; turn++) {
      await nextMacrotask()
    }
    const requests = mock.counters.token
    const survived = expired === 0 && auth.tokens !== null

    mock.clearFaults()
    mock.expireAccessTokens()
    const recovered = Date.now()
    const polled = callEvery(auth, 100, false)
    await run(RECOVERY_WATCH, () => polled.firstOk(recovered) !== undefined)
    polled.stop()
    return {
      requests,
      calls: polling.started,
      resolved401: polling.outcomes.filter(({ status }) => status === 401).length,
      rejected: polling.outcomes.filter(({ status }) => status === 0).length,
      reported,
      survived,
      firstOk: after(recovered, polled.firstOk(recovered)),
    }
  })
}

/** Every repetition's figures of one scenario, and the real time they took. */
interface Repeated<T> {
  readonly runs: T[]
  readonly seconds: number
}

/** Runs `scenario` `times` times in a row. */
async function repeat<T>(times: number, scenario: () => Promise<T>): Promise<Repeated<T>> {
  const started = performance.now()
  const runs: T[] = []
  for (let i = 0; i < times; i++) runs.push(await scenario())
  return { runs, seconds: (performance.now() - started) / 1_000 }
}

it('runs the fault scenarios', async () => {
  const figures = {
    outage: await repeat(REPETITIONS.outage, () => outage(1)),
    outageTabs: await repeat(REPETITIONS.outageTabs, () => outage(4)),
    retryAfter503: await repeat(REPETITIONS.retryAfter, () => retryAfter(503)),
    retryAfter429: await repeat(REPETITIONS.retryAfter, () => retryAfter(429)),
    rejecting: await repeat(REPETITIONS.rejecting, rejecting),
  }
  const out = process.env.FRESHTOKEN_BENCH_OUT
  if (out) writeFileSync(out, JSON.stringify(figures, null, 2))
  else console.info(JSON.stringify(figures))
})
