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
   * After `rejected` met the 401 `response`: the retry's response, with the current token if a
   * renewal already replaced `rejected`, otherwise with the result of one shared renewal; or the
   * 401 as it is, when its challenge says `insufficient_scope` or the API rejects renewed tokens
   * too (the breaker is open).
   *
   * @param retry - sends the call again with a token
   */
  respond(
    response: Response,
    rejected: string,
    signal: AbortSignal | null | undefined,
    retry: (token: string) => Promise<Response>,
  ): Promise<Response>
  /** The API accepted a token (any status but 401): the breaker closes. */
  accepted(): void
}

/** What the policy needs from the main bundle. */
export interface RejectionPolicyParts {
  readonly session: Session
  readonly events: Emitter
  /** Joins or starts the shared renewal. */
  readonly refresh: (signal: AbortSignal | null | undefined) => Promise<TokenSet>
  /**
   * The access token calls are sent with now: a resource's own (RFC 8707).
   * @default the session's
   */
  readonly current?: () => string | undefined
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
  current = () => session.current().tokens.accessToken,
}: RejectionPolicyParts): RejectionPolicy {
  const breaker = createRejectionBreaker(pauseFor)

  /** Asks the breaker whether a 401 to `token` may renew; reports a pause it opens. */
  function allows(token: string): boolean {
    const verdict = breaker.onRejected(token)
    if (verdict instanceof Error) events.emit('error', verdict)
    return verdict === true
  }

  return {
    async respond(response, rejected, signal, retry) {
      if (readBearerError(response.headers.get('www-authenticate')) === 'insufficient_scope') {
        return response
      }
      let token = current()
      if (token === rejected || token === undefined) {
        if (!allows(rejected)) return response
        token = (await refresh(signal)).accessToken
        breaker.renewedFor401(token)
      }
      // The first answer is discarded: free its connection.
      response.body?.cancel().catch(() => undefined)
      const second = await retry(token)
      // A 401 to a token a renewal made for a 401 opens the breaker.
      if (second.status === 401) allows(token)
      else breaker.accepted()
      return second
    },
    accepted: breaker.accepted,
  }
}
