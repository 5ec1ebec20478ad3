// @vitest-environment node
/**
 * Sign-in in real Chromium against a real OpenID Provider (oidc-provider 9 on loopback, its own
 * login and consent pages filled as a user would): redirect and popup logins, `prompt=none`, the
 * provider's errors, responses tampered with or replayed, and the 0.2 lifecycle (renewal across
 * tabs, logout with RP-initiated logout) on the session a login gave.
 *
 * The app (test/e2e/sign-in-app.ts) lives on a loopback origin of its own, the provider on
 * another; each test has a browser context of its own (its own cookies at the provider), and no
 * request leaves loopback.
 */
import type { BrowserContext } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { DEV_INTERACTIONS } from '../servers/oidc-provider.js'
import { E2E_TIME_LIMIT } from './chromium.js'
import {
  launchSignInBrowser,
  type SignInApp,
  type SignInBrowser,
  type SignInOutcome,
  type SignInPageOptions,
  type SignInTab,
  signInOnProvider,
  startSignInApp,
  waitForLoginForm,
} from './sign-in-app.js'

vi.setConfig(E2E_TIME_LIMIT)

/** Access-token lifetime (s) of the tests that watch a session live and end. */
const SHORT_TTL = 3
/** Bounds every wait for something a page or the provider does. */
const POLL = { timeout: 15_000, interval: 20 }

let browser: SignInBrowser | undefined
let app: SignInApp
const contexts: BrowserContext[] = []

beforeAll(async () => {
  const [launched, started] = await Promise.allSettled([launchSignInBrowser(), startSignInApp()])
  // afterAll runs even when this fails, and stops whichever one started.
  if (launched.status === 'fulfilled') browser = launched.value
  if (started.status === 'fulfilled') app = started.value
  for (const result of [launched, started]) if (result.status === 'rejected') throw result.reason
})

afterAll(async () => {
  await Promise.all([browser?.close(), app?.close()])
})

beforeEach(() => {
  app.provider.setAccessTokenTtl(60)
  app.provider.resetCounters()
})

afterEach(async () => {
  app.interceptCallback(undefined)
  await Promise.all(contexts.splice(0).map((context) => context.close()))
  // The provider never failed on its own, and nothing left loopback.
  expect(app.provider.counters().serverErrors).toEqual([])
  expect(app.escapedRequests).toEqual([])
})

/** A fresh browser session: no cookies at the provider, empty storage. */
async function newContext(options: SignInPageOptions = {}): Promise<BrowserContext> {
  const context = await app.newContext((browser as SignInBrowser).browser, options)
  contexts.push(context)
  return context
}

/** Console errors and uncaught exceptions of the app's own pages (the provider's excluded). */
function appProblems(tab: SignInTab): string[] {
  return tab.problems.filter((problem) => problem.startsWith(app.origin))
}

/** Clicks "Sign in" (redirect), fills the provider's forms, and returns handleRedirect's outcome. */
async function redirectLogin(
  tab: SignInTab,
  form: { login?: string; consent?: boolean } = {},
): Promise<SignInOutcome> {
  await tab.page.click('#login')
  await signInOnProvider(tab.page, form)
  return tab.redirectOutcome()
}

/** Waits until the last loginPopup() of `tab` settled; returns its outcome. */
async function popupOutcome(tab: SignInTab): Promise<SignInOutcome> {
  await tab.page.waitForFunction(() => window.signInApp.popup().status !== 'pending', undefined, {
    timeout: POLL.timeout,
  })
  return tab.run((hooks) => hooks.popup())
}

/** Clicks "Sign in with a popup" and returns the popup, with a promise of its closing. */
async function openPopup(context: BrowserContext, tab: SignInTab) {
  const [page] = await Promise.all([
    context.waitForEvent('page', { timeout: POLL.timeout }),
    tab.page.click('#login-popup'),
  ])
  // Listened to at once: the popup may close itself before the test looks.
  const closed = new Promise<void>((resolve) => page.once('close', () => resolve()))
  return { popup: app.watchPage(page), closed }
}

/** `promise`, or a rejection naming `what` when it does not settle within {@link POLL}'s bound. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not within ${POLL.timeout} ms`)),
      POLL.timeout,
    )
  })
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer))
}

const loginError = (error: string) => ({
  status: 'failed',
  error: expect.objectContaining({ name: 'LoginError', code: 'login_failed', error }),
})

describe('signing in at oidc-provider', () => {
  it('signs in by redirect: tokens and the app state at /callback, the response gone from the address bar, a 401 replayed', async () => {
    const context = await newContext({ storage: 'session' })
    const tab = await app.openPage(context)

    await tab.page.click('#login')
    expect(await signInOnProvider(tab.page, { login: 'redirect-user' })).toEqual([
      'login',
      'consent',
    ])
    const outcome = await tab.redirectOutcome()

    expect(outcome).toMatchObject({
      status: 'signed-in',
      state: { returnTo: '/x' },
      tokens: { accessToken: expect.any(String), hasRefreshToken: true, hasIdToken: true },
    })
    // No code, state or iss left in the address bar (nor in the history entry).
    expect(tab.page.url()).toBe(app.callbackUrl)
    expect(await tab.run((hooks) => hooks.session())).toMatchObject({
      sub: 'redirect-user',
      accessToken: outcome.tokens?.accessToken,
      hasRefreshToken: true,
    })
    // The access token is one the provider's userinfo API accepts, from the app's origin, after
    // a CORS preflight the provider itself answered (the request carries Authorization).
    expect(await tab.run((hooks) => hooks.userinfo())).toBe(200)
    expect(app.provider.counters().preflights).toBeGreaterThan(0)
    expect(app.provider.counters().corsRejections).toBe(0)
    // The attempt was used up: nothing of it is left in the tab's storage.
    expect(await tab.page.evaluate(() => sessionStorage.getItem('freshtoken:login:spa'))).toBeNull()
    expect(app.provider.counters()).toMatchObject({
      authorizationRequests: 1,
      authorizationCodes: 1,
      tokenRequests: { authorization_code: 1 },
      tokenErrors: {},
    })

    // With sessionStorage, a reload keeps the session; the cleaned URL is no response to handle.
    await tab.page.reload()
    await tab.ready()
    await expect.poll(() => tab.run((hooks) => hooks.redirect.status), POLL).toBe('none')
    expect(await tab.run((hooks) => hooks.session()?.accessToken)).toBe(outcome.tokens?.accessToken)
    expect(app.provider.counters().tokenRequests).toEqual({ authorization_code: 1 })
    expect(appProblems(tab)).toEqual([])

    // The provider retires the access token while it still has time left (its RFC 7009
    // revocation would revoke the whole grant): the next call meets a 401, renews once (a
    // rotation) and is replayed with the new token.
    expect(await app.provider.forgetAccessToken(outcome.tokens?.accessToken as string)).toBe(true)
    expect(await tab.run((hooks) => hooks.userinfo())).toBe(200)
    expect(await tab.run((hooks) => hooks.responses.api401s)).toBe(1)
    expect(app.provider.counters().tokenRequests).toEqual({
      authorization_code: 1,
      refresh_token: 1,
    })
    expect(await tab.run((hooks) => hooks.session()?.accessToken)).not.toBe(
      outcome.tokens?.accessToken,
    )
  })

  it('signs in with a popup that closes itself; the opener redeems the code once', async () => {
    const context = await newContext()
    const tab = await app.openPage(context)

    const { popup, closed } = await openPopup(context, tab)
    expect(await signInOnProvider(popup.page, { login: 'popup-user' })).toEqual([
      'login',
      'consent',
    ])
    await within(closed, 'the popup closing itself')
    const outcome = await popupOutcome(tab)

    expect(outcome).toMatchObject({
      status: 'signed-in',
      tokens: { accessToken: expect.any(String), hasRefreshToken: true, hasIdToken: true },
    })
    expect(await tab.run((hooks) => hooks.session())).toMatchObject({
      sub: 'popup-user',
      accessToken: outcome.tokens?.accessToken,
    })
    expect(await tab.run((hooks) => hooks.userinfo())).toBe(200)
    // The opener never left its page.
    expect(tab.page.url()).toBe(`${app.origin}/`)
    expect(app.provider.counters()).toMatchObject({
      authorizationRequests: 1,
      authorizationCodes: 1,
      tokenRequests: { authorization_code: 1 },
      tokenErrors: {},
    })
    expect(appProblems(tab)).toEqual([])
    expect(appProblems(popup)).toEqual([])
  })

  it('rejects popup_closed when the user closes the popup on the login form', async () => {
    const context = await newContext()
    const tab = await app.openPage(context)

    const { popup } = await openPopup(context, tab)
    await waitForLoginForm(popup.page)
    await popup.page.close()

    expect(await popupOutcome(tab)).toMatchObject(loginError('popup_closed'))
    expect(await tab.run((hooks) => hooks.session())).toBeNull()
    expect(app.provider.counters()).toMatchObject({
      authorizationRequests: 1,
      authorizationCodes: 0,
      tokenRequests: {},
    })
    expect(appProblems(tab)).toEqual([])
  })

  it('rejects access_denied when the user cancels on the consent page', async () => {
    const context = await newContext()
    const tab = await app.openPage(context)

    expect(await redirectLogin(tab, { consent: false })).toMatchObject(loginError('access_denied'))
    expect(tab.page.url()).toBe(app.callbackUrl)
    expect(await tab.run((hooks) => hooks.session())).toBeNull()
    expect(app.provider.counters()).toMatchObject({
      authorizationErrors: { access_denied: 1 },
      tokenRequests: {},
    })
    expect(appProblems(tab)).toEqual([])
  })
})

/**
 * Signs in once in a new browser session (leaving a session at the provider), closes that tab
 * (memory storage: the app's session goes with it), then signs in again in a new tab with
 * `prompt=none`. Returns the new tab, handleRedirect's outcome there, and the URLs that tab's
 * main frame visited.
 */
async function silentSignIn(login: string) {
  const context = await newContext()
  const first = await app.openPage(context)
  expect(await redirectLogin(first, { login })).toMatchObject({ status: 'signed-in' })
  await first.close()
  app.provider.resetCounters()

  const tab = await app.openPage(context)
  const visited: string[] = []
  tab.page.on('framenavigated', (frame) => {
    if (frame === tab.page.mainFrame()) visited.push(frame.url())
  })
  expect(await tab.run((hooks) => hooks.session())).toBeNull()
  await tab.run((hooks) => hooks.setLoginOptions({ redirect: { prompt: 'none' } }))
  await tab.page.click('#login')
  return { tab, outcome: await tab.redirectOutcome(), visited }
}

describe('prompt=none at oidc-provider', () => {
  it('restores a session from the provider session without a form; it serves API calls until its access token expires', async () => {
    app.provider.setAccessTokenTtl(SHORT_TTL)
    const { tab, outcome, visited } = await silentSignIn('silent-user')

    // oidc-provider drops offline_access without prompt=consent: no refresh token.
    expect(outcome).toMatchObject({
      status: 'signed-in',
      tokens: { accessToken: expect.any(String), hasRefreshToken: false, hasIdToken: true },
    })
    expect(visited.filter((url) => url.includes(DEV_INTERACTIONS.interactionPath))).toEqual([])
    expect(await tab.run((hooks) => hooks.session())).toMatchObject({ sub: 'silent-user' })
    expect(app.provider.counters()).toMatchObject({
      authorizationRequests: 1,
      authorizationCodes: 1,
      tokenRequests: { authorization_code: 1 },
    })

    // The app goes on calling the API: the session serves it while its access token lasts, then
    // ends as 'expired', without asking the token endpoint (it has nothing to renew with).
    await tab.run((hooks) => hooks.startLoop(100))
    await tab.page.waitForFunction(() => window.signInApp.events.expired > 0, undefined, {
      timeout: POLL.timeout,
    })
    const statuses = await tab.run((hooks) => hooks.stopLoop())
    const { timeline, events } = await tab.run((hooks) => ({
      timeline: hooks.timeline,
      events: hooks.events,
    }))
    expect(statuses['200']).toBeGreaterThan(0)
    // The last call may have met the provider's expiry first (its `expires_in` is in whole
    // seconds, counted before the response travelled): a 401, after which the session ends too.
    // The session ends at the access token's expiry by its own timer, so the loop may stop before
    // any call met the end; a call that did was refused with session_expired.
    const { '200': _ok, ...ended } = statuses
    expect(Object.keys(ended).filter((status) => status !== 'session_expired')).toEqual(
      ended['401'] === 1 ? ['401'] : [],
    )
    expect(events).toMatchObject({ expired: 1, refresh: 0, error: 0 })
    const expiredAt = timeline.find((entry) => entry.type === 'expired')?.at as number
    // The access token was good until its expiry: the session ended no earlier than that (a
    // second's slack for the provider's whole-second `expires_in`).
    expect(expiredAt).toBeGreaterThanOrEqual((outcome.tokens?.expiresAt as number) - 1_000)
    expect(await tab.run((hooks) => hooks.getAccessToken())).toEqual({ code: 'session_expired' })
    expect(await tab.run((hooks) => hooks.session())).toBeNull()
    expect(app.provider.counters().tokenRequests).toEqual({ authorization_code: 1 })
    // The only console error allowed is that one 401 (the browser logs every failed request).
    expect(appProblems(tab).filter((problem) => !/status of 401/.test(problem))).toEqual([])
  })

  // The session above cannot renew: its access token's expiry is its hard end. An app that shows
  // "signed in" from `auth.tokens`, or waits for 'expired' to say the session is over, must
  // learn it then, not at its next API call.
  it('ends a session that cannot renew when its access token expires, in an idle app too', async () => {
    app.provider.setAccessTokenTtl(SHORT_TTL)
    const { tab, outcome } = await silentSignIn('idle-user')
    expect(outcome).toMatchObject({ status: 'signed-in', tokens: { hasRefreshToken: false } })
    const expiresAt = outcome.tokens?.expiresAt as number

    // No API call: nothing but the SDK's own timers can end the session.
    await expect
      .poll(() => tab.run((hooks) => hooks.events.expired), {
        ...POLL,
        timeout: Math.max(0, expiresAt - Date.now()) + POLL.timeout,
      })
      .toBe(1)
    const expiredAt = await tab.run(
      (hooks) => hooks.timeline.find((entry) => entry.type === 'expired')?.at,
    )
    expect(expiredAt).toBeGreaterThanOrEqual(expiresAt - 1_000)
    expect(await tab.run((hooks) => hooks.session())).toBeNull()
    expect(app.provider.counters().tokenRequests).toEqual({ authorization_code: 1 })
    expect(appProblems(tab)).toEqual([])
  })

  it('rejects login_required without a provider session, after one authorization request', async () => {
    const context = await newContext()
    const tab = await app.openPage(context)

    await tab.run((hooks) => hooks.setLoginOptions({ redirect: { prompt: 'none' } }))
    await tab.page.click('#login')

    expect(await tab.redirectOutcome()).toMatchObject(loginError('login_required'))
    expect(tab.page.url()).toBe(app.callbackUrl)
    expect(await tab.run((hooks) => hooks.session())).toBeNull()
    // No loop: the page stays on the callback, and the provider saw one request.
    expect(await tab.run((hooks) => hooks.redirect.status)).toBe('failed')
    expect(app.provider.counters()).toMatchObject({
      authorizationRequests: 1,
      authorizationErrors: { login_required: 1 },
      tokenRequests: {},
    })
    expect(appProblems(tab)).toEqual([])
  })
})

describe('authorization responses that are not this tab’s', () => {
  it('rejects state_mismatch for a response whose state was changed, and redeems no code', async () => {
    const context = await newContext()
    const tab = await app.openPage(context)
    app.interceptCallback((url) => url.searchParams.set('state', 'tampered'))

    expect(await redirectLogin(tab)).toMatchObject(loginError('state_mismatch'))
    expect(tab.page.url()).toBe(app.callbackUrl)
    expect(await tab.run((hooks) => hooks.session())).toBeNull()
    expect(app.provider.counters()).toMatchObject({ authorizationCodes: 1, tokenRequests: {} })
    expect(appProblems(tab)).toEqual([])
  })

  it.each([
    ['another issuer', (url: URL) => url.searchParams.set('iss', 'http://127.0.0.1:1')],
    ['no iss (the provider promised one)', (url: URL) => url.searchParams.delete('iss')],
  ])('rejects iss_mismatch for a response with %s, and redeems no code', async (_, change) => {
    const context = await newContext()
    const tab = await app.openPage(context)
    app.interceptCallback(change)

    expect(await redirectLogin(tab)).toMatchObject(loginError('iss_mismatch'))
    expect(await tab.run((hooks) => hooks.session())).toBeNull()
    expect(app.provider.counters()).toMatchObject({ authorizationCodes: 1, tokenRequests: {} })
    expect(appProblems(tab)).toEqual([])
  })

  it('rejects state_mismatch for a replayed callback, keeps the session, and redeems the code once', async () => {
    const context = await newContext({ storage: 'session' })
    const tab = await app.openPage(context)
    const callbacks: string[] = []
    tab.page.on('request', (request) => {
      const url = new URL(request.url())
      if (request.isNavigationRequest() && url.pathname === '/callback') callbacks.push(url.href)
    })
    const outcome = await redirectLogin(tab)
    expect(outcome).toMatchObject({ status: 'signed-in' })
    expect(callbacks).toEqual([expect.stringContaining('code=')])

    // The exact callback URL again, as a back button or a history entry would bring it.
    await tab.page.goto(callbacks[0] as string)

    expect(await tab.redirectOutcome()).toMatchObject(loginError('state_mismatch'))
    expect(tab.page.url()).toBe(app.callbackUrl)
    expect(await tab.run((hooks) => hooks.session()?.accessToken)).toBe(outcome.tokens?.accessToken)
    expect(app.provider.counters()).toMatchObject({
      authorizationCodes: 1,
      tokenRequests: { authorization_code: 1 },
      tokenErrors: {},
    })
    expect(appProblems(tab)).toEqual([])
  })
})

describe('the session a login gave, through its whole life', () => {
  it('renews across 4 tabs without reuse or failed calls, then ends everywhere with RP-initiated logout', async () => {
    app.provider.setAccessTokenTtl(SHORT_TTL)
    const context = await newContext()
    const first = await app.openPage(context)
    expect(await redirectLogin(first, { login: 'lifecycle-user' })).toMatchObject({
      status: 'signed-in',
      tokens: { hasRefreshToken: true },
    })
    const tabs = [first]
    // With memory storage, each new tab asks its siblings for the session.
    for (let i = 1; i < 4; i++) {
      const tab = await app.openPage(context)
      const joined = await tab.run((hooks) => hooks.getAccessToken())
      expect(joined.token, `tab ${i + 1} did not join: ${joined.code}`).toEqual(expect.any(String))
      tabs.push(tab)
    }

    // Every tab calls the provider's userinfo API through several access-token lifetimes (the
    // duration is the behaviour under test).
    const grantsBefore = app.provider.counters().tokenRequests.refresh_token ?? 0
    await Promise.all(tabs.map((tab) => tab.run((hooks) => hooks.startLoop(100))))
    await new Promise((resolve) => setTimeout(resolve, 15_000))
    const statuses = await Promise.all(tabs.map((tab) => tab.run((hooks) => hooks.stopLoop())))

    for (const [i, tab] of tabs.entries()) {
      expect(Object.keys(statuses[i] ?? {}), `tab ${i + 1}`).toEqual(['200'])
      expect(await tab.run((hooks) => hooks.failures), `tab ${i + 1}`).toEqual([])
      expect(await tab.run((hooks) => hooks.events), `tab ${i + 1}`).toMatchObject({
        expired: 0,
        error: 0,
        logout: 0,
      })
    }
    const renewed = app.provider.counters()
    expect((renewed.tokenRequests.refresh_token ?? 0) - grantsBefore).toBeGreaterThanOrEqual(3)
    expect(renewed).toMatchObject({ refreshTokenReuses: 0, tokenErrors: {}, grantsRevoked: {} })

    // Sign out in the second tab, ending the provider's session too.
    const [, leaving, ...others] = tabs as [SignInTab, SignInTab, ...SignInTab[]]
    await leaving.run(
      (hooks, postLogoutRedirectUri) =>
        hooks.setLogoutOptions({ endSession: true, postLogoutRedirectUri }),
      app.signedOutUrl,
    )
    await leaving.page.click('#logout')

    for (const tab of [first, ...others]) {
      await expect.poll(() => tab.run((hooks) => hooks.events.logout), POLL).toBe(1)
      expect(await tab.run((hooks) => hooks.session())).toBeNull()
      expect(await tab.run((hooks) => hooks.getAccessToken())).toEqual({ code: 'no_session' })
    }
    // oidc-provider asks the user to confirm, even with id_token_hint.
    await leaving.page
      .locator(DEV_INTERACTIONS.selectors.logoutConfirm)
      .waitFor({ timeout: POLL.timeout })
    expect(new URL(leaving.page.url()).pathname).toBe('/session/end')
    await leaving.page.click(DEV_INTERACTIONS.selectors.logoutConfirm)
    await leaving.page.waitForURL((url) => url.href.startsWith(app.signedOutUrl), POLL)
    await leaving.ready()
    await expect.poll(() => leaving.run((hooks) => hooks.redirect.status), POLL).toBe('none')
    expect(await leaving.run((hooks) => hooks.session())).toBeNull()

    expect(app.provider.counters()).toMatchObject({
      revocationRequests: 1,
      grantsRevoked: { revocation: 1 },
      endSessionRequests: expect.any(Number),
      logouts: 1,
      refreshTokenReuses: 0,
    })
    for (const tab of tabs) expect(appProblems(tab)).toEqual([])
  })
})
