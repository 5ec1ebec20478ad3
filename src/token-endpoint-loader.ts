import type { Dpop } from './dpop/dpop.js'
import { TokenEndpointUnavailableError } from './errors.js'
import { lazily } from './lazily.js'
import { parseSecureUrl, type ResolvedOptions } from './options.js'
import type { StoredSession } from './storage.js'
import { REQUEST_TIMEOUT } from './timing.js'
import type { TokenConversation } from './token-endpoint.js'
import { parseTokenResponse, type TokenSet } from './token-set.js'

/** The token server as the rest of the SDK sees it. One call is one request. */
export interface TokenEndpoint {
  /**
   * RFC 6749 §6: exchanges the refresh token in `current` for a new token set, for `resource`
   * when one is given (RFC 8707 §2).
   *
   * @throws {AuthError} the server's verdict (RFC 6749 §5.2), a malformed answer, or
   *   `TokenEndpointUnavailableError` (network, timeout, 5xx, or this code could not be loaded)
   */
  refresh(current: TokenSet | undefined, resource?: string): Promise<StoredSession>
  /**
   * RFC 7009: revokes a refresh token, best effort and bounded in time; nothing to do without one.
   * With a session backend, calls its `logout` endpoint instead. Never throws.
   */
  revoke(refreshToken: string | undefined): Promise<void>
  /** The conversation itself (sign-in needs its endpoints and code exchange). */
  conversation(): Promise<TokenConversation>
}

/**
 * The token endpoint, with its code (requests, time limits, error bodies, discovery) loaded the
 * first time a renewal or a logout needs it: start-up and every API call carry none of it. If it
 * cannot be loaded (the page's own server is unreachable), the renewal fails as if the token server
 * were, which keeps the session for a later attempt.
 *
 * @param options - the client's resolved options
 * @param dpop - the DPoP prover, with the `dpop` option (RFC 9449)
 * @returns the endpoint
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export function loadTokenEndpoint(
  options: ResolvedOptions,
  dpop?: () => Promise<Dpop>,
): TokenEndpoint {
  const parts = { timeout: REQUEST_TIMEOUT, parseUrl: parseSecureUrl, dpop }
  const conversation = lazily(() =>
    (options.backend
      ? import('./backend.js').then((loaded) => loaded.createBackendConversation(options, parts))
      : import('./token-server.js').then((loaded) => loaded.createTokenConversation(options, parts))
    ).catch(() => {
      throw new TokenEndpointUnavailableError('token endpoint code not loaded')
    }),
  )
  return {
    async refresh(current, resource) {
      const body = await (await conversation()).refresh(current, resource)
      return parseTokenResponse(body, Date.now(), current, options.dpop)
    },
    conversation,
    revoke: async (refreshToken) => {
      if (refreshToken === undefined && !options.backend) return
      await conversation().then(
        (loaded) => loaded.revoke(refreshToken),
        () => undefined,
      )
    },
  }
}
