import type { Emitter } from './events.js'
import type { FetchFunction, ResolvedOptions } from './options.js'
import type { Refresher } from './refresh.js'
import type { RejectionPolicy } from './rejection-policy.js'
import type { Session } from './session.js'
import { exponentialPause, FIRST_BREAKER_PAUSE, MAX_BREAKER_PAUSE } from './timing.js'
import type { Traffic } from './traffic.js'

/** Sends one attempt with `token`; a request can be sent at most twice. */
type Attempt = (token: string) => Promise<Response>

/**
 * The absolute URL of a request, or `undefined` when it has none `fetch` could send to. A relative
 * URL resolves as `fetch` resolves it: against the document's base URL (a `<base>` element).
 */
function requestUrl(input: RequestInfo | URL): URL | undefined {
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
 * Prepares the attempts of one call. A bodiless call is re-sent with fresh headers; a call with
 * a body goes through a `Request` template that is cloned per attempt, so the same bytes are
 * sent twice. A `ReadableStream` body cannot be replayed: `undefined` is returned for the retry.
 * A `Request` input's body counts unless `init.body` replaces it (`null` does not: fetch then
 * sends the `Request`'s body).
 */
function prepare(
  fetch: FetchFunction,
  input: RequestInfo | URL,
  init: RequestInit | undefined,
  headers: Headers | undefined,
): [first: Attempt, retry: Attempt | undefined] {
  const body = init?.body
  const hasBody = body != null || (input instanceof Request && input.body !== null)
  if (!hasBody) {
    // fetch copies the headers when called, so one Headers object serves both attempts.
    // A plain object when the call has no headers of its own: the cheapest form for fetch.
    const attempt: Attempt = (token) => {
      const authorization = `Bearer ${token}`
      headers?.set('authorization', authorization)
      return fetch(input, { ...init, headers: headers ?? { authorization } })
    }
    return [attempt, attempt]
  }
  const template = new Request(input, init)
  const streaming = body instanceof ReadableStream
  const send =
    (request: () => Request): Attempt =>
    (token) => {
      const attempt = request()
      attempt.headers.set('authorization', `Bearer ${token}`)
      return fetch(attempt)
    }
  // The first attempt takes a clone, leaving the template's body for the retry.
  return streaming
    ? [send(() => template), undefined]
    : [send(() => template.clone()), send(() => template)]
}

/**
 * Creates the drop-in `fetch` that attaches the access token (RFC 6750 §2.1) to requests for the
 * allowed origins and retries once after a 401.
 *
 * Requests to other origins, and requests that already carry `Authorization`, are passed through
 * untouched. Bodies are made replayable before the first send; a `ReadableStream` body cannot be
 * replayed, so it is sent once and its 401 returned. A 401 whose Bearer challenge says
 * `insufficient_scope` is returned as is: a renewed token with the same scope would not help.
 * Neither is a 401 retried while the API rejects renewed tokens too (the refresher's breaker).
 *
 * The common call (a token that needs no renewal, a URL string, no headers of its own, with or
 * without a body) takes a path with no `await` and, for an absolute URL, no URL parsing.
 *
 * @param options - resolved client options
 * @param refresher - the single-flight refresher
 * @param session - the session, for the 401 policy
 * @param events - the client's emitter, for the 401 policy
 * @param traffic - the calls in flight with a token, which a renewal waits for
 * @returns a function with `fetch`'s signature and semantics
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function createAuthFetch(
  options: ResolvedOptions,
  refresher: Refresher,
  session: Session,
  events: Emitter,
  traffic: Traffic,
): FetchFunction {
  const { fetch, apiOrigins } = options
  const origins = [...apiOrigins]
  /** The 401 policy, loaded at the first 401 (`undefined` if it could not be loaded). */
  let policy: Promise<RejectionPolicy | undefined> | undefined
  let loaded: RejectionPolicy | undefined
  const loadPolicy = () =>
    (policy ??= import('./rejection-policy.js').then(
      ({ createRejectionPolicy }) =>
        (loaded = createRejectionPolicy({
          session,
          events,
          refresh: refresher.refresh,
          pauseFor: (trips) => exponentialPause(trips, FIRST_BREAKER_PAUSE, MAX_BREAKER_PAUSE),
        })),
      () => (policy = undefined),
    ))

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

  /** Sends the first attempt with `token`; a 401 leads to the retry, if the policy allows one. */
  function attempt(
    token: string,
    [first, retry]: [Attempt, Attempt | undefined],
    signal: AbortSignal | null | undefined,
  ): Promise<Response> {
    const sent = first(token)
    traffic.pending++
    return sent.then(
      (response) => {
        traffic.done()
        if (response.status !== 401) {
          loaded?.accepted()
          return response
        }
        if (retry === undefined) return response
        // Without the policy (it could not be loaded: the page's own server is unreachable), the
        // call gets its 401 as it is; the policy is tried again at the next 401.
        return loadPolicy().then(
          (policy) => policy?.respond(response, token, signal, retry) ?? response,
        )
      },
      (error: unknown) => {
        traffic.done()
        throw error
      },
    )
  }

  async function send(input: RequestInfo | URL, init: RequestInit | undefined): Promise<Response> {
    const request = input instanceof Request ? input : undefined
    const given = init?.headers ?? request?.headers
    const headers = given && new Headers(given)
    if (headers?.has('authorization')) return fetch(input, init)
    const signal = init?.signal ?? request?.signal
    const token = await refresher.getAccessToken(signal)
    return attempt(token, prepare(fetch, input, init, headers), signal)
  }

  return function authFetch(input, init) {
    // Like fetch, it never throws: a URL fetch refuses (credentials in it, say) rejects.
    try {
      if (!isAllowed(input)) return fetch(input, init)
      const token =
        init?.headers === undefined && typeof input === 'string' ? refresher.tokenNow() : undefined
      return token === undefined
        ? send(input, init)
        : attempt(token, prepare(fetch, input, init, undefined), init?.signal)
    } catch (error) {
      return Promise.reject(error)
    }
  }
}
