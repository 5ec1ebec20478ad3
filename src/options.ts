import type { TokenStorage } from './storage.js'
import type { TokenResponse } from './token-set.js'

/** The `fetch` signature freshtoken calls. */
export type FetchFunction = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>

/**
 * An app's own session backend (a token-mediating backend, OAuth 2.0 for Browser-Based
 * Applications §6.2): it keeps the refresh token, typically in an httpOnly cookie, and hands the
 * page access tokens. Every request goes with `credentials: 'include'`.
 */
export interface BackendOptions {
  /** The endpoint that renews the session and answers an access token. Relative to the page. */
  refresh: string
  /** The endpoint `logout()` calls to end the session (and clear its cookie). Relative to the page. */
  logout?: string
  /** @default 'POST' */
  method?: 'POST' | 'GET'
  /** Headers sent with every backend request, such as a CSRF header (§6.1.3.3.2). */
  headers?: Record<string, string>
  /**
   * The body of a refresh request, from the refresh token when the backend hands one out.
   * @default no body (the cookie carries the session)
   */
  request?: (refreshToken: string | undefined) => BodyInit | undefined
  /**
   * Maps a 2xx body to an RFC 6749 §5.1 token response (`{ accessToken, expiresIn }` →
   * `{ access_token, token_type: 'Bearer', expires_in }`). A mapped `token_type` may be left out.
   * @default the body as it is
   */
  response?: (body: unknown) => TokenResponse | Omit<TokenResponse, 'token_type'>
}

/**
 * An API that gets its own access token (RFC 8707 resource indicators), as an `apiOrigins` entry.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export interface ApiOrigin {
  /** The API's origin (`https://api.example.com`): requests to it carry its token. */
  origin: string
  /**
   * The resource indicator sent as `resource` on the authorization request, and on every token
   * request for this API's token: an absolute URI without a fragment (RFC 8707 §2). Without it,
   * the origin uses the session's main token.
   */
  resource?: string
  /** `scope` to ask for with this API's token (RFC 6749 §3.3); within the granted scope. */
  scope?: string
}

/**
 * Options for {@link createTokenClient}. Give exactly one of `tokenEndpoint`, `issuer` or `backend`.
 */
export interface TokenClientOptions {
  /**
   * The OAuth 2.0 client identifier of this public client (RFC 6749 §2.2, §3.2.1). Optional with
   * `backend`.
   */
  clientId?: string
  /**
   * The token endpoint (RFC 6749 §3.2). `https:`, or `http:` to a loopback host only.
   * Required unless `issuer` is given.
   */
  tokenEndpoint?: string
  /**
   * The authorization server's issuer identifier. Endpoints are read from its RFC 8414 metadata,
   * falling back to OpenID Connect Discovery; the metadata's `issuer` must match.
   */
  issuer?: string
  /**
   * The RFC 7009 revocation endpoint, used by `logout()`. Discovered when `issuer` is given.
   * @default undefined (logout only forgets the session locally)
   */
  revocationEndpoint?: string
  /**
   * Origins that may receive the access token (`https://api.example.com`). Requests to any other
   * origin are sent untouched. `http:` is accepted for loopback hosts only. An entry
   * `{ origin, resource }` gets a token of its own for that resource (RFC 8707).
   * @default the page's own origin in a browser; required elsewhere
   */
  apiOrigins?: readonly (string | ApiOrigin)[]
  /**
   * Sender-constrained tokens (DPoP, RFC 9449): every token request and every API call carries a
   * proof signed with a non-extractable P-256 key kept in IndexedDB, so a token copied out of the
   * page is useless without it. Not with `backend`.
   * @default false
   */
  dpop?: boolean
  /**
   * `scope` to send with every refresh (RFC 6749 §6); must not exceed the original grant.
   * @default undefined (the server keeps the original scope)
   */
  scope?: string
  /**
   * How long before expiry to renew proactively, in milliseconds. Never more than half the
   * token's lifetime; a little jitter is subtracted so sibling clients do not renew in lockstep.
   * @default 30_000
   */
  refreshLeeway?: number
  /**
   * Where the session is kept: `'memory'` (gone on reload, safest against XSS persistence),
   * `'session'` (sessionStorage), `'local'` (localStorage) or a custom {@link TokenStorage}.
   * Web Storage that is unavailable (SSR, sandboxed frames) falls back to memory.
   * @default 'memory'
   */
  storage?: 'memory' | 'session' | 'local' | TokenStorage
  /**
   * Share one session with the other tabs of this origin that use the same `clientId`: one tab
   * renews at a time (Web Locks, or a lease over `BroadcastChannel`), the others adopt its tokens,
   * and logout or an ended session reaches every tab. With memory storage a new tab asks its
   * siblings for the session, so tokens never touch disk.
   * @default true (where `BroadcastChannel` exists)
   */
  crossTab?: boolean
  /**
   * Where the provider sends the user back after sign-in (RFC 6749 §3.1.2), registered with it
   * exactly. Required by `login()` and `loginPopup()`. Relative to the page.
   */
  redirectUri?: string
  /** The authorization endpoint (RFC 6749 §3.1). Discovered from `issuer` when not given. */
  authorizationEndpoint?: string
  /**
   * The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0 §2), used by
   * `logout({ endSession: true })`. Discovered from `issuer` when not given.
   */
  endSessionEndpoint?: string
  /** An app's own session backend, instead of `tokenEndpoint` or `issuer`. */
  backend?: BackendOptions
  /**
   * How long before a known hard end of the session (`refresh_expires_in`, a JWT refresh token's
   * lifetime, or the backend's answer) to fire `'session-ending'`, in milliseconds.
   * @default 60_000
   */
  sessionEndingNotice?: number
  /**
   * The `fetch` used for API calls and token-endpoint requests.
   * @default globalThis.fetch, resolved at call time so later polyfills and mocks are seen
   */
  fetch?: FetchFunction
}

/** Options after validation and defaults: what the rest of the SDK reads. */
export interface ResolvedOptions {
  /** The client id; with `backend` and none given, `'backend'` (names the store and the tabs' channel). */
  readonly clientId: string
  readonly tokenEndpoint: string | undefined
  readonly issuer: string | undefined
  readonly revocationEndpoint: string | undefined
  /** Every `apiOrigins` entry, by origin. */
  readonly apiOrigins: ReadonlyMap<string, ApiOrigin>
  /** The resource indicators of the `apiOrigins` entries (RFC 8707). */
  readonly resources: readonly string[]
  readonly dpop: boolean
  readonly scope: string | undefined
  readonly refreshLeeway: number
  readonly storage: 'memory' | 'session' | 'local' | TokenStorage
  readonly crossTab: boolean
  readonly fetch: FetchFunction
  readonly redirectUri: string | undefined
  readonly authorizationEndpoint: string | undefined
  readonly endSessionEndpoint: string | undefined
  readonly backend: ResolvedBackend | undefined
  readonly sessionEndingNotice: number
}

/** {@link BackendOptions} with its URLs resolved and its defaults applied. */
export interface ResolvedBackend {
  readonly refresh: string
  readonly logout: string | undefined
  readonly method: 'POST' | 'GET'
  readonly headers: Readonly<Record<string, string>>
  readonly request: ((refreshToken: string | undefined) => BodyInit | undefined) | undefined
  readonly response: BackendOptions['response']
}

/**
 * Whether a host never leaves the machine: `localhost` and names below it (RFC 6761 §6.3),
 * 127.0.0.0/8 and `[::1]`. `hostname` is as the URL parser serialises it, so an IPv4 address is
 * already in dotted-decimal form (`127.1` and `0x7f.0.0.1` arrive as `127.0.0.1`), and a name
 * that merely starts with `127.0.0.1.` or ends with `localhost` without a dot is not loopback.
 */
function isLoopbackHost(hostname: string): boolean {
  return (
    hostname.split('.').at(-1) === 'localhost' ||
    hostname === '[::1]' ||
    // The parser reads a host whose last label is a number as IPv4, or rejects it.
    /^127(\.\d+){3}$/.test(hostname)
  )
}

/**
 * Whether a URL may carry credentials: `https:`, or `http:` to a loopback host
 * (RFC 6749 §3.1.2.1, §10.3; RFC 8252 §8.3).
 */
export function isSecureUrl(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))
}

/**
 * Parses an endpoint URL and checks it is secure.
 *
 * @throws {TypeError} naming `option` when the URL is invalid or insecure
 */
export function parseSecureUrl(value: unknown, option: string, base?: string): URL {
  let url: URL | undefined
  try {
    url = new URL(value as string, base)
  } catch {}
  check(
    typeof value === 'string' && url !== undefined,
    option,
    base === undefined ? 'be an absolute URL' : 'be a URL',
  )
  check(isSecureUrl(url), option, 'use https: (http: only to loopback hosts)')
  return url
}

/** The page's location, when there is one. */
const pageLocation = () =>
  (globalThis as { location?: { origin?: unknown; href?: unknown } }).location

/** Parses a URL that may be relative to the page (a page's own routes): secure once resolved. */
function pageUrl(value: unknown, option: string): string {
  const href = pageLocation()?.href
  return parseSecureUrl(value, option, typeof href === 'string' ? href : undefined).href
}

function resolveBackend(backend: BackendOptions): ResolvedBackend {
  const { logout, method = 'POST', headers = {}, request, response } = backend
  check(method === 'POST' || method === 'GET', 'backend.method', 'be "POST" or "GET"')
  check(
    Object.values(headers).every((value) => typeof value === 'string'),
    'backend.headers',
    'be an object of strings',
  )
  check(
    [request, response].every((fn) => optionalType(fn, 'function')),
    'backend.request and backend.response',
    'be functions',
  )
  return {
    refresh: pageUrl(backend.refresh, 'backend.refresh'),
    logout: logout && pageUrl(logout, 'backend.logout'),
    method,
    headers: { ...headers },
    request,
    response,
  }
}

/** The `apiOrigins` entries, each as an {@link ApiOrigin} with its origin parsed. */
function resolveApiOrigins(value: TokenClientOptions['apiOrigins']): ApiOrigin[] {
  if (value === undefined) {
    // The page's own origin; an opaque one ("null": a sandboxed frame, a data: URL) is none.
    const origin = pageLocation()?.origin
    check(
      typeof origin === 'string' && origin !== 'null',
      'apiOrigins',
      'be given outside a browser',
    )
    return [{ origin: parseSecureUrl(origin, 'apiOrigins').origin }]
  }
  check(Array.isArray(value), 'apiOrigins', 'be an array of origins')
  return value.map(parseOrigin)
}

/**
 * Reads one `apiOrigins` entry. A token goes to every path of an origin, so an entry with a path,
 * query, fragment or credentials would authorise more than it says: it is rejected, not cut. A
 * resource is an absolute URI without a fragment (RFC 8707 §2), compared by the server as sent.
 */
function parseOrigin(entry: string | ApiOrigin): ApiOrigin {
  // A string has no `origin` member: it is the origin itself.
  const { origin = entry as string, resource, scope } = entry as ApiOrigin
  const url = parseSecureUrl(origin, 'apiOrigins')
  check(
    url.pathname === '/' && !/[?#@]/.test(origin),
    'apiOrigins',
    `list origins only, such as "${url.origin}" (a token goes to every path)`,
  )
  check(
    (resource === undefined || (URL.canParse(resource) && !resource.includes('#'))) &&
      optionalType(scope, 'string'),
    'apiOrigins',
    'give resources as absolute URIs',
  )
  return { origin: url.origin, resource, scope } as ApiOrigin
}

/** Whether `value` is absent or of the JavaScript `type`. */
export const optionalType = (value: unknown, type: string): boolean =>
  value === undefined || typeof value === type

/** Whether `value` is a finite number of milliseconds, zero or more. */
const isDuration = (value: unknown): boolean =>
  typeof value === 'number' && value >= 0 && value < Infinity

/** Throws a TypeError naming the option and the rule it breaks. */
function check(valid: boolean, option: string, rule: string): asserts valid {
  if (!valid) throw new TypeError(`"${option}" must ${rule}`)
}

/**
 * Validates options once and applies defaults. Never mutates the caller's object.
 *
 * @throws {TypeError} naming the first invalid option
 */
export function resolveOptions(options: TokenClientOptions): ResolvedOptions {
  const { clientId, tokenEndpoint, issuer, revocationEndpoint, scope, storage = 'memory' } = options
  const { refreshLeeway = 30_000, crossTab = true, fetch, backend } = options
  const { redirectUri, authorizationEndpoint, endSessionEndpoint } = options
  const { sessionEndingNotice = 60_000, dpop = false } = options
  check(
    (clientId === undefined && backend !== undefined) ||
      (typeof clientId === 'string' && clientId !== ''),
    'clientId',
    'be a non-empty string',
  )
  check(
    [tokenEndpoint, issuer, backend].filter((value) => value !== undefined).length === 1,
    'tokenEndpoint',
    'be given, or "issuer", or "backend" (exactly one)',
  )
  check(isDuration(sessionEndingNotice), 'sessionEndingNotice', 'be a number of milliseconds >= 0')
  check(optionalType(scope, 'string'), 'scope', 'be a string')
  check(isDuration(refreshLeeway), 'refreshLeeway', 'be a number of milliseconds >= 0')
  check(
    typeof storage === 'string'
      ? ['memory', 'session', 'local'].includes(storage)
      : [storage?.get, storage?.set, storage?.remove].every((f) => typeof f === 'function'),
    'storage',
    'be "memory", "session", "local" or { get, set, remove }',
  )
  check(typeof crossTab === 'boolean', 'crossTab', 'be a boolean')
  check(typeof dpop === 'boolean' && !(dpop && backend), 'dpop', 'be a boolean (not with backend)')
  check(optionalType(fetch, 'function'), 'fetch', 'be a function')
  const optionalUrl = (value: string | undefined, option: string) =>
    value === undefined ? undefined : parseSecureUrl(value, option).href
  const apis = resolveApiOrigins(options.apiOrigins)
  return {
    clientId: clientId ?? 'backend',
    tokenEndpoint: optionalUrl(tokenEndpoint, 'tokenEndpoint'),
    // The issuer is kept as given: RFC 8414 §3.3 compares it to the metadata's `issuer` verbatim.
    issuer: optionalUrl(issuer, 'issuer') && issuer,
    revocationEndpoint: optionalUrl(revocationEndpoint, 'revocationEndpoint'),
    apiOrigins: new Map(apis.map((api) => [api.origin, api])),
    resources: apis.flatMap((api) => api.resource ?? []),
    dpop,
    scope,
    refreshLeeway,
    storage,
    crossTab,
    fetch: fetch ?? ((input, init) => globalThis.fetch(input, init)),
    redirectUri: redirectUri === undefined ? undefined : pageUrl(redirectUri, 'redirectUri'),
    authorizationEndpoint: optionalUrl(authorizationEndpoint, 'authorizationEndpoint'),
    endSessionEndpoint: optionalUrl(endSessionEndpoint, 'endSessionEndpoint'),
    backend: backend === undefined ? undefined : resolveBackend(backend),
    sessionEndingNotice,
  }
}
