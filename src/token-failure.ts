import {
  InvalidTokenResponseError,
  SessionExpiredError,
  TokenEndpointError,
  TokenEndpointUnavailableError,
} from './errors.js'
import { redactTokens } from './redact.js'
import { parseRetryAfter } from './retry-after.js'
import type { TokenSet } from './token-set.js'
import type { Exchange } from './transport.js'

/** Statuses of a server or proxy that is overloaded or briefly down: worth asking again later. */
const TRANSIENT_STATUSES = [408, 429, 500, 502, 503, 504]

/**
 * Turns a non-2xx token endpoint answer into the right error (RFC 6749 §5.2). `invalid_grant` ends
 * the session; a transient status keeps it and carries the server's `Retry-After`; every other
 * error keeps it too. Tokens of `current` that the server quotes back, in any encoding, are
 * redacted.
 *
 * @param exchange - the response and its body
 * @param current - the tokens the request was made with
 * @returns the error to raise
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function failureFromResponse({ response, text }: Exchange, current: TokenSet): Error {
  const { status, headers } = response
  if (TRANSIENT_STATUSES.includes(status)) {
    return new TokenEndpointUnavailableError(`token endpoint answered HTTP ${status}`, status, {
      retryAfter: parseRetryAfter(headers.get('retry-after'), Date.now()),
    })
  }
  let body: { error?: unknown; error_description?: unknown } | null = null
  try {
    body = JSON.parse(text)
  } catch {}
  const { error, error_description: description } = body ?? {}
  if (typeof error !== 'string') {
    return new InvalidTokenResponseError(
      `token endpoint answered HTTP ${status} without an RFC 6749 "error" member`,
    )
  }
  // Some servers echo the rejected input in their error text: never pass a token on.
  const redact = (text: string) => redactTokens(text, [current.accessToken, current.refreshToken])
  return error === 'invalid_grant'
    ? new SessionExpiredError()
    : new TokenEndpointError(
        redact(error),
        status,
        typeof description === 'string' ? redact(description) : undefined,
      )
}
