import type { CrossTab } from './cross-tab/cross-tab.js'
import { AuthError, SessionExpiredError, TokenEndpointUnavailableError } from './errors.js'
import type { Emitter } from './events.js'
import type { Session } from './session.js'
import type { StoredSession } from './storage.js'
import type { TokenEndpoint } from './token-endpoint.js'
import { remainingLifetime, type TokenSet } from './token-set.js'

/** Single-flight renewal and the policy around it. */
export interface Refresher {
  /** Starts a renewal, or joins the one in flight (RFC 6749 §6). */
  refresh(signal?: AbortSignal | null): Promise<TokenSet>
  /** A usable access token, renewing first only when the current one has expired. */
  getAccessToken(signal?: AbortSignal | null): Promise<string>
  /**
   * The token to retry with after `rejected` met a 401: the current one if a renewal already
   * replaced `rejected`, otherwise the result of one shared renewal.
   */
  renewAfterRejection(rejected: string, signal?: AbortSignal | null): Promise<string>
  /** How long before expiry to renew `stored`, in ms: the leeway, at most half the lifetime. */
  leewayFor(stored: StoredSession): number
  /**
   * Resolves when no renewal is in flight (whatever its outcome), in this tab or a sibling (whose
   * result this tab has then adopted).
   */
  settled(): Promise<void>
  /**
   * Epoch ms before which no proactive renewal should start: after a failure (backoff) and just
   * after a success (so tokens that are born expired cannot cause a renewal loop).
   */
  readonly notBefore: number
}

/** Backoff between failed renewals, so a server that is down never meets a storm. */
const FIRST_PAUSE = 1_000
const MAX_PAUSE = 60_000
/**
 * The shortest gap between a renewal and the next proactive one. A server that issues tokens
 * with `expires_in: 0` (or a JWT with `exp == iat`) would otherwise be asked for a new token in
 * a loop; within the gap the fresh token is used and the API's 401 decides.
 */
const MIN_GAP = 500

/** Rejects with the signal's reason when it aborts, without cancelling `promise` itself. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | null | undefined): Promise<T> {
  if (!signal) return promise
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/**
 * Creates the single-flight refresher: however many callers need a new token at once, one
 * request goes to the token endpoint and all of them share its result.
 *
 * @param session - the session state holder
 * @param endpoint - the token-server client
 * @param events - the client's emitter
 * @param refreshLeeway - the `refreshLeeway` option, ms
 * @param tabs - the sibling tabs, so one of them renews at a time
 */
export function createRefresher(
  session: Session,
  endpoint: TokenEndpoint,
  events: Emitter,
  refreshLeeway: number,
  tabs: CrossTab,
): Refresher {
  let inflight: Promise<StoredSession> | undefined
  /** The session generation the renewal in flight renews; a replaced session never joins it. */
  let inflightFor = -1
  let failures = 0
  let pausedUntil = 0
  let lastFailure: AuthError | undefined
  let renewedAt = -Infinity

  async function renew(from: number): Promise<StoredSession> {
    try {
      const renewed = await tabs.exclusive(from, (stored) => endpoint.refresh(stored.tokens))
      failures = 0
      pausedUntil = 0
      renewedAt = Date.now()
      // A session replaced meanwhile (setTokens, logout, a sibling tab's renewal) wins over this
      // older renewal: the commit guard.
      if (renewed === undefined || !session.commitRenewal(from, renewed)) return session.current()
      events.emit('refresh', renewed.tokens)
      return renewed
    } catch (error) {
      if (from !== session.generation) return session.current()
      if (error instanceof SessionExpiredError) {
        session.expire(from)
        throw error
      }
      failures++
      pausedUntil = Date.now() + Math.min(FIRST_PAUSE * 2 ** (failures - 1), MAX_PAUSE)
      // Anything else that failed on the way (a lazily loaded chunk that did not arrive, a body
      // cut off mid-read) is the token server being out of reach, as far as the caller can act.
      lastFailure =
        error instanceof AuthError
          ? error
          : new TokenEndpointUnavailableError('renewal failed', undefined, {
              cause: new Error((error as Error)?.message),
            })
      events.emit('error', lastFailure)
      throw lastFailure
    } finally {
      if (inflightFor === from) inflight = undefined
    }
  }

  function start(): Promise<StoredSession> {
    const stored = session.current()
    if (inflight !== undefined && inflightFor === session.generation) return inflight
    if (stored.tokens.refreshToken === undefined) {
      // Nothing to renew with: the session cannot go on once its access token is unusable.
      session.expire(session.generation)
      return Promise.reject(new SessionExpiredError('Session expired: no refresh token'))
    }
    // During the pause after a failure, callers get that failure again without a request.
    if (Date.now() < pausedUntil) return Promise.reject(lastFailure)
    inflightFor = session.generation
    inflight = renew(inflightFor)
    return inflight
  }

  /** Joins or starts the shared renewal; an aborted caller neither waits nor starts one. */
  async function join(signal: AbortSignal | null | undefined): Promise<StoredSession> {
    signal?.throwIfAborted()
    return abortable(start(), signal)
  }

  function leewayFor(stored: StoredSession): number {
    return stored.lifetime === undefined
      ? refreshLeeway
      : Math.min(refreshLeeway, stored.lifetime / 2)
  }

  return {
    get notBefore() {
      return Math.max(pausedUntil, renewedAt + MIN_GAP)
    },
    leewayFor,
    settled: async () => {
      await Promise.allSettled([inflight])
      await tabs.idle()
    },
    async refresh(signal) {
      await session.ready
      return (await join(signal)).tokens
    },
    async getAccessToken(signal) {
      await session.ready
      const stored = session.current()
      const remaining = remainingLifetime(stored.tokens, Date.now())
      const justRenewed = Date.now() < renewedAt + MIN_GAP
      if (remaining > 0 || justRenewed) {
        // Inside the leeway: renew in the background; this call still has a valid token.
        // (start() joins a renewal in flight and declines during a pause after a failure.)
        if (remaining <= leewayFor(stored) && !justRenewed && stored.tokens.refreshToken) {
          start().catch(() => undefined)
        }
        return stored.tokens.accessToken
      }
      return (await join(signal)).tokens.accessToken
    },
    async renewAfterRejection(rejected, signal) {
      const stored = session.current()
      if (stored.tokens.accessToken !== rejected) return stored.tokens.accessToken
      return (await join(signal)).tokens.accessToken
    },
  }
}
