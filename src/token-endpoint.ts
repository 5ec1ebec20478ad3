import ky, { HTTPError, type KyInstance, NetworkError, TimeoutError } from 'ky'
import type { Endpoints } from './discovery.js'
import {
  InvalidTokenResponseError,
  SessionExpiredError,
  TokenEndpointError,
  TokenEndpointUnavailableError,
} from './errors.js'
import { type FetchFunction, parseSecureUrl, type ResolvedOptions } from './options.js'
import type { StoredSession } from './storage.js'
import { parseTokenResponse, type TokenSet } from './token-set.js'

/** The HTTP conversation with the token server. */
export interface TokenEndpoint {
  /** RFC 6749 §6: exchanges the refresh token in `current` for a new token set. */
  refresh(current: TokenSet): Promise<StoredSession>
  /** RFC 7009: revokes a refresh token, best effort and bounded in time. Never throws. */
  revoke(refreshToken: string): Promise<void>
}

/** Statuses worth retrying: the server or a proxy is overloaded or briefly down. */
const TRANSIENT_STATUSES = [408, 429, 500, 502, 503, 504]

/**
 * Retry policy for token-server requests: a few attempts with exponential backoff that honours
 * `Retry-After` (capped so a caller is never parked for minutes), within a bounded total time.
 */
function createTokenHttp(fetch: FetchFunction): KyInstance {
  return ky.create({
    fetch,
    timeout: 10_000,
    totalTimeout: 30_000,
    throwHttpErrors: (status) => TRANSIENT_STATUSES.includes(status),
    retry: {
      limit: 3,
      methods: ['get', 'post'],
      statusCodes: TRANSIENT_STATUSES,
      afterStatusCodes: TRANSIENT_STATUSES,
      maxRetryAfter: 10_000,
      backoffLimit: 5_000,
      jitter: true,
      retryOnTimeout: true,
      shouldRetry: ({ error }) => (isNetworkFailure(error) ? true : undefined),
    },
  })
}

/**
 * Network failures surface differently per runtime: ky's NetworkError, a bare TypeError (Node,
 * Chromium), or a DOMException named NetworkError (happy-dom, older WebKit).
 */
function isNetworkFailure(error: unknown): boolean {
  return (
    error instanceof NetworkError ||
    error instanceof TypeError ||
    (error as { name?: unknown } | null)?.name === 'NetworkError'
  )
}

/** Copies only the message of an underlying error, so nothing that held a token can ride along. */
function safeCause(error: unknown): { cause?: Error } {
  const cause = error instanceof NetworkError ? error.cause : error
  return cause instanceof Error ? { cause: new Error(cause.message) } : {}
}

/**
 * Maps a failure of the HTTP layer to a typed error. ky's errors hold the request, whose body
 * contains the refresh token, so they are never kept as `cause`.
 */
function unavailable(error: unknown): TokenEndpointUnavailableError {
  const status = error instanceof HTTPError ? error.response.status : undefined
  const what =
    status !== undefined
      ? `answered HTTP ${status}`
      : error instanceof TimeoutError
        ? 'timed out'
        : 'could not be reached (network error)'
  return new TokenEndpointUnavailableError(
    `token endpoint ${what} after retries`,
    status,
    safeCause(error),
  )
}

/** Parses a token endpoint body; an HTML error page or any other non-JSON body is malformed. */
async function readJson(response: Response): Promise<Record<string, unknown> | null> {
  let body: unknown
  try {
    body = JSON.parse(await response.text())
  } catch {}
  if (typeof body === 'object' && body !== null) return body as Record<string, unknown>
  const type = response.headers.get('content-type')?.split(';')[0] ?? 'no content type'
  throw new InvalidTokenResponseError(
    `token endpoint answered HTTP ${response.status} with a body that is not a JSON object (${type})`,
  )
}

/**
 * Turns a non-2xx token endpoint answer into the right error (RFC 6749 §5.2).
 * `invalid_grant` ends the session; every other error keeps it. Tokens of `current` quoted in the
 * server's `error_description` are redacted.
 */
async function errorFromResponse(response: Response, current: TokenSet): Promise<Error> {
  const { error, error_description: description } = (await readJson(response)) ?? {}
  if (typeof error !== 'string') {
    return new InvalidTokenResponseError(
      `token endpoint answered HTTP ${response.status} without an RFC 6749 "error" member`,
    )
  }
  // Some servers echo the rejected input in their error text: never pass a token on.
  const redact = (text: string) =>
    [current.accessToken, current.refreshToken].reduce<string>(
      (redacted, token) => (token ? redacted.replaceAll(token, '[redacted]') : redacted),
      text,
    )
  return error === 'invalid_grant'
    ? new SessionExpiredError()
    : new TokenEndpointError(
        redact(error),
        response.status,
        typeof description === 'string' ? redact(description) : undefined,
      )
}

/**
 * Creates the token-server client: RFC 6749 §6 refresh, RFC 7009 revocation, and RFC 8414
 * discovery (once, cached; retried on the next call after a failure).
 */
export function createTokenEndpoint(options: ResolvedOptions): TokenEndpoint {
  const http = createTokenHttp(options.fetch)
  let endpoints: Promise<Endpoints> | undefined

  function resolveEndpoints(): Promise<Endpoints> {
    if (options.issuer === undefined) {
      return Promise.resolve({
        tokenEndpoint: options.tokenEndpoint as string,
        revocationEndpoint: options.revocationEndpoint,
      })
    }
    if (endpoints === undefined) {
      const issuer = options.issuer
      // Discovery is loaded only by apps that use it, keeping the main bundle small.
      endpoints = import('./discovery.js')
        .then(({ discoverEndpoints }) => discoverEndpoints(issuer, http, parseSecureUrl))
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

  return {
    async refresh(current) {
      const { tokenEndpoint } = await resolveEndpoints()
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        // The refresher only renews sessions that have a refresh token.
        refresh_token: current.refreshToken as string,
        client_id: options.clientId,
      })
      if (options.scope !== undefined) form.set('scope', options.scope)
      let response: Response
      try {
        response = await http.post(tokenEndpoint, {
          body: form,
          headers: { accept: 'application/json' },
          // A refresh token must never be served from or written to a cache.
          cache: 'no-store',
        })
      } catch (error) {
        throw unavailable(error)
      }
      if (!response.ok) throw await errorFromResponse(response, current)
      const body = await readJson(response)
      return parseTokenResponse(body, Date.now(), current)
    },

    async revoke(refreshToken) {
      try {
        const { revocationEndpoint } = await resolveEndpoints()
        if (revocationEndpoint === undefined) return
        await http.post(revocationEndpoint, {
          body: new URLSearchParams({
            token: refreshToken,
            token_type_hint: 'refresh_token',
            client_id: options.clientId,
          }),
          retry: { limit: 1 },
          totalTimeout: 10_000,
          throwHttpErrors: false,
        })
      } catch {
        // Best effort (RFC 7009 §2): the local session is forgotten whatever the server says.
      }
    },
  }
}
