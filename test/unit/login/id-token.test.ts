import { describe, expect, it } from 'vitest'
import { type IdTokenExpectations, validateIdToken } from '../../../src/login/id-token.js'

const NOW = Date.UTC(2026, 11, 7, 12)
const SECONDS = NOW / 1000

/** An unsigned JWT with these claims (the signature is not checked, so any will do). */
function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`
}

const GOOD = {
  iss: 'https://auth.example.com',
  sub: 'user-1',
  aud: 'spa',
  exp: SECONDS + 300,
  iat: SECONDS,
  nonce: 'n-1',
}
const EXPECTED = { issuer: 'https://auth.example.com', clientId: 'spa', nonce: 'n-1', now: NOW }

function reasonFor(
  claims: Record<string, unknown>,
  expected: IdTokenExpectations = EXPECTED,
): string | undefined {
  try {
    validateIdToken(jwt(claims), expected)
    return undefined
  } catch (error) {
    expect(error).toMatchObject({
      name: 'LoginError',
      code: 'login_failed',
      error: 'invalid_id_token',
    })
    return (error as Error & { errorDescription: string }).errorDescription
  }
}

describe('ID token validation (OpenID Connect Core §3.1.3.7)', () => {
  it('accepts a token that matches and returns its claims', () => {
    expect(validateIdToken(jwt(GOOD), EXPECTED)).toMatchObject({ sub: 'user-1', nonce: 'n-1' })
  })

  it.each([
    ['another issuer', { iss: 'https://evil.example.com' }, '"iss"'],
    ['no issuer', { iss: undefined }, '"iss"'],
    ['another audience', { aud: 'other' }, '"aud"'],
    ['no audience', { aud: undefined }, '"aud"'],
    ['several audiences without azp', { aud: ['spa', 'api'] }, '"azp"'],
    ['several audiences with a foreign azp', { aud: ['spa', 'api'], azp: 'api' }, '"azp"'],
    ['a foreign azp', { azp: 'other' }, '"azp"'],
    ['another nonce', { nonce: 'n-2' }, '"nonce"'],
    ['no nonce', { nonce: undefined }, '"nonce"'],
    ['an exp past the tolerance', { exp: SECONDS - 301 }, '"exp"'],
    ['no exp', { exp: undefined }, '"exp"'],
    ['an iat beyond the tolerance in the future', { iat: SECONDS + 301 }, '"iat"'],
    ['a string iat', { iat: String(SECONDS) }, '"iat"'],
  ])('refuses %s', (_, change, reason) => {
    expect(reasonFor({ ...GOOD, ...change })).toContain(reason)
  })

  it('allows a clock off by less than the tolerance either way', () => {
    expect(reasonFor({ ...GOOD, exp: SECONDS - 299, iat: SECONDS - 600 })).toBeUndefined()
    expect(reasonFor({ ...GOOD, iat: SECONDS + 299 })).toBeUndefined()
  })

  it('accepts several audiences when azp is this client', () => {
    expect(reasonFor({ ...GOOD, aud: ['api', 'spa'], azp: 'spa' })).toBeUndefined()
  })

  it('checks no issuer when the client was given endpoints instead of one', () => {
    expect(
      reasonFor({ ...GOOD, iss: 'https://any.example.com' }, { ...EXPECTED, issuer: undefined }),
    ).toBeUndefined()
  })

  it('refuses a missing token and one that is not a JWT', () => {
    expect(() => validateIdToken(undefined, EXPECTED)).toThrow(
      expect.objectContaining({ errorDescription: expect.stringContaining('missing') }),
    )
    expect(() => validateIdToken('not-a-jwt', EXPECTED)).toThrow(
      expect.objectContaining({ errorDescription: expect.stringContaining('not a JWT') }),
    )
  })

  it('never puts the token into its error', () => {
    const token = jwt({ ...GOOD, nonce: 'other' })
    try {
      validateIdToken(token, EXPECTED)
    } catch (error) {
      expect(
        JSON.stringify({ ...(error as object), message: (error as Error).message }),
      ).not.toContain(token.split('.')[1])
    }
    expect.assertions(1)
  })
})
