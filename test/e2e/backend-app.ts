/**
 * The end-to-end app of a session backend (OAuth 2.0 for Browser-Based Apps §6.2): a page that
 * loads the built package (dist/) with `backend`, served with its cookie-session backend
 * (test/servers/cookie-backend.ts) on one loopback origin.
 *
 * The browser talks to a gateway, a plain reverse proxy in front of the backend, as an app's
 * load balancer would be: it forwards every request unchanged (cookies included), and lets the
 * tests see and shape the backend conversation the fixture does not expose: the headers and
 * cookies each refresh and logout arrived with, how many refreshes were in flight at once, and a
 * transient failure injected into the next refreshes.
 *
 * The page (test/e2e/backend-app/) is bundled with rollup: `freshtoken` resolves to
 * dist/index.js, and its bare `ky` and `jwt-decode` imports to node_modules.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Page } from 'playwright-core'
import {
  type CookieBackend,
  type CookieBackendOptions,
  REFRESH_COOKIE,
  startCookieBackend,
} from '../servers/cookie-backend.js'
import { closeServer, listenOnLoopback, sendJson } from '../servers/http-utils.js'
import { bundlePage } from './page-bundle.js'

const appSource = fileURLToPath(new URL('./backend-app/', import.meta.url))

/** Client events the page counts (test/e2e/backend-app/app.js). */
export type BackendAppEvent =
  | 'tokens'
  | 'refresh'
  | 'expired'
  | 'logout'
  | 'error'
  | 'session-ending'

/** One client event as the page saw it. */
export interface LoggedEvent {
  readonly type: BackendAppEvent
  /** When it fired, epoch ms. */
  readonly at: number
  /** 'session-ending': its `endsAt`; 'tokens': the new tokens' `refreshExpiresAt` (or null). */
  readonly endsAt?: number | null
  /** 'error': the error's code. */
  readonly code?: string
}

/** One request the SDK sent through the page's `fetch` option. */
export interface PageRequest {
  /** The URL's path: `/auth/refresh`, `/auth/logout`, `/api/me`. */
  readonly path: string
  readonly sentAt: number
  readonly answeredAt: number
  /** The final status, 0 when the request failed. */
  readonly status: number
}

/** What the page exposes on `window.backendApp` (test/e2e/backend-app/app.js). */
export interface BackendAppHooks {
  readonly events: Readonly<Record<BackendAppEvent, number>>
  readonly log: readonly LoggedEvent[]
  /** 'error' event codes and failed API calls, in order. */
  readonly failures: readonly string[]
  readonly requests: readonly PageRequest[]
  /** `POST /auth/login` with the page's own `fetch`; resolves with the status. */
  login(): Promise<number>
  /** `document.cookie`. */
  documentCookie(): string
  /** `auth.tokens?.accessToken`, or null without a session. */
  accessToken(): string | null
  /** `auth.tokens?.refreshExpiresAt`, or null. */
  refreshExpiresAt(): number | null
  getAccessToken(): Promise<{ token?: string; code?: string }>
  refresh(): Promise<{ token?: string; code?: string }>
  /** `auth.logout()`: null, or the code it rejected with. */
  logout(): Promise<string | null>
  /** One `auth.fetch('/api/me')`: its final status, or the code of the error it rejected with. */
  callApi(): Promise<number | string>
  /** Calls the API every `intervalMs` until {@link BackendAppHooks.stopLoop}. */
  startLoop(intervalMs: number): void
  /** Stops the loop; resolves with how many calls ended in each status or error code. */
  stopLoop(): Promise<Record<string, number>>
}

declare global {
  interface Window {
    backendApp: BackendAppHooks
  }
}

/** Client options the page reads from its query string. */
export interface BackendTabOptions {
  /** @default the SDK's */
  refreshLeeway?: number
  /** @default the SDK's */
  sessionEndingNotice?: number
}

/** One open tab of the app. */
export interface BackendTab {
  readonly page: Page
  /** Uncaught exceptions and console errors of the page (with the URL they concern), in order. */
  readonly problems: readonly string[]
  /** Runs `action` with the page's {@link BackendAppHooks} inside the page. */
  run<R, A = undefined>(
    action: (hooks: BackendAppHooks, arg: A) => R | Promise<R>,
    arg?: A,
  ): Promise<R>
  /** Reloads the page and waits until the new page's client exists (its hooks start afresh). */
  reload(): Promise<void>
  close(): Promise<void>
}

/** One `/auth/refresh` or `/auth/logout` request as it reached the gateway. */
export interface GatewayRequest {
  /** Arrival, epoch ms. */
  readonly at: number
  /** The CSRF header's value, if sent. */
  readonly csrf: string | undefined
  /** Whether the refresh cookie came along. */
  readonly cookie: boolean
  /** The answer's status (0 until answered). */
  status: number
  /** Answered by the gateway's fault injection, never forwarded. */
  readonly injected: boolean
}

/** One API request as it reached the gateway. */
export interface GatewayApiCall {
  /** Arrival, epoch ms. */
  readonly at: number
  /** The bearer token it carried, if any. */
  readonly bearer: string | undefined
  /** The answer's status (0 until answered). */
  status: number
}

/** The reverse proxy in front of the backend, and what it saw. */
export interface Gateway {
  readonly refreshes: readonly GatewayRequest[]
  readonly logouts: readonly GatewayRequest[]
  readonly apiCalls: readonly GatewayApiCall[]
  /** The most `/auth/refresh` requests in flight at once (arrived, not yet fully answered). */
  readonly maxConcurrentRefreshes: number
  /**
   * Answers the next `count` refresh requests `status` itself (JSON `temporarily_unavailable`),
   * without forwarding them: the backend and its cookie never see them, as with a load balancer
   * whose backend is briefly down.
   */
  failNextRefreshes(count: number, status?: number): void
  /**
   * Holds the next refresh request until the clock reaches `at` (epoch ms), then forwards it: a
   * refresh that reaches the backend at a moment the test chooses, such as a session's last
   * second. One that arrives later is forwarded at once.
   */
  holdNextRefreshUntil(at: number): void
  /** When the gateway received the backend's answer to the last successful login (epoch ms). */
  readonly loginAnsweredAt: number | undefined
  /** Forgets what it saw. */
  reset(): void
}

/** Options of {@link startBackendApp}: the backend's, but for what the app itself sets. */
export type BackendAppOptions = Omit<CookieBackendOptions, 'staticDir' | 'extraRoutes' | 'port'>

/** A running app: the backend, its gateway, and a way to open tabs on it. */
export interface BackendApp {
  readonly backend: CookieBackend
  readonly gateway: Gateway
  /** The page's origin (the gateway's): every request of the page goes there. */
  readonly url: string
  /** Opens the page in a new tab of `context` and waits until the client exists. */
  openTab(context: BrowserContext, options?: BackendTabOptions): Promise<BackendTab>
  /** Stops the gateway and the backend and removes the staged page. */
  close(): Promise<void>
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

function hasRefreshCookie(req: IncomingMessage): boolean {
  return (req.headers.cookie ?? '')
    .split(';')
    .some((pair) => pair.trim().startsWith(`${REFRESH_COOKIE}=`) && pair.trim().length > 3)
}

/** Starts the reverse proxy in front of `upstream` (an origin on 127.0.0.1). */
async function startGateway(upstream: string): Promise<Gateway & { url: string; server: Server }> {
  const { port } = new URL(upstream)
  const agent = new Agent({ keepAlive: true })
  let refreshes: GatewayRequest[] = []
  let logouts: GatewayRequest[] = []
  let apiCalls: GatewayApiCall[] = []
  let inFlight = 0
  let maxConcurrentRefreshes = 0
  let faults: { count: number; status: number } = { count: 0, status: 503 }
  let holdUntil: number | undefined
  let loginAnsweredAt: number | undefined

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    seen?: GatewayRequest | GatewayApiCall,
  ): void {
    const upstreamRequest = request(
      { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        if (seen) seen.status = answer.statusCode ?? 0
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstreamRequest.on('error', () => {
      if (!res.headersSent) sendJson(res, 502, { error: 'bad_gateway' })
      else res.destroy()
    })
    req.pipe(upstreamRequest)
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://gateway').pathname
    if (path === '/auth/login') {
      res.on('finish', () => {
        if (res.statusCode === 200) loginAnsweredAt = Date.now()
      })
    }
    if (path.startsWith('/api/')) {
      const bearer = /^Bearer (.+)$/.exec(header(req, 'authorization') ?? '')?.[1]
      const call: GatewayApiCall = { at: Date.now(), bearer, status: 0 }
      apiCalls.push(call)
      return forward(req, res, call)
    }
    if (path !== '/auth/refresh' && path !== '/auth/logout') return forward(req, res)
    const seen: GatewayRequest = {
      at: Date.now(),
      csrf: header(req, 'x-csrf'),
      cookie: hasRefreshCookie(req),
      status: 0,
      injected: path === '/auth/refresh' && faults.count > 0,
    }
    if (path === '/auth/logout') {
      logouts.push(seen)
      return forward(req, res, seen)
    }
    refreshes.push(seen)
    inFlight++
    maxConcurrentRefreshes = Math.max(maxConcurrentRefreshes, inFlight)
    res.on('close', () => {
      inFlight--
    })
    if (!seen.injected) {
      const wait = holdUntil === undefined ? 0 : holdUntil - Date.now()
      holdUntil = undefined
      if (wait <= 0) return forward(req, res, seen)
      setTimeout(() => forward(req, res, seen), wait)
      return
    }
    faults.count--
    seen.status = faults.status
    req.resume()
    sendJson(res, faults.status, { error: 'temporarily_unavailable' })
  })
  const url = await listenOnLoopback(server)
  return {
    url,
    server,
    get refreshes() {
      return refreshes
    },
    get logouts() {
      return logouts
    },
    get apiCalls() {
      return apiCalls
    },
    get maxConcurrentRefreshes() {
      return maxConcurrentRefreshes
    },
    failNextRefreshes(count, status = 503) {
      faults = { count, status }
    },
    holdNextRefreshUntil(at) {
      holdUntil = at
    },
    get loginAnsweredAt() {
      return loginAnsweredAt
    },
    reset() {
      refreshes = []
      logouts = []
      apiCalls = []
      maxConcurrentRefreshes = inFlight
    },
  }
}

function pageUrl(base: string, options: BackendTabOptions): string {
  const query = new URLSearchParams()
  if (options.refreshLeeway !== undefined) query.set('refreshLeeway', String(options.refreshLeeway))
  if (options.sessionEndingNotice !== undefined) {
    query.set('sessionEndingNotice', String(options.sessionEndingNotice))
  }
  const search = query.toString()
  return `${base}/${search === '' ? '' : `?${search}`}`
}

async function openTab(context: BrowserContext, url: string): Promise<BackendTab> {
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() !== 'error') return
    const { url: at } = message.location()
    problems.push(`console error: ${message.text()}${at ? ` (${new URL(at).pathname})` : ''}`)
  })
  const hooksReady = () =>
    page.waitForFunction(() => window.backendApp !== undefined, undefined, { timeout: 10_000 })
  await page.goto(url)
  await hooksReady()
  return {
    page,
    problems,
    run: (action, arg) =>
      // Like page.evaluate(fn): the action's source runs in the page, so it may use only its
      // parameters; the argument travels as JSON.
      page.evaluate(`(${action.toString()})(window.backendApp, ${JSON.stringify(arg ?? null)})`),
    async reload() {
      await page.reload()
      await hooksReady()
    },
    close: () => page.close(),
  }
}

/**
 * Stages the page (built package bundled in), starts the cookie-session backend serving it, and
 * the gateway in front of both.
 *
 * @example
 * const app = await startBackendApp({ accessTokenLifetime: 3_250 })
 * const tab = await app.openTab(chromium.context)
 * await tab.run((hooks) => hooks.login())
 * await tab.run((hooks) => hooks.callApi()) // 200, through one /auth/refresh
 */
export async function startBackendApp(options: BackendAppOptions = {}): Promise<BackendApp> {
  const dir = mkdtempSync(join(tmpdir(), 'freshtoken-e2e-backend-app-'))
  const closers: (() => Promise<void>)[] = []
  const close = async () => {
    await Promise.all(closers.map((closer) => closer()))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    writeFileSync(join(dir, 'app.js'), await bundlePage(appSource, 'the backend e2e page'))
    copyFileSync(join(appSource, 'index.html'), join(dir, 'index.html'))
    const backend = await startCookieBackend({ ...options, staticDir: dir })
    closers.push(() => backend.close())
    const gateway = await startGateway(backend.origin)
    closers.push(() => closeServer(gateway.server))
    return {
      backend,
      gateway,
      url: gateway.url,
      openTab: (context, tabOptions = {}) => openTab(context, pageUrl(gateway.url, tabOptions)),
      close,
    }
  } catch (error) {
    await close()
    throw error
  }
}
