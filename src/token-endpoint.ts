import ky, { HTTPError, type KyInstance, NetworkError, TimeoutError } from 'ky'
import {
  DiscoveryError,
  InvalidTokenResponseError,
  SessionExpiredError,
  TokenEndpointError,
  TokenEndpointUnavailableError,
} from './errors.js'
import { type FetchFunction, parseSecureUrl, type ResolvedOptions } from './options.js'
import { parseTokenResponse, type TokenSet } from './token-set.js'

/** The endpoints of the authorization server, configured or discovered. */
export interface Endpoints {
  readonly tokenEndpoint: string
  readonly revocationEndpoint: string | undefined
}

/** The HTTP conversation with the token server. */
export interface TokenEndpoint {
  /** RFC 6749 §6: exchanges the refresh token in `current` for a new token set. */
  refresh(current: TokenSet): Promise<{ tokens: TokenSet; lifetime: number | undefined }>
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

/**
 * Maps a failure of the HTTP layer to a typed error. ky's errors hold the request, whose body
 * contains the refresh token, so they are never kept as `cause`.
 */
function unavailable(error: unknown, what: string): TokenEndpointUnavailableError {
  if (error instanceof HTTPError) {
    return new TokenEndpointUnavailableError(
      `${what} answered HTTP ${error.response.status} after retries`,
      error.response.status,
    )
  }
  if (error instanceof TimeoutError) {
    return new TokenEndpointUnavailableError(`${what} timed out after retries`)
  }
  const cause = error instanceof NetworkError ? error.cause : error
  return new TokenEndpointUnavailableError(
    `${what} could not be reached (network error)`,
    undefined,
    {
      cause: cause instanceof Error ? new Error(cause.message) : undefined,
    },
  )
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text()
  try {
    return JSON.parse(text)
  } catch {
    const type = response.headers.get('content-type') ?? 'no content type'
    throw new InvalidTokenResponseError(
      `token endpoint answered HTTP ${response.status} with a body that is not JSON (${type.split(';')[0]})`,
    )
  }
}

/**
 * Turns a non-2xx token endpoint answer into the right error (RFC 6749 §5.2).
 * `invalid_grant` ends the session; every other error keeps it.
 */
async function errorFromResponse(response: Response): Promise<Error> {
  const body = await readJson(response)
  const error = (body as { error?: unknown } | null)?.error
  if (typeof error !== 'string') {
    return new InvalidTokenResponseError(
      `token endpoint answered HTTP ${response.status} without an RFC 6749 "error" member`,
    )
  }
  if (error === 'invalid_grant') return new SessionExpiredError()
  const description = (body as { error_description?: unknown }).error_description
  return new TokenEndpointError(
    error,
    response.status,
    typeof description === 'string' ? description : undefined,
  )
}

/**
 * Builds the RFC 8414 and OpenID Connect Discovery metadata URLs for an issuer, in the order to
 * try them: RFC 8414 inserts the well-known path before the issuer's path, OpenID appends it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.1
 */
export function metadataUrls(issuer: string): [string, string] {
  const trimmed = issuer.endsWith('/') ? issuer.slice(0, -1) : issuer
  const url = new URL(trimmed)
  const path = url.pathname === '/' ? '' : url.pathname
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${trimmed}/.well-known/openid-configuration`,
  ]
}

/**
 * Reads the authorization server's metadata and checks its `issuer` (RFC 8414 §3.3, mix-up
 * protection). Tries RFC 8414 first, then OpenID Connect Discovery.
 *
 * @throws {DiscoveryError} when no metadata document can be read, or it does not match
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export async function discoverEndpoints(issuer: string, fetch: FetchFunction): Promise<Endpoints> {
  const http = createTokenHttp(fetch)
  let lastError: unknown
  for (const url of metadataUrls(issuer)) {
    let metadata: unknown
    try {
      const response = await http.get(url, { headers: { accept: 'application/json' } })
      if (!response.ok) {
        lastError = new DiscoveryError(`metadata at ${url} answered HTTP ${response.status}`)
        continue
      }
      metadata = await response.json()
    } catch (error) {
      lastError = new DiscoveryError(`metadata at ${url} could not be read`, {
        cause: error instanceof Error ? new Error(error.message) : undefined,
      })
      continue
    }
    if (typeof metadata !== 'object' || metadata === null) {
      throw new DiscoveryError(`metadata at ${url} is not a JSON object`)
    }
    const record = metadata as Record<string, unknown>
    if (record.issuer !== issuer) {
      throw new DiscoveryError(`metadata "issuer" does not match the configured issuer ${issuer}`)
    }
    try {
      return {
        tokenEndpoint: parseSecureUrl(record.token_endpoint, 'token_endpoint').href,
        revocationEndpoint:
          record.revocation_endpoint === undefined
            ? undefined
            : parseSecureUrl(record.revocation_endpoint, 'revocation_endpoint').href,
      }
    } catch (error) {
      throw new DiscoveryError(`metadata at ${url}: ${(error as Error).message}`)
    }
  }
  throw lastError
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
      endpoints = discoverEndpoints(issuer, options.fetch).then(
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
      if (current.refreshToken === undefined) throw new SessionExpiredError('no refresh token')
      const { tokenEndpoint } = await resolveEndpoints()
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: current.refreshToken,
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
        throw unavailable(error, 'token endpoint')
      }
      if (!response.ok) throw await errorFromResponse(response)
      const body = await readJson(response)
      const receivedAt = Date.now()
      const tokens = parseTokenResponse(body, receivedAt, current)
      return {
        tokens,
        lifetime: tokens.expiresAt === undefined ? undefined : tokens.expiresAt - receivedAt,
      }
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
