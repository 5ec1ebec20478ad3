import type { MockFault } from './faults.js'

/**
 * Request counters of the mock server, live: read them after the code under test ran. CORS
 * preflights are counted only in `preflight`. `reset()` sets every counter back to 0.
 */
export interface MockTokenServerCounters {
  /**
   * Requests that reached the token endpoint (any method but `OPTIONS`, faulted ones included).
   * The mock implements only the refresh grant, so in practice these are refresh requests.
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
}

/** Writable counters and logs, shared by the mock's handlers. Not part of the public surface. */
export interface MockRecorder {
  readonly counters: { -readonly [K in keyof MockTokenServerCounters]: number }
  readonly log: {
    readonly token: TokenRequestLogEntry[]
    readonly revocation: RevocationLogEntry[]
    readonly api: ApiLogEntry[]
  }
  reset(): void
}

function zeroCounters(): { -readonly [K in keyof MockTokenServerCounters]: number } {
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
  }
}

/**
 * Creates the counters and logs. `reset()` keeps the same objects so references stay live.
 *
 * @returns the recorder
 */
export function createRecorder(): MockRecorder {
  const counters = zeroCounters()
  const log: MockRecorder['log'] = { token: [], revocation: [], api: [] }
  return {
    counters,
    log,
    reset() {
      Object.assign(counters, zeroCounters())
      log.token.length = 0
      log.revocation.length = 0
      log.api.length = 0
    },
  }
}
