// Part of the chunk loaded on demand (see token-server.ts).
import type { Endpoints } from './discovery.js'
import { InvalidTokenResponseError, TokenEndpointUnavailableError } from './errors.js'
import type { ResolvedOptions } from './options.js'
import { failureFromResponse } from './token-failure.js'
import type { TokenSet } from './token-set.js'

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
  refresh(current: TokenSet): Promise<Record<string, unknown>>
  /** RFC 7009: revokes a refresh token, best effort and bounded in time. Never throws. */
  revoke(refreshToken: string): Promise<void>
}

/** What the conversation needs from the main bundle. */
export interface TokenConversationParts {
  /** A request gives up after this long, body included (`REQUEST_TIMEOUT`), ms. */
  readonly timeout: number
  /** Validates an endpoint URL from metadata (https, or http to loopback). */
  readonly parseUrl: (value: unknown, member: string) => URL
}

/** A response with its body read, so one time limit covers the whole exchange. */
export interface Exchange {
  readonly response: Response
  readonly text: string
}

/**
 * Parses a token endpoint body; an HTML error page or any other non-JSON body is malformed.
 *
 * @throws {InvalidTokenResponseError} when the body is not a JSON object
 */
function readJson({ response, text }: Exchange): Record<string, unknown> {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {}
  if (typeof body === 'object' && body !== null) return body as Record<string, unknown>
  const type = response.headers.get('content-type')?.split(';')[0] ?? 'no content type'
  throw new InvalidTokenResponseError(
    `token endpoint answered HTTP ${response.status} with a body that is not a JSON object (${type})`,
  )
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

  /**
   * One request, bounded in time from the call to the last byte of the body: a server that sends
   * its headers and then stalls must not hold a renewal (and its lock) for ever.
   *
   * @throws {TokenEndpointUnavailableError} on a network failure or timeout
   */
  async function send(url: string, init: RequestInit): Promise<Exchange> {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), timeout)
    try {
      const response = await options.fetch(url, { ...init, signal: controller.signal })
      return { response, text: await response.text() }
    } catch (error) {
      // The error may hold the request, whose body holds the refresh token: keep only words.
      const { message, cause } = error as { message?: unknown; cause?: { message?: unknown } }
      const detail = [message, cause?.message].filter((part) => typeof part === 'string')
      throw new TokenEndpointUnavailableError(
        controller.signal.aborted
          ? `token endpoint did not answer within ${timeout} ms`
          : 'token endpoint could not be reached (network error)',
        undefined,
        { cause: new Error(detail.join(': ')) },
      )
    } finally {
      clearTimeout(timer)
    }
  }

  function resolveEndpoints(): Promise<Endpoints> {
    if (options.issuer === undefined) {
      return Promise.resolve({
        tokenEndpoint: options.tokenEndpoint as string,
        revocationEndpoint: options.revocationEndpoint,
      })
    }
    if (endpoints === undefined) {
      const issuer = options.issuer
      const get = (url: string) => send(url, { headers: { accept: 'application/json' } })
      // Discovery is loaded only by apps that use it, keeping the main bundle small.
      endpoints = import('./discovery.js')
        .then(({ discoverEndpoints }) => discoverEndpoints(issuer, get, parseUrl))
        .then(
          (found) => ({
            ...found,
            revocationEndpoint: options.revocationEndpoint ?? found.revocationEndpoint,
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
    send(url, {
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
        refresh_token: current.refreshToken as string,
        client_id: options.clientId,
      }
      if (options.scope !== undefined) form.scope = options.scope
      const exchange = await post(tokenEndpoint, form)
      if (!exchange.response.ok) throw failureFromResponse(exchange, current)
      return readJson(exchange)
    },

    async revoke(refreshToken) {
      try {
        const { revocationEndpoint } = await resolveEndpoints()
        if (revocationEndpoint === undefined) return
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
