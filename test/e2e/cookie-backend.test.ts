// @vitest-environment node
/**
 * A session kept by the app's own backend (OAuth 2.0 for Browser-Based Apps §6.2) in a real
 * Chromium: the page signs in by POSTing to the backend, which keeps the refresh token in an
 * httpOnly `SameSite=Strict` cookie, and from then on only calls its API with `auth.fetch`; the
 * client (`backend` option, memory storage, no `setTokens`) renews through `/auth/refresh` with
 * the cookie and a CSRF header. The backend rotates the cookie at every refresh and revokes the
 * session when a retired one comes back, so a refresh sent twice, or two at once from two tabs,
 * would end the session.
 *
 * Every test runs on an app of its own (another origin: its own tabs' channel and locks); the
 * browser's cookies are cleared between tests (cookies are per host, not per port).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  type BackendApp,
  type BackendAppOptions,
  type BackendTab,
  type BackendTabOptions,
  startBackendApp,
} from './backend-app.js'
import { type ChromiumSession, E2E_TIME_LIMIT, launchChromium } from './chromium.js'
import { scheduledRenewals } from './test-app.js'

vi.setConfig(E2E_TIME_LIMIT)

/** Bounds every wait for something a tab, the schedule or the backend does. */
const POLL = { timeout: 15_000, interval: 20 }
/**
 * The backend's access tokens live this much longer than the whole seconds it reports in
 * `expiresIn`, so the client never sends a token the backend already considers expired.
 */
const SLACK_MS = 250
/** A console error for a refresh the backend answered 401 (no session), in the tab that sent it. */
const REFRESH_401 = /status of 401 .*\(\/auth\/refresh\)$/
/** The same, or for an API call the backend answered 401. */
const ANY_401 = /status of 401 .*\((\/auth\/refresh|\/api\/me)\)$/

let chromium: ChromiumSession
const apps: BackendApp[] = []
let tabs: BackendTab[] = []

/** An app of its own for one test; closed after the file. */
async function startApp(options: BackendAppOptions = {}): Promise<BackendApp> {
  const app = await startBackendApp(options)
  apps.push(app)
  return app
}

/** Opens a tab that the test's `afterEach` closes. */
async function openTab(app: BackendApp, options?: BackendTabOptions): Promise<BackendTab> {
  const tab = await app.openTab(chromium.context, options)
  tabs.push(tab)
  return tab
}

/**
 * Opens `count` tabs in one session: the first signs in at the backend (`POST /auth/login`, the
 * page's own fetch) and calls the API, the client getting its first token from `/auth/refresh`;
 * each later one then joins the session.
 *
 * @returns the tabs, and when (epoch ms) the login was sent
 */
async function signIn(
  app: BackendApp,
  count: number,
  options?: BackendTabOptions,
): Promise<{ tabs: BackendTab[]; loginAt: number }> {
  const first = await openTab(app, options)
  const loginAt = Date.now()
  expect(await first.run((hooks) => hooks.login())).toBe(200)
  expect(await first.run((hooks) => hooks.callApi())).toBe(200)
  const signedIn = [first]
  for (let i = 1; i < count; i++) {
    const tab = await openTab(app, options)
    expect(await tab.run((hooks) => hooks.getAccessToken())).toEqual({
      token: expect.any(String),
    })
    signedIn.push(tab)
  }
  return { tabs: signedIn, loginAt }
}

/** Keeps `busy` calling the API every `intervalMs` until `done` resolves; their statuses. */
async function whileCalling(
  busy: readonly BackendTab[],
  intervalMs: number,
  done: () => Promise<unknown>,
): Promise<Record<string, number>[]> {
  await Promise.all(busy.map((tab) => tab.run((hooks, ms) => hooks.startLoop(ms), intervalMs)))
  const failed = await done().then(
    () => undefined,
    (error: unknown) => ({ error }),
  )
  // Stopped whatever happened, so no loop outlives its test.
  const statuses = await Promise.all(busy.map((tab) => tab.run((hooks) => hooks.stopLoop())))
  if (failed) throw failed.error
  return statuses
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

beforeAll(async () => {
  chromium = await launchChromium()
})

afterAll(async () => {
  await Promise.all([chromium?.close(), ...apps.map((app) => app.close())])
})

beforeEach(async () => {
  await chromium.context.clearCookies()
})

afterEach(async () => {
  await Promise.all(tabs.map((tab) => tab.close()))
  tabs = []
})

describe('a session kept by a cookie-session backend', () => {
  it('rejects calls with no_session until the page signs in, then calls the API without setTokens', async () => {
    const app = await startApp()
    const tab = await openTab(app)

    expect(await tab.run((hooks) => hooks.getAccessToken())).toEqual({ code: 'no_session' })
    expect(await tab.run((hooks) => hooks.callApi())).toBe('no_session')
    expect(await tab.run((hooks) => hooks.events)).toMatchObject({ expired: 0, tokens: 0 })
    // The client asked the backend, with the CSRF header and without a cookie, and sent no call
    // to the API without a token.
    expect(app.gateway.refreshes.length).toBeGreaterThan(0)
    for (const refresh of app.gateway.refreshes) {
      expect(refresh).toMatchObject({ csrf: '1', cookie: false, status: 401 })
    }
    expect(app.backend.counters()).toMatchObject({ refreshes: 0, apiOk: 0, apiFailed: 0 })

    expect(await tab.run((hooks) => hooks.login())).toBe(200)
    expect(await tab.run((hooks) => hooks.callApi())).toBe(200)
    expect(await tab.run((hooks) => hooks.accessToken())).toEqual(expect.any(String))
    expect(await tab.run((hooks) => hooks.events)).toMatchObject({ expired: 0, error: 0 })
    expect(app.backend.counters()).toMatchObject({
      logins: 1,
      refreshes: 1,
      apiOk: 1,
      apiFailed: 0,
      reuseDetected: 0,
    })
    expect(app.gateway.refreshes.at(-1)).toMatchObject({ csrf: '1', cookie: true, status: 200 })

    // The refresh cookie is in the browser, httpOnly: script sees it neither on the page nor on a
    // page under its Path (/auth), where document.cookie would list it if it were not httpOnly.
    const cookies = await chromium.context.cookies(`${app.url}/auth/refresh`)
    expect(cookies.filter((cookie) => cookie.name === 'rt')).toEqual([
      expect.objectContaining({ httpOnly: true, sameSite: 'Strict', path: '/auth' }),
    ])
    expect(await tab.run((hooks) => hooks.documentCookie())).toBe('')
    const probe = await chromium.context.newPage()
    try {
      await probe.goto(`${app.url}/auth/probe`)
      expect(await probe.evaluate(() => document.cookie)).toBe('')
    } finally {
      await probe.close()
    }
    for (const problem of tab.problems) expect(problem).toMatch(REFRESH_401)
  })

  it('comes back signed in after a reload through one refresh at the first call', async () => {
    const app = await startApp()
    const {
      tabs: [tab],
    } = await signIn(app, 1)
    if (tab === undefined) throw new Error('no tab')
    const before = app.backend.counters()
    const token = await tab.run((hooks) => hooks.accessToken())

    await tab.reload()
    // Memory storage: the reloaded page holds nothing until it asks the backend.
    expect(await tab.run((hooks) => hooks.accessToken())).toBeNull()
    expect(await tab.run((hooks) => hooks.callApi())).toBe(200)

    const renewed = await tab.run((hooks) => hooks.accessToken())
    expect(renewed).toEqual(expect.any(String))
    expect(renewed).not.toBe(token)
    expect(app.backend.counters()).toMatchObject({
      refreshes: before.refreshes + 1,
      refreshFailures: {},
      reuseDetected: 0,
      apiFailed: 0,
    })
    expect(await tab.run((hooks) => hooks.events)).toMatchObject({ expired: 0, error: 0 })
    expect(tab.problems).toEqual([])
  })

  it('keeps four busy tabs signed in for 30 s of 3 s tokens, one refresh at a time and no reuse', async () => {
    const LIFETIME_MS = 3_000
    const WINDOW_MS = 30_000
    const app = await startApp({ accessTokenLifetime: LIFETIME_MS + SLACK_MS })
    const { tabs: busy } = await signIn(app, 4)
    app.backend.reset()
    app.gateway.reset()

    const from = Date.now()
    // The wait is the behaviour under test (ten token lifetimes), not a stand-in for a condition.
    const statuses = await whileCalling(busy, 50, () => sleep(WINDOW_MS))
    const windowMs = Date.now() - from

    const counters = app.backend.counters()
    const perTab = await Promise.all(
      busy.map((tab) =>
        tab.run((hooks) => ({
          events: hooks.events,
          failures: hooks.failures.slice(0, 5),
          refreshes: hooks.requests.filter((request) => request.path === '/auth/refresh').length,
        })),
      ),
    )
    const report = JSON.stringify({
      windowMs,
      counters,
      maxConcurrentRefreshes: app.gateway.maxConcurrentRefreshes,
      statuses,
      perTab,
    })
    for (const [i, tabStatuses] of statuses.entries()) {
      expect(Object.keys(tabStatuses), report).toEqual(['200'])
      expect(perTab[i]?.failures, report).toEqual([])
      expect(perTab[i]?.events, report).toMatchObject({ expired: 0, logout: 0, error: 0 })
    }
    expect(counters, report).toMatchObject({
      reuseDetected: 0,
      apiFailed: 0,
      refreshFailures: {},
    })
    // Several renewals, on the schedule (half the lifetime before expiry), not a storm.
    const schedule = scheduledRenewals(windowMs, LIFETIME_MS, 30_000)
    expect(counters.refreshes, report).toBeGreaterThanOrEqual(Math.max(3, schedule.min - 2))
    expect(counters.refreshes, report).toBeLessThanOrEqual(schedule.max + 1)
    // Never two refreshes in flight at once, each with the CSRF header and the current cookie.
    expect(app.gateway.maxConcurrentRefreshes, report).toBe(1)
    for (const refresh of app.gateway.refreshes) {
      expect(refresh, report).toMatchObject({ csrf: '1', cookie: true, status: 200 })
    }
    for (const tab of busy) expect(tab.problems, report).toEqual([])
  })

  it('ends in every tab when one tab logs out, with the cookie and the CSRF header', async () => {
    const app = await startApp()
    const { tabs: signedIn } = await signIn(app, 3)
    const [, middle] = signedIn as [BackendTab, BackendTab, BackendTab]

    expect(await middle.run((hooks) => hooks.logout())).toBeNull()

    expect(app.gateway.logouts).toEqual([
      expect.objectContaining({ csrf: '1', cookie: true, status: 204 }),
    ])
    expect(app.backend.counters().logouts).toBe(1)
    expect(
      (await chromium.context.cookies(`${app.url}/auth/refresh`)).filter(
        (cookie) => cookie.name === 'rt',
      ),
    ).toEqual([])
    for (const tab of signedIn) {
      await expect.poll(() => tab.run((hooks) => hooks.events.logout), POLL).toBe(1)
      expect(await tab.run((hooks) => hooks.accessToken())).toBeNull()
      expect(await tab.run((hooks) => hooks.callApi())).toBe('no_session')
      expect(await tab.run((hooks) => hooks.getAccessToken())).toEqual({ code: 'no_session' })
      expect(await tab.run((hooks) => hooks.events)).toMatchObject({ expired: 0, logout: 1 })
      for (const problem of tab.problems) expect(problem).toMatch(REFRESH_401)
    }
    expect(app.backend.counters()).toMatchObject({ logouts: 1, reuseDetected: 0, apiFailed: 0 })
  })

  it('expires in every tab once when the backend ends the session', async () => {
    const app = await startApp()
    const { tabs: signedIn } = await signIn(app, 3)
    const last = signedIn.at(-1) as BackendTab
    app.backend.revokeAll()

    // The API refuses the revoked token, the renewal for that 401 gets 401: the session is over.
    expect(await last.run((hooks) => hooks.callApi())).toBe('session_expired')

    for (const tab of signedIn) {
      await expect.poll(() => tab.run((hooks) => hooks.events.expired), POLL).toBe(1)
      expect(await tab.run((hooks) => hooks.accessToken())).toBeNull()
    }
    // Later calls ask the backend again (it may hold a new session) and find none.
    for (const tab of signedIn) {
      expect(await tab.run((hooks) => hooks.callApi())).toBe('no_session')
      expect(await tab.run((hooks) => hooks.events)).toMatchObject({ expired: 1, logout: 0 })
      // The tab whose call met the revoked token also logged the API's 401.
      for (const problem of tab.problems)
        expect(problem).toMatch(tab === last ? ANY_401 : REFRESH_401)
    }
    expect(app.backend.counters()).toMatchObject({ reuseDetected: 0, refreshes: 1 })
  })

  it('warns every tab before the session’s hard end, then expires at it without renewing past it', async () => {
    const SESSION_MS = 8_000
    const NOTICE_MS = 5_000
    // Tokens of 6 s, renewed 3 s before expiry: renewals at about 3 s and 6 s into the session,
    // none in its last second (see the next test for that case), and none due before the end.
    const app = await startApp({
      accessTokenLifetime: 6_000 + SLACK_MS,
      sessionLifetime: SESSION_MS,
    })
    const { tabs: signedIn, loginAt } = await signIn(app, 2, { sessionEndingNotice: NOTICE_MS })

    // Busy until every tab has had the notice; from then on only the schedule renews.
    const statuses = await whileCalling(signedIn, 200, () =>
      Promise.all(
        signedIn.map((tab) =>
          expect.poll(() => tab.run((hooks) => hooks.events['session-ending']), POLL).toBe(1),
        ),
      ),
    )
    for (const tab of signedIn) {
      await expect.poll(() => tab.run((hooks) => hooks.events.expired), POLL).toBe(1)
    }

    for (const [i, tab] of signedIn.entries()) {
      const { events, log, requests } = await tab.run((hooks) => ({
        events: hooks.events,
        log: hooks.log,
        requests: hooks.requests,
      }))
      const report = JSON.stringify({ loginAt, log, requests, statuses })
      expect(Object.keys(statuses[i] ?? {}), report).toEqual(['200'])
      expect(events, report).toMatchObject({ 'session-ending': 1, expired: 1, error: 0 })
      const ending = log.find((entry) => entry.type === 'session-ending')
      expect(ending?.endsAt, report).toBeGreaterThanOrEqual(loginAt + SESSION_MS - 1_500)
      expect(ending?.endsAt, report).toBeLessThanOrEqual(loginAt + SESSION_MS + 1_500)
      // The hard end the tab last knew of, and when the session ended.
      const expired = log.find((entry) => entry.type === 'expired')
      const endsAt = log.filter((entry) => entry.type === 'tokens').at(-1)?.endsAt
      expect(endsAt, report).toEqual(expect.any(Number))
      expect(expired?.at, report).toBeGreaterThanOrEqual((endsAt as number) - 20)
      // No renewal was sent at or after the end.
      for (const request of requests.filter((entry) => entry.path === '/auth/refresh')) {
        expect(request.sentAt, report).toBeLessThan(endsAt as number)
      }
    }
    // The backend never had to refuse a renewal: none came after the end it announced.
    expect(app.backend.counters()).toMatchObject({ refreshFailures: {}, reuseDetected: 0 })
    for (const tab of signedIn) expect(tab.problems).toEqual([])
  })

  it('ends the session at its hard end when a renewal in its last second reports 0 s left', async () => {
    const SESSION_MS = 4_000
    const app = await startApp({
      accessTokenLifetime: 60_000 + SLACK_MS,
      sessionLifetime: SESSION_MS,
    })
    const tab = await openTab(app)
    expect(await tab.run((hooks) => hooks.login())).toBe(200)
    // The backend's session ends at this moment, give or take the few ms of answering the login.
    const end = (app.gateway.loginAnsweredAt as number) + SESSION_MS
    // The first token comes with 3.5 s left, reported as 3: the client's hard end is then about
    // half a second before the backend's.
    app.gateway.holdNextRefreshUntil(end - 3_500)
    expect(await tab.run((hooks) => hooks.callApi())).toBe(200)
    const known = await tab.run((hooks) => hooks.refreshExpiresAt())
    // A renewal reaches the backend in its last second, before the client's end: the backend
    // renews and reports the whole seconds left, rounded down: `refreshExpiresIn: 0`.
    app.gateway.holdNextRefreshUntil(end - 750)

    const renewed = await tab.run((hooks) => hooks.refresh())
    const after = await tab.run((hooks) => ({
      token: hooks.accessToken(),
      endsAt: hooks.refreshExpiresAt(),
    }))
    const report = JSON.stringify({ end, known, renewed, after, refreshes: app.gateway.refreshes })
    expect(known, report).toBeGreaterThan(end - 1_000)
    expect(app.gateway.refreshes.at(-1), report).toMatchObject({ status: 200 })
    expect(renewed.token, report).toEqual(expect.any(String))
    // Either the session has already ended, or it still knows a hard end no later than the
    // backend's: "0 s left" is not "no end".
    expect(
      after.token === null || (typeof after.endsAt === 'number' && after.endsAt <= end),
      report,
    ).toBe(true)
    // The session ends at its end, not when its 60 s access token runs out.
    await expect.poll(() => tab.run((hooks) => hooks.events.expired), POLL).toBe(1)
    expect(await tab.run((hooks) => hooks.accessToken())).toBeNull()
  })

  it('keeps the session through a refresh the backend answers 503 once', async () => {
    const LIFETIME_MS = 6_000
    const app = await startApp({ accessTokenLifetime: LIFETIME_MS + SLACK_MS })
    const { tabs: signedIn } = await signIn(app, 2)
    const tokenBefore = await signedIn[0]?.run((hooks) => hooks.accessToken())
    app.gateway.reset()
    app.gateway.failNextRefreshes(1, 503)

    // Busy until the schedule met the 503 and a later refresh succeeded.
    const statuses = await whileCalling(signedIn, 100, () =>
      expect
        .poll(() => {
          const refreshes = app.gateway.refreshes
          const failed = refreshes.findIndex((refresh) => refresh.injected)
          return failed >= 0 && refreshes.slice(failed + 1).some((r) => r.status === 200)
        }, POLL)
        .toBe(true),
    )

    const refreshes = app.gateway.refreshes
    const perTab = await Promise.all(
      signedIn.map((tab) =>
        tab.run((hooks) => ({
          events: hooks.events,
          failures: hooks.failures,
          token: hooks.accessToken(),
        })),
      ),
    )
    const report = JSON.stringify({ refreshes, statuses, perTab, counters: app.backend.counters() })
    for (const [i, tab] of perTab.entries()) {
      expect(Object.keys(statuses[i] ?? {}), report).toEqual(['200'])
      // One failed request is retried in place: the renewal, and every call, succeeded.
      expect(tab.events, report).toMatchObject({ expired: 0, logout: 0, error: 0 })
      expect(tab.failures, report).toEqual([])
      expect(tab.token, report).not.toBe(tokenBefore)
      expect(tab.token, report).toBe(perTab[0]?.token)
    }
    expect(app.backend.counters(), report).toMatchObject({
      reuseDetected: 0,
      apiFailed: 0,
      refreshFailures: {},
    })
    expect(app.gateway.maxConcurrentRefreshes, report).toBe(1)
    expect(refreshes.map((refresh) => refresh.status).slice(0, 2), report).toEqual([503, 200])
    // The one console error: the 503, in the tab that met it.
    expect(signedIn.flatMap((tab) => tab.problems)).toEqual([
      expect.stringMatching(/status of 503 .*\(\/auth\/refresh\)$/),
    ])
  })

  it('goes on calling with the current token while the backend fails renewals, then renews', async () => {
    // Long enough that the renewal, due 10 s before expiry, can fail three times (pauses of about
    // 1 s, 2 s, then 4 s) and be tried again on the schedule before the token expires.
    const LIFETIME_MS = 20_000
    const app = await startApp({ accessTokenLifetime: LIFETIME_MS + SLACK_MS })
    const { tabs: signedIn } = await signIn(app, 2)
    const tokenBefore = await signedIn[0]?.run((hooks) => hooks.accessToken())
    app.gateway.reset()
    app.gateway.failNextRefreshes(3, 503)

    const renewed = () => app.gateway.refreshes.some((refresh) => refresh.status === 200)
    const statuses = await whileCalling(signedIn, 100, () =>
      expect.poll(renewed, { ...POLL, timeout: 40_000 }).toBe(true),
    )

    const refreshes = app.gateway.refreshes
    const lastFailure = refreshes.filter((refresh) => refresh.injected).at(-1)?.at as number
    const renewal = refreshes.find((refresh) => refresh.status === 200)?.at as number
    const between = app.gateway.apiCalls.filter(
      (call) => call.at > lastFailure && call.at < renewal,
    )
    const perTab = await Promise.all(
      signedIn.map((tab) =>
        tab.run((hooks) => ({ events: hooks.events, failures: hooks.failures })),
      ),
    )
    const report = JSON.stringify({
      refreshes,
      between: between.length,
      statuses,
      perTab,
      counters: app.backend.counters(),
    })
    expect(
      refreshes.map((refresh) => refresh.status),
      report,
    ).toEqual([503, 503, 503, 200])
    // After the third failure the renewal gave up for now ('error'), and the calls went on with
    // the current token until the schedule renewed.
    expect(between.length, report).toBeGreaterThan(0)
    for (const call of between) {
      expect(call, report).toMatchObject({ bearer: tokenBefore, status: 200 })
    }
    for (const [i, tab] of perTab.entries()) {
      expect(Object.keys(statuses[i] ?? {}), report).toEqual(['200'])
      expect(tab.events, report).toMatchObject({ expired: 0, logout: 0 })
    }
    // The failure was reported ('error'), at most once in each tab: a sibling whose renewal
    // waited for the lock meanwhile meets the pause and reports it too.
    const errors = perTab.map((tab) => tab.events.error)
    expect(Math.max(...errors), report).toBe(1)
    expect(app.backend.counters(), report).toMatchObject({ reuseDetected: 0, apiFailed: 0 })
    for (const tab of signedIn) {
      for (const problem of tab.problems) {
        expect(problem, report).toMatch(/status of 503 .*\(\/auth\/refresh\)$/)
      }
    }
  })
})
