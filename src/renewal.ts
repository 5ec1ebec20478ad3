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

/**
 * A renewal retries in place, its callers waiting, so that one lost packet does not fail a call:
 * only after a pause this short, so after the pauses of 1 s and 2 s (at most 3 requests, or a
 * `Retry-After` of up to 2 s). Longer pauses are left to the schedule, and the callers get the
 * failure at once. A renewal thus takes at most 3 × `REQUEST_TIMEOUT` (timing.ts) + 2 × this = 34 s.
 */
export const MAX_PAUSE_IN_RENEWAL = 2_000

/**
 * Before its first request, a renewal waits this long at most for the API calls already on their
 * way with the current token, in this tab and its siblings (see `Traffic`), and never past the
 * token's expiry: a tab that does not answer (frozen, say) delays the renewal no more than this.
 */
export const DRAIN_WAIT = 3_000

/** What one renewal works with, from the main bundle. */
export interface RenewalParts {
  readonly session: Session
  readonly endpoint: TokenEndpoint
  readonly events: Emitter
  /** The sibling tabs, so one of them renews at a time. */
  readonly tabs: CrossTab
  readonly backoff: Backoff
  /** This tab's API calls in flight. */
  readonly traffic: Traffic
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
 * Waits, at most {@link DRAIN_WAIT} and never past the token's expiry, until the API calls already on their way with the current token are
 * answered, in this tab and in every sibling (each answers the `renewing` announcement with
 * `drained`; their new calls wait for the renewal meanwhile). A server that deletes the previous
 * access token when the refresh commits then never meets one of them.
 */
async function drain(
  { tabs, traffic }: RenewalParts,
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
      timer = setTimeout(resolve, Math.max(0, Math.min(DRAIN_WAIT, expiresAt - Date.now())))
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
  stored: StoredSession | undefined,
  from: number,
  resource: string | undefined,
): Promise<StoredSession | undefined> {
  const { session, endpoint, tabs, backoff } = parts
  const tokens = stored?.tokens
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
      const renewed = await endpoint.refresh(tokens, resource)
      backoff.succeeded()
      return merge(stored, renewed, resource)
    } catch (error) {
      if (error instanceof SessionExpiredError) throw error
      const failure = asAuthError(error)
      const pause = backoff.failed(failure)
      tabs.paused?.(backoff.until, backoff.failures)
      // Only a server out of reach may answer the same request differently a moment later.
      if (!(failure instanceof TokenEndpointUnavailableError && pause <= MAX_PAUSE_IN_RENEWAL)) {
        throw failure
      }
      // A timer may fire before the clock reaches the pause's end (Node counts it from the start
      // of the event loop's turn): the rest is waited out, unless a sibling made the pause long.
      for (
        let left = pause;
        left > 0 && left <= MAX_PAUSE_IN_RENEWAL;
        left = backoff.until - Date.now()
      ) {
        await new Promise((resolve) => setTimeout(resolve, left))
      }
      if (from !== session.generation) return undefined
    }
  }
}

/** `value` without its members that are `undefined`, so renewed sessions compare as stored ones. */
const defined = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, member]) => member !== undefined)) as T

/**
 * The session after a renewal. The session's own renewal keeps the resources' tokens and the key
 * binding. A resource's renewal (RFC 8707 §2) adds that resource's access token and takes the
 * refresh token it rotated (the session's one), leaving the session's access token as it was.
 */
function merge(
  stored: StoredSession | undefined,
  renewed: StoredSession,
  resource: string | undefined,
): StoredSession {
  if (stored === undefined) return renewed
  const { resources, jkt } = stored
  if (resource === undefined) return defined({ ...renewed, resources, jkt })
  const { refreshToken, refreshExpiresAt, idToken, ...access } = renewed.tokens
  return defined({
    ...stored,
    tokens: defined({ ...stored.tokens, refreshToken, refreshExpiresAt } as TokenSet),
    resources: {
      ...resources,
      [resource]: defined({ tokens: access, lifetime: renewed.lifetime }),
    },
  })
}

/** The renewals of each client waiting their turn in this tab, once it has asked for turns. */
const turns = new WeakMap<RenewalParts, Promise<unknown>>()

/**
 * Makes every later renewal of the client of `parts` wait for the one before it in this tab, so
 * one token request of the session is in flight at a time even for different resources (each may
 * rotate the one refresh token). The tabs' lock does the same between tabs.
 */
export function takeTurns(parts: RenewalParts): void {
  if (!turns.has(parts)) turns.set(parts, Promise.resolve())
}

/** Runs `run` after the renewals before it in this tab, when the client takes turns. */
function inTurn<T>(parts: RenewalParts, run: () => Promise<T>): Promise<T> {
  const before = turns.get(parts)
  if (before === undefined) return run()
  const mine = before.then(run, run)
  turns.set(
    parts,
    mine.catch(() => undefined),
  )
  return mine
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
 * @param resource - renews the access token of this resource (RFC 8707) instead of the session's
 * @returns the session after it: the renewed one, or the one that replaced it meanwhile
 * @throws {AuthError} the renewal's failure
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function renew(
  parts: RenewalParts,
  from: number,
  resource?: string,
): Promise<StoredSession> {
  const { session, endpoint, events, tabs, backoff } = parts
  /** Whether the renewal got as far as its requests, whose failures count as they happen. */
  let requested = false
  const hadSession = session.active() !== undefined
  try {
    const renewed = await inTurn(parts, () =>
      tabs.exclusive(from, (stored) => {
        requested = true
        return exchange(parts, stored, from, resource)
      }),
    )
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
