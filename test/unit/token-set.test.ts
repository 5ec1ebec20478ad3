import { describe, expect, it } from 'vitest'
import { InvalidTokenResponseError } from '../../src/errors.js'
import { parseTokenResponse, type TokenSet } from '../../src/token-set.js'

const NOW = 1_700_000_000_000

function parse(body: unknown, receivedAt: number, previous?: TokenSet): TokenSet {
  return parseTokenResponse(body, receivedAt, previous).tokens
}

function jwt(claims: Record<string, unknown>): string {
  const encode = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
  return `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode(claims)}.signature`
}

describe('parseTokenResponse', () => {
  it('counts expires_in from local receipt and maps the wire shape to camelCase', () => {
    const tokens = parse(
      {
        access_token: 'a',
        token_type: 'Bearer',
        expires_in: 300,
        refresh_token: 'r',
        scope: 'read',
      },
      NOW,
    )
    expect(tokens).toEqual({
      accessToken: 'a',
      tokenType: 'Bearer',
      expiresAt: NOW + 300_000,
      refreshToken: 'r',
      scope: 'read',
    })
  })

  it('accepts token_type case-insensitively and expires_in as a string of digits', () => {
    const tokens = parse({ access_token: 'a', token_type: 'bearer', expires_in: '60' }, NOW)
    expect(tokens.expiresAt).toBe(NOW + 60_000)
    expect(tokens.tokenType).toBe('Bearer')
  })

  it('uses a JWT lifetime (exp - iat) from local receipt, ignoring a server clock hours off', () => {
    const serverNow = NOW / 1000 - 3 * 3600
    const accessToken = jwt({ iat: serverNow, exp: serverNow + 120 })
    const tokens = parse({ access_token: accessToken, token_type: 'Bearer' }, NOW)
    expect(tokens.expiresAt).toBe(NOW + 120_000)
  })

  it('leaves expiry unknown for an opaque token without expires_in', () => {
    const tokens = parse({ access_token: 'opaque', token_type: 'Bearer' }, NOW)
    expect(tokens.expiresAt).toBeUndefined()
  })

  it('leaves expiry unknown for a JWT without iat rather than trusting the local clock', () => {
    const accessToken = jwt({ exp: NOW / 1000 + 60 })
    expect(
      parse({ access_token: accessToken, token_type: 'Bearer' }, NOW).expiresAt,
    ).toBeUndefined()
  })

  it('leaves expiry unknown for a JWT whose exp is before its iat', () => {
    const accessToken = jwt({ iat: NOW / 1000, exp: NOW / 1000 - 60 })
    expect(
      parse({ access_token: accessToken, token_type: 'Bearer' }, NOW).expiresAt,
    ).toBeUndefined()
  })

  it('leaves expiry unknown for a JWT whose exp is not a number', () => {
    const accessToken = jwt({ iat: NOW / 1000, exp: String(NOW / 1000 + 60) })
    expect(
      parse({ access_token: accessToken, token_type: 'Bearer' }, NOW).expiresAt,
    ).toBeUndefined()
  })

  it('reads JSON null members as absent: expiry unknown, previous refresh token, scope and ID token kept', () => {
    const previous = parse(
      {
        access_token: 'a',
        token_type: 'Bearer',
        refresh_token: 'r1',
        scope: 'read',
        id_token: 'i1',
      },
      NOW,
    )
    const next = parse(
      {
        access_token: 'b',
        token_type: 'Bearer',
        expires_in: null,
        refresh_token: null,
        scope: null,
        id_token: null,
      },
      NOW,
      previous,
    )
    expect(next).toMatchObject({
      accessToken: 'b',
      refreshToken: 'r1',
      scope: 'read',
      idToken: 'i1',
    })
    expect(next.expiresAt).toBeUndefined()
  })

  it('keeps the previous refresh token and scope when the response omits them (RFC 6749 §6)', () => {
    const previous = parse(
      { access_token: 'a', token_type: 'Bearer', refresh_token: 'r1', scope: 'read write' },
      NOW,
    )
    const next = parse({ access_token: 'b', token_type: 'Bearer', expires_in: 5 }, NOW, previous)
    expect(next.refreshToken).toBe('r1')
    expect(next.scope).toBe('read write')
  })

  it('replaces the refresh token when the server rotates it', () => {
    const previous = parse({ access_token: 'a', token_type: 'Bearer', refresh_token: 'r1' }, NOW)
    const next = parse(
      { access_token: 'b', token_type: 'Bearer', refresh_token: 'r2' },
      NOW,
      previous,
    )
    expect(next.refreshToken).toBe('r2')
  })

  it.each([
    ['a string', 'not an object', 'token response must be a JSON object'],
    ['an array', [], 'token response must be a JSON object'],
    ['no access_token', { token_type: 'Bearer' }, '"access_token" must be non-empty visible ASCII'],
    ['a numeric access_token', { access_token: 1, token_type: 'Bearer' }, '"access_token"'],
    ['no token_type', { access_token: 'a' }, '"token_type" must be "Bearer"'],
    ['a numeric token_type', { access_token: 'a', token_type: 1 }, '"token_type" must be "Bearer"'],
    [
      'a DPoP token_type',
      { access_token: 'a', token_type: 'DPoP' },
      '"token_type" must be "Bearer"',
    ],
    [
      'a negative expires_in',
      { access_token: 'a', token_type: 'Bearer', expires_in: -1 },
      '"expires_in"',
    ],
    [
      'a word for expires_in',
      { access_token: 'a', token_type: 'Bearer', expires_in: 'soon' },
      '"expires_in"',
    ],
    [
      'an object for expires_in',
      { access_token: 'a', token_type: 'Bearer', expires_in: {} },
      '"expires_in"',
    ],
    [
      'a numeric refresh_token',
      { access_token: 'a', token_type: 'Bearer', refresh_token: 7 },
      '"refresh_token"',
    ],
    [
      'a numeric scope',
      { access_token: 'a', token_type: 'Bearer', scope: 1 },
      '"scope" must be a string',
    ],
    [
      'an expires_in too large for a number (1e309 in the JSON)',
      JSON.parse('{ "access_token": "a", "token_type": "Bearer", "expires_in": 1e309 }'),
      '"expires_in" must be a non-negative number',
    ],
  ])('rejects %s with InvalidTokenResponseError naming the rule', (_, body, message) => {
    expect(() => parse(body, NOW)).toThrow(InvalidTokenResponseError)
    expect(() => parse(body, NOW)).toThrow(message)
  })

  it('never puts the access token into the error it raises', () => {
    const secret = 'secret-access-token-value'
    try {
      parse({ access_token: secret, token_type: 'mac' }, NOW)
      expect.unreachable()
    } catch (error) {
      expect(JSON.stringify(error)).not.toContain(secret)
      expect(String((error as Error).stack)).not.toContain(secret)
    }
  })
})
