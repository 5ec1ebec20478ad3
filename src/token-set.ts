import { jwtDecode } from 'jwt-decode'
import { InvalidTokenResponseError } from './errors.js'

/**
 * A successful token response as a token endpoint sends it (wire shape, snake_case).
 * Unknown members are allowed and ignored.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export interface TokenResponse {
  access_token: string
  token_type: string
  /** Lifetime in seconds from when the response was generated. Some servers send a string of digits. */
  expires_in?: number | string
  refresh_token?: string
  scope?: string
  id_token?: string
  [member: string]: unknown
}

/**
 * The session's tokens as freshtoken holds them (public shape, camelCase).
 */
export interface TokenSet {
  /** The access token, sent as `Authorization: Bearer <accessToken>` (RFC 6750 §2.1). */
  readonly accessToken: string
  /** The refresh token, if the server issued one. Replaced on rotation (RFC 6749 §6). */
  readonly refreshToken?: string
  /**
   * When the access token expires, in epoch milliseconds on the local clock
   * (local receipt time + `expires_in`). Absent when the lifetime is unknown.
   */
  readonly expiresAt?: number
  /** Granted scope (space-separated), if known. */
  readonly scope?: string
  /** Always `'Bearer'`: other token types are rejected. */
  readonly tokenType: 'Bearer'
  /** The OpenID Connect ID token, if the server sent one. */
  readonly idToken?: string
}

const DIGITS = /^\d+$/

function fail(message: string): never {
  throw new InvalidTokenResponseError(message)
}

function optionalString(body: Record<string, unknown>, member: string): string | undefined {
  const value = body[member]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') fail(`"${member}" must be a string`)
  return value
}

/**
 * Reads an access token's lifetime from its JWT claims (`exp − iat`, in ms), when it is a JWT.
 * Both are on the server's clock, so only their difference is used (RFC 7519 §4.1.4, §4.1.6).
 */
function jwtLifetime(accessToken: string): number | undefined {
  try {
    const { exp, iat } = jwtDecode(accessToken)
    if (typeof exp === 'number' && typeof iat === 'number' && exp >= iat) return (exp - iat) * 1000
  } catch {
    // Opaque token: lifetime unknown.
  }
  return undefined
}

/**
 * Validates a token endpoint's success body and turns it into a {@link TokenSet}.
 *
 * Expiry is `receivedAt + expires_in`, counted from local receipt so a skewed server clock changes
 * nothing. Without `expires_in`, a JWT access token's `exp − iat` is used; otherwise expiry is
 * unknown. A response without `refresh_token` keeps the previous one, and one without `scope` keeps
 * the previous scope (RFC 6749 §5.1, §6).
 *
 * @param body - the parsed JSON body
 * @param receivedAt - local time the response arrived, epoch ms
 * @param previous - the set being renewed, if any
 * @returns the new token set
 * @throws {InvalidTokenResponseError} when the body is not a valid token response
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export function parseTokenResponse(
  body: unknown,
  receivedAt: number,
  previous?: TokenSet | null,
): TokenSet {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    fail('token response must be a JSON object')
  }
  const record = body as Record<string, unknown>
  const accessToken = record.access_token
  if (typeof accessToken !== 'string' || accessToken.length === 0) {
    fail('"access_token" must be a non-empty string')
  }
  const tokenType = record.token_type
  if (typeof tokenType !== 'string') fail('"token_type" must be a string')
  if (tokenType.toLowerCase() !== 'bearer') fail('"token_type" must be "Bearer"')

  let lifetime: number | undefined
  const expiresIn = record.expires_in
  if (typeof expiresIn === 'number') {
    if (!Number.isFinite(expiresIn) || expiresIn < 0)
      fail('"expires_in" must be a non-negative number')
    lifetime = expiresIn * 1000
  } else if (typeof expiresIn === 'string') {
    if (!DIGITS.test(expiresIn)) fail('"expires_in" must be a non-negative number')
    lifetime = Number(expiresIn) * 1000
  } else if (expiresIn === undefined || expiresIn === null) {
    lifetime = jwtLifetime(accessToken)
  } else {
    fail('"expires_in" must be a non-negative number')
  }

  const refreshToken = optionalString(record, 'refresh_token') ?? previous?.refreshToken
  const scope = optionalString(record, 'scope') ?? previous?.scope
  const idToken = optionalString(record, 'id_token')

  return {
    accessToken,
    tokenType: 'Bearer',
    ...(lifetime === undefined ? {} : { expiresAt: receivedAt + lifetime }),
    ...(refreshToken === undefined ? {} : { refreshToken }),
    ...(scope === undefined ? {} : { scope }),
    ...(idToken === undefined ? {} : { idToken }),
  }
}

/**
 * Milliseconds the access token has left, `Infinity` when its expiry is unknown.
 *
 * @param tokens - the token set
 * @param now - local time, epoch ms
 */
export function remainingLifetime(tokens: TokenSet, now: number): number {
  return tokens.expiresAt === undefined ? Number.POSITIVE_INFINITY : tokens.expiresAt - now
}
