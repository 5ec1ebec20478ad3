/**
 * Stable codes for every error freshtoken raises. Switch on `error.code`, never on the message.
 *
 * - `no_session`: no tokens were set (or they were cleared by `logout()`).
 * - `session_expired`: the token server rejected the refresh token (RFC 6749 §5.2 `invalid_grant`).
 * - `token_endpoint_error`: the token server answered another RFC 6749 §5.2 error (`invalid_client`, …).
 * - `token_endpoint_unavailable`: network failure, timeout, 5xx, 408 or 429. The session is kept.
 *   After every failed token request, renewals pause (1 s, doubling up to 60 s, or the server's
 *   `Retry-After` up to 10 min) and calls that need one meanwhile reject with that same failure
 *   without a request.
 * - `invalid_token_response`: the token server's success response is not an RFC 6749 §5.1 token
 *   response, or holds a token that could not be sent back (empty, or not visible ASCII).
 * - `discovery_failed`: RFC 8414 / OpenID metadata could not be read or did not match the issuer.
 * - `token_rejected`: the API answered 401 to a token that a renewal made for an earlier 401 had
 *   just issued, so renewing does not help: renewals after a 401 pause (1 s, doubling up to 60 s;
 *   the calls get the API's 401 `Response`) until `retryAt`, and resume once the API accepts a
 *   token. Fired as an `'error'` event; the session is kept.
 * - `login_failed`: sign-in did not complete: the provider's verdict (`access_denied`,
 *   `login_required`, …) or freshtoken's own (`state_mismatch`, `iss_mismatch`, `invalid_id_token`,
 *   `popup_blocked`, `popup_closed`, `popup_timeout`, …), in {@link LoginError.error}.
 */
export type AuthErrorCode =
  | 'no_session'
  | 'session_expired'
  | 'token_endpoint_error'
  | 'token_endpoint_unavailable'
  | 'invalid_token_response'
  | 'discovery_failed'
  | 'token_rejected'
  | 'login_failed'

/** The names of freshtoken's error classes, for the cross-realm check in {@link isAuthError}. */
const AUTH_ERROR_NAME =
  /^(Auth|NoSession|SessionExpired|TokenEndpoint(Unavailable)?|InvalidTokenResponse|Discovery|TokenRejected|Login)Error$/

/**
 * Base class of every error freshtoken raises. Carries a stable {@link AuthErrorCode}.
 * Messages name the field and the rule; they never contain a token value, and neither does any
 * enumerable property or `cause`.
 */
export class AuthError extends Error {
  override name: string = 'AuthError'
  /** Stable, machine-readable error code. */
  declare readonly code: AuthErrorCode

  /**
   * @param code - the stable code
   * @param message - a human-readable description that contains no secrets
   * @param options - ES2022 error options; `cause` must contain no secrets
   */
  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** Raised when a call needs a session but none was set (code `no_session`). */
export class NoSessionError extends AuthError {
  override name = 'NoSessionError' as const
  declare readonly code: 'no_session'
  constructor(message = 'No session: call setTokens() first') {
    super('no_session', message)
  }
}

/**
 * The session is over: the token server rejected the refresh token with `invalid_grant`
 * (RFC 6749 §5.2). Tokens are cleared; every call rejects with this until new tokens are set.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export class SessionExpiredError extends AuthError {
  override name = 'SessionExpiredError' as const
  declare readonly code: 'session_expired'
  constructor(message = 'Session expired: invalid_grant') {
    super('session_expired', message)
  }
}

/**
 * The token server answered an RFC 6749 §5.2 error other than `invalid_grant`
 * (for example `invalid_client` or `invalid_scope`). The session is kept.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export class TokenEndpointError extends AuthError {
  override name = 'TokenEndpointError' as const
  declare readonly code: 'token_endpoint_error'
  /** The RFC 6749 §5.2 `error` value, with any token the server quoted redacted. */
  declare readonly error: string
  /** The server's `error_description`, if any, with any token it quoted redacted. */
  declare readonly errorDescription: string | undefined
  /** HTTP status of the response. */
  declare readonly status: number

  constructor(error: string, status: number, errorDescription?: string) {
    super('token_endpoint_error', `token endpoint answered HTTP ${status} with error "${error}"`)
    this.error = error
    this.status = status
    this.errorDescription = errorDescription
  }
}

/**
 * The token server could not be reached or is unavailable (network failure, timeout, 5xx, 408,
 * 429). Never ends the session.
 */
export class TokenEndpointUnavailableError extends AuthError {
  override name = 'TokenEndpointUnavailableError' as const
  declare readonly code: 'token_endpoint_unavailable'
  /** HTTP status of the last response, or `undefined` for a network failure. */
  declare readonly status: number | undefined
  /**
   * How long the server asked to be left alone, in ms, from its `Retry-After` header
   * (RFC 9110 §10.2.3), if it sent one. Renewals pause at least this long, at most 10 minutes.
   */
  declare readonly retryAfter: number | undefined

  constructor(
    message: string,
    status?: number,
    options?: { cause?: unknown; retryAfter?: number | undefined },
  ) {
    super('token_endpoint_unavailable', message, options)
    this.status = status
    this.retryAfter = options?.retryAfter
  }
}

/**
 * The token server's success response is not a valid RFC 6749 §5.1 token response: not JSON, an
 * HTML page, a missing `access_token`, wrong types, or a `token_type` other than `Bearer`.
 * The working session is left untouched.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export class InvalidTokenResponseError extends AuthError {
  override name = 'InvalidTokenResponseError' as const
  declare readonly code: 'invalid_token_response'
  constructor(message: string) {
    super('invalid_token_response', message)
  }
}

/**
 * Authorization server metadata could not be fetched, parsed, or its `issuer` did not match
 * (RFC 8414 §3.3).
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.3
 */
export class DiscoveryError extends AuthError {
  override name = 'DiscoveryError' as const
  declare readonly code: 'discovery_failed'
  constructor(message: string, options?: { cause?: unknown }) {
    super('discovery_failed', message, options)
  }
}

/**
 * The API rejected (401) an access token that a renewal had just issued for an earlier 401: a new
 * token does not help (a wrong audience, a resource server with a skewed clock, a grant revoked on
 * one side only). Renewals after a 401 pause until {@link TokenRejectedError.retryAt} (1 s,
 * doubling up to 60 s), then one is tried again; the pause ends once the API accepts a token.
 * Meanwhile calls resolve with the API's 401 `Response`. Fired as an `'error'` event each time a
 * pause starts; the session is kept, since only the token server can end it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export class TokenRejectedError extends AuthError {
  override name = 'TokenRejectedError' as const
  declare readonly code: 'token_rejected'
  /** Epoch ms from which a 401 may start a renewal again. */
  declare readonly retryAt: number

  constructor(retryAt: number) {
    super('token_rejected', 'The API rejected a renewed token: renewals on 401 pause')
    this.retryAt = retryAt
  }
}

/**
 * Sign-in did not complete (RFC 6749 §4.1.2.1, RFC 9207, OpenID Connect Core §3.1.2.6, §3.1.3.7).
 * `error` is the provider's code as it was sent (`access_denied`, `login_required`,
 * `consent_required`, `interaction_required`, …) or one of freshtoken's own:
 *
 * - `state_mismatch`: the response belongs to no sign-in of this tab: replayed (back button,
 *   reload), meant for another attempt or client, tampered with, or older than 10 minutes.
 * - `missing_code`: the response carries neither `code` nor `error`.
 * - `iss_mismatch`: the response's `iss` is not the issuer, or is missing where the provider
 *   promised it (RFC 9207 §2.4).
 * - `invalid_id_token`: the ID token's `iss`, `aud`, `azp`, `nonce`, `exp` or `iat` is wrong.
 * - `invalid_grant`: the token endpoint refused the code (used, expired, or PKCE mismatch).
 * - `popup_blocked`, `popup_closed`, `popup_timeout`: the popup could not open, was closed by
 *   the user, or did not come back within 10 minutes.
 *
 * The message and fields never hold the code, the verifier or the state.
 */
export class LoginError extends AuthError {
  override name = 'LoginError' as const
  declare readonly code: 'login_failed'
  /** The provider's error code as sent, or freshtoken's own (see above). */
  declare readonly error: string
  /** The provider's `error_description`, or freshtoken's explanation. */
  declare readonly errorDescription: string | undefined

  constructor(error: string, errorDescription?: string) {
    super('login_failed', `sign-in failed: ${error}`)
    this.error = error
    this.errorDescription = errorDescription
  }
}

/**
 * Whether `value` is an error raised by freshtoken. Works across realms (iframes, duplicated
 * bundles) by checking the name and code as well as `instanceof`.
 *
 * @param value - anything caught
 * @returns `true` when `value` is an {@link AuthError}
 * @example
 * ```ts
 * try { await auth.fetch('/api/me') } catch (e) { if (isAuthError(e) && e.code === 'session_expired') login() }
 * ```
 */
export function isAuthError(value: unknown): value is AuthError {
  if (value instanceof AuthError) return true
  return (
    value instanceof Error &&
    AUTH_ERROR_NAME.test(value.name) &&
    typeof (value as { code?: unknown }).code === 'string'
  )
}
