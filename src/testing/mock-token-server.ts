import type { HttpHandler } from 'msw'
import type { TokenResponse } from '../token-set.js'
import {
  type AuthorizeVerdict,
  authorizationEndpointHandler,
  authorizeRequest,
} from './authorization.js'
import type { MockContext } from './context.js'
import {
  backendHandlers,
  MOCK_REFRESH_COOKIE,
  type MockBackendTokenBody,
  signInToBackend,
} from './cookie-backend.js'
import { createCookieJar } from './cookie-jar.js'
import {
  createRecorder,
  type MockTokenServerCounters,
  type MockTokenServerLog,
} from './counters.js'
import { discoveryHandlers } from './discovery.js'
import { isThumbprint } from './dpop-proof.js'
import { createDPoPServer } from './dpop-server.js'
import { endSessionHandler } from './end-session.js'
import { createFaultQueue, type MockFault } from './faults.js'
import { apiHandler } from './mock-api.js'
import { type MockEndpoints, type MockTokenServerOptions, resolveMockOptions } from './options.js'
import { revocationEndpointHandler, tokenEndpointHandler } from './token-endpoint.js'
import { createTokenStore, type MockTokenIntrospection } from './token-store.js'

/** Options of {@link MockTokenServer.issueTokens}. */
export interface IssueTokensOptions {
  /**
   * The scope granted to the session (space-separated). Refreshes may narrow it, never widen it.
   * @default the server's `scope` option
   */
  readonly scope?: string
  /**
   * The `sub` of the session's tokens.
   * @default the server's `subject` option
   */
  readonly subject?: string
  /**
   * Bind the session to a DPoP key, as a code exchange with a proof of it would (RFC 9449 §5):
   * its JWK SHA-256 thumbprint (RFC 7638). The response has `token_type: "DPoP"`, the access token
   * is accepted only with proofs of that key, and refreshes need one. Needs the `dpop` option.
   * @default null (bearer tokens)
   */
  readonly jkt?: string | null
  /**
   * The resource indicators later refreshes of the session may ask for, as if the authorization
   * request had named them (RFC 8707 §2); each must be one of the server's `resources`. The first
   * access token is a default one.
   * @default null (any of the server's `resources`)
   */
  readonly resources?: readonly string[] | null
}

/**
 * A mock OAuth 2.0 authorization server and protected resource, as msw handlers plus controls.
 * All time comes from `Date.now()` and delays from `setTimeout`, so vitest fake timers drive
 * expiry and latency.
 */
export interface MockTokenServer {
  /**
   * The msw request handlers: token, revocation, authorization, end-session and both discovery
   * endpoints below the issuer, the API below `apiOrigin`, and with `backend` the session backend
   * on `appOrigin`. Pass them to `setupServer(...mock.handlers)` (`msw/node`) or
   * `setupWorker(...mock.handlers)` (`msw/browser`).
   */
  readonly handlers: HttpHandler[]
  /** The URLs the mock answers. */
  readonly endpoints: MockEndpoints
  /** Live request counters; see {@link MockTokenServerCounters}. */
  readonly counters: MockTokenServerCounters
  /** Live request logs, without token values; see {@link MockTokenServerLog}. */
  readonly log: MockTokenServerLog
  /**
   * Starts a session as a completed login would: mints an access token and a refresh token of a new
   * family. Not counted as a token request.
   *
   * @param options - scope and subject of the session
   * @returns the token response on the wire (snake_case), ready for the SDK's `setTokens`
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
   */
  issueTokens(options?: IssueTokensOptions): TokenResponse
  /**
   * Answers an authorization request (RFC 6749 §4.1.1) as the user and a compliant server would,
   * without a browser: give it the URL the SDK navigated to (or opened in a popup) and it returns
   * the URL the browser is redirected to.
   *
   * The request must name the registered client and one of `redirectUris` exactly, else it throws
   * (a real server shows an error page and must not redirect, RFC 6749 §4.1.2.1). Otherwise the
   * redirect carries, besides `state` verbatim and `iss` (RFC 9207, unless `issParameter` is
   * false):
   *
   * - `error=invalid_request` for a repeated parameter, a missing `response_type`, a `response_mode`
   *   other than `query`, or a missing or non-`S256` PKCE challenge (RFC 7636 §4.4.1), and
   *   `unsupported_response_type` for a `response_type` other than `code`;
   * - else `error=login_required` for `prompt=none` when the user has no session at the server
   *   (`providerSession`);
   * - else the verdict's error, or for `'approve'` a `code`: single use, valid
   *   `authorizationCodeLifetime`, bound to the redirect URI, the code challenge, the scope (the
   *   server's `scope` when none is asked), the `nonce`, and the subject (`login_hint`, else the
   *   server's `subject`). An approved request without `prompt=none` starts the user's session.
   *
   * Counted in `authorizations`, logged in `log.authorization`.
   *
   * @param url - the authorization request URL
   * @param verdict - what the user does
   * @default verdict the server's `authorizeVerdict` option
   * @returns the URL the browser is redirected to
   * @throws {MockAuthorizationError} when the request cannot be redirected
   * @throws {TypeError} when `verdict` is not a verdict
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
   * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.4
   * @see https://www.rfc-editor.org/rfc/rfc9207#section-2
   * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest
   * @example
   * ```ts
   * const navigate = vi.spyOn(location, 'assign').mockImplementation(() => undefined)
   * await auth.login() // navigates to the authorization endpoint
   * const callback = mock.authorize(String(navigate.mock.calls[0][0]))
   * const { tokens } = await auth.handleRedirect(callback)
   * ```
   */
  authorize(url: string, verdict?: AuthorizeVerdict): string
  /**
   * Starts a session at the session backend without UI, as a login in an earlier page load would
   * have: its refresh cookie goes straight into the browser's cookie jar the mock keeps, so the
   * app's first refresh succeeds. Not counted as a request.
   *
   * @param options - scope and subject of the session
   * @throws {TypeError} when the mock has no `backend`
   * @see https://datatracker.ietf.org/doc/html/draft-ietf-oauth-browser-based-apps#section-6.2
   */
  signIn(options?: IssueTokensOptions): void
  /**
   * {@link MockTokenServer.signIn}, returning the body the backend's login endpoint would have
   * answered (in its `shape`), for a test that hands the first access token to the app itself.
   *
   * @param options - scope and subject of the session
   * @returns the login answer
   * @throws {TypeError} when the mock has no `backend`
   */
  loginResponse(options?: IssueTokensOptions): MockBackendTokenBody
  /**
   * Tells what the server makes of the refresh cookie the browser holds now (see
   * {@link MockTokenServer.introspect}), without revealing it: `state: 'unknown'` when the jar
   * holds none, as after a logout.
   *
   * @returns the cookie's refresh token state
   */
  introspectCookie(): MockTokenIntrospection
  /**
   * Queues a fault for the next request(s) to one endpoint (the token endpoint by default).
   *
   * @param fault - the fault
   * @throws {TypeError} when the fault is malformed
   */
  injectFault(fault: MockFault): void
  /** Drops every queued fault. */
  clearFaults(): void
  /** Makes every access token issued so far expired: the API answers them 401 `invalid_token`. */
  expireAccessTokens(): void
  /**
   * Revokes every refresh token issued so far: refreshing with one is answered `invalid_grant`.
   * Access tokens stay valid until they expire.
   */
  revokeRefreshTokens(): void
  /**
   * Tells what the server knows about a token (RFC 7662 style), without a request.
   *
   * @param token - an access or refresh token value
   * @returns its state, type, family, scope and expiry
   */
  introspect(token: string): MockTokenIntrospection
  /**
   * Replaces the DPoP nonce (RFC 9449 §8, §9) of the party serving `url` with a fresh one, or
   * every nonce when `url` is omitted: the next proof carrying the old nonce is answered
   * `use_dpop_nonce`, with the new nonce in `DPoP-Nonce`. The authorization server has one nonce
   * for its token and revocation endpoints; each API has its own.
   *
   * @param url - the token or revocation endpoint, or any URL of an API
   * @throws {TypeError} without the `dpop` option, or when `url` is none of those
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-8.2
   * @example
   * ```ts
   * const mock = createMockTokenServer({ dpop: { nonce: true } })
   * // ...the app refreshes once with the nonce it was given, then:
   * mock.rotateDPoPNonce(mock.endpoints.token)
   * // its next refresh is answered use_dpop_nonce, and it must retry with the new nonce
   * ```
   */
  rotateDPoPNonce(url?: string): void
  /**
   * Forgets every token, code and family and the cookie jar, restores the user's session at the
   * server to `providerSession`, drops faults, zeroes counters, empties logs, and forgets DPoP
   * nonces and the proofs seen. With a `stateStorage`, the shared state is forgotten for every mock
   * using it.
   */
  reset(): void
}

/**
 * Creates a mock OAuth 2.0 authorization server that behaves like a compliant one: sign-in with
 * the authorization code flow and PKCE (RFC 6749 §4.1, RFC 7636, RFC 9207, OpenID Connect ID
 * tokens), the refresh grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2),
 * revocation (RFC 7009), RP-Initiated Logout, discovery (RFC 8414, OpenID Connect Discovery), a
 * bearer-protected API (RFC 6750) and CORS on every endpoint, plus injectable faults; with `dpop`,
 * DPoP-bound tokens and proof checks (RFC 9449); with `resources`, resource indicators and APIs
 * that accept only their own audience (RFC 8707); and with `backend`, an app's own cookie-session
 * backend. Uses only Web APIs and msw, so it runs under `msw/node` and in a browser behind
 * `msw/browser`.
 *
 * @param options - server behaviour; every field has a default
 * @returns the handlers and the controls
 * @throws {TypeError} naming the first invalid option
 * @example
 * ```ts
 * import { setupServer } from 'msw/node'
 * import { createMockTokenServer } from 'freshtoken/testing'
 *
 * const mock = createMockTokenServer({ accessTokenLifetime: 60_000 })
 * const server = setupServer(...mock.handlers)
 * server.listen({ onUnhandledFrame: 'error' })
 *
 * const tokens = mock.issueTokens({ scope: 'openid profile' })
 * mock.injectFault({ type: 'status', status: 503, retryAfter: 2 })
 * // ...exercise the app, then:
 * expect(mock.counters.token).toBe(2)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc7009
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 * @see https://www.rfc-editor.org/rfc/rfc9449
 * @see https://www.rfc-editor.org/rfc/rfc8707
 */
export function createMockTokenServer(options: MockTokenServerOptions = {}): MockTokenServer {
  const resolved = resolveMockOptions(options)
  const store = createTokenStore(resolved)
  const faults = createFaultQueue()
  const recorder = createRecorder()
  const jar = createCookieJar(resolved.stateStorage, `${resolved.stateKey}:cookies`)
  const context: MockContext = {
    options: resolved,
    cors: { allowedOrigins: resolved.allowedOrigins, exposeHeaders: resolved.exposeHeaders },
    store,
    faults,
    recorder,
    jar,
    provider: { signedIn: resolved.providerSession },
    dpop:
      resolved.dpop === null
        ? null
        : createDPoPServer({ ...resolved, dpop: resolved.dpop }, recorder),
  }
  const checkIssue = (issue: IssueTokensOptions) => {
    if (
      issue.scope !== undefined &&
      (typeof issue.scope !== 'string' || issue.scope.trim() === '')
    ) {
      throw new TypeError('"scope" must be a non-empty string')
    }
    const { jkt = null, resources = null } = issue
    if (jkt !== null && (resolved.dpop === null || !isThumbprint(jkt))) {
      throw new TypeError('"jkt" must be a JWK SHA-256 thumbprint, with the "dpop" option on')
    }
    if (
      resources !== null &&
      (!Array.isArray(resources) || resources.some((r) => !resolved.resources.includes(r)))
    ) {
      throw new TypeError('"resources" must list resources of the server\'s "resources" option')
    }
    return issue
  }
  return {
    handlers: [
      tokenEndpointHandler(context),
      revocationEndpointHandler(context),
      authorizationEndpointHandler(context),
      endSessionHandler(context),
      ...discoveryHandlers(context),
      ...resolved.apis.map((api) => apiHandler(context, api)),
      ...backendHandlers(context),
    ],
    endpoints: resolved.endpoints,
    counters: recorder.counters,
    log: recorder.log,
    issueTokens(issue = {}) {
      return store.issue(checkIssue(issue))
    },
    authorize(url, verdict) {
      return authorizeRequest(context, url, verdict)
    },
    signIn(issue = {}) {
      signInToBackend(context, checkIssue(issue))
    },
    loginResponse(issue = {}) {
      return signInToBackend(context, checkIssue(issue))
    },
    introspectCookie() {
      return store.introspect(jar.get(resolved.appOrigin, MOCK_REFRESH_COOKIE) ?? '')
    },
    injectFault(fault) {
      faults.add(fault)
    },
    clearFaults() {
      faults.clear()
    },
    expireAccessTokens() {
      store.expireAccessTokens()
    },
    revokeRefreshTokens() {
      store.revokeRefreshTokens()
    },
    introspect(token) {
      return store.introspect(token)
    },
    rotateDPoPNonce(url) {
      if (context.dpop === null) throw new TypeError('"dpop" is off: there is no nonce to rotate')
      context.dpop.rotate(url)
    },
    reset() {
      store.reset()
      context.dpop?.reset()
      jar.clear()
      context.provider.signedIn = resolved.providerSession
      faults.clear()
      recorder.reset()
    },
  }
}
