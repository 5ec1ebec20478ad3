/**
 * The RFC 6749 §5.1 successful token response as the fixtures send it on the wire.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export interface TokenResponseBody {
  access_token: string
  token_type: string
  expires_in?: number
  refresh_token?: string
  scope?: string
  /** Unknown members (for example OpenID Connect's `id_token`) that a client must ignore. */
  [member: string]: unknown
}

/** Where a refresh token stands on a fixture server. */
export type RefreshTokenState = 'active' | 'rotated' | 'revoked' | 'unknown'

/** Reads a token response, failing loudly (with the status, never the body) when it is not one. */
export function readTokenResponse(response: { status: number; body: string }): TokenResponseBody {
  if (response.status !== 200) throw new Error(`login failed with HTTP ${response.status}`)
  const body = JSON.parse(response.body) as Partial<TokenResponseBody>
  if (typeof body.access_token !== 'string' || typeof body.token_type !== 'string') {
    throw new Error('login answered something that is not an RFC 6749 §5.1 token response')
  }
  return body as TokenResponseBody
}
