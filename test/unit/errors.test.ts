import {
  AuthError,
  InvalidTokenResponseError,
  isAuthError,
  NoSessionError,
  SessionExpiredError,
  TokenEndpointError,
  TokenEndpointUnavailableError,
} from 'freshtoken'
import { describe, expect, it } from 'vitest'

describe('errors', () => {
  it('gives every error a stable code and name, and makes each an AuthError', () => {
    const errors = [
      [new NoSessionError(), 'no_session', 'NoSessionError'],
      [new SessionExpiredError(), 'session_expired', 'SessionExpiredError'],
      [new TokenEndpointError('invalid_client', 401), 'token_endpoint_error', 'TokenEndpointError'],
      [
        new TokenEndpointUnavailableError('down', 503),
        'token_endpoint_unavailable',
        'TokenEndpointUnavailableError',
      ],
      [new InvalidTokenResponseError('bad'), 'invalid_token_response', 'InvalidTokenResponseError'],
    ] as const
    for (const [error, code, name] of errors) {
      expect(error).toBeInstanceOf(AuthError)
      expect(error.code).toBe(code)
      expect(error.name).toBe(name)
      expect(isAuthError(error)).toBe(true)
    }
  })

  it('recognises an AuthError from another realm by name and code', () => {
    const foreign = Object.assign(new Error('x'), {
      name: 'SessionExpiredError',
      code: 'session_expired',
    })
    expect(isAuthError(foreign)).toBe(true)
    expect(isAuthError(new Error('x'))).toBe(false)
    expect(isAuthError({ name: 'AuthError', code: 'no_session' })).toBe(false)
  })
})
