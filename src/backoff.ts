import { type AuthError, TokenEndpointUnavailableError } from './errors.js'
import { exponentialPause, FIRST_PAUSE, MAX_PAUSE, MAX_RETRY_AFTER } from './timing.js'

/**
 * The pause between token requests after failures. Every failed request counts, whichever renewal,
 * retry or tab sent it, so a server that is down or overloaded never meets a storm.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export class Backoff {
  /** Epoch ms before which no token request is sent; 0 when the server is not known to fail. */
  until = 0
  /** Failed requests in a row. */
  failures = 0
  /** The failure calls get while the pause lasts; `undefined` when it came from a sibling tab. */
  failure: AuthError | undefined

  /**
   * While the pause lasts, the failure a renewal (or a call that needs one) meets instead of
   * sending a request; `undefined` once it is over.
   */
  get paused(): AuthError | undefined {
    if (Date.now() >= this.until) return undefined
    this.failure ??= new TokenEndpointUnavailableError('a token request in another tab failed')
    return this.failure
  }

  /**
   * Records a failed request: the pause grows (1 s, doubling up to 60 s, a little shorter at
   * random), and is at least the server's `Retry-After` (at most 10 minutes).
   *
   * @returns the pause, ms
   */
  failed(error: AuthError): number {
    // What the server asked for (TokenEndpointUnavailableError's `retryAfter`), if anything.
    const asked = (error as { retryAfter?: number }).retryAfter ?? 0
    const pause = Math.min(
      Math.max(exponentialPause(++this.failures, FIRST_PAUSE, MAX_PAUSE), asked),
      MAX_RETRY_AFTER,
    )
    this.failure = error
    this.until = Date.now() + pause
    return pause
  }

  /** Records a successful request (here or in a sibling tab): the server works again. */
  succeeded(): void {
    this.until = this.failures = 0
  }

  /**
   * Takes a sibling tab's pause when it ends later than this one's. The values come from a
   * message: anything but numbers is ignored (a numeric string for `until` is read as its
   * number), and no message can stop renewals for longer than a server could.
   */
  follow(until: unknown, failures: unknown): void {
    const at = Math.min(until as number, Date.now() + MAX_RETRY_AFTER)
    if (!(at > this.until && typeof failures === 'number')) return
    this.until = at
    this.failures = Math.max(this.failures, failures)
    this.failure = undefined
  }
}
