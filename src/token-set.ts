import { jwtDecode } from 'jwt-decode'
import { InvalidTokenResponseError } from './errors.js'
import type { StoredSession } from './storage.js'

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
  /**
   * The access token, sent as `Authorization: Bearer <accessToken>` (RFC 6750 §2.1), or for a
   * DPoP-bound one as `Authorization: DPoP <accessToken>` with a proof (RFC 9449 §7.1).
   */
  readonly accessToken: string
  /** The refresh token, if the server issued one. Replaced on rotation (RFC 6749 §6). */
  readonly refreshToken?: string
  /**
   * When the access token expires, in epoch milliseconds on the local clock
   * (local receipt time + `expires_in`). Absent when the lifetime is unknown.
   */
  readonly expiresAt?: number
  /**
   * When the session's renewals end (the refresh token's expiry, the session's hard end), in epoch
   * milliseconds on the local clock: from `refresh_expires_in` (Keycloak, session backends) or a
   * JWT refresh token's `exp − iat`, counted from receipt. Absent when unknown.
   */
  readonly refreshExpiresAt?: number
  /** Granted scope (space-separated), if known. */
  readonly scope?: string
  /**
   * `'DPoP'` for a token bound to the client's key (RFC 9449 §5, with the `dpop` option), else
   * `'Bearer'`: other token types are rejected.
   */
  readonly tokenType: 'Bearer' | 'DPoP'
  /** The OpenID Connect ID token, if the server sent one. */
  readonly idToken?: string
}

const DIGITS = /^\d+$/
/**
 * A token value: 1*VSCHAR (%x20-7E, RFC 6749 Appendix A.12 and A.17), without a space at either
 * end, since `fetch` trims header values and the server would then see another token.
 */
const TOKEN_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/

/**
 * Whether `value` can be used as an access or refresh token: a non-empty string of visible ASCII
 * characters (RFC 6749 Appendix A.12, A.17). Every token that enters the session (a token
 * response, storage, a sibling tab) passes this check.
 *
 * @param value - anything
 */
export function isTokenValue(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_VALUE.test(value)
}

const TOKEN_RULE = 'must be non-empty visible ASCII (RFC 6749 A.12)'

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
 * A lifetime in ms from a member in seconds (`expires_in`, `refresh_expires_in`), else from the
 * token's JWT claims. Some servers send a string of digits; JSON null is absent; anything else
 * that is not a number is malformed.
 */
function lifetimeOf(
  record: Record<string, unknown>,
  member: string,
  token: string | undefined,
): number | undefined {
  const value = record[member]
  const seconds =
    typeof value === 'string' && DIGITS.test(value) ? Number(value) : (value ?? undefined)
  if (
    seconds !== undefined &&
    !(typeof seconds === 'number' && seconds >= 0 && seconds < Infinity)
  ) {
    fail(`"${member}" must be a non-negative number`)
  }
  const counted = seconds === undefined ? token && jwtLifetime(token) : seconds * 1000
  // A lifetime too long to count in milliseconds (1e306 s) is as good as none: it could not even
  // be stored (JSON has no Infinity), and the session would be lost on reload.
  return (counted as number) < Infinity ? (counted as number) : undefined
}

/**
 * Validates a token endpoint's success body and turns it into a {@link TokenSet}.
 *
 * Expiry is `receivedAt + expires_in`, counted from local receipt so a skewed server clock changes
 * nothing. Without `expires_in`, a JWT access token's `exp − iat` is used; otherwise expiry is
 * unknown. A response without `refresh_token` keeps the previous one, one without `scope` the
 * previous scope (RFC 6749 §5.1, §6), and one without `id_token` the previous ID token (OpenID
 * Connect Core §12.2). A token that is empty or holds characters outside %x20-7E is rejected: it
 * could never be sent back.
 *
 * @param body - the parsed JSON body
 * @param receivedAt - local time the response arrived, epoch ms
 * @param previous - the set being renewed, if any
 * @param dpop - whether a `DPoP` token type is accepted (RFC 9449 §5): the `dpop` option
 * @returns the new token set, with the lifetime (ms) the proactive schedule needs
 * @throws {InvalidTokenResponseError} when the body is not a valid token response
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export function parseTokenResponse(
  body: unknown,
  receivedAt: number,
  previous?: TokenSet | null,
  dpop?: boolean,
): StoredSession {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    fail('token response must be a JSON object')
  }
  const record = body as Record<string, unknown>
  const accessToken = record.access_token
  if (!isTokenValue(accessToken)) fail(`"access_token" ${TOKEN_RULE}`)
  // Compared case-insensitively (RFC 6749 §5.1); a missing or non-string value is not "Bearer".
  const given = record.token_type
  const type = typeof given === 'string' && given.toLowerCase()
  if (type !== 'bearer' && !(dpop && type === 'dpop')) {
    fail('"token_type" must be "Bearer" (or, with dpop, "DPoP")')
  }

  const issued = record.refresh_token ?? undefined
  if (issued !== undefined && !isTokenValue(issued)) fail(`"refresh_token" ${TOKEN_RULE}`)
  const refreshToken = issued ?? previous?.refreshToken
  const lifetime = lifetimeOf(record, 'expires_in', accessToken)
  // Keycloak sends 0 with an offline token, which has no end; without a refresh token (a session
  // backend counting down in whole seconds) 0 is the end itself. Without news, a refresh token
  // that was not replaced keeps its end, and a new one's is unknown.
  const session = lifetimeOf(record, 'refresh_expires_in', issued)
  const refreshExpiresAt =
    session === undefined
      ? issued === undefined
        ? previous?.refreshExpiresAt
        : undefined
      : session || issued === undefined
        ? receivedAt + session
        : undefined
  const scope = optionalString(record, 'scope') ?? previous?.scope
  // OpenID Connect Core §12.2: a refresh response may omit the ID token; the previous one stands.
  const idToken = optionalString(record, 'id_token') ?? previous?.idToken

  return {
    tokens: createTokenSet({
      accessToken,
      tokenType: type === 'dpop' ? 'DPoP' : 'Bearer',
      refreshToken,
      expiresAt: lifetime === undefined ? undefined : receivedAt + lifetime,
      refreshExpiresAt,
      scope,
      idToken,
    }),
    lifetime,
  }
}

/**
 * Builds a {@link TokenSet} from its fields, leaving out the absent ones (so a restored or
 * renewed set compares equal to one built from the same response).
 */
export function createTokenSet(fields: {
  accessToken: string
  tokenType: unknown
  refreshToken: string | undefined
  expiresAt: number | undefined
  refreshExpiresAt: number | undefined
  scope: string | undefined
  idToken: string | undefined
}): TokenSet {
  const { accessToken, tokenType } = fields
  const tokens: Record<string, unknown> = { accessToken, tokenType }
  for (const key of [
    'refreshToken',
    'expiresAt',
    'refreshExpiresAt',
    'scope',
    'idToken',
  ] as const) {
    if (fields[key] !== undefined) tokens[key] = fields[key]
  }
  return tokens as unknown as TokenSet
}

/**
 * Milliseconds the access token has left, `Infinity` when its expiry is unknown.
 *
 * @param tokens - the token set
 * @param now - local time, epoch ms
 */
export function remainingLifetime(tokens: TokenSet, now: number): number {
  return (tokens.expiresAt ?? Infinity) - now
}
