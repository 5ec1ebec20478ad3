/**
 * A token-mediating backend (OAuth 2.0 for Browser-Based Apps, draft §6.2) on `node:http`: the app
 * and its backend share one origin; the backend keeps the session in an httpOnly,
 * `SameSite=Strict` refresh cookie scoped to `/auth` and hands the page short-lived access tokens
 * in its own camelCase JSON (`{ accessToken, expiresIn }`, not RFC 6749 §5.1).
 *
 * It behaves like a strict production backend: refresh cookies rotate on every refresh, a retired
 * cookie presented again revokes its whole family (refresh cookies and access tokens), refresh and
 * logout demand a CSRF header, and the protected API answers RFC 6750 §3 challenges. Server-side
 * controls (end or revoke sessions, expire access tokens, add latency) let tests reach every state
 * without waiting, and counters let them bound what the client sent.
 *
 * Everything is in memory and listens on 127.0.0.1.
 *
 * @see https://datatracker.ietf.org/doc/html/draft-ietf-oauth-browser-based-apps#section-6.2
 */
import { randomBytes } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, resolve, sep } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  closeServer,
  hasMediaType,
  listenOnLoopback,
  readBody,
  sendEmpty,
  sendJson,
} from './http-utils.js'

/** Name of the refresh cookie the backend sets on `/auth`. */
export const REFRESH_COOKIE = 'rt'

/** Realm of the API's `WWW-Authenticate: Bearer` challenges. */
const REALM = 'api'

/** A fixed answer mounted at a path by {@link CookieBackendOptions.extraRoutes} (`GET`/`HEAD`). */
export interface ExtraPage {
  /** The response body. */
  readonly body: string | Uint8Array
  /** @default 'text/html;charset=UTF-8' */
  readonly contentType?: string
}

/** A request handler mounted at a path by {@link CookieBackendOptions.extraRoutes} (any method). */
export type ExtraHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>

/** What {@link CookieBackendOptions.extraRoutes} mounts at a path. */
export type ExtraRoute = ExtraPage | ExtraHandler

/** Options of {@link startCookieBackend}. */
export interface CookieBackendOptions {
  /**
   * Directory served for `GET`/`HEAD` requests that match no other route: `/` answers its
   * `index.html`, `/<file>` the file, with the content type of `.html`, `.js`, `.mjs`, `.css`,
   * `.map`, `.json` and `.txt` files.
   * @default undefined (no static files)
   */
  staticDir?: string
  /**
   * Routes by exact path (`/page.html`), checked before every other route: a fixed page answered
   * to `GET`/`HEAD`, or a handler that answers any method itself.
   * @default {}
   */
  extraRoutes?: Readonly<Record<string, ExtraRoute>>
  /**
   * Lifetime of issued access tokens in milliseconds. Answers report it as `expiresIn` in whole
   * seconds rounded down, so a client never believes a token outlives its server-side expiry.
   * @default 60_000
   */
  accessTokenLifetime?: number
  /**
   * Absolute lifetime of a session in milliseconds, counted from login and not extended by
   * refreshes. When set, login and refresh answers carry `refreshExpiresIn` (whole seconds left,
   * rounded down), the refresh cookie gets a matching `Max-Age`, and a refresh after the end
   * answers 401 `session_expired`. Access tokens already issued keep their own expiry.
   * @default undefined (sessions end only by logout, reuse or the test controls)
   */
  sessionLifetime?: number
  /**
   * The header (name, exact value) that `/auth/refresh` and `/auth/logout` require as CSRF
   * defence; the name is matched case-insensitively.
   * @default ['X-CSRF', '1']
   */
  csrfHeader?: readonly [name: string, value: string]
  /**
   * Delay in milliseconds between the arrival of a `/auth/refresh` request and its processing
   * (followed at once by the answer). It is a real delay on Node's own timers, not driven by a
   * test's fake timers. A request whose client gives up meanwhile is still processed, as on a
   * real server.
   * @default 0
   */
  latency?: number
  /**
   * Methods `/auth/refresh` accepts: `'POST'` only, or `'GET'` to accept `GET` as well.
   * @default 'POST'
   */
  method?: 'POST' | 'GET'
  /**
   * Makes a refresh revoke the access tokens issued earlier in the same session, like servers that
   * keep a single live access token per session: the previous token is answered 401 from that
   * moment, though it had time left.
   * @default false
   */
  deleteOldAccessTokenOnRefresh?: boolean
  /**
   * The server's clock in epoch milliseconds, for tests that drive time themselves. The default
   * reads `Date.now()` at each use, so fake timers that fake `Date` drive it too.
   * @default () => Date.now()
   */
  now?: () => number
  /**
   * Port on 127.0.0.1.
   * @default 0 (a free port chosen by the system)
   */
  port?: number
}

/** Snapshot of a {@link CookieBackend}'s request counters. */
export interface CookieBackendCounters {
  /** Successful logins (each started a session). */
  logins: number
  /** Successful refreshes (each rotated the refresh cookie). */
  refreshes: number
  /** Retired refresh cookies presented to `/auth/refresh`; each revoked its session. */
  reuseDetected: number
  /** Failed `/auth/refresh` answers by HTTP status, for example `{ 401: 2, 403: 1 }`. */
  refreshFailures: Record<number, number>
  /** Logouts answered 204. */
  logouts: number
  /** `/api/*` requests answered 200. */
  apiOk: number
  /** `/api/*` requests refused (401). */
  apiFailed: number
}

/** Where a refresh cookie value stands; reading it does not count as presenting it. */
export type RefreshCookieState = 'current' | 'retired' | 'revoked' | 'expired' | 'unknown'

/** A running {@link startCookieBackend} fixture. */
export interface CookieBackend {
  /** Origin of the app and its backend, `http://127.0.0.1:<port>`. */
  readonly origin: string
  /** `POST` here to log in: `{ accessToken, expiresIn }` and the refresh cookie. */
  readonly loginUrl: string
  /** `POST` here (with the CSRF header and the cookie) for a new access token. */
  readonly refreshUrl: string
  /** `POST` here (with the CSRF header) to end the session and clear the cookie. */
  readonly logoutUrl: string
  /** Base URL of the protected API: `{apiUrl}/me` and any `{apiUrl}/...`. */
  readonly apiUrl: string
  /** The CSRF header (name, value) that refresh and logout require. */
  readonly csrfHeader: readonly [name: string, value: string]
  /** A copy of the counters as they are now. */
  counters(): CookieBackendCounters
  /** Sets every counter back to 0. */
  reset(): void
  /** Ends every session as its absolute lifetime would: refreshes answer 401 `session_expired`. */
  expireSessions(): void
  /** Revokes every session, as an administrator would: its cookies and access tokens refused. */
  revokeAll(): void
  /** Makes every access token issued so far expired: the API answers them 401 `invalid_token`. */
  expireAccessTokens(): void
  /** Changes the delay (ms) before `/auth/refresh` answers, from the next request on. */
  setLatency(ms: number): void
  /** Where the refresh cookie `value` stands, without presenting it. */
  cookieState(value: string): RefreshCookieState
  /** Stops listening and drops open connections. */
  close(): Promise<void>
}

/** One login's session: its refresh cookies and access tokens are revoked together. */
interface Family {
  readonly sub: string
  /** Absolute end of the session (epoch ms), or `undefined` when it has none. */
  endsAt: number | undefined
  revoked: boolean
  /** Access tokens issued in this session, oldest first. */
  readonly accessTokens: string[]
}

interface RefreshCookieRecord {
  readonly family: Family
  retired: boolean
}

interface AccessTokenRecord {
  readonly family: Family
  expiresAt: number
  revoked: boolean
}

/** Body of a successful login or refresh answer. */
interface SessionAnswer {
  accessToken: string
  expiresIn: number
  refreshExpiresIn?: number
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html;charset=UTF-8',
  '.js': 'text/javascript;charset=UTF-8',
  '.mjs': 'text/javascript;charset=UTF-8',
  '.css': 'text/css;charset=UTF-8',
  '.json': 'application/json;charset=UTF-8',
  '.map': 'application/json;charset=UTF-8',
  '.txt': 'text/plain;charset=UTF-8',
}

function newCounters(): CookieBackendCounters {
  return {
    logins: 0,
    refreshes: 0,
    reuseDetected: 0,
    refreshFailures: {},
    logouts: 0,
    apiOk: 0,
    apiFailed: 0,
  }
}

/** An opaque, unguessable value (256 bits) for cookies and access tokens. */
function opaque(): string {
  return randomBytes(32).toString('base64url')
}

/** The value of cookie `name` in the request's `Cookie` header (the first when repeated). */
function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const pair of (req.headers.cookie ?? '').split(';')) {
    const at = pair.indexOf('=')
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim()
  }
  return undefined
}

/** Whether the request reached the app over TLS, directly or through a TLS-terminating proxy. */
function isHttps(req: IncomingMessage): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted === true) return true
  const forwarded = req.headers['x-forwarded-proto']
  const proto = Array.isArray(forwarded) ? forwarded[0] : forwarded
  return proto?.split(',')[0]?.trim().toLowerCase() === 'https'
}

/**
 * A `Set-Cookie` value for the refresh cookie: httpOnly, `SameSite=Strict`, only sent to `/auth`,
 * `Secure` over https. Without `maxAge` it is a browser-session cookie.
 */
function refreshCookie(req: IncomingMessage, value: string, maxAge?: number): string {
  const attributes = [`${REFRESH_COOKIE}=${value}`, 'Path=/auth', 'HttpOnly', 'SameSite=Strict']
  if (maxAge !== undefined) attributes.push(`Max-Age=${maxAge}`)
  if (isHttps(req)) attributes.push('Secure')
  return attributes.join('; ')
}

/** A `Set-Cookie` value that deletes the refresh cookie. */
function clearedCookie(req: IncomingMessage): string {
  return refreshCookie(req, '', 0)
}

/** A `WWW-Authenticate: Bearer` challenge (RFC 6750 §3). */
function challenge(params: Readonly<Record<string, string>> = {}): string {
  const pairs = Object.entries({ realm: REALM, ...params }).map(([k, v]) => `${k}="${v}"`)
  return `Bearer ${pairs.join(', ')}`
}

/**
 * The user a login body names: no body, or a JSON object whose optional `username` is a string
 * (`'alice'` when absent or empty); `undefined` for any other body.
 */
function readLoginUsername(req: IncomingMessage, text: string): string | undefined {
  if (text.trim() === '') return 'alice'
  if (!hasMediaType(req, 'application/json')) return undefined
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const { username } = body as { username?: unknown }
  if (username === undefined || username === '') return 'alice'
  return typeof username === 'string' ? username : undefined
}

/** Starts `server` on 127.0.0.1 at `port` (0: a free one) and returns its origin. */
async function listenOn(server: Server, port: number): Promise<string> {
  if (port === 0) return listenOnLoopback(server)
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolvePromise()
    })
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Answers `file` under `root` (`index.html` for a directory), or 404. */
async function serveStatic(root: string, res: ServerResponse, url: URL, head: boolean) {
  let pathname: string
  try {
    pathname = decodeURIComponent(url.pathname)
  } catch {
    return sendEmpty(res, 404)
  }
  const path = resolve(root, `.${pathname}`)
  const file = path === root || pathname.endsWith('/') ? resolve(path, 'index.html') : path
  if (!file.startsWith(root + sep)) return sendEmpty(res, 404)
  const info = await stat(file).catch(() => undefined)
  if (info === undefined || !info.isFile()) return sendEmpty(res, 404)
  const content = await readFile(file)
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': String(content.byteLength),
    'Cache-Control': 'no-store',
  })
  res.end(head ? undefined : content)
}

/** Answers an {@link ExtraRoute}. */
async function serveExtra(route: ExtraRoute, req: IncomingMessage, res: ServerResponse) {
  if (typeof route === 'function') return route(req, res)
  const method = req.method ?? 'GET'
  if (method !== 'GET' && method !== 'HEAD') return sendEmpty(res, 405, { Allow: 'GET, HEAD' })
  const body = typeof route.body === 'string' ? Buffer.from(route.body) : route.body
  res.writeHead(200, {
    'Content-Type': route.contentType ?? 'text/html;charset=UTF-8',
    'Content-Length': String(body.byteLength),
    'Cache-Control': 'no-store',
  })
  res.end(method === 'HEAD' ? undefined : body)
}

/**
 * Starts the cookie-session backend on 127.0.0.1 (a free port unless `port` is given).
 *
 * Routes:
 * - `POST /auth/login`: no body, or JSON `{ username?, password? }`. Any user is accepted and the
 *   password is ignored (the app's real login is out of scope); `username` (default `'alice'`)
 *   becomes the API's `sub`. A current refresh cookie sent along ends that earlier session.
 *   Answers `{ accessToken, expiresIn[, refreshExpiresIn] }` and sets the refresh cookie.
 *   A body that is not a JSON object: 400 `invalid_request`.
 * - `POST /auth/refresh` (also `GET` with `method: 'GET'`, else 405): CSRF header missing or wrong:
 *   403 `csrf`; no cookie: 401 `no_session`; a current cookie: rotated, answered like a login; a
 *   retired cookie: reuse, the session is revoked, 401 `invalid_session`; an unknown or revoked
 *   cookie: 401 `invalid_session`; a session past its lifetime: 401 `session_expired`. A 401 for a
 *   cookie that was sent also deletes it.
 * - `POST /auth/logout` (CSRF header required, 403 otherwise): revokes the cookie's session, if
 *   any, deletes the cookie, 204.
 * - `/api/*`, any method: `Authorization: Bearer <accessToken>` issued here, not expired nor
 *   revoked: 200 `{ sub, method, path }`. Without bearer credentials: 401 `WWW-Authenticate: Bearer
 *   realm="api"`; with a bad token: 401 `Bearer realm="api", error="invalid_token", ...`.
 * - Other `GET`/`HEAD`: files from `staticDir`. `extraRoutes` come before all of these.
 *
 * Every auth and API answer carries `Cache-Control: no-store`.
 *
 * @example
 * const backend = await startCookieBackend({ staticDir: 'demo/dist', sessionLifetime: 3_600_000 })
 * // open `${backend.origin}/` in a browser
 * await backend.close()
 */
export async function startCookieBackend(
  options: CookieBackendOptions = {},
): Promise<CookieBackend> {
  const now = options.now ?? (() => Date.now())
  const accessTokenLifetime = options.accessTokenLifetime ?? 60_000
  const sessionLifetime = options.sessionLifetime
  const [csrfName, csrfValue] = options.csrfHeader ?? ['X-CSRF', '1']
  const refreshMethods = options.method === 'GET' ? ['POST', 'GET'] : ['POST']
  const staticDir = options.staticDir === undefined ? undefined : resolve(options.staticDir)
  const extraRoutes = options.extraRoutes ?? {}
  let latency = options.latency ?? 0
  let counters = newCounters()

  const families = new Set<Family>()
  const refreshCookies = new Map<string, RefreshCookieRecord>()
  const accessTokens = new Map<string, AccessTokenRecord>()

  function isExpired(family: Family): boolean {
    return family.endsAt !== undefined && now() >= family.endsAt
  }

  function cookieState(value: string): RefreshCookieState {
    const record = refreshCookies.get(value)
    if (record === undefined) return 'unknown'
    if (record.family.revoked) return 'revoked'
    if (record.retired) return 'retired'
    return isExpired(record.family) ? 'expired' : 'current'
  }

  function revokeFamily(family: Family): void {
    family.revoked = true
  }

  function hasCsrfHeader(req: IncomingMessage): boolean {
    const value = req.headers[csrfName.toLowerCase()]
    return (Array.isArray(value) ? value[0] : value) === csrfValue
  }

  function issueAccessToken(family: Family): string {
    if (options.deleteOldAccessTokenOnRefresh) {
      for (const token of family.accessTokens) {
        const record = accessTokens.get(token)
        if (record !== undefined) record.revoked = true
      }
    }
    const token = opaque()
    accessTokens.set(token, { family, expiresAt: now() + accessTokenLifetime, revoked: false })
    family.accessTokens.push(token)
    return token
  }

  function issueRefreshCookie(family: Family): string {
    const value = opaque()
    refreshCookies.set(value, { family, retired: false })
    return value
  }

  /** A new access token and refresh cookie for `family`, answered 200. */
  function answerSession(req: IncomingMessage, res: ServerResponse, family: Family): void {
    const body: SessionAnswer = {
      accessToken: issueAccessToken(family),
      expiresIn: Math.floor(accessTokenLifetime / 1000),
    }
    let maxAge: number | undefined
    if (family.endsAt !== undefined) {
      const left = Math.max(0, family.endsAt - now())
      body.refreshExpiresIn = Math.floor(left / 1000)
      maxAge = Math.ceil(left / 1000)
    }
    const cookie = refreshCookie(req, issueRefreshCookie(family), maxAge)
    sendJson(res, 200, body, { 'Set-Cookie': cookie })
  }

  async function handleLogin(req: IncomingMessage, res: ServerResponse) {
    if (req.method !== 'POST') return sendEmpty(res, 405, { Allow: 'POST' })
    const username = readLoginUsername(req, await readBody(req))
    if (username === undefined) return sendJson(res, 400, { error: 'invalid_request' })
    // Logging in again ends the session the browser still holds (no two sessions per cookie jar).
    const previous = refreshCookies.get(readCookie(req, REFRESH_COOKIE) ?? '')
    if (previous !== undefined) revokeFamily(previous.family)
    const family: Family = {
      sub: username,
      endsAt: sessionLifetime === undefined ? undefined : now() + sessionLifetime,
      revoked: false,
      accessTokens: [],
    }
    families.add(family)
    counters.logins++
    answerSession(req, res, family)
  }

  function countRefreshFailure(status: number): void {
    counters.refreshFailures[status] = (counters.refreshFailures[status] ?? 0) + 1
  }

  function failRefresh(
    res: ServerResponse,
    status: number,
    error: string,
    headers: Record<string, string> = {},
  ): void {
    countRefreshFailure(status)
    sendJson(res, status, { error }, headers)
  }

  async function handleRefresh(req: IncomingMessage, res: ServerResponse) {
    await readBody(req)
    if (latency > 0) await sleep(latency)
    const method = req.method ?? 'GET'
    if (!refreshMethods.includes(method)) {
      countRefreshFailure(405)
      return sendEmpty(res, 405, { Allow: refreshMethods.join(', ') })
    }
    if (!hasCsrfHeader(req)) return failRefresh(res, 403, 'csrf')
    const value = readCookie(req, REFRESH_COOKIE)
    if (value === undefined || value === '') return failRefresh(res, 401, 'no_session')
    const clear = { 'Set-Cookie': clearedCookie(req) }
    const record = refreshCookies.get(value)
    if (record === undefined) return failRefresh(res, 401, 'invalid_session', clear)
    if (record.retired) {
      // RFC 9700 §4.14.2: a rotated refresh credential came back, so someone holds a copy.
      counters.reuseDetected++
      revokeFamily(record.family)
      return failRefresh(res, 401, 'invalid_session', clear)
    }
    if (record.family.revoked) return failRefresh(res, 401, 'invalid_session', clear)
    if (isExpired(record.family)) return failRefresh(res, 401, 'session_expired', clear)
    record.retired = true
    counters.refreshes++
    answerSession(req, res, record.family)
  }

  async function handleLogout(req: IncomingMessage, res: ServerResponse) {
    await readBody(req)
    if (req.method !== 'POST') return sendEmpty(res, 405, { Allow: 'POST' })
    if (!hasCsrfHeader(req)) return sendJson(res, 403, { error: 'csrf' })
    const record = refreshCookies.get(readCookie(req, REFRESH_COOKIE) ?? '')
    if (record !== undefined) revokeFamily(record.family)
    counters.logouts++
    sendEmpty(res, 204, { 'Set-Cookie': clearedCookie(req) })
  }

  /** The request's bearer token (RFC 6750 §2.1), or `undefined` when it sends none. */
  function readBearer(req: IncomingMessage): string | undefined {
    return /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(req.headers.authorization ?? '')?.[1]
  }

  /** The record of a valid access token, or why `token` is refused. */
  function checkAccessToken(token: string): AccessTokenRecord | string {
    const record = accessTokens.get(token)
    if (record === undefined) return 'The access token is unknown'
    if (record.revoked || record.family.revoked) return 'The access token was revoked'
    if (now() >= record.expiresAt) return 'The access token expired'
    return record
  }

  function refuseApi(res: ServerResponse, description: string, authenticate: string): void {
    counters.apiFailed++
    sendJson(
      res,
      401,
      { error: 'unauthorized', message: description },
      {
        'WWW-Authenticate': authenticate,
      },
    )
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL) {
    await readBody(req)
    const token = readBearer(req)
    if (token === undefined) {
      // RFC 6750 §3.1: a request without bearer credentials: a challenge without an error code.
      return refuseApi(res, 'An access token is required', challenge())
    }
    const record = checkAccessToken(token)
    if (typeof record === 'string') {
      const params = { error: 'invalid_token', error_description: record }
      return refuseApi(res, record, challenge(params))
    }
    counters.apiOk++
    sendJson(res, 200, { sub: record.family.sub, method: req.method, path: url.pathname })
  }

  let origin = ''

  async function route(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', origin)
    const path = url.pathname
    const method = req.method ?? 'GET'
    const extra = Object.hasOwn(extraRoutes, path) ? extraRoutes[path] : undefined
    if (extra !== undefined) return serveExtra(extra, req, res)
    if (path === '/auth/login') return handleLogin(req, res)
    if (path === '/auth/refresh') return handleRefresh(req, res)
    if (path === '/auth/logout') return handleLogout(req, res)
    if (path.startsWith('/auth/')) return sendJson(res, 404, { error: 'not_found' })
    if (path === '/api' || path.startsWith('/api/')) return handleApi(req, res, url)
    if (staticDir !== undefined && (method === 'GET' || method === 'HEAD')) {
      return serveStatic(staticDir, res, url, method === 'HEAD')
    }
    sendEmpty(res, 404)
  }

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' })
      else res.destroy(error as Error)
    })
  })
  origin = await listenOn(server, options.port ?? 0)

  return {
    origin,
    loginUrl: `${origin}/auth/login`,
    refreshUrl: `${origin}/auth/refresh`,
    logoutUrl: `${origin}/auth/logout`,
    apiUrl: `${origin}/api`,
    csrfHeader: [csrfName, csrfValue],

    counters: () => ({ ...counters, refreshFailures: { ...counters.refreshFailures } }),

    reset() {
      counters = newCounters()
    },

    expireSessions() {
      const past = now() - 1
      for (const family of families) family.endsAt = past
    },

    revokeAll() {
      for (const family of families) revokeFamily(family)
    },

    expireAccessTokens() {
      const past = now() - 1
      for (const record of accessTokens.values()) record.expiresAt = past
    },

    setLatency(ms) {
      latency = ms
    },

    cookieState,

    close: () => closeServer(server),
  }
}
