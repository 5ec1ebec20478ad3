import type { FetchFunction, ResolvedOptions } from './options.js'
import type { Refresher } from './refresh.js'
import { readBearerError } from './www-authenticate.js'

function requestUrl(input: RequestInfo | URL): URL | undefined {
  try {
    // Relative URLs resolve against the page, as fetch resolves them.
    const base = (globalThis as { location?: { href?: string } }).location?.href
    return new URL(input instanceof Request ? input.url : String(input), base)
  } catch {
    return undefined
  }
}

/** Sends one attempt with `token`; a request can be sent at most twice. */
type Attempt = (token: string) => Promise<Response>

/**
 * Prepares the attempts of one call. A bodiless call is re-sent with fresh headers; a call with
 * a body goes through a `Request` template that is cloned per attempt, so the same bytes are
 * sent twice. A `ReadableStream` body cannot be replayed: `undefined` is returned for the retry.
 */
function prepare(
  fetch: FetchFunction,
  input: RequestInfo | URL,
  init: RequestInit | undefined,
  headers: Headers | undefined,
): [first: Attempt, retry: Attempt | undefined] {
  const body = init?.body
  const hasBody =
    (body !== undefined && body !== null) ||
    (body === undefined && input instanceof Request && input.body !== null)
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
 *
 * @param options - resolved client options
 * @param refresher - the single-flight refresher
 * @returns a function with `fetch`'s signature and semantics
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function createAuthFetch(options: ResolvedOptions, refresher: Refresher): FetchFunction {
  const { fetch, apiOrigins } = options

  return async function authFetch(input, init) {
    const url = requestUrl(input)
    if (url === undefined || !apiOrigins.has(url.origin)) return fetch(input, init)
    const given = init?.headers ?? (input instanceof Request ? input.headers : undefined)
    const headers = given && new Headers(given)
    if (headers?.has('authorization')) return fetch(input, init)
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined)
    const token = await refresher.getAccessToken(signal)
    const [first, retry] = prepare(fetch, input, init, headers)
    const response = await first(token)
    if (response.status !== 401 || retry === undefined) return response
    if (readBearerError(response.headers.get('www-authenticate')) === 'insufficient_scope') {
      return response
    }
    const next = await refresher.renewAfterRejection(token, signal)
    // The first answer is discarded: free its connection.
    response.body?.cancel().catch(() => undefined)
    return retry(next)
  }
}
