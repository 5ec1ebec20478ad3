/** The session's hard end read from a token response: `refreshExpiresAt`. */
import { describe, expect, it } from 'vitest'
import { parseTokenResponse } from '../../src/token-set.js'

const AT = Date.UTC(2026, 11, 7, 12)

/** An unsigned JWT with these claims. */
function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'HS256' })}.${part(claims)}.sig`
}

const base = { access_token: 'at-1', token_type: 'Bearer', expires_in: 60 }

describe('the session hard end (refreshExpiresAt)', () => {
  it('counts refresh_expires_in (Keycloak, session backends) from local receipt', () => {
    const { tokens } = parseTokenResponse(
      { ...base, refresh_token: 'rt', refresh_expires_in: 1800 },
      AT,
    )
    expect(tokens.refreshExpiresAt).toBe(AT + 1_800_000)
    expect(
      parseTokenResponse({ ...base, refresh_expires_in: '90' }, AT).tokens.refreshExpiresAt,
    ).toBe(AT + 90_000)
  })

  it('reads refresh_expires_in 0 with a refresh token (a Keycloak offline token) as no end', () => {
    const previous = parseTokenResponse(
      { ...base, refresh_token: 'rt', refresh_expires_in: 60 },
      AT,
    ).tokens
    expect(
      parseTokenResponse(
        { ...base, refresh_token: 'offline', refresh_expires_in: 0 },
        AT + 1000,
        previous,
      ).tokens.refreshExpiresAt,
    ).toBeUndefined()
  })

  it('reads refresh_expires_in 0 without a refresh token (a backend in its last second) as the end', () => {
    const previous = parseTokenResponse({ ...base, refresh_expires_in: 2 }, AT).tokens
    expect(
      parseTokenResponse({ ...base, refresh_expires_in: 0 }, AT + 1500, previous).tokens
        .refreshExpiresAt,
    ).toBe(AT + 1500)
  })

  it('uses a JWT refresh token exp - iat from receipt, whatever the server clock says', () => {
    const refresh_token = jwt({ iat: 1_000, exp: 1_000 + 3600 })
    expect(parseTokenResponse({ ...base, refresh_token }, AT).tokens.refreshExpiresAt).toBe(
      AT + 3_600_000,
    )
  })

  it('keeps the end of a refresh token that was not replaced, and forgets it for a new opaque one', () => {
    const first = parseTokenResponse(
      { ...base, refresh_token: 'rt-1', refresh_expires_in: 600 },
      AT,
    )
    // A server that does not rotate, or a backend: the same session, the same end.
    expect(parseTokenResponse(base, AT + 5000, first.tokens).tokens.refreshExpiresAt).toBe(
      AT + 600_000,
    )
    // A rotated opaque token without news: unknown, never a guess that could end a session early.
    expect(
      parseTokenResponse({ ...base, refresh_token: 'rt-2' }, AT + 5000, first.tokens).tokens
        .refreshExpiresAt,
    ).toBeUndefined()
    // News replaces it.
    expect(
      parseTokenResponse({ ...base, refresh_expires_in: 30 }, AT + 5000, first.tokens).tokens
        .refreshExpiresAt,
    ).toBe(AT + 35_000)
  })

  it.each([[-1], ['soon'], [true], [{}]])('refuses refresh_expires_in %j', (value) => {
    expect(() => parseTokenResponse({ ...base, refresh_expires_in: value }, AT)).toThrow(
      expect.objectContaining({
        code: 'invalid_token_response',
        message: '"refresh_expires_in" must be a non-negative number',
      }),
    )
  })

  it('reads JSON null as absent', () => {
    expect(parseTokenResponse({ ...base, refresh_expires_in: null }, AT).tokens).not.toHaveProperty(
      'refreshExpiresAt',
    )
  })
})
