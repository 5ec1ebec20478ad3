import { SessionExpiredError, TokenEndpointUnavailableError } from './errors.js'
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
  /** Resolves when no renewal is in flight (whatever its outcome). */
  settled(): Promise<void>
  /** Epoch ms before which no new renewal is attempted after a failure. */
  readonly pausedUntil: number
}

/** Backoff between failed renewals, so a server that is down never meets a storm. */
const FIRST_PAUSE = 1_000
const MAX_PAUSE = 60_000

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
 */
export function createRefresher(
  session: Session,
  endpoint: TokenEndpoint,
  events: Emitter,
  refreshLeeway: number,
): Refresher {
  let inflight: Promise<StoredSession> | undefined
  let failures = 0
  let pausedUntil = 0

  async function renew(stored: StoredSession, from: number): Promise<StoredSession> {
    try {
      const renewed = await endpoint.refresh(stored.tokens)
      failures = 0
      pausedUntil = 0
      // A session replaced meanwhile (setTokens, logout) wins over this older renewal.
      if (!session.commitRenewal(from, renewed)) return session.current()
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
      events.emit('error', error as TokenEndpointUnavailableError)
      throw error
    } finally {
      inflight = undefined
    }
  }

  function start(): Promise<StoredSession> {
    if (inflight !== undefined) return inflight
    const stored = session.current()
    if (stored.tokens.refreshToken === undefined) {
      // Nothing to renew with: the session cannot go on once its access token is unusable.
      session.expire(session.generation)
      return Promise.reject(new SessionExpiredError('Session expired: no refresh token'))
    }
    const wait = pausedUntil - Date.now()
    if (wait > 0) {
      return Promise.reject(
        new TokenEndpointUnavailableError(
          `renewal paused for ${Math.ceil(wait / 1000)} s after a failed attempt`,
        ),
      )
    }
    inflight = renew(stored, session.generation)
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
    get pausedUntil() {
      return pausedUntil
    },
    leewayFor,
    settled: async () => {
      await Promise.allSettled([inflight])
    },
    async refresh(signal) {
      await session.ready
      return (await join(signal)).tokens
    },
    async getAccessToken(signal) {
      await session.ready
      const stored = session.current()
      const remaining = remainingLifetime(stored.tokens, Date.now())
      if (remaining > 0) {
        // Inside the leeway: renew in the background; this call still has a valid token.
        // (start() joins a renewal in flight and declines during a pause after a failure.)
        if (remaining <= leewayFor(stored) && stored.tokens.refreshToken !== undefined) {
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
