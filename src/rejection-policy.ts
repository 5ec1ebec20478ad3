// Loaded on demand (dynamic import) at the first 401 from an API. It imports only public error
// classes from the main bundle; what else it needs is passed in.
import type { Emitter } from './events.js'
import { createRejectionBreaker } from './rejection-breaker.js'
import type { Session } from './session.js'
import type { TokenSet } from './token-set.js'
import { readBearerError } from './www-authenticate.js'

/** What a 401 from an API leads to (RFC 6750 §3.1). */
export interface RejectionPolicy {
  /**
   * After `rejected` met the 401 `response`: the token to retry with (the current one if a renewal
   * already replaced `rejected`, otherwise the result of one shared renewal), or `undefined` when
   * the call should get the 401 as it is: the challenge says `insufficient_scope`, or the API
   * rejects renewed tokens too (the breaker is open).
   */
  afterRejection(
    response: Response,
    rejected: string,
    signal: AbortSignal | null | undefined,
  ): Promise<string | undefined>
  /** The retry with `token`, which a renewal made for a 401 issued, met a 401 too. */
  rejectedAgain(token: string): void
  /** The API accepted a token (any status but 401): the breaker closes. */
  accepted(): void
}

/** What the policy needs from the main bundle. */
export interface RejectionPolicyParts {
  readonly session: Session
  readonly events: Emitter
  /** Joins or starts the shared renewal. */
  readonly refresh: (signal: AbortSignal | null | undefined) => Promise<TokenSet>
  /** The breaker's pause after the `trips`-th rejection in a row, ms. */
  readonly pauseFor: (trips: number) => number
}

/**
 * Creates the 401 policy: one shared renewal and one retry per 401, except for `insufficient_scope`
 * (a new token with the same scope would not help) and while the circuit breaker is open.
 *
 * @param parts - what it needs from the main bundle
 * @returns the policy
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function createRejectionPolicy({
  session,
  events,
  refresh,
  pauseFor,
}: RejectionPolicyParts): RejectionPolicy {
  const breaker = createRejectionBreaker(pauseFor)

  /** Asks the breaker whether a 401 to `token` may renew; reports a pause it opens. */
  function allows(token: string): boolean {
    const verdict = breaker.onRejected(token)
    if (verdict instanceof Error) events.emit('error', verdict)
    return verdict === true
  }

  return {
    async afterRejection(response, rejected, signal) {
      if (readBearerError(response.headers.get('www-authenticate')) === 'insufficient_scope') {
        return undefined
      }
      const current = session.current().tokens.accessToken
      if (current !== rejected) return current
      if (!allows(rejected)) return undefined
      const renewed = (await refresh(signal)).accessToken
      breaker.renewedFor401(renewed)
      return renewed
    },
    rejectedAgain(token) {
      allows(token)
    },
    accepted: breaker.accepted,
  }
}
