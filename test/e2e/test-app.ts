/**
 * The end-to-end test app: a page that loads the built package (dist/) as an app would, served by
 * the `@node-oauth/oauth2-server` fixture, which is also its token server and API (one loopback
 * origin). Shared by the end-to-end tests and `npm run bench`.
 *
 * The page (test/e2e/app/) is bundled with rollup: `freshtoken` resolves to dist/index.js, and
 * its bare `ky` and `jwt-decode` imports to node_modules, exactly as an app's bundler would do.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Page } from 'playwright-core'
import { type NodeOAuthServer, startNodeOAuthServer } from '../servers/node-oauth-server.js'
import { bundlePage } from './page-bundle.js'

const appSource = fileURLToPath(new URL('./app/', import.meta.url))

/**
 * Seconds the server adds to every access token's lifetime. The server reports `expires_in` as
 * the whole seconds left when it writes the response, so a lifetime of exactly 3 s arrives as
 * `expires_in: 2`; with this slack it arrives as 3, and the server still honours the token for a
 * moment after the client stops using it (the client never sends a token it believes expired).
 */
const LIFETIME_SLACK_SECONDS = 0.25

/** What the page exposes on `window.testApp` (test/e2e/app/app.js). */
export interface TestAppHooks {
  /** How often each client event fired in this tab. */
  readonly events: Readonly<Record<'tokens' | 'refresh' | 'expired' | 'logout' | 'error', number>>
  /**
   * Raw responses the SDK's `fetch` received: API responses, those that were 401 (before the
   * SDK's retry hides them), token-endpoint responses and those that were not 2xx.
   */
  readonly responses: Readonly<Record<'api' | 'api401s' | 'token' | 'tokenErrors', number>>
  /** 'error' event codes and failed API calls, in order. */
  readonly failures: readonly string[]
  /**
   * When (epoch ms) the tab sent token requests and API requests that met a 401, and when its
   * tokens changed (any 'tokens' event), in order.
   */
  readonly timeline: readonly TimelineEntry[]
  /** `document.visibilityState` of the tab. */
  visibility(): DocumentVisibilityState
  /** `auth.tokens?.accessToken`, or null without a session. */
  accessToken(): string | null
  /** `auth.setTokens(response)`; returns the access token. */
  setTokens(tokenResponse: unknown): string
  /** `auth.getAccessToken()`: the token, or the error code it rejected with. */
  getAccessToken(): Promise<{ token?: string; code?: string }>
  /** `auth.refresh()`: the new access token, or the error code it rejected with. */
  refresh(): Promise<{ token?: string; code?: string }>
  logout(): Promise<void>
  /** One `auth.fetch(apiUrl + '/me')`: its final status, or the error code it rejected with. */
  callApi(): Promise<number | string>
  /**
   * One `auth.fetch(url)` to any URL, for APIs on other origins (see {@link TestTabOptions.apiOrigins}).
   */
  fetchWithAuth(url: string): Promise<AuthFetchResult>
  /** Calls the API every `intervalMs` until {@link TestAppHooks.stopLoop}. */
  startLoop(intervalMs: number): void
  /** Stops the loop; resolves with how many calls ended in each status or error code. */
  stopLoop(): Promise<Record<string, number>>
}

/** One entry of {@link TestAppHooks.timeline}. */
export type TimelineEntry =
  | {
      readonly type: 'token'
      readonly sentAt: number
      readonly answeredAt: number
      readonly status: number
    }
  | { readonly type: 'api401'; readonly sentAt: number; readonly answeredAt: number }
  | { readonly type: 'tokens'; readonly at: number }

/** What {@link TestAppHooks.fetchWithAuth} saw. */
export interface AuthFetchResult {
  /** The final status `auth.fetch` resolved with; absent when it rejected. */
  status?: number
  /** `response.headers.get('www-authenticate')`: null when CORS hides the header from script. */
  wwwAuthenticate?: string | null
  /** The error code (or `String(error)`) `auth.fetch` rejected with. */
  code?: string
  /** Token-endpoint responses the page received during the call. */
  tokenRequests: number
}

declare global {
  interface Window {
    testApp: TestAppHooks
  }
}

/** Client options the page reads from its query string. */
export interface TestTabOptions {
  /** @default 'spa' */
  clientId?: string
  /** The client's `refreshLeeway` in ms. @default the SDK's */
  refreshLeeway?: number
  /** @default the SDK's ('memory') */
  storage?: 'memory' | 'session' | 'local'
  /** @default the SDK's */
  crossTab?: boolean
  /** Origins besides the page's own that get the token (the client's `apiOrigins`). @default [] */
  apiOrigins?: readonly string[]
  /** Removes `navigator.locks` before the page's scripts run, as in a browser without Web Locks. */
  withoutWebLocks?: boolean
}

/** One open tab of the test app. */
export interface TestTab {
  readonly page: Page
  /** Uncaught exceptions and console errors of the page, in order. */
  readonly problems: readonly string[]
  /** Runs `action` with the page's {@link TestAppHooks} inside the page. */
  run<R, A = undefined>(
    action: (hooks: TestAppHooks, arg: A) => R | Promise<R>,
    arg?: A,
  ): Promise<R>
  /**
   * Reloads the page (same URL, so the same options) and waits until the new page's client
   * exists. Its `window.testApp` is a new one: counters start at 0 and no loop runs. `problems`
   * goes on collecting across the reload.
   */
  reload(): Promise<void>
  close(): Promise<void>
}

/** Options of {@link startTestApp}. */
export interface TestAppOptions {
  /** Lifetime of access tokens in seconds, as the client receives it in `expires_in`. */
  accessTokenLifetime: number
}

/** A running test app: its server and a way to open tabs on it. */
export interface TestApp {
  /** The token server, API and static server of the page. */
  readonly server: NodeOAuthServer
  /** The page's URL (the server's origin). */
  readonly url: string
  /** Opens the page in a new tab of `context` and waits until the client exists. */
  openTab(context: BrowserContext, options?: TestTabOptions): Promise<TestTab>
  /**
   * Changes the lifetime of the access tokens the server issues from now on, in seconds as the
   * client receives it in `expires_in` (see {@link TestAppOptions.accessTokenLifetime}).
   */
  setAccessTokenLifetime(seconds: number): void
  /** Stops the server and removes the staged page. */
  close(): Promise<void>
}

/**
 * Bundles the page with the built package into `dir` (index.html + one app.js), for a server that
 * serves it at `/` beside its `/token`, `/revoke` and `/api/me` (see test/e2e/app/app.js).
 */
export async function stagePage(dir: string): Promise<void> {
  writeFileSync(join(dir, 'app.js'), await bundlePage(appSource, 'the e2e page'))
  copyFileSync(join(appSource, 'index.html'), join(dir, 'index.html'))
}

function pageUrl(base: string, options: TestTabOptions): string {
  const query = new URLSearchParams()
  if (options.clientId !== undefined) query.set('clientId', options.clientId)
  if (options.refreshLeeway !== undefined) query.set('refreshLeeway', String(options.refreshLeeway))
  if (options.storage !== undefined) query.set('storage', options.storage)
  if (options.crossTab !== undefined) query.set('crossTab', String(options.crossTab))
  for (const origin of options.apiOrigins ?? []) query.append('api', origin)
  const search = query.toString()
  return `${base}/${search === '' ? '' : `?${search}`}`
}

/**
 * Stages the page (built package bundled in) and starts the `@node-oauth/oauth2-server` fixture
 * serving it, with refresh-token rotation and reuse detection.
 *
 * @example
 * const app = await startTestApp({ accessTokenLifetime: 3 })
 * const tab = await app.openTab(chromium.context, { refreshLeeway: 300 })
 * await tab.run((hooks, tokens) => hooks.setTokens(tokens), await app.server.login())
 */
export async function startTestApp(options: TestAppOptions): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), 'freshtoken-e2e-app-'))
  try {
    await stagePage(dir)
    const server = await startNodeOAuthServer({
      accessTokenLifetime: options.accessTokenLifetime + LIFETIME_SLACK_SECONDS,
      staticDir: dir,
    })
    return {
      server,
      url: server.url,
      openTab: (context, tabOptions = {}) =>
        openTab(context, pageUrl(server.url, tabOptions), tabOptions),
      setAccessTokenLifetime: (seconds) =>
        server.setAccessTokenLifetime(seconds + LIFETIME_SLACK_SECONDS),
      async close() {
        await server.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

async function openTab(
  context: BrowserContext,
  url: string,
  options: TestTabOptions,
): Promise<TestTab> {
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`)
  })
  if (options.withoutWebLocks) {
    await page.addInitScript(() => {
      // The attribute is a configurable accessor on the prototype (WebIDL): deleting it makes
      // `'locks' in navigator` false as well, as in a browser that never had Web Locks.
      delete (Navigator.prototype as { locks?: unknown }).locks
    })
  }
  const hooksReady = () =>
    page.waitForFunction(() => window.testApp !== undefined, undefined, { timeout: 10_000 })
  await page.goto(url)
  await hooksReady()
  return {
    page,
    problems,
    run: (action, arg) =>
      // Like page.evaluate(fn): the action's source runs in the page, so it may use only its
      // parameters; the argument travels as JSON.
      page.evaluate(`(${action.toString()})(window.testApp, ${JSON.stringify(arg ?? null)})`),
    async reload() {
      // The listeners above and the init script belong to the page, so they outlive the document.
      await page.reload()
      await hooksReady()
    },
    close: () => page.close(),
  }
}

/**
 * Opens the staged page (see {@link stagePage}) in a new tab of `context`, served by a server of
 * the test's own at `origin`, and waits until the client exists.
 */
export function openPageTab(
  context: BrowserContext,
  origin: string,
  options: TestTabOptions = {},
): Promise<TestTab> {
  return openTab(context, pageUrl(origin, options), options)
}

/**
 * How many proactive renewals one client makes in `durationMs` after receiving a token, by the
 * SDK's documented schedule: renew `leeway` (at most half the lifetime) before expiry, minus a
 * jitter of up to min(1 s, lifetime / 20). `latencyMs` bounds a token request's round trip.
 */
export function scheduledRenewals(
  durationMs: number,
  lifetimeMs: number,
  leewayMs: number,
  latencyMs = 100,
): { min: number; max: number } {
  const leeway = Math.min(leewayMs, lifetimeMs / 2)
  const jitter = Math.min(1_000, lifetimeMs / 20)
  return {
    min: Math.floor(durationMs / (lifetimeMs - leeway + latencyMs)),
    max: Math.floor(durationMs / (lifetimeMs - leeway - jitter)),
  }
}

/**
 * Opens `count` tabs of `app` in one session: the first is signed in with a fresh login, and each
 * later one joins it (with memory storage, by asking its siblings) before the next opens. No
 * later tab calls the token endpoint to join.
 *
 * @returns the tabs, the signed-in one first
 * @throws when a later tab does not get the first tab's access token
 */
export async function openSessionTabs(
  app: TestApp,
  context: BrowserContext,
  count: number,
  options: TestTabOptions = {},
): Promise<TestTab[]> {
  const first = await app.openTab(context, options)
  const accessToken = await first.run(
    (hooks, tokens) => hooks.setTokens(tokens),
    await app.server.login(),
  )
  const tabs = [first]
  for (let i = 1; i < count; i++) {
    const tab = await app.openTab(context, options)
    const joined = await tab.run((hooks) => hooks.getAccessToken())
    // The first tab may have renewed meanwhile; the joining tab then has the newer token.
    const current = await first.run((hooks) => hooks.accessToken())
    if (joined.token !== accessToken && joined.token !== current) {
      throw new Error(`tab ${i + 1} did not join the session: ${joined.code ?? 'another token'}`)
    }
    tabs.push(tab)
  }
  return tabs
}

/** What one tab did during {@link runBusyTabs}. */
export interface BusyTabReport {
  /** How many API calls ended in each status (or error code). */
  readonly statuses: Record<string, number>
  readonly events: TestAppHooks['events']
  readonly responses: TestAppHooks['responses']
  /** The first few failures ('error' events, failed calls), for a readable report. */
  readonly failures: readonly string[]
}

/**
 * Makes every tab call the API every `intervalMs` until the wall clock reaches `until` (epoch ms),
 * then stops them all and reports what each did. The wait is the behaviour under test (what
 * happens over several token lifetimes), not a sleep that stands in for a condition.
 */
export function runBusyTabs(
  tabs: readonly TestTab[],
  until: number,
  intervalMs: number,
): Promise<BusyTabReport[]> {
  return runBusyTabsUntil(tabs, intervalMs, () => sleep(until - Date.now()))
}

/**
 * Makes every tab call the API every `intervalMs` until `done` resolves, then stops them all and
 * reports what each did. `done` starts once every tab is calling.
 */
export async function runBusyTabsUntil(
  tabs: readonly TestTab[],
  intervalMs: number,
  done: () => Promise<unknown>,
): Promise<BusyTabReport[]> {
  await Promise.all(
    tabs.map((tab) => tab.run((hooks, interval) => hooks.startLoop(interval), intervalMs)),
  )
  await done()
  const statuses = await Promise.all(tabs.map((tab) => tab.run((hooks) => hooks.stopLoop())))
  const hooks = await Promise.all(
    tabs.map((tab) =>
      tab.run((page) => ({
        events: page.events,
        responses: page.responses,
        failures: page.failures.slice(0, 5),
      })),
    ),
  )
  return hooks.map((tabHooks, i) => ({ statuses: statuses[i] ?? {}, ...tabHooks }))
}

/** What {@link runBusyWindow} saw. */
export interface BusyWindow {
  /** What each tab did, in the order of the tabs. */
  readonly reports: BusyTabReport[]
  /** How long the tabs were busy, measured from before the first started to after the last stopped. */
  readonly windowMs: number
  /** Refresh grants each server received in that window, in the order of the servers. */
  readonly renewals: number[]
}

/**
 * Keeps `tabs` busy (see {@link runBusyTabs}) for `durationMs` from the moment every one of them is
 * calling, and counts the refresh grants each of `servers` received meanwhile. The window is
 * measured rather than assumed: opening tabs, and starting and stopping their loops, take a
 * while that depends on the machine, so renewals are counted over the time the tabs were really
 * busy, and every tab is busy for the whole of `durationMs`.
 */
export async function runBusyWindow(
  tabs: readonly TestTab[],
  durationMs: number,
  intervalMs: number,
  servers: readonly NodeOAuthServer[],
): Promise<BusyWindow> {
  const before = servers.map((server) => server.counters.refreshGrants)
  const from = Date.now()
  const reports = await runBusyTabsUntil(tabs, intervalMs, () => sleep(durationMs))
  const windowMs = Date.now() - from
  const renewals = servers.map((server, i) => server.counters.refreshGrants - (before[i] ?? 0))
  return { reports, windowMs, renewals }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
}
