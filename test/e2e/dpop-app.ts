/**
 * The DPoP end-to-end app: a page on a loopback origin of its own that bundles the built package
 * (dist/) and signs in through freshtoken with `dpop: true` at oidc-provider (DPoP nonces
 * required), then calls two resource servers (test/servers/dpop-resource-server.ts, nonces
 * required too), each an `apiOrigins` entry with a `resource` of its own (RFC 8707). Used by
 * test/e2e/oidc-provider-dpop.test.ts.
 *
 * As in test/e2e/sign-in-app.ts, whose browser and provider-form helpers it uses: every page of
 * the app (`/`, `/callback`) is the same index.html, whose script (test/e2e/dpop-app/app.js,
 * bundled with rollup, `freshtoken` resolved to dist/index.js) calls `auth.handleRedirect()` on
 * load; the client's options reach the page through the browser context's init script.
 */
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { type ResourceServer, startResourceServer } from '../servers/dpop-resource-server.js'
import { closeServer, listenOnLoopback, sendEmpty } from '../servers/http-utils.js'
import { type OidcProvider, startOidcProvider } from '../servers/oidc-provider.js'
import { bundlePage } from './page-bundle.js'

const appSource = fileURLToPath(new URL('./dpop-app/', import.meta.url))

/** The paths of the app that serve its page. */
const PAGES = ['/', '/callback']

/** Bounds each wait for a page of the app. */
const PAGE_WAIT = 15_000

/** The client's scope: `openid` so that the code exchange, which names no resource, succeeds. */
export const DPOP_APP_SCOPE = 'openid offline_access api'

/** What the page's script reads from `window.dpopAppConfig`. */
export interface DPoPAppConfig {
  readonly issuer: string
  readonly clientId: string
  readonly scope: string
  /** The `apiOrigins` entries: each resource server's origin and audience. */
  readonly apis: readonly { readonly origin: string; readonly resource: string }[]
  /** @default 'memory' */
  readonly storage?: 'memory' | 'session' | 'local'
}

/** Client options of the pages of one browser context. */
export interface DPoPPageOptions {
  /** @default 'memory' */
  storage?: 'memory' | 'session' | 'local'
}

/** The session's tokens as the page reports them (the tests copy them out). */
export interface DPoPPageTokens {
  readonly accessToken: string
  readonly refreshToken: string | null
  readonly tokenType: 'Bearer' | 'DPoP'
  readonly expiresAt: number | null
  readonly hasIdToken: boolean
}

/** One token request as the SDK's fetch saw it. */
export interface WireTokenRequest {
  readonly grantType: string | null
  readonly resource: string | null
  readonly refreshToken: string | null
  readonly scope: string | null
  /** Whether it carried a `DPoP` proof, and whether that proof carried a nonce. */
  readonly proof: boolean
  readonly proofNonce: boolean
  readonly status: number
  /** Whether the answer carried a `DPoP-Nonce`. */
  readonly nonceAnswered: boolean
  /** The answer's `error`, for an error answer. */
  readonly error?: string
  /** The answer's `token_type`, for a success. */
  readonly tokenType?: string
  /** Epoch ms (the page's clock, which every tab of the browser shares). */
  readonly startedAt: number
  readonly endedAt: number
}

/** One API request as the SDK's fetch saw it. */
export interface WireApiRequest {
  readonly origin: string
  readonly method: string
  readonly path: string
  /** The `Authorization` scheme sent. */
  readonly scheme: string | null
  readonly proof: boolean
  readonly proofNonce: boolean
  readonly status: number
  /** The `error` of the 401's `WWW-Authenticate: DPoP` challenge. */
  readonly challenge: string | null
}

/** A DPoP key as the page reads it back from IndexedDB. */
export interface StoredDPoPKey {
  readonly jkt: string
  readonly isCryptoKey: boolean
  readonly type: string
  readonly extractable: boolean
  readonly algorithm: { readonly name?: string; readonly namedCurve?: string }
  readonly usages: readonly string[]
  /** The name of the error `exportKey` rejected with for the private key, or `null`. */
  readonly exportError: string | null
  readonly publicJwk: { kty: string; crv: string; x: string; y: string }
}

/** What {@link DPoPAppHooks.stopLoop} counted. */
export interface LoopReport {
  readonly rounds: number
  /** Final statuses (or error codes) of the calls, by API origin. */
  readonly statuses: Record<string, Record<string, number>>
  /** The `jkt` each `/me` answered, with how many answers carried it. */
  readonly jkts: Record<string, number>
  /** `/echo` answers whose body was not the one sent. */
  readonly badEchoes: number
}

/** What the page exposes on `window.dpopApp` (test/e2e/dpop-app/app.js). */
export interface DPoPAppHooks {
  readonly events: Readonly<Record<'tokens' | 'refresh' | 'expired' | 'logout' | 'error', number>>
  /** 'error' event codes and failed API calls, in order. */
  readonly failures: readonly string[]
  readonly wire: {
    readonly token: readonly WireTokenRequest[]
    readonly api: readonly WireApiRequest[]
    /** How many proofs each public JWK (as JSON) signed, token and API requests alike. */
    readonly proofKeys: Record<string, number>
  }
  /** `handleRedirect()` on this page load. */
  readonly redirect: {
    readonly status: 'pending' | 'none' | 'signed-in' | 'failed'
    readonly tokens?: DPoPPageTokens
    readonly error?: string
  }
  /** The "Sign in" button's `login()` (it rejects only before leaving the page). */
  readonly login: { readonly status: string; readonly error?: string }
  /** `auth.tokens`, or null without a session. */
  session(): DPoPPageTokens | null
  /** `auth.getAccessToken({ resource })` (the session's own with `null`), or the error code. */
  getAccessToken(resource: string | null): Promise<{ token?: string; code?: string }>
  /** `auth.refresh()`: the new tokens, or the error code. */
  refresh(): Promise<DPoPPageTokens | { code: string }>
  /** One `auth.fetch`: GET `{origin}/me`, or POST `{origin}{path}` with `body` as text/plain. */
  call(request: {
    origin: string
    path?: string
    body?: string
  }): Promise<{ status: number | string; body?: unknown }>
  /** Calls every API every `intervalMs` until {@link DPoPAppHooks.stopLoop}. */
  startLoop(intervalMs: number): void
  stopLoop(): Promise<LoopReport | null>
  /** The client's DPoP keys in IndexedDB (`freshtoken-dpop`), newest first. */
  storedKeys(): Promise<StoredDPoPKey[]>
  /** `auth.dispose()`: the tab's timers stop, so it renews no more on its own. */
  dispose(): void
  /** Forgets the events, failures and wire records so far (the session stays). */
  resetRecords(): void
}

declare global {
  interface Window {
    dpopApp: DPoPAppHooks
    dpopAppConfig: DPoPAppConfig
  }
}

/** One tab of the app. */
export interface DPoPTab {
  readonly page: Page
  /** Uncaught exceptions and console errors of the page, each prefixed with the page's URL. */
  readonly problems: readonly string[]
  /** Runs `action` with the current document's {@link DPoPAppHooks} inside the page. */
  run<R, A = undefined>(
    action: (hooks: DPoPAppHooks, arg: A) => R | Promise<R>,
    arg?: A,
  ): Promise<R>
  /** Waits until the page is one of the app's and its hooks exist (after a navigation). */
  ready(): Promise<void>
  close(): Promise<void>
}

/** Options of {@link startDPoPApp}. */
export interface DPoPAppOptions {
  /** Lifetime of the provider's access tokens in seconds. @default 60 */
  accessTokenTtl?: number
}

/** A running DPoP app: its static server, its provider, its two APIs. */
export interface DPoPApp {
  /** The app's origin, `http://127.0.0.1:<port>`. */
  readonly origin: string
  /** `{origin}/callback`, the client's registered redirect URI. */
  readonly callbackUrl: string
  /** oidc-provider: a DPoP client (`dpop_bound_access_tokens`), nonces required, both APIs known. */
  readonly provider: OidcProvider
  /** The two resource servers, each with its own audience, nonces required. */
  readonly apis: readonly [ResourceServer, ResourceServer]
  /** Authorization requests the app's browser contexts sent to the provider, in order. */
  readonly authorizationRequests: readonly URL[]
  /** Requests of the app's browser contexts that left loopback and got an answer: none should. */
  readonly escapedRequests: readonly string[]
  /** A new browser context whose pages of the app use `options`; no request leaves loopback. */
  newContext(browser: Browser, options?: DPoPPageOptions): Promise<BrowserContext>
  /** Opens `path` of the app in a new tab of `context` and waits until its hooks exist. */
  openPage(context: BrowserContext, path?: string): Promise<DPoPTab>
  /** Stops the APIs, the provider and the static server. */
  close(): Promise<void>
}

/** Serves the page at {@link PAGES} and its script at `/app.js`; everything else is a 404. */
function serveApp(html: string, script: string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const { pathname } = new URL(req.url ?? '/', 'http://app.invalid')
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendEmpty(res, 405)
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

function isLoopback(url: string): boolean {
  const { hostname, protocol } = new URL(url)
  return hostname === '127.0.0.1' || !protocol.startsWith('http')
}

function wrapPage(page: Page, origin: string): DPoPTab {
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(`${page.url()}: page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`${page.url()}: console error: ${message.text()}`)
  })
  const ready = async () => {
    await page.waitForURL((url) => url.origin === origin && PAGES.includes(url.pathname), {
      timeout: PAGE_WAIT,
    })
    await page.waitForFunction(() => window.dpopApp !== undefined, undefined, {
      timeout: PAGE_WAIT,
    })
  }
  return {
    page,
    problems,
    // Like page.evaluate(fn): the action's source runs in the page, so it may use only its
    // parameters; the argument travels as JSON.
    run: (action, arg) =>
      page.evaluate(`(${action.toString()})(window.dpopApp, ${JSON.stringify(arg ?? null)})`),
    ready,
    close: () => page.close(),
  }
}

/**
 * Starts the app's static server, oidc-provider (the app's client registered as a DPoP client,
 * `requireNonce`, CORS for the app) and two resource servers (nonces required, CORS for the app),
 * whose audiences the provider knows as resources.
 *
 * @example
 * const app = await startDPoPApp({ accessTokenTtl: 5 })
 * const context = await app.newContext(browser)
 * const tab = await app.openPage(context)
 */
export async function startDPoPApp(options: DPoPAppOptions = {}): Promise<DPoPApp> {
  const html = readFileSync(join(appSource, 'index.html'), 'utf8')
  const server = createServer(serveApp(html, await bundlePage(appSource, 'the DPoP page')))
  const origin = await listenOnLoopback(server)
  const callbackUrl = `${origin}/callback`
  const started: { close(): Promise<void> }[] = []
  const close = () => Promise.all([closeServer(server), ...started.map((s) => s.close())])
  let provider: OidcProvider
  let apis: [ResourceServer, ResourceServer]
  try {
    provider = await startOidcProvider({
      redirectUris: [callbackUrl],
      allowedOrigins: [origin],
      dpop: { requireNonce: true },
      ...(options.accessTokenTtl !== undefined && { accessTokenTtl: options.accessTokenTtl }),
    })
    started.push(provider)
    const startApi = async () => {
      const api = await startResourceServer({
        issuer: provider.issuer,
        requireNonce: true,
        allowedOrigins: [origin],
      })
      started.push(api)
      provider.addResource(api.audience)
      return api
    }
    apis = [await startApi(), await startApi()]
  } catch (error) {
    await close()
    throw error
  }
  const authorizationRequests: URL[] = []
  const escapedRequests: string[] = []
  return {
    origin,
    callbackUrl,
    provider,
    apis,
    authorizationRequests,
    escapedRequests,
    async newContext(browser, pageOptions = {}) {
      const context = await browser.newContext()
      context.on('request', (request) => {
        const url = new URL(request.url())
        if (`${url.origin}${url.pathname}` === provider.authorizationEndpoint) {
          authorizationRequests.push(url)
        }
      })
      // The browser's resolver fails every host but loopback (launchSignInBrowser); a request
      // that got an answer anyway left the machine.
      context.on('requestfinished', (request) => {
        if (!isLoopback(request.url())) escapedRequests.push(request.url())
      })
      const config: DPoPAppConfig = {
        issuer: provider.issuer,
        clientId: provider.clientId,
        scope: DPOP_APP_SCOPE,
        apis: apis.map((api) => ({ origin: api.url, resource: api.audience })),
        ...pageOptions,
      }
      await context.addInitScript((value) => {
        window.dpopAppConfig = value
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
    async close() {
      await close()
    },
  }
}
