// Part of the chunks loaded on demand (token-server.ts, backend.ts): one bounded HTTP request.
import { InvalidTokenResponseError, TokenEndpointUnavailableError } from './errors.js'
import type { FetchFunction } from './options.js'

/** A response with its body read, so one time limit covers the whole exchange. */
export interface Exchange {
  readonly response: Response
  readonly text: string
}

/**
 * One request, bounded in time from the call to the last byte of the body: a server that sends
 * its headers and then stalls must not hold a renewal (and its lock) for ever.
 *
 * @param fetch - the client's `fetch`
 * @param timeout - the limit, ms
 * @param what - names the server in messages (`token endpoint`, `session backend`)
 * @throws {TokenEndpointUnavailableError} on a network failure or timeout
 */
export async function send(
  fetch: FetchFunction,
  timeout: number,
  what: string,
  url: string,
  init: RequestInit,
): Promise<Exchange> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeout)
  try {
    const response = await fetch(url, { ...init, signal: controller.signal })
    return { response, text: await response.text() }
  } catch (error) {
    // The error may hold the request, whose body holds the refresh token: keep only words.
    const { message, cause } = error as { message?: unknown; cause?: { message?: unknown } }
    const detail = [message, cause?.message].filter((part) => typeof part === 'string')
    throw new TokenEndpointUnavailableError(
      controller.signal.aborted
        ? `${what} did not answer within ${timeout} ms`
        : `${what} could not be reached (network error)`,
      undefined,
      { cause: new Error(detail.join(': ')) },
    )
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Parses a success body; an HTML error page or any other non-JSON body is malformed.
 *
 * @throws {InvalidTokenResponseError} when the body is not a JSON object
 */
export function readJson({ response, text }: Exchange, what: string): Record<string, unknown> {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {}
  if (typeof body === 'object' && body !== null) return body as Record<string, unknown>
  const type = response.headers.get('content-type')?.split(';')[0] ?? 'no content type'
  throw new InvalidTokenResponseError(
    `${what} answered HTTP ${response.status} with a body that is not a JSON object (${type})`,
  )
}
