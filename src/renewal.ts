import type { Backoff } from './backoff.js'
import type { CrossTab } from './cross-tab/tabs.js'
import {
  AuthError,
  NoSessionError,
  SessionExpiredError,
  TokenEndpointUnavailableError,
} from './errors.js'
import type { Emitter } from './events.js'
import type { Session } from './session.js'
import type { StoredSession } from './storage.js'
import type { TokenEndpoint } from './token-endpoint-loader.js'
import type { TokenSet } from './token-set.js'
import type { Traffic } from './traffic.js'

/** What one renewal works with, from the main bundle. */
export interface RenewalParts {
  readonly session: Session
  readonly endpoint: TokenEndpoint
  readonly events: Emitter
  /** The sibling tabs, so one of them renews at a time. */
  readonly tabs: CrossTab
  readonly backoff: Backoff
  /** The longest pause waited out in place (`MAX_PAUSE_IN_RENEWAL`), ms. */
  readonly maxPauseInPlace: number
  /** This tab's API calls in flight. */
  readonly traffic: Traffic
  /** The longest wait for the calls in flight before the first request (`DRAIN_WAIT`), ms. */
  readonly drainWait: number
}

/**
 * An error of the renewal as callers see it: anything that is not already an {@link AuthError}
 * (a failure outside the HTTP exchange) is the token server being out of reach, as far as the
 * caller can act.
 */
function asAuthError(error: unknown): AuthError {
  return error instanceof AuthError ? error : new TokenEndpointUnavailableError('renewal failed')
}

/**
 * Waits, at most `drainWait` and never past the token's expiry, until the API calls already on their way with the current token are
 * answered, in this tab and in every sibling (each answers the `renewing` announcement with
 * `drained`; their new calls wait for the renewal meanwhile). A server that deletes the previous
 * access token when the refresh commits then never meets one of them.
 */
async function drain(
  { tabs, traffic, drainWait }: RenewalParts,
  { expiresAt = Number.POSITIVE_INFINITY }: TokenSet,
): Promise<void> {
  let answers = 0
  let expected = Number.POSITIVE_INFINITY
  let check = (): void => undefined
  const siblings = new Promise<void>((resolve) => {
    check = () => {
      if (answers >= expected) resolve()
    }
  })
  // Set before anything is awaited: answers may come as soon as the announcement has gone out.
  tabs.onDrained = () => {
    answers++
    check()
  }
  expected = (await tabs.siblings?.()) ?? 0
  check()
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([
    Promise.all([traffic.idle(), siblings]),
    new Promise((resolve) => {
      // Calls on their way with an expired token are answered 401 anyway: no wait past expiry.
      // Never a negative delay: Node warns about one (TimeoutNegativeWarning).
      timer = setTimeout(resolve, Math.max(0, Math.min(drainWait, expiresAt - Date.now())))
    }),
  ])
  clearTimeout(timer)
  tabs.onDrained = undefined
}

/**
 * The token requests of one renewal: each failure counts toward the pause, which siblings hear of;
 * after a short pause, a server that was out of reach is asked again in place. `undefined` when
 * the session moved on during a pause.
 */
async function exchange(
  parts: RenewalParts,
  tokens: TokenSet | undefined,
  from: number,
): Promise<StoredSession | undefined> {
  const { session, endpoint, tabs, backoff, maxPauseInPlace } = parts
  // Without a session (a session backend's first renewal) no call carries a token.
  if (tokens) await drain(parts, tokens)
  // A sibling's newer state of the session may have arrived during the drain: its refresh token,
  // not the one taken with the lock, is the live one, and nothing needs renewing any more.
  if (from !== session.generation) return undefined
  for (;;) {
    // The pause may have begun while this renewal waited for the lock (a sibling's request
    // failed): no request until it is over.
    const paused = backoff.paused
    if (paused) throw paused
    try {
      const renewed = await endpoint.refresh(tokens)
      backoff.succeeded()
      return renewed
    } catch (error) {
      if (error instanceof SessionExpiredError) throw error
      const failure = asAuthError(error)
      const pause = backoff.failed(failure)
      tabs.paused?.(backoff.until, backoff.failures)
      // Only a server out of reach may answer the same request differently a moment later.
      if (!(failure instanceof TokenEndpointUnavailableError && pause <= maxPauseInPlace)) {
        throw failure
      }
      // A timer may fire before the clock reaches the pause's end (Node counts it from the start
      // of the event loop's turn): the rest is waited out, unless a sibling made the pause long.
      for (
        let left = pause;
        left > 0 && left <= maxPauseInPlace;
        left = backoff.until - Date.now()
      ) {
        await new Promise((resolve) => setTimeout(resolve, left))
      }
      if (from !== session.generation) return undefined
    }
  }
}

/**
 * One renewal of the session generation `from` (RFC 6749 §6): under the tabs' lock, with retries
 * in place, committed only if the session is still the one it renews. `invalid_grant` ends the
 * session; any other failure keeps it and is reported as an `'error'` event. With a session
 * backend and no session, the renewal asks the backend for one: a backend without one rejects it
 * with `no_session`, and no `'expired'` fires.
 *
 * @param parts - what it works with
 * @param from - the session generation it renews
 * @returns the session after it: the renewed one, or the one that replaced it meanwhile
 * @throws {AuthError} the renewal's failure
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function renew(parts: RenewalParts, from: number): Promise<StoredSession> {
  const { session, endpoint, events, tabs, backoff } = parts
  /** Whether the renewal got as far as its requests, whose failures count as they happen. */
  let requested = false
  const hadSession = session.active() !== undefined
  try {
    const renewed = await tabs.exclusive(from, (stored) => {
      requested = true
      return exchange(parts, stored?.tokens, from)
    })
    if (renewed === undefined) return session.current()
    // A session replaced meanwhile (setTokens, logout, a sibling tab's login) wins over this
    // older renewal: the commit guard. The refresh token it brought would stay live, unused:
    // it is revoked, unless the session holds it too (a server that does not rotate).
    if (!session.commitRenewal(from, renewed)) {
      const orphan = renewed.tokens.refreshToken
      const { state } = session
      // A session backend's cookie is not the page's to revoke: its logout would end the session.
      if (
        orphan !== undefined &&
        (state.status !== 'active' || state.stored.tokens.refreshToken !== orphan)
      ) {
        void endpoint.revoke(orphan)
      }
      return session.current()
    }
    events.emit('refresh', renewed.tokens)
    return renewed
  } catch (error) {
    if (from !== session.generation) return session.current()
    if (error instanceof SessionExpiredError) {
      if (!hadSession) throw new NoSessionError('No session: the session backend has none')
      session.expire(from)
      throw error
    }
    const failure = asAuthError(error)
    // A renewal that failed before any request (it gave up waiting for a sibling's lock) pauses
    // this tab too, so its calls do not each wait for that lock again.
    if (!requested) backoff.failed(failure)
    events.emit('error', failure)
    throw failure
  }
}
