import type { ApiFetch } from './api-fetch.js'
import type { FetchFunction, ResolvedOptions } from './options.js'
import type { Refresher } from './refresh.js'
import type { Traffic } from './traffic.js'

/**
 * The absolute URL of a request, or `undefined` when it has none `fetch` could send to. A relative
 * URL resolves as `fetch` resolves it: against the document's base URL (a `<base>` element).
 */
export function requestUrl(input: RequestInfo | URL): URL | undefined {
  const scope = globalThis as { document?: { baseURI?: string }; location?: { href?: string } }
  try {
    return new URL(
      input instanceof Request ? input.url : String(input),
      scope.document?.baseURI ?? scope.location?.href,
    )
  } catch {
    return undefined
  }
}

/**
 * Creates the drop-in `fetch` that attaches the access token (RFC 6750 §2.1) to requests for the
 * allowed origins and retries once after a 401.
 *
 * Requests to other origins are passed through untouched. The common call (a URL string, no
 * headers of its own, with or without a body, a token that needs no renewal, a Bearer client
 * without resource indicators) is sent here, with no `await` and, for an absolute URL, no URL
 * parsing; a body goes as a `Request` that carries it, so a 401's retry can build it again. Every other
 * call, and the 401 of a common one, goes through the general path ({@link ApiFetch}), a chunk
 * loaded with the first such call: bodies made replayable, renewal first, the 401 policy, DPoP
 * proofs and per-resource tokens.
 *
 * @param options - resolved client options
 * @param refresher - the single-flight refresher
 * @param traffic - the calls in flight with a token, which a renewal waits for
 * @param general - loads the general path
 * @returns a function with `fetch`'s signature and semantics
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function createAuthFetch(
  options: ResolvedOptions,
  refresher: Refresher,
  traffic: Traffic,
  general: () => Promise<ApiFetch>,
): FetchFunction {
  const { fetch, apiOrigins, dpop, resources } = options
  const origins = [...apiOrigins.keys()]
  /** The general path once loaded: its 401 breaker hears of every accepted token. */
  let loaded: ApiFetch | undefined
  const load = () => general().then((api) => (loaded = api))
  /** DPoP and resource indicators take every call through the general path: loaded at once. */
  const common = !dpop && !resources.length
  if (!common) load().catch(() => undefined)

  /**
   * Whether a request for `input` may carry the token: its origin is exactly an allowed one. A
   * string that starts with an allowed origin followed by `/`, `?`, `#` or nothing has that
   * origin (the authority ends there), without parsing; anything else (other hosts, ports,
   * userinfo, case, relative URLs, `URL` and `Request` inputs) is parsed as fetch would.
   */
  function isAllowed(input: RequestInfo | URL): boolean {
    if (typeof input === 'string') {
      for (const origin of origins) {
        if (input.startsWith(origin)) {
          const next = input[origin.length]
          if (next === undefined || next === '/' || next === '?' || next === '#') return true
        }
      }
    }
    const url = requestUrl(input)
    return url !== undefined && apiOrigins.has(url.origin)
  }

  return function authFetch(input, init) {
    // Like fetch, it never throws: a URL fetch refuses (credentials in it, say) rejects.
    try {
      if (!isAllowed(input)) return fetch(input, init)
      const fast = typeof input === 'string' && init?.headers === undefined && common
      const token = fast ? refresher.tokenNow() : undefined
      if (token === undefined) {
        // A common call that needs a renewal starts it now, not once the general path has loaded.
        const pending = fast ? refresher.getAccessToken(init?.signal) : undefined
        pending?.catch(() => undefined)
        return load().then((api) => api.fetch(input, init, pending))
      }
      const bearer = { ...init, headers: { authorization: `Bearer ${token}` } }
      const sent = init?.body == null ? fetch(input, bearer) : fetch(new Request(input, bearer))
      traffic.pending++
      return sent.then(
        (response) => {
          traffic.done()
          if (response.status !== 401) {
            loaded?.accepted()
            return response
          }
          // Without the general path (the page's own server is unreachable), the call gets its
          // 401 as it is; the next 401 tries again.
          return load().then(
            (api) => api.rejected(input, init, response, token),
            () => response,
          )
        },
        (error: unknown) => {
          traffic.done()
          throw error
        },
      )
    } catch (error) {
      return Promise.reject(error)
    }
  }
}
