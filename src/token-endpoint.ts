// Part of the chunk loaded on demand (see token-server.ts).
import type { Endpoints } from './discovery.js'
import type { Dpop } from './dpop/dpop.js'
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
   * RFC 6749 §6: presents the refresh token in `current`, asking for a token for `resource`
   * (RFC 8707 §2) when one is given.
   *
   * @returns the JSON object of a 2xx answer
   * @throws {AuthError} the server's verdict (§5.2), or `TokenEndpointUnavailableError`
   */
  refresh(current: TokenSet | undefined, resource?: string): Promise<Record<string, unknown>>
  /** RFC 7009: revokes a refresh token, best effort and bounded in time. Never throws. */
  revoke(refreshToken: string | undefined): Promise<void>
  /** The endpoints, configured or discovered (RFC 8414; once, cached; again after a failure). */
  endpoints(): Promise<Endpoints>
  /**
   * RFC 6749 §4.1.3 with RFC 7636 §4.5: redeems an authorization code, with a DPoP proof of the
   * key `jkt` (RFC 9449 §10) when the client uses DPoP. One request, or two after a nonce error.
   *
   * @returns the answer, whatever its status, for the sign-in code to judge
   */
  exchangeCode(form: Record<string, string>, jkt?: string): Promise<Exchange>
}

/** What the conversation needs from the main bundle. */
export interface TokenConversationParts {
  /** A request gives up after this long, body included (`REQUEST_TIMEOUT`), ms. */
  readonly timeout: number
  /** Validates an endpoint URL from metadata (https, or http to loopback). */
  readonly parseUrl: (value: unknown, member: string) => URL
  /** The DPoP prover, with the `dpop` option (RFC 9449). */
  readonly dpop?: (() => Promise<Dpop>) | undefined
}

/** The `error` of a JSON error body, if it has one. */
function errorCode({ text }: Exchange): unknown {
  try {
    return JSON.parse(text)?.error
  } catch {}
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
  { timeout, parseUrl, dpop }: TokenConversationParts,
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

  /**
   * POSTs a form. With DPoP (`prove`), each attempt carries a fresh proof (RFC 9449 §5), and an
   * answer `use_dpop_nonce` with a new nonce is retried once with it (§8): it is no verdict on the
   * grant.
   */
  async function post(url: string, form: Record<string, string>, prove: boolean, jkt?: string) {
    const prover = prove ? await dpop?.() : undefined
    let proof: string | undefined
    const once = async () => {
      proof = await prover?.proof('POST', url, undefined, jkt)
      return request(url, {
        method: 'POST',
        body: new URLSearchParams(form),
        headers: { accept: 'application/json', ...(proof && { dpop: proof }) },
        // A refresh token must never be served from or written to a cache.
        cache: 'no-store',
      })
    }
    const first = await once()
    return prover?.learn(url, first.response, proof) &&
      first.response.status === 400 &&
      errorCode(first) === 'use_dpop_nonce'
      ? once()
      : first
  }

  return {
    async refresh(current, resource) {
      const { tokenEndpoint } = await resolveEndpoints()
      const form: Record<string, string> = {
        grant_type: 'refresh_token',
        // The refresher only renews sessions that can be renewed (canRenew).
        refresh_token: current?.refreshToken as string,
        client_id: options.clientId,
      }
      const scope = resource
        ? [...options.apiOrigins.values()].find((api) => api.resource === resource)?.scope
        : options.scope
      if (scope !== undefined) form.scope = scope
      if (resource) form.resource = resource
      const exchange = await post(tokenEndpoint, form, true)
      if (!exchange.response.ok) throw failureFromResponse(exchange, current as TokenSet)
      return readJson(exchange, 'token endpoint')
    },

    endpoints: resolveEndpoints,

    async exchangeCode(form, jkt) {
      const { tokenEndpoint } = await resolveEndpoints()
      return post(tokenEndpoint, { ...form, grant_type: 'authorization_code' }, true, jkt)
    },

    async revoke(refreshToken) {
      try {
        const { revocationEndpoint } = await resolveEndpoints()
        if (revocationEndpoint === undefined || refreshToken === undefined) return
        // RFC 9449 defines no proof for revocation (oidc-provider ignores one): none is sent,
        // and the key of the session that ended is not used again.
        await post(
          revocationEndpoint,
          { token: refreshToken, token_type_hint: 'refresh_token', client_id: options.clientId },
          false,
        )
      } catch {
        // Best effort (RFC 7009 §2): the local session is forgotten whatever the server says.
      }
    },
  }
}
