// The time budgets of the cross-tab chunk, in one place, beside the main bundle's timing.ts (a
// chunk that imported the main bundle's constants would make it export them). All in ms.

/**
 * How long a tab waits for a sibling's renewal lock: longer than one renewal can take (37 s: the
 * drain, then 34 s, see `MAX_PAUSE_IN_RENEWAL` in renewal.ts), so only a tab that hangs while holding it
 * makes a sibling give up (or, once, a first renewal that also reads the server's metadata).
 */
export const LOCK_WAIT = 40_000
/**
 * How long the lock is kept after a renewal's result was shared: the result reaches every sibling
 * over the channel before the next holder of the lock reads the session.
 */
export const HANDOFF = 100
/** How long a new tab waits for a sibling to hand over the session. */
export const HELLO_WAIT = 200
/**
 * How long a lease claim (without Web Locks) waits for a competing one before it is taken.
 * Siblings' messages arrive within a few milliseconds, so two tabs claiming at once see each other.
 */
export const CLAIM_WINDOW = 100
/** A lease whose holder never released it (a tab closed mid-renewal) lapses after this long. */
export const LEASE_LAPSE = LOCK_WAIT

/**
 * A sibling's renewal is waited for only this long after it was announced: one that is slow, or
 * whose tab closed mid-renewal, delays calls once, not every call until its lock would lapse. Equal to the main
 * bundle's `INFLIGHT_WAIT` (test/sim/timing-drift.test.ts checks it).
 */
export const SIBLING_RENEWAL_LAPSE = 5_000
