import { type AuthError, TokenEndpointUnavailableError } from './errors.js'
import { exponentialPause, FIRST_PAUSE, MAX_PAUSE, MAX_RETRY_AFTER } from './timing.js'

/**
 * The pause between token requests after failures. Every failed request counts, whichever renewal,
 * retry or tab sent it, so a server that is down or overloaded never meets a storm.
 */
export interface Backoff {
  /** Epoch ms before which no token request is sent; 0 when the server is not known to fail. */
  readonly until: number
  /** Failed requests in a row. */
  readonly failures: number
  /** The failure calls get while the pause lasts. */
  readonly failure: AuthError
  /**
   * Records a failed request: the pause grows (1 s, doubling up to 60 s, a little shorter at
   * random), and is at least the server's `Retry-After` (at most 10 minutes).
   *
   * @returns the pause, ms
   */
  failed(error: AuthError): number
  /** Records a successful request (here or in a sibling tab): the server works again. */
  succeeded(): void
  /** Takes a sibling tab's pause when it ends later than this one's. */
  follow(until: number, failures: number): void
}

/**
 * Creates the backoff of one client.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function createBackoff(): Backoff {
  let until = 0
  let failures = 0
  let failure: AuthError | undefined
  return {
    get until() {
      return until
    },
    get failures() {
      return failures
    },
    get failure() {
      failure ??= new TokenEndpointUnavailableError(
        'renewals pause after a failed token request in another tab',
      )
      return failure
    },
    failed(error) {
      failure = error
      failures++
      const asked = error instanceof TokenEndpointUnavailableError ? (error.retryAfter ?? 0) : 0
      const pause = Math.min(
        Math.max(exponentialPause(failures, FIRST_PAUSE, MAX_PAUSE), asked),
        MAX_RETRY_AFTER,
      )
      until = Date.now() + pause
      return pause
    },
    succeeded() {
      until = failures = 0
      failure = undefined
    },
    follow(at, count) {
      // A sibling's word, bounded like a server's: no message can stop renewals for longer.
      at = Math.min(at, Date.now() + MAX_RETRY_AFTER)
      if (!(at > until)) return
      until = at
      failures = Math.max(failures, count)
      failure = undefined
    },
  }
}
