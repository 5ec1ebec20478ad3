import {
  AuthError,
  InvalidTokenResponseError,
  isAuthError,
  NoSessionError,
  SessionExpiredError,
  TokenEndpointError,
  TokenEndpointUnavailableError,
  TokenRejectedError,
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

  it.each([
    ['AuthError', 'no_session', true],
    ['TokenEndpointError', 'token_endpoint_error', true],
    ['TokenEndpointUnavailableError', 'token_endpoint_unavailable', true],
    ['TokenRejectedError', 'token_rejected', true],
    ['NoSessionError', undefined, false],
    ['NoSessionError', 7, false],
    ['MyNoSessionError', 'no_session', false],
    ['NoSessionErrorLike', 'no_session', false],
    ['TypeError', 'no_session', false],
  ] as const)(
    'takes a foreign Error named %s with code %s for an AuthError: %s',
    (name, code, is) => {
      const foreign = Object.assign(new Error('x'), { name, code })
      expect(isAuthError(foreign)).toBe(is)
    },
  )

  it('takes any subclass of AuthError for one, whatever its name', () => {
    class AppAuthError extends AuthError {
      override name = 'AppAuthError'
    }
    expect(isAuthError(new AppAuthError('no_session', 'signed out by the app'))).toBe(true)
  })

  it('says what each default means, and names the base class', () => {
    expect(new NoSessionError().message).toBe('No session: call setTokens() first')
    expect(new SessionExpiredError().message).toBe('Session expired: invalid_grant')
    expect(new AuthError('no_session', 'm').name).toBe('AuthError')
    const rejected = new TokenRejectedError(1_000)
    expect(rejected).toMatchObject({
      name: 'TokenRejectedError',
      code: 'token_rejected',
      retryAt: 1_000,
      message: 'The API rejected a renewed token: renewals on 401 pause',
    })
  })
})
