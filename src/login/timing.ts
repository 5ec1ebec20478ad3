// The time budgets of sign-in, in one place. All in milliseconds.

/** A sign-in attempt (its state, verifier and nonce) is good for this long after it started. */
export const ATTEMPT_LIFETIME = 600_000

/** A popup that has not come back by then is closed, and `loginPopup` rejects `popup_timeout`. */
export const POPUP_TIMEOUT = ATTEMPT_LIFETIME

/** How often the opener looks whether the user closed the popup. */
export const POPUP_POLL = 500

/**
 * How far the ID token's `exp` and `iat` may be off the local clock (OpenID Connect Core
 * §3.1.3.7 items 9 and 10 leave the tolerance to the client).
 */
export const CLOCK_TOLERANCE = 300_000
