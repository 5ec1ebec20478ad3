import { HttpResponse, type JsonBodyType } from 'msw'

/**
 * The OAuth 2.0 error codes of RFC 6749 §5.2, plus the two §4.1.2.1 codes servers also send from
 * the token endpoint when they are overloaded or failing, RFC 8707's `invalid_target` and RFC
 * 9449's `invalid_dpop_proof` and `use_dpop_nonce`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'invalid_target'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'

const REASON_PHRASES: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/**
 * The reason phrase of a status code, for plain-text bodies.
 *
 * @param status - an HTTP status code
 * @returns the phrase, or `HTTP <status>` for codes not in the table
 */
export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? `HTTP ${status}`
}

/**
 * The status a real server uses for an OAuth error: 401 for `invalid_client` (RFC 6749 §5.2),
 * 500/503 for the two borrowed §4.1.2.1 codes, 400 otherwise.
 *
 * @param error - the OAuth error code
 * @returns the HTTP status
 */
export function statusForOAuthError(error: string): number {
  if (error === 'invalid_client') return 401
  if (error === 'server_error') return 500
  if (error === 'temporarily_unavailable') return 503
  return 400
}

/**
 * A JSON response that no cache may keep, as RFC 6749 §5.1 demands of token responses.
 *
 * @param body - the JSON body
 * @param status - the HTTP status
 * @param headers - extra headers
 * @returns the response
 */
export function noStoreJSON(
  body: Readonly<Record<string, unknown>>,
  status = 200,
  headers: Readonly<Record<string, string>> = {},
): Response {
  return HttpResponse.json(body as JsonBodyType, {
    status,
    headers: { 'Cache-Control': 'no-store', Pragma: 'no-cache', ...headers },
  })
}

/**
 * An RFC 6749 §5.2 error response: JSON `{ error, error_description }`.
 *
 * @param error - the OAuth error code
 * @param description - human-readable `error_description`
 * @param status - the HTTP status, by default the one {@link statusForOAuthError} picks
 * @param headers - extra headers
 * @returns the response
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export function oauthErrorResponse(
  error: string,
  description: string | undefined,
  status = statusForOAuthError(error),
  headers: Readonly<Record<string, string>> = {},
): Response {
  return noStoreJSON(
    description === undefined ? { error } : { error, error_description: description },
    status,
    headers,
  )
}
