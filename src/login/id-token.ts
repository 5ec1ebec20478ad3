import { jwtDecode } from 'jwt-decode'
import { LoginError } from '../errors.js'
import { CLOCK_TOLERANCE } from './timing.js'

/** The claims of an ID token (OpenID Connect Core §2), as decoded. */
export interface IdTokenClaims {
  readonly iss: string
  readonly sub: string
  readonly aud: string | readonly string[]
  readonly exp: number
  readonly iat: number
  readonly nonce?: string
  readonly azp?: string
  readonly auth_time?: number
  readonly [claim: string]: unknown
}

/** What the ID token must match. */
export interface IdTokenExpectations {
  /** The configured issuer; `undefined` when the client was given endpoints, not an issuer. */
  readonly issuer: string | undefined
  readonly clientId: string
  readonly nonce: string | undefined
  /** Local time, epoch ms. */
  readonly now: number
}

function invalid(reason: string): never {
  throw new LoginError('invalid_id_token', `the ID token ${reason}`)
}

/**
 * Checks an ID token from the token endpoint (OpenID Connect Core §3.1.3.7): `iss` is the issuer,
 * `aud` contains the client id (and `azp` is the client id when there are several audiences, or
 * whenever it is present), `nonce` is the one sent, `exp` is not past and `iat` not in the future,
 * each within {@link CLOCK_TOLERANCE}. The signature is not checked: the token came straight from
 * the token endpoint over TLS (§3.1.3.7 item 6 allows this), and it is never sent anywhere as a
 * credential.
 *
 * @param idToken - the token, or `undefined` when the server sent none
 * @returns the decoded claims
 * @throws {LoginError} `invalid_id_token`
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
 */
export function validateIdToken(
  idToken: string | undefined,
  { issuer, clientId, nonce, now }: IdTokenExpectations,
): IdTokenClaims {
  if (idToken === undefined) invalid('is missing (the scope has "openid")')
  let claims: Partial<IdTokenClaims>
  try {
    claims = jwtDecode<IdTokenClaims>(idToken)
  } catch {
    invalid('is not a JWT')
  }
  const { iss, aud, azp, exp, iat } = claims
  if (typeof iss !== 'string' || (issuer !== undefined && iss !== issuer)) {
    invalid('has another "iss"')
  }
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
  if (!audiences.includes(clientId)) invalid('is not for this client ("aud")')
  if ((audiences.length > 1 || azp !== undefined) && azp !== clientId) {
    invalid('has another "azp"')
  }
  if (claims.nonce !== nonce) invalid('has another "nonce"')
  if (typeof exp !== 'number' || exp * 1000 + CLOCK_TOLERANCE <= now) invalid('has expired ("exp")')
  if (typeof iat !== 'number' || iat * 1000 - CLOCK_TOLERANCE > now) {
    invalid('was issued in the future ("iat")')
  }
  return claims as IdTokenClaims
}
