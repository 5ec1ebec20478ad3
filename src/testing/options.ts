import type { AuthorizeVerdict } from './authorization.js'
import {
  type MockBackendEndpoints,
  type MockBackendOptions,
  type ResolvedBackendOptions,
  resolveBackendOptions,
} from './cookie-backend.js'
import { isResourceIndicator } from './resources.js'
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
 * How the mock treats DPoP (RFC 9449), when its `dpop` option turns it on. A token request with a
 * valid proof gets `token_type: "DPoP"` and tokens bound to the proof's key; one without a proof
 * gets bearer tokens unless `required`. An invalid proof is answered `400 invalid_dpop_proof`
 * (§5); the APIs answer `401` with a `WWW-Authenticate: DPoP` challenge (§7.1).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export interface MockDPoPOptions {
  /**
   * Refuse token requests (code exchanges and refreshes) that carry no `DPoP` proof, with `400
   * invalid_dpop_proof` (a missing proof is treated as an invalid one; some servers say
   * `invalid_request`). Revocation requests never need one.
   * @default false
   */
  readonly required?: boolean
  /**
   * Demand the authorization server's nonce in proofs sent to the token and revocation endpoints
   * (RFC 9449 §8): a proof without the current nonce is answered `400 use_dpop_nonce` with a
   * `DPoP-Nonce` header, and every answer of those endpoints carries the current nonce. See
   * {@link MockTokenServer.rotateDPoPNonce}.
   * @default false
   */
  readonly nonce?: boolean
  /**
   * Demand a nonce in proofs sent to the APIs (RFC 9449 §9), each API its own: a proof without it
   * is answered `401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce`
   * header, and every API answer carries the API's current nonce.
   * @default false
   */
  readonly apiNonce?: boolean
  /**
   * How far a proof's `iat` may be from the server's clock (`Date.now()` plus `clockSkew`), either
   * way, in milliseconds (RFC 9449 §4.3 item 11, §11.1).
   * @default 60_000
   */
  readonly iatWindow?: number
}

/**
 * A further protected resource served by the mock, besides the one at `apiOrigin`, with the same
 * routes (see {@link MockTokenServer.endpoints}).
 */
export interface MockApiOptions {
  /** Origin (or base URL) of the API: an `https` (or `http`) URL without query or fragment. */
  readonly origin: string
  /**
   * The resource indicator (RFC 8707) whose access tokens the API accepts; it must be one of the
   * server's `resources`. `null`: the API accepts only tokens issued without a `resource`.
   * @default null
   */
  readonly resource?: string | null
}

/**
 * Options of {@link createMockTokenServer}. Every field is optional; the defaults describe a public
 * SPA client `spa` on `https://app.example.com` talking to `https://auth.example.com` and
 * `https://api.example.com`.
 */
export interface MockTokenServerOptions {
  /**
   * The authorization server's issuer identifier (RFC 8414 §2): an `https` (or `http`) URL without
   * query or fragment, optionally with a path. Endpoints hang below it: `${issuer}/oauth/token`,
   * `${issuer}/oauth/revoke`, `${issuer}/oauth/authorize`, `${issuer}/oauth/logout`.
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
   * Visible in JWT `iat`/`exp` claims; expiry itself is enforced on the same clock, so skew
   * never changes whether a token is valid. With `dpop`, a proof's `iat` is checked against the
   * skewed clock, as a server whose clock differs from the client's would (RFC 9449 §11.1).
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
   * The resource indicator (RFC 8707) whose access tokens the API at `apiOrigin` accepts; it must
   * be one of `resources`. `null`: the API accepts only tokens issued without a `resource`
   * parameter, and answers any other `401 invalid_token` (the token's audience is another API).
   * @default null
   */
  readonly apiResource?: string | null
  /**
   * Further APIs served by the mock, each on its own origin and each accepting the tokens of one
   * resource (or the default tokens).
   * @default []
   */
  readonly apis?: readonly MockApiOptions[]
  /**
   * The resource indicators (RFC 8707 §2) the server issues access tokens for: absolute URIs
   * without fragment, compared character for character (`https://api.example.com/` and
   * `https://api.example.com` are two resources). A token request with `resource=R` gets an access
   * token whose audience is R (the JWT's `aud`, and {@link MockTokenIntrospection.resource}); an
   * unknown R is answered `400 invalid_target`. An authorization request may name several; a
   * later token request may then ask only for one of those (any known one when it named none). A
   * token request without `resource` gets the default token, for the API at `apiOrigin`.
   * @default []
   */
  readonly resources?: readonly string[]
  /**
   * Support DPoP (RFC 9449) on the token, revocation and API endpoints: `true` for the defaults of
   * {@link MockDPoPOptions}. Without it, `DPoP` headers and `dpop_jkt` are ignored and every token
   * is a bearer token, as at a server that does not support DPoP (§5).
   * @default false
   */
  readonly dpop?: boolean | MockDPoPOptions
  /**
   * Origins allowed by CORS on every endpoint. `'*'` allows any origin.
   * @default [appOrigin]
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
   * Origin of the app under test. The default redirect and post-logout redirect URIs hang below it,
   * CORS allows it unless `allowedOrigins` says otherwise, and with `backend` the session backend is
   * served on it. A URL with a path is reduced to its origin.
   * @default 'https://app.example.com'
   */
  readonly appOrigin?: string
  /**
   * The redirect URIs registered for the client (RFC 6749 §3.1.2.2). An authorization request must
   * name one of them, compared by exact string match (§3.1.2.3, RFC 9700 §4.1.3), and the code
   * exchange must repeat the same one (§4.1.3). Absolute URLs without a fragment.
   * @default [`${appOrigin}/callback`]
   */
  readonly redirectUris?: readonly string[]
  /**
   * The post-logout redirect URIs registered for the client (OpenID Connect RP-Initiated Logout 1.0
   * §2, §3.1), compared by exact string match. The end-session endpoint redirects only to one of
   * them, and only when the request identifies the client.
   * @default [`${appOrigin}/`]
   */
  readonly postLogoutRedirectUris?: readonly string[]
  /**
   * What the user does at the authorization endpoint when a request does not say
   * (see {@link MockTokenServer.authorize}): approve, or end with one of the RFC 6749 §4.1.2.1 and
   * OpenID Connect Core §3.1.2.6 errors.
   * @default 'approve'
   */
  readonly authorizeVerdict?: AuthorizeVerdict
  /**
   * Whether the user starts out signed in at the authorization server. Without a session a
   * `prompt=none` request is answered `login_required` (OpenID Connect Core §3.1.2.6); an approved
   * interactive request starts the session, and a visit to the end-session endpoint ends it.
   * @default true
   */
  readonly providerSession?: boolean
  /**
   * Send `iss` in every authorization response and advertise
   * `authorization_response_iss_parameter_supported: true` (RFC 9207 §2, §3). When false, neither:
   * a server that predates RFC 9207.
   * @default true
   */
  readonly issParameter?: boolean
  /**
   * How long an authorization code can be redeemed, in milliseconds. RFC 6749 §4.1.2 recommends
   * at most 10 minutes; the mock uses a short one, as many servers do.
   * @default 60_000
   */
  readonly authorizationCodeLifetime?: number
  /**
   * Issue a refresh token on the code exchange even when the scope lacks `offline_access`, as
   * Keycloak and many servers do. When false, only a scope with `offline_access` gets one (Auth0,
   * Okta, Microsoft Entra; OpenID Connect Core §11).
   * @default true
   */
  readonly refreshTokenWithoutOfflineAccess?: boolean
  /**
   * Hard end of every session, in milliseconds from its start (an "SSO session max"): no refresh
   * token of the session outlives it, whatever `refreshTokenLifetime` says, so a backend's
   * `refreshExpiresIn` counts down to it. `null` for sessions that last as long as they are renewed.
   * @default null
   */
  readonly sessionLifetime?: number | null
  /**
   * Also serve an app's own session backend on `appOrigin` (a token-mediating backend, OAuth 2.0
   * for Browser-Based Applications §6.2) that keeps the refresh token in a cookie: see
   * {@link MockBackendOptions}. `null` to serve none.
   * @default null
   */
  readonly backend?: MockBackendOptions | null
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
  /** Every API, the one at `apiOrigin` first. */
  readonly apis: readonly ResolvedApi[]
  readonly resources: readonly string[]
  /** `null` without DPoP support. */
  readonly dpop: ResolvedDPoPOptions | null
  readonly allowedOrigins: readonly string[]
  readonly exposeHeaders: readonly string[]
  readonly insufficientScopeStatus: 401 | 403
  readonly discovery: MockDiscoveryMode
  readonly metadata: Readonly<Record<string, unknown>>
  readonly stateStorage: MockStateStorage | null
  readonly stateKey: string
  readonly appOrigin: string
  readonly redirectUris: readonly string[]
  readonly postLogoutRedirectUris: readonly string[]
  readonly authorizeVerdict: AuthorizeVerdict
  readonly providerSession: boolean
  readonly issParameter: boolean
  readonly authorizationCodeLifetime: number
  readonly refreshTokenWithoutOfflineAccess: boolean
  readonly sessionLifetime: number | null
  readonly backend: ResolvedBackendOptions | null
  readonly endpoints: MockEndpoints
}

/** {@link MockDPoPOptions} with every default applied. */
export interface ResolvedDPoPOptions {
  readonly required: boolean
  readonly nonce: boolean
  readonly apiNonce: boolean
  readonly iatWindow: number
}

/** One API the mock serves. */
export interface ResolvedApi {
  /** Base URL without a trailing `/`. */
  readonly base: string
  /** The resource whose tokens it accepts, `null` for the default tokens. */
  readonly resource: string | null
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
  /**
   * Authorization endpoint, `${issuer}/oauth/authorize` (RFC 6749 §3.1): see
   * {@link MockTokenServer.authorize}.
   */
  readonly authorization: string
  /** End-session endpoint, `${issuer}/oauth/logout` (OpenID Connect RP-Initiated Logout 1.0 §2). */
  readonly endSession: string
  /**
   * RFC 8414 metadata URL: `/.well-known/oauth-authorization-server` inserted between the host and
   * the issuer's path (RFC 8414 §3.1).
   */
  readonly oauthMetadata: string
  /** OpenID Connect Discovery URL: `/.well-known/openid-configuration` appended to the issuer. */
  readonly openidConfiguration: string
  /** Base URL of the protected resource (`apiOrigin` without a trailing `/`). */
  readonly api: string
  /** Base URLs of every API (`api` first, then the `apis` option's), without a trailing `/`. */
  readonly apis: readonly string[]
  /** The session backend's endpoints on `appOrigin`, `null` without the `backend` option. */
  readonly backend: MockBackendEndpoints | null
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

/** Registered redirection URIs: absolute, without fragment (RFC 6749 §3.1.2). */
function checkRedirectURIs(option: string, value: readonly string[]): string[] {
  if (!Array.isArray(value) || value.length === 0) fail(option, 'must be a non-empty array of URLs')
  for (const uri of value) {
    if (typeof uri !== 'string' || !URL.canParse(uri) || uri.includes('#')) {
      fail(option, 'must hold absolute URLs without a fragment')
    }
  }
  return [...value]
}

const VERDICTS: readonly AuthorizeVerdict[] = [
  'approve',
  'access_denied',
  'login_required',
  'consent_required',
  'interaction_required',
]

function checkResources(value: readonly string[]): string[] {
  if (!Array.isArray(value) || !value.every(isResourceIndicator)) {
    fail('resources', 'must be an array of absolute URIs without a fragment')
  }
  return [...new Set(value)]
}

function checkResource(option: string, value: string | null, known: readonly string[]) {
  if (value !== null && !known.includes(value)) fail(option, 'must be one of "resources" or null')
  return value
}

function resolveDPoP(value: boolean | MockDPoPOptions | undefined): ResolvedDPoPOptions | null {
  if (value === undefined || value === false) return null
  if (value !== true && (typeof value !== 'object' || value === null)) {
    fail('dpop', 'must be a boolean or an object')
  }
  const options: MockDPoPOptions = value === true ? {} : value
  return {
    required: options.required ?? false,
    nonce: options.nonce ?? false,
    apiNonce: options.apiNonce ?? false,
    iatWindow: checkDuration('dpop.iatWindow', options.iatWindow ?? 60_000),
  }
}

function resolveApis(
  main: string,
  options: MockTokenServerOptions,
  resources: readonly string[],
): ResolvedApi[] {
  const apis: ResolvedApi[] = [
    { base: main, resource: checkResource('apiResource', options.apiResource ?? null, resources) },
  ]
  const extra = options.apis ?? []
  if (!Array.isArray(extra)) fail('apis', 'must be an array')
  for (const api of extra) {
    const base = stripSlash(checkURL('apis[].origin', api?.origin).href)
    if (apis.some((other) => other.base === base)) fail('apis[].origin', 'must be unique')
    apis.push({ base, resource: checkResource('apis[].resource', api.resource ?? null, resources) })
  }
  return apis
}

/**
 * Checks an authorization verdict.
 *
 * @param option - the name to report
 * @param value - the verdict
 * @returns the verdict
 * @throws {TypeError} naming `option` when it is not a verdict
 */
export function checkVerdict(option: string, value: AuthorizeVerdict): AuthorizeVerdict {
  if (!VERDICTS.includes(value)) fail(option, `must be one of ${VERDICTS.join(', ')}`)
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
  const appOrigin = checkURL('appOrigin', options.appOrigin ?? 'https://app.example.com').origin
  const allowedOrigins = options.allowedOrigins ?? [appOrigin]
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
  const sessionLifetime = options.sessionLifetime ?? null
  if (sessionLifetime !== null) checkDuration('sessionLifetime', sessionLifetime)
  const backend = options.backend == null ? null : resolveBackendOptions(options.backend, appOrigin)

  // RFC 8414 §3.1 and OpenID Discovery both start from the issuer without one trailing slash.
  const base = stripSlash(issuer)
  const issuerPath = stripSlash(issuerURL.pathname)
  const api = stripSlash(apiURL.href)
  const resources = checkResources(options.resources ?? [])
  const apis = resolveApis(api, options, resources)

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
    apis,
    resources,
    dpop: resolveDPoP(options.dpop),
    allowedOrigins: [...allowedOrigins],
    exposeHeaders: [...exposeHeaders],
    insufficientScopeStatus,
    discovery,
    metadata: { ...options.metadata },
    stateStorage,
    stateKey: checkString('stateKey', options.stateKey ?? 'freshtoken:mock-token-server'),
    appOrigin,
    redirectUris: checkRedirectURIs(
      'redirectUris',
      options.redirectUris ?? [`${appOrigin}/callback`],
    ),
    postLogoutRedirectUris: checkRedirectURIs(
      'postLogoutRedirectUris',
      options.postLogoutRedirectUris ?? [`${appOrigin}/`],
    ),
    authorizeVerdict: checkVerdict('authorizeVerdict', options.authorizeVerdict ?? 'approve'),
    providerSession: options.providerSession ?? true,
    issParameter: options.issParameter ?? true,
    authorizationCodeLifetime: checkDuration(
      'authorizationCodeLifetime',
      options.authorizationCodeLifetime ?? 60_000,
    ),
    refreshTokenWithoutOfflineAccess: options.refreshTokenWithoutOfflineAccess ?? true,
    sessionLifetime,
    backend,
    endpoints: {
      token: `${base}/oauth/token`,
      revocation: `${base}/oauth/revoke`,
      authorization: `${base}/oauth/authorize`,
      endSession: `${base}/oauth/logout`,
      oauthMetadata: `${issuerURL.origin}/.well-known/oauth-authorization-server${issuerPath}`,
      openidConfiguration: `${base}/.well-known/openid-configuration`,
      api,
      apis: apis.map((entry) => entry.base),
      backend: backend?.endpoints ?? null,
    },
  }
}
