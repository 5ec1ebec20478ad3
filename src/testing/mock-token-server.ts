import type { HttpHandler } from 'msw'
import type { TokenResponse } from '../token-set.js'
import type { MockContext } from './context.js'
import {
  createRecorder,
  type MockTokenServerCounters,
  type MockTokenServerLog,
} from './counters.js'
import { discoveryHandlers } from './discovery.js'
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
}

/**
 * A mock OAuth 2.0 authorization server and protected resource, as msw handlers plus controls.
 * All time comes from `Date.now()` and delays from `setTimeout`, so vitest fake timers drive
 * expiry and latency.
 */
export interface MockTokenServer {
  /**
   * The msw request handlers: token, revocation and both discovery endpoints below the issuer, and
   * the API below `apiOrigin`. Pass them to `setupServer(...mock.handlers)` (`msw/node`) or
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
   * Forgets every token and family, drops faults, zeroes counters and empties logs. With a
   * `stateStorage`, the shared state is forgotten for every mock using it.
   */
  reset(): void
}

/**
 * Creates a mock OAuth 2.0 authorization server that behaves like a compliant one: the refresh
 * grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2), revocation (RFC 7009),
 * discovery (RFC 8414, OpenID Connect Discovery), a bearer-protected API (RFC 6750) and CORS on
 * every endpoint, plus injectable faults. Uses only Web APIs and msw, so it runs under
 * `msw/node` and in a browser behind `msw/browser`.
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
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc7009
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function createMockTokenServer(options: MockTokenServerOptions = {}): MockTokenServer {
  const resolved = resolveMockOptions(options)
  const store = createTokenStore(resolved)
  const faults = createFaultQueue()
  const recorder = createRecorder()
  const context: MockContext = {
    options: resolved,
    cors: { allowedOrigins: resolved.allowedOrigins, exposeHeaders: resolved.exposeHeaders },
    store,
    faults,
    recorder,
  }
  return {
    handlers: [
      tokenEndpointHandler(context),
      revocationEndpointHandler(context),
      ...discoveryHandlers(context),
      apiHandler(context),
    ],
    endpoints: resolved.endpoints,
    counters: recorder.counters,
    log: recorder.log,
    issueTokens(issue = {}) {
      if (
        issue.scope !== undefined &&
        (typeof issue.scope !== 'string' || issue.scope.trim() === '')
      ) {
        throw new TypeError('"scope" must be a non-empty string')
      }
      return store.issue(issue)
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
    reset() {
      store.reset()
      faults.clear()
      recorder.reset()
    },
  }
}
