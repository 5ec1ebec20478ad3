/**
 * The sign-in end-to-end app: a page on a loopback origin of its own that bundles the built
 * package (dist/) and signs in through freshtoken against a real OpenID Provider, oidc-provider
 * (test/servers/oidc-provider.ts), on another loopback origin. Shared by
 * test/e2e/oidc-provider-sign-in.test.ts and bench/sign-in.mjs.
 *
 * The app's server is a small static server: `/app.js` is the page's script (test/e2e/sign-in-app/
 * bundled with rollup, `freshtoken` resolved to dist/index.js as an app's bundler would), and
 * every page of the app (`/`, `/callback`, `/signed-out`, `/x`) is the same index.html, whose
 * script calls `auth.handleRedirect()` on load. The client's options reach the page through the
 * browser context (see {@link SignInApp.newContext}), so the callback URL carries nothing but the
 * authorization response.
 */

import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { closeServer, listenOnLoopback, sendEmpty } from '../servers/http-utils.js'
import {
  DEFAULT_LOGIN,
  DEV_INTERACTIONS,
  type OidcProvider,
  startOidcProvider,
} from '../servers/oidc-provider.js'
import { CHROMIUM, CHROMIUM_FLAGS } from './chromium.js'
import { bundlePage } from './page-bundle.js'

const appSource = fileURLToPath(new URL('./sign-in-app/', import.meta.url))

/** The paths of the app that serve its page. */
const PAGES = ['/', '/callback', '/signed-out', '/x']

/** Bounds each wait for a page of the provider or of the app. */
const PAGE_WAIT = 15_000

/** What the page's script reads from `window.signInAppConfig`. */
export interface SignInAppConfig {
  readonly issuer: string
  readonly clientId: string
  /** oidc-provider's userinfo endpoint: the API the app calls with `auth.fetch`. */
  readonly userinfoUrl: string
  /** The client's `redirectUri`. @default '/callback' */
  readonly redirectUri?: string
  /** @default 'memory' */
  readonly storage?: 'memory' | 'session' | 'local'
  /** The client's `refreshLeeway` in ms. @default the SDK's */
  readonly refreshLeeway?: number
}

/** Client options of the pages of one browser context. */
export interface SignInPageOptions {
  /** @default 'memory' */
  storage?: 'memory' | 'session' | 'local'
  /** @default the SDK's */
  refreshLeeway?: number
}

/** A description of a rejection, as the page reports it. */
export interface PageError {
  readonly name: string
  readonly code?: string
  /** `LoginError.error`: the provider's code or freshtoken's. */
  readonly error?: string
  readonly errorDescription?: string
  readonly message: string
}

/** A token set, as the page reports it: the refresh token only as a flag. */
export interface PageTokens {
  readonly accessToken: string
  readonly hasRefreshToken: boolean
  readonly hasIdToken: boolean
  readonly expiresAt?: number
}

/** A sign-in's outcome (of `handleRedirect` on the page's load, or of `loginPopup`). */
export interface SignInOutcome {
  readonly status: 'idle' | 'pending' | 'none' | 'signed-in' | 'failed' | 'navigating'
  readonly tokens?: PageTokens
  /** The `state` option of `login()`, as `handleRedirect` returned it. */
  readonly state?: unknown
  readonly error?: PageError
  /** When (epoch ms) the sign-in button was clicked. */
  readonly clickedAt?: number
  /** Redirect: when (epoch ms) the page that clicked was left for the provider. */
  readonly leftAt?: number
  /** Redirect: when (epoch ms) the navigation to the callback page started. */
  readonly arrivedAt?: number
  /** When (epoch ms) the sign-in resolved or rejected. */
  readonly settledAt?: number
}

/** The client events the page counts. */
export type SignInEvent = 'tokens' | 'refresh' | 'expired' | 'logout' | 'error' | 'session-ending'

/** What the page exposes on `window.signInApp` (test/e2e/sign-in-app/app.js). */
export interface SignInAppHooks {
  readonly events: Readonly<Record<SignInEvent, number>>
  /** When (epoch ms) each event fired, in order. */
  readonly timeline: readonly { readonly type: SignInEvent; readonly at: number }[]
  /** Raw responses the SDK's fetch received, before its retry after a 401 hides the first. */
  readonly responses: Readonly<Record<'api' | 'api401s' | 'token' | 'tokenErrors', number>>
  /** 'error' event codes and failed API calls, in order. */
  readonly failures: readonly string[]
  /** `handleRedirect()` on this page load. */
  readonly redirect: SignInOutcome
  /** The "Sign in" button's `login()` (it rejects only before leaving the page). */
  readonly login: SignInOutcome
  /** The last `loginPopup()` ("Sign in with a popup" button). */
  popup(): SignInOutcome
  /** Options of the next `login()` (`redirect`) or `loginPopup()` (`popup`) by the buttons. */
  setLoginOptions(options: { redirect?: unknown; popup?: unknown }): void
  /** Options of the next `logout()` by the "Sign out" button. */
  setLogoutOptions(options: { endSession?: boolean; postLogoutRedirectUri?: string }): void
  /** `auth.tokens` and `auth.idTokenClaims.sub`, or null without a session. */
  session(): (PageTokens & { readonly sub: string | null }) | null
  /** `auth.getAccessToken()`: the token, or the error code it rejected with. */
  getAccessToken(): Promise<{ token?: string; code?: string }>
  /** One `auth.fetch(userinfo)`: its final status, or the error code it rejected with. */
  userinfo(): Promise<number | string>
  /** Calls userinfo every `intervalMs` until {@link SignInAppHooks.stopLoop}. */
  startLoop(intervalMs: number): void
  /** Stops the loop; resolves with how many calls ended in each status or error code. */
  stopLoop(): Promise<Record<string, number>>
}

declare global {
  interface Window {
    signInApp: SignInAppHooks
    signInAppConfig: SignInAppConfig
  }
}

/** One tab (or popup) of the app. */
export interface SignInTab {
  readonly page: Page
  /** Uncaught exceptions and console errors of the page, each prefixed with the page's URL. */
  readonly problems: readonly string[]
  /** Runs `action` with the current document's {@link SignInAppHooks} inside the page. */
  run<R, A = undefined>(
    action: (hooks: SignInAppHooks, arg: A) => R | Promise<R>,
    arg?: A,
  ): Promise<R>
  /** Waits until the page is one of the app's and its hooks exist (after a navigation). */
  ready(): Promise<void>
  /**
   * Waits until the page is at the app's `/callback` and `handleRedirect()` has settled there;
   * returns its outcome.
   */
  redirectOutcome(): Promise<SignInOutcome>
  close(): Promise<void>
}

/** Options of {@link startSignInApp}. */
export interface SignInAppOptions {
  /** Lifetime of the provider's access tokens in seconds. @default 60 */
  accessTokenTtl?: number
}

/** A running sign-in app: its static server, its provider, and ways to open it in a browser. */
export interface SignInApp {
  /** The app's origin, `http://127.0.0.1:<port>`. */
  readonly origin: string
  /** `{origin}/callback`, the client's registered redirect URI. */
  readonly callbackUrl: string
  /** `{origin}/signed-out`, the client's registered post-logout redirect URI. */
  readonly signedOutUrl: string
  /** oidc-provider, with the app's client registered and CORS allowing the app's origin. */
  readonly provider: OidcProvider
  /** Requests of the app's browser contexts to hosts other than 127.0.0.1, in order. */
  readonly outsideRequests: readonly string[]
  /** Those of {@link SignInApp.outsideRequests} that got an answer: none should. */
  readonly escapedRequests: readonly string[]
  /**
   * A new browser context (its own cookies, storage and tabs) whose pages of the app use
   * `options`, and where no request leaves loopback.
   */
  newContext(browser: Browser, options?: SignInPageOptions): Promise<BrowserContext>
  /** Opens `path` of the app in a new tab of `context` and waits until its hooks exist. */
  openPage(context: BrowserContext, path?: string): Promise<SignInTab>
  /** Wraps a page opened otherwise (a popup) as a {@link SignInTab}. */
  watchPage(page: Page): SignInTab
  /**
   * Makes the next authorization response that reaches the app arrive changed, as an attacker or
   * a broken proxy between the provider and the app would: the server answers the next request
   * for `/callback` with a query with a redirect to that URL changed by `change`. (A Playwright
   * route cannot do it: a request that follows a redirect, as the provider's to `/callback`
   * does, is not routed.)
   */
  interceptCallback(change: ((url: URL) => void) | undefined): void
  /** Stops the provider and the static server. */
  close(): Promise<void>
}

/** A change the app's server makes to the next authorization response that reaches it. */
type CallbackChange = (url: URL) => void

/** The app server's pending {@link CallbackChange}, if any. */
interface Interception {
  change: CallbackChange | undefined
}

/**
 * Serves the page at {@link PAGES} and its script at `/app.js`; everything else is a 404. The
 * next request for `/callback` with a query is redirected to that URL changed by
 * `interception.change`, when one is set (it is used once).
 */
function serveApp(html: string, script: string, interception: Interception) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://app.invalid')
    const { pathname } = url
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendEmpty(res, 405)
    const { change } = interception
    if (change !== undefined && pathname === '/callback' && url.search !== '') {
      interception.change = undefined
      change(url)
      return sendEmpty(res, 303, { Location: `${url.pathname}${url.search}` })
    }
    const body = pathname === '/app.js' ? script : PAGES.includes(pathname) ? html : undefined
    if (body === undefined) return sendEmpty(res, 404)
    res.writeHead(200, {
      'Content-Type': `${pathname === '/app.js' ? 'text/javascript' : 'text/html'};charset=UTF-8`,
      'Content-Length': String(Buffer.byteLength(body)),
      'Cache-Control': 'no-store',
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
}

/** A page's uncaught exceptions and console errors, each prefixed with the page's URL. */
function collectProblems(page: Page): string[] {
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`${page.url()}: page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') {
      problems.push(`${page.url()}: console error: ${message.text()}`)
    }
  })
  return problems
}

function wrapPage(page: Page, origin: string): SignInTab {
  const problems = collectProblems(page)
  const onApp = (url: URL) => url.origin === origin && PAGES.includes(url.pathname)
  const ready = async () => {
    await page.waitForURL(onApp, { timeout: PAGE_WAIT })
    await page.waitForFunction(() => window.signInApp !== undefined, undefined, {
      timeout: PAGE_WAIT,
    })
  }
  return {
    page,
    problems,
    // Like page.evaluate(fn): the action's source runs in the page, so it may use only its
    // parameters; the argument travels as JSON.
    run: (action, arg) =>
      page.evaluate(`(${action.toString()})(window.signInApp, ${JSON.stringify(arg ?? null)})`),
    ready,
    async redirectOutcome() {
      await page.waitForURL((url) => url.origin === origin && url.pathname === '/callback', {
        timeout: PAGE_WAIT,
      })
      await ready()
      await page.waitForFunction(() => window.signInApp.redirect.status !== 'pending', undefined, {
        timeout: PAGE_WAIT,
      })
      return page.evaluate(() => ({ ...window.signInApp.redirect }))
    },
    close: () => page.close(),
  }
}

/**
 * Starts the app's static server and oidc-provider with the app's client: redirect URI
 * `{origin}/callback`, post-logout redirect URI `{origin}/signed-out`, CORS for `{origin}`.
 *
 * @example
 * const app = await startSignInApp({ accessTokenTtl: 3 })
 * const context = await app.newContext(browser, { storage: 'session' })
 * const tab = await app.openPage(context)
 */
export async function startSignInApp(options: SignInAppOptions = {}): Promise<SignInApp> {
  const html = readFileSync(join(appSource, 'index.html'), 'utf8')
  const script = await bundlePage(appSource, 'the sign-in page')
  const interception: Interception = { change: undefined }
  const server = createServer(serveApp(html, script, interception))
  const origin = await listenOnLoopback(server)
  const callbackUrl = `${origin}/callback`
  const signedOutUrl = `${origin}/signed-out`
  let provider: OidcProvider
  try {
    provider = await startOidcProvider({
      redirectUris: [callbackUrl],
      postLogoutRedirectUris: [signedOutUrl],
      allowedOrigins: [origin],
      ...(options.accessTokenTtl !== undefined && { accessTokenTtl: options.accessTokenTtl }),
    })
  } catch (error) {
    await closeServer(server)
    throw error
  }
  const outsideRequests: string[] = []
  const escapedRequests: string[] = []
  return {
    origin,
    callbackUrl,
    signedOutUrl,
    provider,
    outsideRequests,
    escapedRequests,
    async newContext(browser, pageOptions = {}) {
      const context = await browser.newContext()
      // Requests that would leave loopback (the provider's stylesheet imports a Google font):
      // the browser's resolver fails them (see launchSignInBrowser); one that got an answer
      // anyway left the machine.
      context.on('request', (request) => {
        if (!isLoopback(request.url())) outsideRequests.push(request.url())
      })
      context.on('requestfinished', (request) => {
        if (!isLoopback(request.url())) escapedRequests.push(request.url())
      })
      const config: SignInAppConfig = {
        issuer: provider.issuer,
        clientId: provider.clientId,
        userinfoUrl: `${provider.issuer}/me`,
        ...pageOptions,
      }
      // Runs before every document's scripts, popups included; harmless on the provider's pages.
      await context.addInitScript((value) => {
        window.signInAppConfig = value
      }, config)
      return context
    },
    async openPage(context, path = '/') {
      const page = await context.newPage()
      const tab = wrapPage(page, origin)
      await page.goto(`${origin}${path}`)
      await tab.ready()
      return tab
    },
    watchPage: (page) => wrapPage(page, origin),
    interceptCallback(change) {
      interception.change = change
    },
    async close() {
      await Promise.all([provider.close(), closeServer(server)])
    },
  }
}

/**
 * Chromium's resolver answers every host name but loopback's with "not found", so no request
 * leaves the machine: the provider's pages `@import` a Google font. (Not a Playwright route: while
 * any route is set, Playwright answers every CORS preflight itself, allowing everything, and the
 * provider's own CORS answers would go untested.)
 */
const LOOPBACK_ONLY = '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'

function isLoopback(url: string): boolean {
  const { hostname, protocol } = new URL(url)
  return hostname === '127.0.0.1' || !protocol.startsWith('http')
}

/** A Chromium without a profile: each {@link SignInApp.newContext} is a fresh browser session. */
export interface SignInBrowser {
  readonly browser: Browser
  close(): Promise<void>
}

/**
 * Starts Debian's Chromium (chromium.ts's binary and flags, and {@link LOOPBACK_ONLY}), for
 * contexts of its own.
 */
export async function launchSignInBrowser(): Promise<SignInBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_FLAGS, LOOPBACK_ONLY],
    headless: true,
  })
  return {
    browser,
    close: () => browser.close().catch(() => undefined),
  }
}

/** What to do on the provider's pages. */
export interface ProviderFormOptions {
  /** Typed in the login form when it is shown; it becomes the `sub`. @default DEFAULT_LOGIN */
  login?: string
  /**
   * On the consent page: `true` presses "Continue", `false` follows "[ Cancel ]" (the client then
   * gets `access_denied`).
   * @default true
   */
  consent?: boolean
}

/** Which of the provider's interaction pages `page` shows, once one is shown. */
async function interactionPage(page: Page): Promise<'login' | 'consent'> {
  const { loginForm, consentForm } = DEV_INTERACTIONS.selectors
  await page.locator(`${loginForm}, ${consentForm}`).first().waitFor({ timeout: PAGE_WAIT })
  return (await page.locator(loginForm).count()) > 0 ? 'login' : 'consent'
}

/**
 * Signs in on the provider's pages as a user would: fills the login form when it is shown (a
 * browser with a provider session skips it), then answers the consent page.
 *
 * @returns the pages shown, in order
 */
export async function signInOnProvider(
  page: Page,
  options: ProviderFormOptions = {},
): Promise<('login' | 'consent')[]> {
  const { selectors } = DEV_INTERACTIONS
  const shown: ('login' | 'consent')[] = []
  if ((await interactionPage(page)) === 'login') {
    shown.push('login')
    await page.fill(selectors.loginInput, options.login ?? DEFAULT_LOGIN)
    await page.fill(selectors.passwordInput, 'password')
    await page.click(selectors.loginSubmit)
    // The consent page is a new document at the same path: wait for its form, not any form.
    await page.locator(selectors.consentForm).waitFor({ timeout: PAGE_WAIT })
  }
  shown.push('consent')
  await page.click((options.consent ?? true) ? selectors.consentSubmit : selectors.cancelLink)
  return shown
}

/** Waits until `page` shows the provider's login form. */
export async function waitForLoginForm(page: Page): Promise<void> {
  await page.locator(DEV_INTERACTIONS.selectors.loginForm).waitFor({ timeout: PAGE_WAIT })
}
