import type { FetchFunction, ResolvedOptions } from './options.js'
import type { Refresher } from './refresh.js'
import { readBearerError } from './www-authenticate.js'

function requestUrl(input: RequestInfo | URL): URL | undefined {
  try {
    if (input instanceof Request) return new URL(input.url)
    const base = (globalThis as { location?: { href?: string } }).location?.href
    return new URL(String(input instanceof URL ? input.href : input), base)
  } catch {
    return undefined
  }
}

function carriesAuthorization(input: RequestInfo | URL, init: RequestInit | undefined): boolean {
  if (init?.headers !== undefined) return new Headers(init.headers).has('authorization')
  return input instanceof Request && input.headers.has('authorization')
}

function isStream(body: unknown): boolean {
  return typeof ReadableStream !== 'undefined' && body instanceof ReadableStream
}

/**
 * Creates the drop-in `fetch` that attaches the access token (RFC 6750 §2.1) to requests for the
 * allowed origins and retries once after a 401.
 *
 * Requests to other origins, and requests that already carry `Authorization`, are passed through
 * untouched. Bodies are made replayable before the first send (a `Request` template is cloned per
 * attempt); a `ReadableStream` body cannot be replayed, so it is sent once and its 401 returned.
 * A 401 whose Bearer challenge says `insufficient_scope` is returned as is: a renewed token with
 * the same scope would not help.
 *
 * @param options - resolved client options
 * @param refresher - the single-flight refresher
 * @returns a function with `fetch`'s signature and semantics
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function createAuthFetch(options: ResolvedOptions, refresher: Refresher): FetchFunction {
  const { fetch, apiOrigins } = options

  function send(template: Request, token: string, reuse: boolean): Promise<Response> {
    const request = reuse ? template : template.clone()
    request.headers.set('authorization', `Bearer ${token}`)
    return fetch(request)
  }

  return async function authFetch(input, init) {
    const url = requestUrl(input)
    if (url === undefined || !apiOrigins.has(url.origin) || carriesAuthorization(input, init)) {
      return fetch(input, init)
    }
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined)
    const streaming = isStream(init?.body)
    const token = await refresher.getAccessToken(signal)
    const template = new Request(input, init)
    const first = await send(template, token, streaming)
    if (first.status !== 401 || streaming) return first
    if (readBearerError(first.headers.get('www-authenticate')) === 'insufficient_scope')
      return first
    const next = await refresher.renewAfterRejection(token, signal)
    // The first answer is discarded: free its connection.
    first.body?.cancel().catch(() => undefined)
    return send(template, next, true)
  }
}
