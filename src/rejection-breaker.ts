import { TokenRejectedError } from './errors.js'

/**
 * After the API rejects a token that came from a renewal made for a 401, further 401-driven
 * renewals pause this long, doubling per rejection up to {@link MAX_BREAKER_PAUSE}.
 */
export const FIRST_BREAKER_PAUSE = 1_000
/** The longest pause of the 401 circuit breaker: a recovered API is used within a minute. */
export const MAX_BREAKER_PAUSE = 60_000

/**
 * The circuit breaker for APIs that reject every token: when the token a renewal issued for a 401
 * is itself answered 401, renewing is not helping, and a client that polls would otherwise renew
 * once per call.
 */
export interface RejectionBreaker {
  /**
   * Decides what a 401 to `rejected`, the session's current token, leads to: `true` to renew,
   * or the {@link TokenRejectedError} that opened a pause (to report) or `false` (already paused):
   * then the call gets the 401 as it is.
   */
  onRejected(rejected: string): boolean | TokenRejectedError
  /** Remembers the token a renewal made for a 401 issued: its own 401 opens the breaker. */
  renewedFor401(token: string): void
  /** The API accepted a token: closes the breaker. */
  accepted(): void
}

/**
 * Creates the breaker: closed until a token issued for a 401 is rejected; then open for a pause
 * (1 s, doubling per rejection up to 60 s: `FIRST_BREAKER_PAUSE`, `MAX_BREAKER_PAUSE`); after each
 * pause one renewal may be tried (half open); closed again once the API accepts a token.
 *
 * @param pauseFor - the pause after the `trips`-th rejection in a row, ms
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function createRejectionBreaker(pauseFor: (trips: number) => number): RejectionBreaker {
  /** The token the last renewal made for a 401 issued, until the API accepts a token. */
  let suspect: string | undefined
  /** The suspect token that opened the current or last pause. */
  let tripped: string | undefined
  let trips = 0
  let until = 0
  return {
    onRejected(rejected) {
      if (Date.now() < until) return false
      if (rejected !== suspect || rejected === tripped) return true
      tripped = rejected
      trips++
      until = Date.now() + pauseFor(trips)
      return new TokenRejectedError(until)
    },
    renewedFor401(token) {
      suspect = token
    },
    accepted() {
      suspect = tripped = undefined
      trips = until = 0
    },
  }
}
