import { SessionExpiredError, TokenEndpointUnavailableError } from './errors.js'
import type { RenewalParts } from './renewal.js'
import type { StoredSession } from './storage.js'
import { INFLIGHT_WAIT, MIN_GAP } from './timing.js'
import { remainingLifetime, type TokenSet } from './token-set.js'
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
   * Whether a session can be renewed: it holds a refresh token (RFC 6749 §6), or a session backend
   * holds it. The one definition used wherever the SDK asks.
   */
  canRenew(tokens: TokenSet): boolean
  /**
   * Epoch ms before which no proactive renewal should start: during the pause after failures, and
   * just after the session changed (so tokens that are born expired cannot cause a renewal loop).
   */
  readonly notBefore: number
}

/** The parts a refresher works with: those of a renewal, and the leeway. */
export interface RefresherParts extends RenewalParts {
  /** The `refreshLeeway` option, ms. */
  readonly refreshLeeway: number
  /**
   * A session backend holds the refresh token: every session can be renewed, and a renewal may
   * start without one (the backend may have a session this page has not seen).
   */
  readonly backend: boolean
}

/**
 * Creates the single-flight refresher: however many callers need a new token at once, one
 * renewal goes to the token endpoint and all of them share its result. Failed requests pause
 * further ones ({@link Backoff}); a renewal retries in place only briefly, within its budget.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export function createRefresher(parts: RefresherParts): Refresher {
  const { session, events, tabs, backoff, refreshLeeway, backend } = parts
  const canRenew = (tokens: TokenSet) => backend || tokens.refreshToken !== undefined
  /** The renewal in flight, for the session generation it renews: a replaced session never joins it. */
  let inflight:
    | { readonly generation: number; readonly promise: Promise<StoredSession> }
    | undefined

  function start(): Promise<StoredSession> {
    // Without a session only a session backend has something to ask.
    const stored = backend ? session.active() : session.current()
    const { generation } = session
    if (inflight?.generation === generation) return inflight.promise
    if (stored && !canRenew(stored.tokens)) {
      // Nothing to renew with: the session cannot go on once its access token is unusable.
      session.expire(generation)
      return Promise.reject(new SessionExpiredError('Session expired: no refresh token'))
    }
    // During the pause after a failure, callers get that failure again without a request.
    const paused = backoff.paused
    if (paused) return Promise.reject(paused)
    // The renewal's code is loaded with the first renewal; if it cannot be, this renewal fails
    // as if the token server were out of reach.
    const promise: Promise<StoredSession> = import('./token-server.js')
      .then(
        (loaded) => loaded.renew(parts, generation),
        () => {
          const failure = new TokenEndpointUnavailableError('token endpoint code not loaded')
          backoff.failed(failure)
          events.emit('error', failure)
          throw failure
        },
      )
      .finally(() => {
        if (inflight?.promise === promise) inflight = undefined
      })
    inflight = { generation, promise }
    return promise
  }

  /** Joins or starts the shared renewal; an aborted caller neither waits nor starts one. */
  async function join(signal: AbortSignal | null | undefined): Promise<StoredSession> {
    signal?.throwIfAborted()
    return abortable(start(), signal)
  }

  function leewayFor(stored: StoredSession): number {
    return Math.min(refreshLeeway, (stored.lifetime ?? Infinity) / 2)
  }

  /**
   * The token to send at once: no restore pending (a renewal asked for meanwhile starts after it),
   * valid beyond the leeway (or just renewed), no renewal in flight.
   */
  function tokenNow(): string | undefined {
    const { state } = session
    if (!session.restored || state.status !== 'active' || renewalInFlight()) return undefined
    const { stored } = state
    // One clock read: this runs for every API call. A token just renewed is used as it is, even
    // if born expired (MIN_GAP).
    const now = Date.now()
    return now < session.since + MIN_GAP ||
      remainingLifetime(stored.tokens, now) > leewayFor(stored)
      ? stored.tokens.accessToken
      : undefined
  }

  /** The renewal of the current session in flight here or in a sibling tab, if any. */
  const renewalInFlight = (): Promise<unknown> | undefined =>
    inflight?.generation === session.generation ? inflight.promise : tabs.siblingRenewal?.()

  return {
    get notBefore() {
      return Math.max(backoff.until, session.since + MIN_GAP)
    },
    leewayFor,
    canRenew,
    settled: async () => {
      await Promise.allSettled([inflight?.promise, tabs.siblingRenewal?.()])
    },
    async refresh(signal) {
      // Without a restore pending, the renewal starts at once: a call made right after this one
      // finds it in flight and waits for it.
      if (!session.restored) await session.ready
      return (await join(signal)).tokens
    },
    tokenNow,
    async getAccessToken(signal) {
      await session.ready
      signal?.throwIfAborted()
      const now = tokenNow()
      if (now !== undefined) return now
      if (!session.active()) return (await join(signal)).tokens.accessToken
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
