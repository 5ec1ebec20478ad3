/**
 * Every time budget of the SDK, in milliseconds, in one place: several must fit inside each other
 * (a renewal inside the lock wait, the lock wait inside nothing the app waits on forever), and each
 * says why it has its value.
 */

/**
 * One request to the token server (a refresh, a revocation, a metadata document) gives up after
 * this long, body included; a failed refresh then counts toward the pause below.
 */
export const REQUEST_TIMEOUT = 10_000

/**
 * The pause after the first failed token request; each further failure doubles it, up to
 * {@link MAX_PAUSE}. Every request counts, whichever renewal or tab sent it, so a server that is
 * down sees at most about 16 requests in 10 minutes from one browser.
 */
export const FIRST_PAUSE = 1_000
/** The longest pause between failed token requests: a recovered server is used within a minute. */
export const MAX_PAUSE = 60_000
/**
 * Each pause is shortened by up to this fraction at random, so a fleet of clients that failed
 * together does not come back in step (and a pause never exceeds {@link MAX_PAUSE}).
 */
export const PAUSE_JITTER = 0.2
/**
 * The longest `Retry-After` (RFC 9110 §10.2.3) honoured. A server asking for more is asked again
 * after 10 minutes: a misconfigured header must not leave a session unrenewable for a day.
 */
export const MAX_RETRY_AFTER = 600_000

// The budgets of one renewal (MAX_PAUSE_IN_RENEWAL, DRAIN_WAIT) are in renewal.ts, with the
// chunk that spends them.
// The budgets of the tabs' lock and hand-over (LOCK_WAIT, HANDOFF, HELLO_WAIT, CLAIM_WINDOW,
// LEASE_LAPSE, SIBLING_RENEWAL_LAPSE) are in cross-tab/timing.ts, with the chunk that uses them.

/**
 * How long a call that starts while a renewal of the session is in flight waits for its result
 * before it goes out with the current, still valid, token. Servers that delete the previous access
 * token when a refresh commits (Django OAuth Toolkit) would otherwise answer it 401.
 */
export const INFLIGHT_WAIT = 5_000

/** How long `logout()` waits for a renewal in flight, so it revokes the newest refresh token. */
export const LOGOUT_WAIT = 5_000

/**
 * The shortest gap between a renewal and the next proactive one. A server that issues tokens with
 * `expires_in: 0` would otherwise be asked for a new token in a loop; within the gap the fresh
 * token is used and the API's 401 decides.
 */
export const MIN_GAP = 500
/**
 * Timers are re-armed at least this often, so a machine that slept notices within a minute that
 * the renewal is due. It also keeps every delay far below 2^31−1 ms, past which browsers fire a
 * timer at once (a refresh storm).
 */
export const MAX_CHUNK = 60_000
/** Upper bound of the random jitter subtracted from the proactive renewal time. */
export const MAX_JITTER = 1_000

// The 401 breaker's budgets (FIRST_BREAKER_PAUSE, MAX_BREAKER_PAUSE) are in rejection-breaker.ts.

/**
 * A pause of `2^(count−1) × first`, capped at `max`, shortened by up to {@link PAUSE_JITTER}, in
 * whole milliseconds: a timer set for a fraction of a millisecond wakes before the pause is over.
 *
 * @param count - failures so far (≥ 1)
 * @param first - the first pause, ms
 * @param max - the cap, ms
 */
export function exponentialPause(count: number, first: number, max: number): number {
  return Math.ceil(Math.min(first * 2 ** (count - 1), max) * (1 - PAUSE_JITTER * Math.random()))
}
