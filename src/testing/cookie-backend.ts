import { type HttpHandler, HttpResponse, http } from 'msw'
import type { TokenResponse } from '../token-set.js'
import { answerWithFaults, type MockContext } from './context.js'
import { allowedOrigin, preflightResponse, withCors } from './cors.js'
import type { BackendLogEntry } from './counters.js'
import { noStoreJSON } from './responses.js'

/**
 * The name of the cookie the mock session backend keeps its refresh token in. The `__Host-` prefix
 * pins it to the app's origin (`Secure`, `Path=/`, no `Domain`; RFC 6265bis §4.1.3.2); it is also
 * `HttpOnly` and `SameSite=Strict`.
 */
export const MOCK_REFRESH_COOKIE = '__Host-refresh'

/**
 * Options of the mock session backend: an app's own backend that keeps the refresh token in an
 * httpOnly cookie and hands the page access tokens (a token-mediating backend, OAuth 2.0 for
 * Browser-Based Applications §6.2). It is served on `appOrigin`.
 *
 * How the cookie travels: every answer that changes it carries a real `Set-Cookie` header, and a
 * `Cookie` header on a request is read. But msw 3 keeps no cookies under Node (its cookie store is
 * browser-only, and an intercepted request never reaches happy-dom's cookie handling), so the mock
 * also keeps the browser's cookie jar itself (per app origin, shared over `stateStorage`), and a
 * request without a `Cookie` header of its own presents the jar's cookie. Limits that follow:
 * msw under Node reports every request as `credentials: 'same-origin'`, so the mock can withhold
 * the cookie only for `credentials: 'omit'` seen in a browser, and cannot catch an SDK that forgets
 * `credentials: 'include'` (test that in a real browser); and a response replaced by a fault loses
 * its cookie, as a lost response would.
 *
 * @see https://datatracker.ietf.org/doc/html/draft-ietf-oauth-browser-based-apps#section-6.2
 */
export interface MockBackendOptions {
  /**
   * The header every cookie-authenticated request (refresh, logout) must carry, as
   * `[name, value]`; without it the backend answers 403 (Browser-Based Applications §6.1.3.3.2).
   * The name is compared case-insensitively, the value exactly. `null` to require none.
   * @default ['X-CSRF', '1']
   */
  readonly csrfHeader?: readonly [string, string] | null
  /**
   * Path of the login endpoint on `appOrigin`: `POST` starts a session (any credentials are
   * accepted; a `username` in a JSON or form body becomes the subject), sets the refresh cookie and
   * answers tokens.
   * @default '/auth/login'
   */
  readonly loginPath?: string
  /**
   * Path of the refresh endpoint on `appOrigin`: `POST` with the cookie and the CSRF header answers
   * a new access token and rotates the cookie.
   * @default '/auth/refresh'
   */
  readonly refreshPath?: string
  /**
   * Path of the logout endpoint on `appOrigin`: `POST` with the CSRF header revokes the cookie's
   * session and clears the cookie.
   * @default '/auth/logout'
   */
  readonly logoutPath?: string
  /**
   * The shape of token answers: `'camel'`, `{ accessToken, expiresIn, refreshExpiresIn }`, as many
   * backends answer, or `'rfc6749'`, `{ access_token, token_type, expires_in }` (RFC 6749 §5.1).
   * @default 'camel'
   */
  readonly shape?: 'camel' | 'rfc6749'
}

/** The session backend's endpoints on `appOrigin`. */
export interface MockBackendEndpoints {
  /** `POST` starts a session. */
  readonly login: string
  /** `POST` renews it. */
  readonly refresh: string
  /** `POST` ends it. */
  readonly logout: string
}

/** {@link MockBackendOptions} with defaults applied. Not part of the public surface. */
export interface ResolvedBackendOptions {
  readonly csrfHeader: readonly [string, string] | null
  readonly shape: 'camel' | 'rfc6749'
  readonly endpoints: MockBackendEndpoints
}

/**
 * A token answer of the session backend in the `'camel'` shape. Lifetimes are in whole seconds.
 */
export interface MockBackendCamelBody {
  readonly accessToken: string
  /** Seconds the access token lives; absent with `omitExpiresIn`. */
  readonly expiresIn?: number
  /**
   * Seconds the refresh cookie (the session) has left: its lifetime after a rotation, capped by
   * `sessionLifetime`, so it counts down to the session's hard end.
   */
  readonly refreshExpiresIn: number
}

/** A token answer of the session backend in the `'rfc6749'` shape (RFC 6749 §5.1). */
export interface MockBackendRFC6749Body {
  readonly access_token: string
  readonly token_type: 'Bearer'
  /** Seconds the access token lives; absent with `omitExpiresIn`. */
  readonly expires_in?: number
}

/** A token answer of the session backend, in the shape its `shape` option names. */
export type MockBackendTokenBody = MockBackendCamelBody | MockBackendRFC6749Body

function fail(option: string, rule: string): never {
  throw new TypeError(`"${option}" ${rule}`)
}

function checkPath(option: string, value: string): string {
  if (typeof value !== 'string' || !value.startsWith('/') || /[?#\s]/.test(value)) {
    fail(option, 'must be a path starting with "/", without query or fragment')
  }
  return value
}

/**
 * Applies the backend's defaults and validates its options.
 *
 * @param options - the caller's `backend` option
 * @param appOrigin - the resolved app origin
 * @returns the resolved backend options
 * @throws {TypeError} naming the first invalid option
 */
export function resolveBackendOptions(
  options: MockBackendOptions,
  appOrigin: string,
): ResolvedBackendOptions {
  if (typeof options !== 'object') fail('backend', 'must be an object or null')
  const csrfHeader: readonly [string, string] | null =
    options.csrfHeader === undefined ? ['X-CSRF', '1'] : options.csrfHeader
  if (
    csrfHeader !== null &&
    (!Array.isArray(csrfHeader) ||
      csrfHeader.length !== 2 ||
      csrfHeader.some((part) => typeof part !== 'string' || part === ''))
  ) {
    fail('backend.csrfHeader', 'must be [name, value] or null')
  }
  const shape = options.shape ?? 'camel'
  if (shape !== 'camel' && shape !== 'rfc6749')
    fail('backend.shape', 'must be "camel" or "rfc6749"')
  const paths = {
    login: checkPath('backend.loginPath', options.loginPath ?? '/auth/login'),
    refresh: checkPath('backend.refreshPath', options.refreshPath ?? '/auth/refresh'),
    logout: checkPath('backend.logoutPath', options.logoutPath ?? '/auth/logout'),
  }
  if (new Set(Object.values(paths)).size !== 3) fail('backend', 'paths must differ')
  return {
    csrfHeader: csrfHeader === null ? null : [csrfHeader[0], csrfHeader[1]],
    shape,
    endpoints: {
      login: `${appOrigin}${paths.login}`,
      refresh: `${appOrigin}${paths.refresh}`,
      logout: `${appOrigin}${paths.logout}`,
    },
  }
}

/** What a backend answer does to the refresh cookie. */
type CookieChange = { readonly value: string; readonly maxAge: number } | 'clear' | null

interface BackendAnswer {
  readonly response: Response
  readonly cookie: CookieChange
  readonly family: string | null
}

function backendBody(context: MockContext, tokens: TokenResponse, refreshExpiresIn: number) {
  const { expires_in } = tokens
  const expiresIn = typeof expires_in === 'number' ? { expiresIn: expires_in } : {}
  if (context.options.backend?.shape === 'rfc6749') {
    const { access_token, token_type } = tokens
    return { access_token, token_type, ...(expires_in === undefined ? {} : { expires_in }) }
  }
  return { accessToken: tokens.access_token, ...expiresIn, refreshExpiresIn }
}

/**
 * Mints a session and its refresh cookie: the tokens, the body the backend answers them with, and
 * the cookie to set.
 */
function openSession(
  context: MockContext,
  options: { scope?: string; subject?: string },
): { readonly body: MockBackendTokenBody; readonly cookie: CookieChange; readonly family: string } {
  const now = Date.now()
  const tokens = context.store.issue(options)
  const refreshToken = tokens.refresh_token as string
  const { expiresAt, family } = context.store.introspect(refreshToken)
  return answerFor(context, tokens, refreshToken, (expiresAt ?? 0) - now, family as string)
}

/**
 * The answer and cookie for tokens whose refresh token has `remaining` ms to live, counted from
 * before the store minted it, so that a fresh cookie reports its whole lifetime.
 */
function answerFor(
  context: MockContext,
  tokens: TokenResponse,
  refreshToken: string,
  remainingMs: number,
  family: string,
) {
  const remaining = Math.max(0, remainingMs)
  const body = backendBody(context, tokens, Math.floor(remaining / 1000)) as MockBackendTokenBody
  return { body, cookie: { value: refreshToken, maxAge: remaining }, family }
}

function setCookieHeader(change: Exclude<CookieChange, null>): string {
  const [value, seconds] = change === 'clear' ? ['', 0] : [change.value, change.maxAge / 1000]
  return `${MOCK_REFRESH_COOKIE}=${value}; Path=/; Max-Age=${Math.floor(seconds)}; Secure; HttpOnly; SameSite=Strict`
}

/**
 * The refresh cookie a request carries. A `Cookie` header set on the request itself wins (only
 * Node's fetch lets a caller set one: a non-browser client, or a replayed stolen cookie);
 * otherwise the jar's cookie goes with every request to the app's origin except those with
 * `credentials: 'omit'`. msw under Node reports every request as `credentials: 'same-origin'`,
 * whatever the caller asked, so in Node the mock cannot catch a client that forgets
 * `credentials: 'include'`; only a real browser can.
 */
function presentedCookie(context: MockContext, request: Request): string | null {
  const header = request.headers.get('Cookie')
  if (header !== null) {
    for (const pair of header.split(';')) {
      const [name, ...value] = pair.trim().split('=')
      if (name === MOCK_REFRESH_COOKIE) return value.join('=')
    }
    return null
  }
  if (request.credentials === 'omit') return null
  return context.jar.get(context.options.appOrigin, MOCK_REFRESH_COOKIE)
}

function hasCSRFHeader(context: MockContext, request: Request): boolean {
  const csrf = context.options.backend?.csrfHeader ?? null
  return csrf === null || request.headers.get(csrf[0]) === csrf[1]
}

function cookieHeaders(change: CookieChange): Record<string, string> {
  return change === null ? {} : { 'Set-Cookie': setCookieHeader(change) }
}

/**
 * An answer of the backend. The `Set-Cookie` header goes in at construction: the Fetch standard's
 * response guard drops it when set later, and msw records it only from the response's init.
 */
function reply(
  status: number,
  body: Readonly<Record<string, unknown>> | null,
  cookie: CookieChange,
  family: string | null,
): BackendAnswer {
  const headers = cookieHeaders(cookie)
  const response =
    body === null
      ? new HttpResponse(null, { status, headers: { 'Cache-Control': 'no-store', ...headers } })
      : noStoreJSON(body, status, headers)
  return { response, cookie, family }
}

function problem(status: number, error: string, description: string): BackendAnswer {
  return reply(status, { error, error_description: description }, null, null)
}

async function readSubject(request: Request): Promise<string | undefined> {
  const type = request.headers.get('Content-Type')?.split(';')[0]?.trim().toLowerCase()
  try {
    const text = await request.text()
    const username =
      type === 'application/json'
        ? (JSON.parse(text) as { username?: unknown } | null)?.username
        : type === 'application/x-www-form-urlencoded'
          ? new URLSearchParams(text).get('username')
          : undefined
    return typeof username === 'string' && username !== '' ? username : undefined
  } catch {
    return undefined
  }
}

async function login(
  context: MockContext,
  request: Request,
  _cookie: string | null,
): Promise<BackendAnswer> {
  const subject = await readSubject(request)
  const session = openSession(context, subject === undefined ? {} : { subject })
  return reply(200, { ...session.body }, session.cookie, session.family)
}

function refresh(context: MockContext, request: Request, cookie: string | null): BackendAnswer {
  // Checked before the cookie, so a forged request learns nothing about the session.
  if (!hasCSRFHeader(context, request)) return problem(403, 'forbidden', CSRF_DESCRIPTION)
  if (cookie === null) return problem(401, 'unauthorized', 'There is no session cookie')
  const { store, options, recorder } = context
  const now = Date.now()
  const outcome = store.refresh({ refreshToken: cookie, clientId: options.clientId, scope: null })
  if (!outcome.ok) {
    if (outcome.reuseDetected) recorder.counters.reuseDetected += 1
    const body = { error: 'unauthorized', error_description: outcome.description }
    return reply(401, body, 'clear', outcome.family)
  }
  // Without rotation the presented cookie stays, with its own expiry.
  const current = outcome.body.refresh_token ?? cookie
  const { expiresAt } = store.introspect(current)
  const answer = answerFor(context, outcome.body, current, (expiresAt ?? 0) - now, outcome.family)
  return reply(200, { ...answer.body }, current === cookie ? null : answer.cookie, outcome.family)
}

function logout(context: MockContext, request: Request, cookie: string | null): BackendAnswer {
  if (!hasCSRFHeader(context, request)) return problem(403, 'forbidden', CSRF_DESCRIPTION)
  // Revoking the refresh token ends its whole session, access tokens included (RFC 7009 §2.1).
  const family = cookie === null ? null : context.store.revoke(cookie).family
  return reply(204, null, 'clear', family)
}

const CSRF_DESCRIPTION = 'The CSRF header is missing or wrong'

const HANDLERS = { login, refresh, logout } as const

function backendHandler(context: MockContext, endpoint: BackendLogEntry['endpoint']): HttpHandler {
  const { cors, recorder, store, jar, options } = context
  const url = (options.backend as ResolvedBackendOptions).endpoints[endpoint]
  const counter = (
    { login: 'backendLogin', refresh: 'backendRefresh', logout: 'backendLogout' } as const
  )[endpoint]
  return http.all(url, async ({ request }) => {
    if (request.method === 'OPTIONS') {
      recorder.counters.preflight += 1
      return withCredentials(preflightResponse(request, cors, ['POST']), request, context)
    }
    recorder.counters[counter] += 1
    const at = Date.now()
    const cookie = presentedCookie(context, request)
    const state = cookie === null ? 'missing' : store.introspect(cookie).state
    const answer = await answerWithFaults(context, 'backend', async () => {
      if (request.method !== 'POST') {
        const answer = problem(405, 'method_not_allowed', `The ${endpoint} endpoint takes POST`)
        answer.response.headers.set('Allow', 'POST, OPTIONS')
        return answer
      }
      return HANDLERS[endpoint](context, request, cookie)
    })
    const change = answer.outcome?.cookie ?? null
    // A response lost to a fault loses its Set-Cookie too: the browser keeps the old cookie.
    const delivered = answer.fault === null || answer.fault === 'latency'
    if (change !== null && delivered && request.credentials !== 'omit') {
      const [value, maxAge] = change === 'clear' ? ['', 0] : [change.value, change.maxAge]
      jar.set(options.appOrigin, MOCK_REFRESH_COOKIE, value, maxAge)
    }
    recorder.log.backend.push({
      at,
      endpoint,
      method: request.method,
      csrf: hasCSRFHeader(context, request),
      cookie: state,
      family: answer.outcome?.family ?? null,
      status: answer.response.status,
      fault: answer.fault,
    })
    return withCredentials(withCors(answer.response, request, cors), request, context)
  })
}

/**
 * Lets a page on another origin send the cookie (`Access-Control-Allow-Credentials`, never with a
 * wildcard origin) and the CSRF header.
 */
function withCredentials(response: Response, request: Request, context: MockContext): Response {
  const origin = allowedOrigin(request, context.cors)
  if (origin === null || origin === '*' || response.type === 'error') return response
  response.headers.set('Access-Control-Allow-Credentials', 'true')
  const csrf = context.options.backend?.csrfHeader
  const allowed = response.headers.get('Access-Control-Allow-Headers')
  if (allowed !== null && csrf)
    response.headers.set('Access-Control-Allow-Headers', `${allowed}, ${csrf[0]}`)
  return response
}

/**
 * The session backend on `appOrigin`: login, refresh and logout, each `POST` only. The refresh
 * cookie really is a cookie on the wire (`Set-Cookie` on answers, `Cookie` read from requests),
 * and is also kept in the mock's {@link CookieJar}, because msw under Node keeps no cookies.
 *
 * - login: starts a session, sets the cookie, answers tokens.
 * - refresh: 403 without the CSRF header; 401 without a cookie or with one the server does not
 *   accept (unknown, expired, revoked, or retired by rotation: reuse revokes the session, RFC 9700
 *   §4.14.2), clearing it; otherwise a new access token and, with `rotation`, a new cookie. Rotation,
 *   reuse detection and `reuseInterval` follow the token endpoint's options.
 * - logout: 403 without the CSRF header; otherwise revokes the session and clears the cookie, 204.
 *
 * Access tokens from the backend are the mock's own, so the mock API accepts them. With the
 * `backend` fault queue.
 *
 * @param context - the mock's shared state
 * @returns the msw handlers, none without the `backend` option
 * @see https://datatracker.ietf.org/doc/html/draft-ietf-oauth-browser-based-apps#section-6.2
 */
export function backendHandlers(context: MockContext): HttpHandler[] {
  if (context.options.backend === null) return []
  return [
    backendHandler(context, 'login'),
    backendHandler(context, 'refresh'),
    backendHandler(context, 'logout'),
  ]
}

/**
 * Starts a backend session without a request, as a login in an earlier page load would have: the
 * refresh cookie goes straight into the jar.
 *
 * @param context - the mock's shared state
 * @param options - scope and subject of the session
 * @returns the body the login endpoint would have answered
 * @throws {TypeError} when the mock has no `backend`
 */
export function signInToBackend(
  context: MockContext,
  options: { scope?: string; subject?: string },
): MockBackendTokenBody {
  if (context.options.backend === null) fail('backend', 'must be set to sign in to the backend')
  const session = openSession(context, options)
  const { value, maxAge } = session.cookie as Exclude<CookieChange, 'clear' | null>
  context.jar.set(context.options.appOrigin, MOCK_REFRESH_COOKIE, value, maxAge)
  return session.body
}
