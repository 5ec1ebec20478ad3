import type { MockFault } from './faults.js'
import type { MockTokenState } from './token-store.js'

/**
 * Request counters of the mock server, live: read them after the code under test ran. CORS
 * preflights are counted only in `preflight`. `reset()` sets every counter back to 0.
 */
export interface MockTokenServerCounters {
  /**
   * Requests that reached the token endpoint (any method but `OPTIONS`, faulted ones included):
   * refresh grants and code exchanges.
   */
  readonly token: number
  /** Token endpoint requests answered with a token response (200, RFC 6749 §5.1). */
  readonly tokenSuccess: number
  /** Token endpoint requests the server itself answered with an error (RFC 6749 §5.2; not faults). */
  readonly tokenError: number
  /** Requests that reached the revocation endpoint (RFC 7009), faulted ones included. */
  readonly revocation: number
  /** `GET`s of either discovery document, 404s and faulted ones included. */
  readonly discovery: number
  /** Requests that reached the protected resource, faulted ones included. */
  readonly api: number
  /** API answers with status 401 (invalid, expired, revoked or missing token; faults included). */
  readonly api401: number
  /** API answers with status 403 (`insufficient_scope`; faults included). */
  readonly api403: number
  /** CORS preflight (`OPTIONS`) requests, on any endpoint. */
  readonly preflight: number
  /** Requests whose answer an injected fault replaced or delayed. */
  readonly faults: number
  /** Reuses of a rotated refresh token that revoked a whole family (RFC 9700 §4.14.2). */
  readonly reuseDetected: number
  /**
   * Authorization requests: calls of {@link MockTokenServer.authorize} and `GET`s of the
   * authorization endpoint, those answered with an error included.
   */
  readonly authorizations: number
  /** Token endpoint requests with `grant_type=authorization_code` (RFC 6749 §4.1.3), faulted ones included. */
  readonly codeExchanges: number
  /** Requests to the end-session endpoint (RP-Initiated Logout 1.0 §2), not preflights. */
  readonly endSessions: number
  /** Requests to the session backend's login endpoint, faulted ones included. */
  readonly backendLogin: number
  /** Requests to the session backend's refresh endpoint, faulted ones included. */
  readonly backendRefresh: number
  /** Requests to the session backend's logout endpoint, faulted ones included. */
  readonly backendLogout: number
  /**
   * DPoP proofs that passed verification (RFC 9449 §4.3), at the token and revocation endpoints
   * and the APIs. Counted only with the `dpop` option.
   */
  readonly dpopProofs: number
  /**
   * Requests refused `invalid_dpop_proof`: a proof that fails verification (replays included),
   * several `DPoP` headers, or no proof at a token endpoint that requires one (RFC 9449 §5, §7.1).
   */
  readonly dpopInvalid: number
  /** Proofs refused because their `jti` had been seen before (RFC 9449 §11.1); also in `dpopInvalid`. */
  readonly dpopReplays: number
  /** Requests answered `use_dpop_nonce`, at the token and revocation endpoints and the APIs (RFC 9449 §8, §9). */
  readonly dpopNonceErrors: number
  /**
   * Token endpoint requests that named a `resource` (RFC 8707 §2), per resource as sent, those
   * answered `invalid_target` included. Requests without one are not in it.
   */
  readonly tokenByResource: Readonly<Record<string, number>>
}

/** One token endpoint request, as logged by the mock. Carries no token value. */
export interface TokenRequestLogEntry {
  /** `Date.now()` when the request arrived. */
  readonly at: number
  /** The HTTP method. */
  readonly method: string
  /** `grant_type` sent, `null` when absent. */
  readonly grantType: string | null
  /** `client_id` sent, `null` when absent. */
  readonly clientId: string | null
  /** `scope` sent, `null` when absent. */
  readonly scope: string | null
  /** Family label of the presented refresh token (`family-1`…), `null` when none or unknown. */
  readonly family: string | null
  /** The status the client received (0 for a network error). */
  readonly status: number
  /** The OAuth `error` code the server answered, `null` on success or when a fault answered. */
  readonly error: string | null
  /** The injected fault that shaped the answer, `null` when none. */
  readonly fault: MockFault['type'] | null
  /** The `resource` sent (RFC 8707 §2); absent when none was. */
  readonly resource?: string
  /** The key thumbprint of the request's valid DPoP proof (RFC 9449 §5); absent without one. */
  readonly dpopJkt?: string
}

/** One revocation request, as logged by the mock (RFC 7009). Carries no token value. */
export interface RevocationLogEntry {
  /** `Date.now()` when the request arrived. */
  readonly at: number
  /** `client_id` sent, `null` when absent. */
  readonly clientId: string | null
  /** `token_type_hint` sent, `null` when absent. */
  readonly tokenTypeHint: string | null
  /** What the token really was; `null` when unknown to the server or not processed. */
  readonly tokenType: 'access_token' | 'refresh_token' | null
  /** Family label of the token, `null` when unknown. */
  readonly family: string | null
  /** The status the client received (0 for a network error). */
  readonly status: number
  /** The injected fault that shaped the answer, `null` when none. */
  readonly fault: MockFault['type'] | null
}

/** One protected resource request, as logged by the mock. Carries no token value. */
export interface ApiLogEntry {
  /** `Date.now()` when the request arrived. */
  readonly at: number
  /** The HTTP method. */
  readonly method: string
  /** The path below the API base, e.g. `/me`. */
  readonly path: string
  /** The status the client received (0 for a network error). */
  readonly status: number
  /**
   * What the server made of the `Authorization` header: `missing` (none, or not `Bearer`),
   * `malformed`, or the state of the access token.
   */
  readonly token: 'missing' | 'malformed' | 'active' | 'expired' | 'revoked' | 'unknown' | null
  /** Family label of the access token, `null` when unknown. */
  readonly family: string | null
  /** The injected fault that shaped the answer, `null` when none. */
  readonly fault: MockFault['type'] | null
  /** The key thumbprint of the request's valid DPoP proof (RFC 9449 §7); absent without one. */
  readonly dpopJkt?: string
}

/** One authorization request, as logged by the mock (RFC 6749 §4.1.1). Carries no `state` value. */
export interface AuthorizationLogEntry {
  /** `Date.now()` when the request arrived. */
  readonly at: number
  /** `client_id` sent, `null` when absent. */
  readonly clientId: string | null
  /** `redirect_uri` sent, `null` when absent. */
  readonly redirectUri: string | null
  /** `scope` sent, `null` when absent. */
  readonly scope: string | null
  /** `prompt` sent (OpenID Connect Core §3.1.2.1), `null` when absent. */
  readonly prompt: string | null
  /** `code_challenge_method` sent, `null` when absent. */
  readonly codeChallengeMethod: string | null
  /** Whether a `state` was sent. */
  readonly state: boolean
  /** Whether a `nonce` was sent. */
  readonly nonce: boolean
  /**
   * The error answered: an RFC 6749 §4.1.2.1 or OpenID Connect §3.1.2.6 code on the redirect, or
   * the {@link MockAuthorizationErrorCode} of a request that could not be redirected; `null` when
   * a code was issued.
   */
  readonly error: string | null
  /** Whether the browser was sent back to the redirect URI (false: an error page). */
  readonly redirected: boolean
  /** The `resource` parameters sent (RFC 8707 §2); absent when none were. */
  readonly resources?: readonly string[]
  /** The `dpop_jkt` sent (RFC 9449 §10); absent when none was. */
  readonly dpopJkt?: string
}

/** One code exchange at the token endpoint (RFC 6749 §4.1.3). Carries no code or verifier. */
export interface CodeExchangeLogEntry {
  /** `Date.now()` when the request arrived. */
  readonly at: number
  /** `client_id` sent, `null` when absent. */
  readonly clientId: string | null
  /** `redirect_uri` sent, `null` when absent. */
  readonly redirectUri: string | null
  /** Whether a `code_verifier` was sent (RFC 7636 §4.5). */
  readonly codeVerifier: boolean
  /** Family label of the session issued from the code, `null` when none. */
  readonly family: string | null
  /** True when the code had been redeemed before, so its tokens were revoked (RFC 6749 §4.1.2). */
  readonly reuseDetected: boolean
  /** The status the client received (0 for a network error). */
  readonly status: number
  /** The OAuth `error` code the server answered, `null` on success or when a fault answered. */
  readonly error: string | null
  /** The injected fault that shaped the answer, `null` when none. */
  readonly fault: MockFault['type'] | null
}

/** One end-session request (RP-Initiated Logout 1.0 §2). Carries no ID token. */
export interface EndSessionLogEntry {
  /** `Date.now()` when the request arrived. */
  readonly at: number
  /** The HTTP method, `GET` or `POST`. */
  readonly method: string
  /** Whether an `id_token_hint` was sent; its value is never logged. */
  readonly idTokenHint: boolean
  /** `client_id` sent, `null` when absent. */
  readonly clientId: string | null
  /** `post_logout_redirect_uri` sent, `null` when absent. */
  readonly postLogoutRedirectUri: string | null
  /** The status answered: 302 when redirected to the post-logout redirect URI, else 200. */
  readonly status: number
}

/** One request to the session backend. Carries no cookie or token value. */
export interface BackendLogEntry {
  /** `Date.now()` when the request arrived. */
  readonly at: number
  /** Which endpoint it reached. */
  readonly endpoint: 'login' | 'refresh' | 'logout'
  /** The HTTP method. */
  readonly method: string
  /** Whether the CSRF header was sent with the expected value (always true when none is required). */
  readonly csrf: boolean
  /** What the refresh cookie sent was: `missing`, or the state of its refresh token. */
  readonly cookie: 'missing' | MockTokenState
  /** Family label of the cookie's session (or of the new session on login), `null` when none. */
  readonly family: string | null
  /** The status the client received (0 for a network error). */
  readonly status: number
  /** The injected fault that shaped the answer, `null` when none. */
  readonly fault: MockFault['type'] | null
}

/**
 * Request logs of the mock server, in the order the answers were sent (a delayed answer is logged
 * when it is sent; `at` is its arrival). `reset()` empties them.
 */
export interface MockTokenServerLog {
  /** Token endpoint requests (not preflights). */
  readonly token: readonly TokenRequestLogEntry[]
  /** Revocation endpoint requests (not preflights). */
  readonly revocation: readonly RevocationLogEntry[]
  /** Protected resource requests (not preflights). */
  readonly api: readonly ApiLogEntry[]
  /** Authorization requests, in the order they were made. */
  readonly authorization: readonly AuthorizationLogEntry[]
  /** Code exchanges at the token endpoint (they are in `token` as well). */
  readonly codeExchange: readonly CodeExchangeLogEntry[]
  /** End-session requests. */
  readonly endSession: readonly EndSessionLogEntry[]
  /** Session backend requests (not preflights). */
  readonly backend: readonly BackendLogEntry[]
}

type NumericCounters = Omit<MockTokenServerCounters, 'tokenByResource'>

/** Writable counters and logs, shared by the mock's handlers. Not part of the public surface. */
export interface MockRecorder {
  readonly counters: { -readonly [K in keyof NumericCounters]: number } & {
    readonly tokenByResource: Record<string, number>
  }
  readonly log: {
    readonly token: TokenRequestLogEntry[]
    readonly revocation: RevocationLogEntry[]
    readonly api: ApiLogEntry[]
    readonly authorization: AuthorizationLogEntry[]
    readonly codeExchange: CodeExchangeLogEntry[]
    readonly endSession: EndSessionLogEntry[]
    readonly backend: BackendLogEntry[]
  }
  reset(): void
}

function zeroCounters(): { -readonly [K in keyof NumericCounters]: number } {
  return {
    token: 0,
    tokenSuccess: 0,
    tokenError: 0,
    revocation: 0,
    discovery: 0,
    api: 0,
    api401: 0,
    api403: 0,
    preflight: 0,
    faults: 0,
    reuseDetected: 0,
    authorizations: 0,
    codeExchanges: 0,
    endSessions: 0,
    backendLogin: 0,
    backendRefresh: 0,
    backendLogout: 0,
    dpopProofs: 0,
    dpopInvalid: 0,
    dpopReplays: 0,
    dpopNonceErrors: 0,
  }
}

/**
 * Creates the counters and logs. `reset()` keeps the same objects so references stay live.
 *
 * @returns the recorder
 */
export function createRecorder(): MockRecorder {
  const counters = { ...zeroCounters(), tokenByResource: {} as Record<string, number> }
  const log: MockRecorder['log'] = {
    token: [],
    revocation: [],
    api: [],
    authorization: [],
    codeExchange: [],
    endSession: [],
    backend: [],
  }
  return {
    counters,
    log,
    reset() {
      Object.assign(counters, zeroCounters())
      for (const resource of Object.keys(counters.tokenByResource)) {
        delete counters.tokenByResource[resource]
      }
      for (const entries of Object.values(log)) entries.length = 0
    },
  }
}
