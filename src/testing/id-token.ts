import type { ResolvedMockOptions } from './options.js'
import type { CodeGrant } from './token-store.js'
import { encodeHS256JWT, MOCK_ID_TOKEN_SECRET } from './token-values.js'

/**
 * Mints the ID token of a code exchange (OpenID Connect Core §2, §3.1.3.3): a JWT signed HS256
 * with {@link MOCK_ID_TOKEN_SECRET}, with `iss`, `sub`, `aud` (the client id), `azp`, `iat`, `exp`
 * (`accessTokenLifetime` after `iat`), `auth_time` and, when the authorization request had one,
 * `nonce`. Times are on the server's clock, `clockSkew` included, in whole seconds.
 *
 * @param options - resolved mock options
 * @param grant - what the code was bound to
 * @param now - `Date.now()` of the exchange
 * @returns the compact JWT
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDToken
 */
export function mintIdToken(
  options: ResolvedMockOptions,
  grant: CodeGrant,
  now: number,
): Promise<string> {
  const seconds = (ms: number) => Math.floor((ms + options.clockSkew) / 1000)
  const iat = seconds(now)
  return encodeHS256JWT(
    {
      iss: options.issuer,
      sub: grant.subject,
      aud: grant.clientId,
      azp: grant.clientId,
      iat,
      exp: iat + Math.floor(options.accessTokenLifetime / 1000),
      auth_time: seconds(grant.authTime),
      ...(grant.nonce === null ? {} : { nonce: grant.nonce }),
    },
    MOCK_ID_TOKEN_SECRET,
  )
}
