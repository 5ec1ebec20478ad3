import type { MockStateStorage } from './state-storage.js'

/**
 * Which discovery documents the mock authorization server publishes.
 *
 * - `'both'`: RFC 8414 metadata and OpenID Connect Discovery.
 * - `'oauth'`: RFC 8414 only; the OpenID URL answers 404.
 * - `'openid'`: OpenID Connect Discovery only; the RFC 8414 URL answers 404 (tests the fallback).
 * - `'none'`: both URLs answer 404.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export type MockDiscoveryMode = 'both' | 'oauth' | 'openid' | 'none'

/**
 * Options of {@link createMockTokenServer}. Every field is optional; the defaults describe a public
 * SPA client `spa` on `https://app.example.com` talking to `https://auth.example.com` and
 * `https://api.example.com`.
 */
export interface MockTokenServerOptions {
  /**
   * The authorization server's issuer identifier (RFC 8414 §2): an `https` (or `http`) URL without
   * query or fragment, optionally with a path. Endpoints hang below it: `${issuer}/oauth/token`,
   * `${issuer}/oauth/revoke`, `${issuer}/oauth/authorize` (advertised only).
   * @default 'https://auth.example.com'
   */
  readonly issuer?: string
  /**
   * The one registered public client. Any other `client_id` is answered `401 invalid_client`
   * (RFC 6749 §5.2).
   * @default 'spa'
   */
  readonly clientId?: string
  /**
   * The scope a session gets when {@link MockTokenServer.issueTokens} is called without one
   * (space-separated, RFC 6749 §3.3).
   * @default 'openid profile'
   */
  readonly scope?: string
  /**
   * The `sub` of sessions minted without an explicit subject.
   * @default 'user-1'
   */
  readonly subject?: string
  /**
   * Access token lifetime in milliseconds. `expires_in` is sent in whole seconds, rounded down
   * (RFC 6749 §5.1).
   * @default 60_000
   */
  readonly accessTokenLifetime?: number
  /**
   * Refresh token lifetime in milliseconds, counted from when each refresh token was issued (with
   * rotation every refresh starts a new lifetime).
   * @default 86_400_000
   */
  readonly refreshTokenLifetime?: number
  /**
   * Issue a new refresh token on every refresh and retire the presented one (RFC 9700 §4.14.2).
   * Without rotation a refresh response omits `refresh_token` and the old one stays valid.
   * @default true
   */
  readonly rotation?: boolean
  /**
   * Presenting a refresh token that was already rotated away revokes its whole family (every
   * refresh and access token of that session) and is answered `invalid_grant` (RFC 9700 §4.14.2).
   * Without it, a retired refresh token is merely `invalid_grant`.
   * @default true
   */
  readonly reuseDetection?: boolean
  /**
   * Grace window in milliseconds after a rotation during which the retired refresh token is still
   * accepted (a new pair is issued, and every earlier refresh token of the family is retired). Many
   * servers have one; the SDK must not depend on it.
   * @default 0
   */
  readonly reuseInterval?: number
  /**
   * A refresh that commits also revokes the access tokens issued before it in the session, as
   * Django OAuth Toolkit does (it deletes the access token of the refresh token presented): the
   * API answers the previous access token 401 `invalid_token` from that moment, even inside its
   * lifetime.
   * @default false
   */
  readonly revokeAccessTokensOnRefresh?: boolean
  /**
   * Access token format. `'jwt'` tokens are unsigned (`alg: none`, RFC 7519 §6) but well-formed,
   * with `iss`, `sub`, `aud`, `client_id`, `scope`, `iat`, `exp` and `jti` claims: a client may
   * decode them, never trust them. Refresh tokens are always opaque.
   * @default 'opaque'
   */
  readonly tokenFormat?: 'opaque' | 'jwt'
  /**
   * Leave `expires_in` out of token responses (it is only RECOMMENDED, RFC 6749 §5.1), to test
   * the JWT `exp − iat` fallback.
   * @default false
   */
  readonly omitExpiresIn?: boolean
  /**
   * How far the server's clock runs ahead of `Date.now()`, in milliseconds (negative: behind).
   * Only visible in JWT `iat`/`exp` claims; expiry itself is enforced on the same clock, so skew
   * never changes whether a token is valid.
   * @default 0
   */
  readonly clockSkew?: number
  /**
   * Origin (or base URL) of the protected resource served by the mock: `${apiOrigin}/me`,
   * `/echo`, `/scoped/:scope` and `/status/:code` (see {@link MockTokenServer.endpoints}).
   * @default 'https://api.example.com'
   */
  readonly apiOrigin?: string
  /**
   * Origins allowed by CORS on every endpoint. `'*'` allows any origin.
   * @default ['https://app.example.com']
   */
  readonly allowedOrigins?: readonly string[]
  /**
   * Response headers listed in `Access-Control-Expose-Headers`. Pass `[]` to mimic an API that
   * forgets to expose `WWW-Authenticate`.
   * @default ['WWW-Authenticate', 'Retry-After', 'DPoP-Nonce']
   */
  readonly exposeHeaders?: readonly string[]
  /**
   * Status the API answers with when the token lacks the scope a resource demands. RFC 6750 §3.1
   * says 403; some servers send 401.
   * @default 403
   */
  readonly insufficientScopeStatus?: 401 | 403
  /**
   * Which discovery documents are published.
   * @default 'both'
   */
  readonly discovery?: MockDiscoveryMode
  /**
   * Members merged over the generated metadata document (both discovery URLs), e.g.
   * `{ issuer: 'https://evil.example.com' }` to test the RFC 8414 §3.3 issuer check. A member set
   * to `undefined` is dropped.
   * @default {}
   */
  readonly metadata?: Readonly<Record<string, unknown>>
  /**
   * Keep the token database (sessions, refresh and access tokens, rotation and revocation state)
   * in this storage instead of in memory, so that every mock created over the same storage acts as
   * one server: pass `localStorage` to share one mock server between the tabs of a page that runs
   * it behind `msw/browser`. The state is loaded before and saved after every token operation, as
   * JSON. Counters, logs and queued faults stay per mock. The stored state contains token values:
   * meant for mocks and demos only.
   * @default null (in memory, private to this mock)
   */
  readonly stateStorage?: MockStateStorage | null
  /**
   * The key the state is kept under in `stateStorage`. Mocks sharing one key share one server.
   * @default 'freshtoken:mock-token-server'
   */
  readonly stateKey?: string
}

/** {@link MockTokenServerOptions} with every default applied, plus the derived endpoint URLs. */
export interface ResolvedMockOptions {
  readonly issuer: string
  readonly clientId: string
  readonly scope: string
  readonly subject: string
  readonly accessTokenLifetime: number
  readonly refreshTokenLifetime: number
  readonly rotation: boolean
  readonly reuseDetection: boolean
  readonly reuseInterval: number
  readonly revokeAccessTokensOnRefresh: boolean
  readonly tokenFormat: 'opaque' | 'jwt'
  readonly omitExpiresIn: boolean
  readonly clockSkew: number
  readonly apiBase: string
  readonly allowedOrigins: readonly string[]
  readonly exposeHeaders: readonly string[]
  readonly insufficientScopeStatus: 401 | 403
  readonly discovery: MockDiscoveryMode
  readonly metadata: Readonly<Record<string, unknown>>
  readonly stateStorage: MockStateStorage | null
  readonly stateKey: string
  readonly endpoints: MockEndpoints
}

/**
 * The URLs the mock answers, derived from the issuer and `apiOrigin`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.1
 */
export interface MockEndpoints {
  /** Token endpoint, `${issuer}/oauth/token` (RFC 6749 §3.2). */
  readonly token: string
  /** Revocation endpoint, `${issuer}/oauth/revoke` (RFC 7009 §2). */
  readonly revocation: string
  /** Authorization endpoint, `${issuer}/oauth/authorize`: advertised in metadata, not served. */
  readonly authorization: string
  /**
   * RFC 8414 metadata URL: `/.well-known/oauth-authorization-server` inserted between the host and
   * the issuer's path (RFC 8414 §3.1).
   */
  readonly oauthMetadata: string
  /** OpenID Connect Discovery URL: `/.well-known/openid-configuration` appended to the issuer. */
  readonly openidConfiguration: string
  /** Base URL of the protected resource (`apiOrigin` without a trailing `/`). */
  readonly api: string
}

function fail(option: string, rule: string): never {
  throw new TypeError(`"${option}" ${rule}`)
}

function checkDuration(option: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(option, 'must be a non-negative number of milliseconds')
  }
  return value
}

function checkURL(option: string, value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    fail(option, 'must be an absolute URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(option, 'must be an http(s) URL')
  if (url.search !== '' || url.hash !== '') fail(option, 'must not have a query or fragment')
  return url
}

function stripSlash(value: string): string {
  return value.endsWith('/') ? value.slice(0, -1) : value
}

function checkString(option: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(option, 'must be a non-empty string')
  return value
}

/**
 * Applies defaults, validates every option and derives the endpoint URLs.
 *
 * @param options - the caller's options (not mutated)
 * @returns the resolved options
 * @throws {TypeError} naming the first invalid option
 */
export function resolveMockOptions(options: MockTokenServerOptions = {}): ResolvedMockOptions {
  const issuer = options.issuer ?? 'https://auth.example.com'
  const issuerURL = checkURL('issuer', issuer)
  const apiURL = checkURL('apiOrigin', options.apiOrigin ?? 'https://api.example.com')
  const tokenFormat = options.tokenFormat ?? 'opaque'
  if (tokenFormat !== 'opaque' && tokenFormat !== 'jwt')
    fail('tokenFormat', 'must be "opaque" or "jwt"')
  const discovery = options.discovery ?? 'both'
  if (!['both', 'oauth', 'openid', 'none'].includes(discovery)) {
    fail('discovery', 'must be "both", "oauth", "openid" or "none"')
  }
  const insufficientScopeStatus = options.insufficientScopeStatus ?? 403
  if (insufficientScopeStatus !== 401 && insufficientScopeStatus !== 403) {
    fail('insufficientScopeStatus', 'must be 401 or 403')
  }
  const allowedOrigins = options.allowedOrigins ?? ['https://app.example.com']
  if (!Array.isArray(allowedOrigins) || allowedOrigins.some((o) => typeof o !== 'string')) {
    fail('allowedOrigins', 'must be an array of origins')
  }
  const exposeHeaders = options.exposeHeaders ?? ['WWW-Authenticate', 'Retry-After', 'DPoP-Nonce']
  if (!Array.isArray(exposeHeaders) || exposeHeaders.some((h) => typeof h !== 'string')) {
    fail('exposeHeaders', 'must be an array of header names')
  }
  const stateStorage = options.stateStorage ?? null
  if (
    stateStorage !== null &&
    (typeof stateStorage !== 'object' ||
      typeof stateStorage.getItem !== 'function' ||
      typeof stateStorage.setItem !== 'function')
  ) {
    fail('stateStorage', 'must have getItem and setItem methods')
  }
  const clockSkew = options.clockSkew ?? 0
  if (typeof clockSkew !== 'number' || !Number.isFinite(clockSkew)) {
    fail('clockSkew', 'must be a finite number of milliseconds')
  }

  // RFC 8414 §3.1 and OpenID Discovery both start from the issuer without one trailing slash.
  const base = stripSlash(issuer)
  const issuerPath = stripSlash(issuerURL.pathname)
  const api = stripSlash(apiURL.href)

  return {
    issuer,
    clientId: checkString('clientId', options.clientId ?? 'spa'),
    scope: checkString('scope', options.scope ?? 'openid profile'),
    subject: checkString('subject', options.subject ?? 'user-1'),
    accessTokenLifetime: checkDuration(
      'accessTokenLifetime',
      options.accessTokenLifetime ?? 60_000,
    ),
    refreshTokenLifetime: checkDuration(
      'refreshTokenLifetime',
      options.refreshTokenLifetime ?? 86_400_000,
    ),
    rotation: options.rotation ?? true,
    reuseDetection: options.reuseDetection ?? true,
    reuseInterval: checkDuration('reuseInterval', options.reuseInterval ?? 0),
    revokeAccessTokensOnRefresh: options.revokeAccessTokensOnRefresh ?? false,
    tokenFormat,
    omitExpiresIn: options.omitExpiresIn ?? false,
    clockSkew,
    apiBase: api,
    allowedOrigins: [...allowedOrigins],
    exposeHeaders: [...exposeHeaders],
    insufficientScopeStatus,
    discovery,
    metadata: { ...options.metadata },
    stateStorage,
    stateKey: checkString('stateKey', options.stateKey ?? 'freshtoken:mock-token-server'),
    endpoints: {
      token: `${base}/oauth/token`,
      revocation: `${base}/oauth/revoke`,
      authorization: `${base}/oauth/authorize`,
      oauthMetadata: `${issuerURL.origin}/.well-known/oauth-authorization-server${issuerPath}`,
      openidConfiguration: `${base}/.well-known/openid-configuration`,
      api,
    },
  }
}
