// @vitest-environment node
/**
 * The demo page (demo/) in Debian's Chromium: built against dist/ as `npm run demo` builds it,
 * served on 127.0.0.1 with its OpenID Provider (demo/auth-server.mjs), driven through its buttons
 * and the provider's login pages, read through its DOM.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { root } from '../../bench/dist-freshness.mjs'
import { buildDemo } from '../../demo/build.mjs'
import { startDemo } from '../../demo/serve.mjs'
import { DEV_INTERACTIONS } from '../servers/oidc-provider.js'
import {
  CHROMIUM,
  CHROMIUM_FLAGS,
  type ChromiumSession,
  E2E_TIME_LIMIT,
  launchChromium,
} from './chromium.js'

vi.setConfig(E2E_TIME_LIMIT)

/** Bound of every wait on the page, in milliseconds. */
const WAIT = 5_000
/**
 * Console errors the demo causes on purpose: Chromium reports every 4xx answer, and the demo makes
 * the API answer 401 and the token endpoint 400 `invalid_grant`.
 */
const EXPECTED_CONSOLE_ERROR =
  /^Failed to load resource: the server responded with a status of 40[01]/

/**
 * The demo's session at its OpenID Provider, short enough to watch it end: `'session-ending'`
 * {@link SESSION_ENDING_NOTICE} ms before the end, a renewal every few seconds before that.
 */
const SESSION = { accessTokenTtl: 4, sessionTtl: 20, sessionEndingNotice: 10_000 }
/** Bound of a wait for the session's end, which comes {@link SESSION}.sessionTtl s after login. */
const SESSION_WAIT = 40_000

/**
 * Chromium's resolver answers every host name but loopback's with "not found", so the provider's
 * pages' `@import` of a Google font fails at once and nothing leaves the machine.
 */
const LOOPBACK_ONLY = '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'

let browser: ChromiumSession
/** A browser without a profile, for sign-ins: each context is a fresh browser session. */
let signInBrowser: Browser | undefined
let server: { readonly url: string; readonly signInUrl: string; close(): Promise<void> }
let page: Page
const problems: string[] = []

/**
 * Opens a page that records, in `problems`, its unexpected console errors and uncaught errors on
 * the demo's origin (the provider's pages, which it visits to sign in, are not the demo's).
 */
function watch(target: Page): Page {
  target.on('console', (message) => {
    if (!message.location().url.startsWith(server.url)) return
    if (message.type() === 'error' && !EXPECTED_CONSOLE_ERROR.test(message.text())) {
      problems.push(`console: ${message.text()}`)
    }
  })
  target.on('pageerror', (error) => {
    if (target.url().startsWith(server.url)) problems.push(`page error: ${error.message}`)
  })
  return target
}

async function openDemo(target: Page, query = ''): Promise<void> {
  await target.goto(`${server.url}${query}`)
  await target.waitForSelector('body[data-ready="true"]', { timeout: WAIT })
}

function waitForState(target: Page, state: string, timeout = WAIT): Promise<unknown> {
  return target.waitForSelector(`#state[data-state="${state}"]`, { timeout })
}

/** Fills the provider's login form (any password is accepted) and grants the consent. */
async function signInOnProvider(target: Page, login: string): Promise<void> {
  const { selectors } = DEV_INTERACTIONS
  await target.locator(selectors.loginForm).waitFor({ timeout: WAIT })
  await target.fill(selectors.loginInput, login)
  await target.fill(selectors.passwordInput, 'password')
  await target.click(selectors.loginSubmit)
  await target.locator(selectors.consentForm).waitFor({ timeout: WAIT })
  await target.click(selectors.consentSubmit)
}

/** A tab of a fresh browser session (no cookies at the provider, empty storage) on /sign-in. */
async function openSignInPage(): Promise<Page> {
  const context = await (signInBrowser as Browser).newContext()
  const tab = watch(await context.newPage())
  await openDemo(tab, 'sign-in')
  return tab
}

/** Clicks a control and waits for the result line of that action. */
async function run(target: Page, action: string): Promise<Record<string, string>> {
  await target.click(`#${action}`)
  const result = await target.waitForSelector(`#result[data-action="${action}"]`, {
    timeout: WAIT,
  })
  return result.evaluate((element) => ({ ...(element as HTMLElement).dataset }) as never)
}

function timelineKinds(target: Page): Promise<string[]> {
  return target.$$eval('#timeline li', (items) => items.map((item) => item.dataset.kind ?? ''))
}

beforeAll(async () => {
  const [dir, session, plain] = await Promise.all([
    buildDemo(),
    launchChromium(),
    chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_FLAGS, LOOPBACK_ONLY] }),
  ])
  browser = session
  signInBrowser = plain
  server = await startDemo(dir, SESSION)
  page = watch(await browser.context.newPage())
})

afterAll(async () => {
  if (page !== undefined) {
    mkdirSync(join(root, 'test-results'), { recursive: true })
    await page
      .screenshot({ path: join(root, 'test-results', 'demo.png'), fullPage: true })
      .catch(() => undefined)
  }
  await browser?.close()
  await signInBrowser?.close().catch(() => undefined)
  await server?.close()
})

describe('the demo page', () => {
  it('starts a session against the in-page mock and renews it on its own within seconds', async () => {
    await openDemo(page)
    await waitForState(page, 'active')
    const first = Number(await page.getAttribute('#countdown', 'data-ms'))
    expect(first).toBeGreaterThan(0)
    expect(first).toBeLessThanOrEqual(10_000)
    await page.waitForFunction(
      (start) => Number(document.querySelector('#countdown')?.getAttribute('data-ms')) < start,
      first,
      { timeout: WAIT },
    )
    expect(await page.textContent('#access-token')).toMatch(/^.{4}…$/)
    // The default 10 s access token is renewed 5 s (half its life) or less before it expires.
    await page.waitForSelector('#timeline li[data-kind="refresh"]', { timeout: 8_000 })
    await waitForState(page, 'active')
    expect(problems).toEqual([])
  })

  it('calls the API with the access token', async () => {
    // Longer-lived tokens from here on, so no proactive renewal lands inside a measurement.
    await openDemo(page, '?accessTokenLifetime=60000')
    await waitForState(page, 'active')
    expect(await run(page, 'call-api')).toMatchObject({ ok: '1', status: '200' })
    expect(problems).toEqual([])
  })

  it('answers 50 parallel calls after the server expired the token with exactly one renewal', async () => {
    await run(page, 'expire-now')
    const before = Number(await page.textContent('#token-requests'))
    const renewalsBefore = (await timelineKinds(page)).filter((kind) => kind === 'refresh').length
    expect(await run(page, 'call-api-parallel')).toMatchObject({
      ok: '50',
      failed: '0',
      tokenRequests: '1',
    })
    expect(Number(await page.textContent('#token-requests'))).toBe(before + 1)
    const kinds = await timelineKinds(page)
    expect(kinds).toContain('retry-401')
    expect(kinds.filter((kind) => kind === 'refresh')).toHaveLength(renewalsBefore + 1)
    await waitForState(page, 'active')
    expect(problems).toEqual([])
  })

  it('ends the session cleanly when the refresh token was revoked and the next renewal fails', async () => {
    await run(page, 'revoke-refresh')
    await run(page, 'expire-now')
    expect(await run(page, 'call-api')).toMatchObject({ ok: '0', failed: '1' })
    await waitForState(page, 'expired')
    expect(await timelineKinds(page)).toContain('expired')
    expect(await page.textContent('#access-token')).toBe('—')
    expect(problems).toEqual([])
  })

  it('signs in again and logs out', async () => {
    await run(page, 'sign-in')
    await waitForState(page, 'active')
    await run(page, 'logout')
    await waitForState(page, 'logged-out')
    expect(await timelineKinds(page)).toContain('logout')
    expect(problems).toEqual([])
  })

  it('opens another tab that joins the same session instead of starting its own', async () => {
    await run(page, 'sign-in')
    await waitForState(page, 'active')
    const [other] = await Promise.all([
      browser.context.waitForEvent('page', { timeout: WAIT }),
      page.click('#open-tab'),
    ])
    watch(other)
    await other.waitForSelector('body[data-ready="true"]', { timeout: WAIT })
    await waitForState(other, 'active')
    const fingerprint = '#fingerprint[data-fingerprint]'
    await Promise.all([page, other].map((tab) => tab.waitForSelector(fingerprint)))
    expect(await other.getAttribute(fingerprint, 'data-fingerprint')).toBe(
      await page.getAttribute(fingerprint, 'data-fingerprint'),
    )
    const kinds = await timelineKinds(other)
    expect(kinds).toContain('adopted')
    expect(kinds).not.toContain('started')
    expect(problems).toEqual([])
  })

  it('points at a real token server set in the URL and starts from a pasted token response', async () => {
    // Another client id than the mock's, so this tab has no sibling session to join.
    const query = new URLSearchParams({
      tokenEndpoint: 'http://127.0.0.1:9/oauth/token',
      clientId: 'real-client',
      api: 'http://127.0.0.1:9/me',
    })
    const real = watch(await browser.context.newPage())
    await openDemo(real, `?${query}`)
    await waitForState(real, 'none')
    expect(await real.isDisabled('#expire-now')).toBe(true)
    expect(await real.inputValue('input[name="clientId"]')).toBe('real-client')
    const response = { access_token: 'pasted-token', token_type: 'Bearer', expires_in: 300 }
    await real.fill('textarea[name="tokenResponse"]', JSON.stringify(response))
    await real.click('#token-form button[type="submit"]')
    await waitForState(real, 'active')
    expect(await real.textContent('#access-token')).toBe('past…')
    expect(Number(await real.getAttribute('#countdown', 'data-ms'))).toBeGreaterThan(290_000)
    expect(await real.inputValue('textarea[name="tokenResponse"]')).toBe('')
    await real.close()
    expect(problems).toEqual([])
  })
})

describe('signing in on the demo page at its OpenID Provider', () => {
  it('signs in by redirect, shows the user, warns before the session ends, and ends it', async () => {
    const tab = await openSignInPage()
    await waitForState(tab, 'none')
    expect(await tab.isVisible('#login')).toBe(true)

    await tab.click('#login')
    await signInOnProvider(tab, 'redirect-user')
    // Back at the redirect URI: handleRedirect() took the response and cleaned the address bar.
    await tab.waitForURL(server.signInUrl, { timeout: WAIT })
    await tab.waitForSelector('body[data-ready="true"]', { timeout: WAIT })
    await waitForState(tab, 'active')
    expect(await tab.textContent('#user')).toBe('redirect-user')
    expect(await tab.getAttribute('#result', 'data-action')).toBe('sign-in')
    // The provider's refresh_expires_in gave the session's hard end.
    const left = Number(await tab.getAttribute('#session-countdown', 'data-ms'))
    expect(left).toBeGreaterThan(0)
    expect(left).toBeLessThanOrEqual(SESSION.sessionTtl * 1000)

    await tab.waitForSelector('#session-notice[data-kind="ending"]', {
      state: 'visible',
      timeout: SESSION_WAIT,
    })
    await waitForState(tab, 'expired', SESSION_WAIT)
    await tab.waitForSelector('#session-notice[data-kind="ended"]', { state: 'visible' })
    const kinds = await timelineKinds(tab)
    expect(kinds).toContain('started')
    expect(kinds).toContain('session-ending')
    expect(kinds).toContain('expired')
    // Renewals kept the session going until its end, rotated tokens keeping that end.
    expect(kinds).toContain('refresh')
    expect(kinds.indexOf('expired')).toBeLessThan(kinds.indexOf('session-ending'))
    await tab.context().close()
    expect(problems).toEqual([])
  })

  it('signs in with a popup, calls the API, and signs out at the provider', async () => {
    const tab = await openSignInPage()
    await waitForState(tab, 'none')
    const [popup] = await Promise.all([
      tab.context().waitForEvent('page', { timeout: WAIT }),
      tab.click('#login-popup'),
    ])
    const closed = new Promise<void>((resolve) => popup.once('close', () => resolve()))
    watch(popup)
    await signInOnProvider(popup, 'popup-user')
    await tab.waitForSelector('#result[data-action="login-popup"][data-ok="1"]', { timeout: WAIT })
    await closed
    await waitForState(tab, 'active')
    expect(await tab.textContent('#user')).toBe('popup-user')
    // The opener never left its page.
    expect(tab.url()).toBe(server.signInUrl)
    expect(await run(tab, 'call-api')).toMatchObject({ ok: '1', status: '200' })

    await tab.click('#logout')
    await tab.click(DEV_INTERACTIONS.selectors.logoutConfirm, { timeout: WAIT })
    await tab.waitForURL(server.signInUrl, { timeout: WAIT })
    await tab.waitForSelector('body[data-ready="true"]', { timeout: WAIT })
    await waitForState(tab, 'none')
    expect(await tab.textContent('#user')).toBe('—')
    await tab.context().close()
    expect(problems).toEqual([])
  })
})
