// Part of the chunk loaded on demand (see token-server.ts).
import type { Endpoints } from './discovery.js'
import type { ResolvedOptions } from './options.js'
import { failureFromResponse } from './token-failure.js'
import type { TokenSet } from './token-set.js'
import { type Exchange, readJson, send } from './transport.js'

/**
 * The HTTP conversation with the token server. One call is one request: retries are the caller's.
 * The success body is returned as it came, for the main bundle's `parseTokenResponse`.
 */
export interface TokenConversation {
  /**
   * RFC 6749 §6: presents the refresh token in `current`.
   *
   * @returns the JSON object of a 2xx answer
   * @throws {AuthError} the server's verdict (§5.2), or `TokenEndpointUnavailableError`
   */
  refresh(current: TokenSet | undefined): Promise<Record<string, unknown>>
  /** RFC 7009: revokes a refresh token, best effort and bounded in time. Never throws. */
  revoke(refreshToken: string | undefined): Promise<void>
  /** The endpoints, configured or discovered (RFC 8414; once, cached; again after a failure). */
  endpoints(): Promise<Endpoints>
  /**
   * RFC 6749 §4.1.3 with RFC 7636 §4.5: redeems an authorization code. One request.
   *
   * @returns the answer, whatever its status, for the sign-in code to judge
   */
  exchangeCode(form: Record<string, string>): Promise<Exchange>
}

/** What the conversation needs from the main bundle. */
export interface TokenConversationParts {
  /** A request gives up after this long, body included (`REQUEST_TIMEOUT`), ms. */
  readonly timeout: number
  /** Validates an endpoint URL from metadata (https, or http to loopback). */
  readonly parseUrl: (value: unknown, member: string) => URL
}

/**
 * Creates the token-server client: RFC 6749 §6 refresh, RFC 7009 revocation, and RFC 8414
 * discovery (once, cached; read again on the next call after a failure).
 *
 * @param options - the client's resolved options
 * @param parts - what it needs from the main bundle
 * @returns the conversation
 */
export function createTokenConversation(
  options: ResolvedOptions,
  { timeout, parseUrl }: TokenConversationParts,
): TokenConversation {
  let endpoints: Promise<Endpoints> | undefined
  const request = (url: string, init: RequestInit) =>
    send(options.fetch, timeout, 'token endpoint', url, init)

  function resolveEndpoints(): Promise<Endpoints> {
    if (options.issuer === undefined) {
      return Promise.resolve({
        tokenEndpoint: options.tokenEndpoint as string,
        revocationEndpoint: options.revocationEndpoint,
        authorizationEndpoint: options.authorizationEndpoint,
        endSessionEndpoint: options.endSessionEndpoint,
        issParameter: false,
      })
    }
    if (endpoints === undefined) {
      const issuer = options.issuer
      const get = (url: string) => request(url, { headers: { accept: 'application/json' } })
      // Discovery is loaded only by apps that use it, keeping the main bundle small.
      endpoints = import('./discovery.js')
        .then(({ discoverEndpoints }) => discoverEndpoints(issuer, get, parseUrl))
        .then(
          (found) => ({
            ...found,
            revocationEndpoint: options.revocationEndpoint ?? found.revocationEndpoint,
            authorizationEndpoint: options.authorizationEndpoint ?? found.authorizationEndpoint,
            endSessionEndpoint: options.endSessionEndpoint ?? found.endSessionEndpoint,
          }),
          (error: unknown) => {
            endpoints = undefined
            throw error
          },
        )
    }
    return endpoints
  }

  const post = (url: string, form: Record<string, string>) =>
    request(url, {
      method: 'POST',
      body: new URLSearchParams(form),
      headers: { accept: 'application/json' },
      // A refresh token must never be served from or written to a cache.
      cache: 'no-store',
    })

  return {
    async refresh(current) {
      const { tokenEndpoint } = await resolveEndpoints()
      const form: Record<string, string> = {
        grant_type: 'refresh_token',
        // The refresher only renews sessions that can be renewed (canRenew).
        refresh_token: current?.refreshToken as string,
        client_id: options.clientId,
      }
      if (options.scope !== undefined) form.scope = options.scope
      const exchange = await post(tokenEndpoint, form)
      if (!exchange.response.ok) throw failureFromResponse(exchange, current as TokenSet)
      return readJson(exchange, 'token endpoint')
    },

    endpoints: resolveEndpoints,

    async exchangeCode(form) {
      const { tokenEndpoint } = await resolveEndpoints()
      return post(tokenEndpoint, { ...form, grant_type: 'authorization_code' })
    },

    async revoke(refreshToken) {
      try {
        const { revocationEndpoint } = await resolveEndpoints()
        if (revocationEndpoint === undefined || refreshToken === undefined) return
        await post(revocationEndpoint, {
          token: refreshToken,
          token_type_hint: 'refresh_token',
          client_id: options.clientId,
        })
      } catch {
        // Best effort (RFC 7009 §2): the local session is forgotten whatever the server says.
      }
    },
  }
}
