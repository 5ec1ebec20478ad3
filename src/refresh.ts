import type { Backoff } from './backoff.js'
import type { CrossTab } from './cross-tab/cross-tab.js'
import { AuthError, SessionExpiredError, TokenEndpointUnavailableError } from './errors.js'
import type { Emitter } from './events.js'
import type { Session } from './session.js'
import type { StoredSession } from './storage.js'
import {
  INFLIGHT_WAIT,
  MAX_PAUSE_IN_RENEWAL,
  MIN_GAP,
  RENEWAL_BUDGET,
  REQUEST_TIMEOUT,
} from './timing.js'
import type { TokenEndpoint } from './token-endpoint-loader.js'
import { canRenew, remainingLifetime, type TokenSet } from './token-set.js'
import { abortable, settledWithin } from './waiting.js'

/** Single-flight renewal and the policy around it. */
export interface Refresher {
  /** Starts a renewal, or joins the one in flight (RFC 6749 §6). */
  refresh(signal?: AbortSignal | null): Promise<TokenSet>
  /**
   * A usable access token. Renews first when the current one has expired; inside the leeway, or
   * while a renewal (here or in a sibling tab) is in flight, waits a little for the renewal.
   */
  getAccessToken(signal?: AbortSignal | null): Promise<string>
  /**
   * The access token to send right now without waiting, or `undefined` when the call must go
   * through {@link Refresher.getAccessToken}: the fast path of every API call.
   */
  tokenNow(): string | undefined
  /** How long before expiry to renew `stored`, in ms: the leeway, at most half the lifetime. */
  leewayFor(stored: StoredSession): number
  /**
   * Resolves when no renewal is in flight (whatever its outcome), in this tab or a sibling (whose
   * result this tab has then adopted).
   */
  settled(): Promise<void>
  /**
   * Epoch ms before which no proactive renewal should start: during the pause after failures, and
   * just after the session changed (so tokens that are born expired cannot cause a renewal loop).
   */
  readonly notBefore: number
}

/**
 * An error of the renewal as callers see it: anything that is not already an {@link AuthError}
 * (a lazily loaded chunk that did not arrive, a body cut off mid-read) is the token server being
 * out of reach, as far as the caller can act.
 */
function asAuthError(error: unknown): AuthError {
  return error instanceof AuthError ? error : new TokenEndpointUnavailableError('renewal failed')
}

/** The parts a refresher works with. */
export interface RefresherParts {
  readonly session: Session
  readonly endpoint: TokenEndpoint
  readonly events: Emitter
  /** The sibling tabs, so one of them renews at a time. */
  readonly tabs: CrossTab
  readonly backoff: Backoff
  /** The `refreshLeeway` option, ms. */
  readonly refreshLeeway: number
}

/**
 * Creates the single-flight refresher: however many callers need a new token at once, one
 * renewal goes to the token endpoint and all of them share its result. Failed requests pause
 * further ones ({@link Backoff}); a renewal retries in place only briefly, within its budget.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export function createRefresher({
  session,
  endpoint,
  events,
  tabs,
  backoff,
  refreshLeeway,
}: RefresherParts): Refresher {
  /** The renewal in flight, for the session generation it renews: a replaced session never joins it. */
  let inflight:
    | { readonly generation: number; readonly promise: Promise<StoredSession> }
    | undefined

  /** The failure of the last token request, already counted toward the pause. */
  let counted: AuthError | undefined

  /** Whether the session just changed: its token is used as it is, even if born expired. */
  const fresh = (): boolean => Date.now() < session.since + MIN_GAP

  /**
   * The token requests of one renewal: retried in place after a short pause, within the budget;
   * `undefined` when the session moved on during a pause.
   */
  async function exchange(tokens: TokenSet, from: number): Promise<StoredSession | undefined> {
    const started = Date.now()
    for (;;) {
      try {
        const renewed = await endpoint.refresh(tokens)
        backoff.succeeded()
        return renewed
      } catch (error) {
        if (error instanceof SessionExpiredError) throw error
        const failure = asAuthError(error)
        counted = failure
        const pause = backoff.failed(failure)
        tabs.paused(backoff.until, backoff.failures)
        // Only a server out of reach may answer the same request differently a moment later.
        const inPlace =
          failure instanceof TokenEndpointUnavailableError &&
          pause <= MAX_PAUSE_IN_RENEWAL &&
          Date.now() - started + pause + REQUEST_TIMEOUT <= RENEWAL_BUDGET
        if (!inPlace) throw failure
        await new Promise((resolve) => setTimeout(resolve, pause))
        if (from !== session.generation) return undefined
      }
    }
  }

  async function renew(from: number): Promise<StoredSession> {
    try {
      const renewed = await tabs.exclusive(from, (stored) => exchange(stored.tokens, from))
      if (renewed === undefined) return session.current()
      // A session replaced meanwhile (setTokens, logout, a sibling tab's login) wins over this
      // older renewal: the commit guard. The refresh token it brought would stay live, unused:
      // it is revoked, unless the session holds it too (a server that does not rotate).
      if (!session.commitRenewal(from, renewed)) {
        const orphan = renewed.tokens.refreshToken
        const { state } = session
        if (state.status !== 'active' || state.stored.tokens.refreshToken !== orphan) {
          if (orphan !== undefined) void endpoint.revoke(orphan)
        }
        return session.current()
      }
      events.emit('refresh', renewed.tokens)
      return renewed
    } catch (error) {
      if (from !== session.generation) return session.current()
      if (error instanceof SessionExpiredError) {
        session.expire(from)
        throw error
      }
      const failure = asAuthError(error)
      // A renewal that failed before any request (it gave up waiting for a sibling's lock) pauses
      // this tab too, so its calls do not each wait for that lock again.
      if (failure !== counted) backoff.failed(failure)
      events.emit('error', failure)
      throw failure
    } finally {
      if (inflight?.generation === from) inflight = undefined
    }
  }

  function start(): Promise<StoredSession> {
    const stored = session.current()
    const { generation } = session
    if (inflight?.generation === generation) return inflight.promise
    if (!canRenew(stored.tokens)) {
      // Nothing to renew with: the session cannot go on once its access token is unusable.
      session.expire(generation)
      return Promise.reject(new SessionExpiredError('Session expired: no refresh token'))
    }
    // During the pause after a failure, callers get that failure again without a request.
    if (Date.now() < backoff.until) {
      return Promise.reject(
        backoff.failure ??
          new TokenEndpointUnavailableError('renewals pause after a sibling tab’s request failed'),
      )
    }
    const promise = renew(generation)
    inflight = { generation, promise }
    return promise
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

  /** The token to send at once: valid beyond the leeway (or just renewed), no renewal in flight. */
  function tokenNow(): string | undefined {
    const { state } = session
    if (!session.restored || state.status !== 'active' || renewalInFlight()) return undefined
    const { stored } = state
    return fresh() || remainingLifetime(stored.tokens, Date.now()) > leewayFor(stored)
      ? stored.tokens.accessToken
      : undefined
  }

  /** The renewal of the current session in flight here or in a sibling tab, if any. */
  const renewalInFlight = (): Promise<unknown> | undefined =>
    inflight?.generation === session.generation ? inflight.promise : tabs.siblingRenewal()

  return {
    get notBefore() {
      return Math.max(backoff.until, session.since + MIN_GAP)
    },
    leewayFor,
    settled: async () => {
      await Promise.allSettled([inflight?.promise])
      await tabs.idle()
    },
    async refresh(signal) {
      await session.ready
      return (await join(signal)).tokens
    },
    tokenNow,
    async getAccessToken(signal) {
      await session.ready
      signal?.throwIfAborted()
      const now = tokenNow()
      if (now !== undefined) return now
      let stored = session.current()
      const valid = () => remainingLifetime(stored.tokens, Date.now()) > 0
      let renewal = renewalInFlight()
      // Inside the leeway: renew now. The call waits for it like any call that meets a renewal in
      // flight (a server may retire this token the moment the renewal commits), unless the
      // renewal is declined at once (a pause after failures).
      if (renewal === undefined && valid() && canRenew(stored.tokens)) renewal = start()
      if (renewal && (await abortable(settledWithin(renewal, INFLIGHT_WAIT), signal))) {
        stored = session.current()
      }
      // A renewal that failed or is slow leaves the current token, if it is still valid.
      return valid() ? stored.tokens.accessToken : (await join(signal)).tokens.accessToken
    },
  }
}
