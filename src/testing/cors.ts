import { HttpResponse } from 'msw'

/** Request headers every endpoint allows cross-origin: enough for bearer and DPoP requests. */
const ALLOW_HEADERS = 'Authorization, Content-Type, DPoP'

/** The CORS configuration of the mock, shared by every endpoint. */
export interface CorsPolicy {
  /** Allowed origins; `'*'` allows any. */
  readonly allowedOrigins: readonly string[]
  /** Headers listed in `Access-Control-Expose-Headers`. */
  readonly exposeHeaders: readonly string[]
}

/**
 * The `Access-Control-Allow-Origin` value for a request, or `null` to withhold CORS headers (the
 * browser then blocks the response).
 *
 * A request with an allowed `Origin` gets it echoed. A request without `Origin` gets the first
 * allowed origin: same-origin and non-browser requests carry none, and neither do requests seen
 * through msw in happy-dom, whose `Request` class strips `Origin` as a forbidden header even though
 * happy-dom sent it and checks the answer against the page's origin.
 *
 * @param request - the incoming request
 * @param policy - the CORS policy
 * @returns the origin to allow, `'*'`, or `null`
 * @see https://fetch.spec.whatwg.org/#http-access-control-allow-origin
 */
export function allowedOrigin(request: Request, policy: CorsPolicy): string | null {
  const origin = request.headers.get('Origin')
  if (policy.allowedOrigins.includes('*')) return '*'
  if (origin === null) return policy.allowedOrigins[0] ?? null
  return policy.allowedOrigins.includes(origin) ? origin : null
}

/**
 * Adds the CORS headers of an actual (non-preflight) response: `Access-Control-Allow-Origin`,
 * `Vary: Origin` and `Access-Control-Expose-Headers`. Leaves network-error responses alone.
 *
 * @param response - the response to decorate (its headers are mutated)
 * @param request - the request it answers
 * @param policy - the CORS policy
 * @returns the same response
 */
export function withCors(response: Response, request: Request, policy: CorsPolicy): Response {
  if (response.type === 'error') return response
  const origin = allowedOrigin(request, policy)
  response.headers.append('Vary', 'Origin')
  if (origin === null) return response
  response.headers.set('Access-Control-Allow-Origin', origin)
  if (policy.exposeHeaders.length > 0) {
    response.headers.set('Access-Control-Expose-Headers', policy.exposeHeaders.join(', '))
  }
  return response
}

/**
 * Answers a CORS preflight like a real server: 204 with the allowed origin, methods and request
 * headers, or 204 without any CORS header for an origin that is not allowed (the browser then
 * refuses the actual request). No `Access-Control-Max-Age`, so every request is preflighted anew and
 * counts stay predictable.
 *
 * @param request - the `OPTIONS` request
 * @param policy - the CORS policy
 * @param methods - the methods the endpoint accepts
 * @returns the preflight response
 * @see https://fetch.spec.whatwg.org/#cors-preflight-fetch
 */
export function preflightResponse(
  request: Request,
  policy: CorsPolicy,
  methods: readonly string[],
): Response {
  const origin = allowedOrigin(request, policy)
  const headers = new Headers({ Vary: 'Origin' })
  if (origin !== null) {
    headers.set('Access-Control-Allow-Origin', origin)
    headers.set('Access-Control-Allow-Methods', methods.join(', '))
    headers.set('Access-Control-Allow-Headers', ALLOW_HEADERS)
  }
  return new HttpResponse(null, { status: 204, headers })
}
