// The chunk loaded on demand by apps configured with `backend`: the conversation with an app's
// own session backend (OAuth 2.0 for Browser-Based Applications §6.2, a token-mediating backend).
import {
  InvalidTokenResponseError,
  SessionExpiredError,
  TokenEndpointUnavailableError,
} from './errors.js'
import type { ResolvedBackend, ResolvedOptions } from './options.js'
import type { TokenConversation } from './token-endpoint.js'
import { failureFromResponse } from './token-failure.js'
import { send } from './transport.js'

const WHAT = 'session backend'

/**
 * Creates the conversation with a session backend. The backend holds the refresh token (usually
 * in an httpOnly cookie, which is why every request carries `credentials: 'include'`) and is the
 * one judge of the session: 401 or 403 (or an RFC 6749 `invalid_grant`) means it has none; 5xx,
 * 408, 429 and network failures are transient; a 2xx body that `response` cannot map to a token
 * response is `invalid_token_response`.
 *
 * @param options - the client's resolved options, with `backend`
 * @param parts - the time limit of one request, ms
 * @returns the conversation; it has no authorization server endpoints
 * @see https://datatracker.ietf.org/doc/html/draft-ietf-oauth-browser-based-apps#section-6.2
 */
export function createBackendConversation(
  options: ResolvedOptions,
  { timeout }: { readonly timeout: number },
): TokenConversation {
  const backend = options.backend as ResolvedBackend
  const request = (url: string, method: string, body?: BodyInit) =>
    send(options.fetch, timeout, WHAT, url, {
      method,
      body: body ?? null,
      headers: { accept: 'application/json', ...backend.headers },
      credentials: 'include',
      // A response that renews a session must never come from or go to a cache.
      cache: 'no-store',
    })
  const none = () => Promise.reject(new TypeError('a session backend has no OAuth endpoints'))

  return {
    async refresh(current) {
      const body = backend.method === 'GET' ? undefined : backend.request?.(current?.refreshToken)
      const exchange = await request(backend.refresh, backend.method, body)
      const { status, ok } = exchange.response
      if (status === 401 || status === 403) {
        throw new SessionExpiredError(
          `Session expired: the session backend answered HTTP ${status}`,
        )
      }
      if (!ok) {
        const failure = failureFromResponse(
          exchange,
          current ?? { accessToken: '', tokenType: 'Bearer' },
        )
        throw status >= 500 && !(failure instanceof TokenEndpointUnavailableError)
          ? new TokenEndpointUnavailableError(`${WHAT} answered HTTP ${status}`, status)
          : failure
      }
      let mapped: Record<string, unknown>
      try {
        const json: unknown = JSON.parse(exchange.text)
        mapped = (backend.response ? backend.response(json) : json) as Record<string, unknown>
        // A backend's own format usually has no token type: its tokens are bearer tokens.
        return { ...mapped, token_type: mapped.token_type ?? 'Bearer' }
      } catch {
        // The app's mapping may have failed on anything, its message included: only words here.
        throw new InvalidTokenResponseError(
          `${WHAT} answered HTTP ${status} with a body that is not a token response`,
        )
      }
    },
    async revoke() {
      if (backend.logout === undefined) return
      try {
        await request(backend.logout, 'POST')
      } catch {
        // Best effort, like RFC 7009 revocation: the local session is gone whatever happens.
      }
    },
    endpoints: none,
    exchangeCode: none,
  }
}
