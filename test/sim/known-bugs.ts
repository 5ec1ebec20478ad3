/**
 * SDK bugs the simulator found, fixed or not yet. A violation is classified as one of
 * them only when the run shows that bug's own signature (facts the simulator observed, not the
 * wording of the violation): such a seed is reported as a known bug and does not fail the test,
 * so the rest of the simulation stays useful. When a fix lands, set `fixed: true`: the signature
 * is then no longer excused, and the regression seeds of that bug must pass
 * (test/sim/regressions.test.ts).
 */
export const KNOWN_BUGS = {
  'ended-revision-readopted': {
    fixed: true,
    title:
      "A tab adopts a sibling's session at or below a revision that a 'logout' or 'expired' " +
      'message it received had announced as ended (the session comes back to life).',
    signature:
      "the tab's 'tokens' event comes from a 'session' message whose revision is <= the highest " +
      "revision of a 'logout'/'expired' message that tab received before",
  },
  'hello-unanswered': {
    fixed: true,
    title:
      'A tab that missed the end of the session (restored from the back/forward cache, or ' +
      'restored from its own sessionStorage) keeps it: siblings without a session do not ' +
      "answer 'hello'.",
    signature:
      'quiet, every other tab holds no session, and each tab still holding one holds a ' +
      'session that ended in another tab and whose end it never heard of',
  },
  'disposed-client-renews': {
    fixed: true,
    title:
      'A disposed client still renews, outside the group: a renewal in flight at dispose() lands ' +
      'its rotated refresh token in a client that no longer tells its siblings (they later ' +
      'present the old one), and a call still waiting at dispose() renews later with a refresh ' +
      'token its siblings have rotated since.',
    signature:
      'the rotation involved was answered to a disposed tab, or the rotated refresh token is ' +
      'presented by a disposed tab',
  },
  'bfcache-renewal': {
    fixed: true,
    title:
      'A renewal waiting for the lock when the page went into the back/forward cache goes on ' +
      "after 'pageshow' with the session it had, before the siblings' answers to its new " +
      "'hello' arrive, and presents a refresh token rotated meanwhile.",
    signature:
      "the presenting tab lost, in the bfcache, a 'session' message with a newer state of the " +
      'same session',
  },
  'handoff-too-short': {
    fixed: false,
    title:
      "A renewal's result reaches the siblings over the channel, and the lock is released " +
      'HANDOFF (100 ms) later: a message slower than that lets the next holder of the lock ' +
      "present the rotated refresh token. Only with the 'slow' message profile, which drawn " +
      'options leave out (options.ts, SLOW_MESSAGES).',
    signature:
      "when the presenting tab sent its request, a 'session' message with a newer state of " +
      'the same session was already on its way to it',
  },
  'stale-renewal-after-drain': {
    fixed: true,
    title:
      'A renewal takes the session when it gets the lock, then waits for the API calls in ' +
      "flight (the drain, up to 3 s, since the core's 16:43 change); a sibling's newer session " +
      'that arrives meanwhile is adopted, but the request still presents the refresh token taken ' +
      "before. Seen when the previous holder's result arrives after the hand-off (slow " +
      'messages, a crash during the hand-off).',
    signature: 'the presenting tab already held a newer state of the same session when it sent',
  },
  'expired-answered-as-logout': {
    fixed: true,
    title:
      "A tab whose session expired (a sibling's invalid_grant) and that then called logout() " +
      "answered a later tab's hello with 'logout': the tab back from the back/forward cache " +
      "fired 'logout' for a session no logout() had ended (seed 20732).",
    signature: "a tab fires 'logout' after a 'logout' message from a tab whose session had expired",
  },
  'lease-unanswered-claim': {
    fixed: false,
    title:
      'Without Web Locks: a tab that claimed the lease does not answer a later claim during its ' +
      'claim window, so a tab that never saw the first claim (opened after it, back from the ' +
      "bfcache) takes the lease too; background throttling stretches a hidden tab's 100 ms " +
      'window to a second, which widens the gap.',
    signature:
      'two token requests of one session in flight, lease mode, and the tab with the later ' +
      "claim never received the other tab's earlier claim",
  },
  'lease-reentrant': {
    fixed: false,
    title:
      'Without Web Locks: a tab renewing under the lease starts a second renewal (after a new ' +
      "login), which claims the lease again; the first renewal's release then frees the lease " +
      "while the second one's request is in flight, and a sibling renews the same session.",
    signature: 'a tab released the lease while one of its token requests was in flight',
  },
  'lease-wall-clock': {
    fixed: false,
    title:
      'Without Web Locks: a claim lapses on the wall clock (LEASE_LAPSE, 35 s). When the machine ' +
      'sleeps longer than that with timers held, every claim lapses at once on wake-up, and a ' +
      'sibling takes the lease while the claimant is still in its claim window.',
    signature:
      'two token requests of one session in flight, lease mode, after a sleep longer than the ' +
      'lapse that followed the earlier claim',
  },
  'lease-claim-window': {
    fixed: false,
    title:
      'Without Web Locks: two tabs that claim the lease within one message delay of each other ' +
      'both take it when messages take longer than CLAIM_WINDOW (100 ms): the documented ' +
      "assumption of the lease. Only with the 'slow' message profile, not drawn (SLOW_MESSAGES).",
    signature:
      'two token requests of one session in flight, lease mode, and the later claimant heard ' +
      'the earlier claim only after its own window was over',
  },
  'lease-stale-claim': {
    fixed: false,
    title:
      'Without Web Locks: a claim whose window ran long (the tab was frozen during it) is taken ' +
      "when the window's timer fires on resume, before the messages that arrived meanwhile " +
      '(newer sessions, other claims) are read: the tab renews a session its siblings renewed ' +
      'since.',
    signature:
      'lease mode, and the tab sends its request more than 1.5 s after its claim (a 100 ms window)',
  },
  'lease-dispose-no-release': {
    fixed: false,
    title:
      'Without Web Locks: dispose() while the tab claims or holds the lease sends no release ' +
      '(close() shuts the channel before the aborted claim posts it), so siblings wait for the ' +
      'lease to lapse (35 s) and their calls fail meanwhile.',
    signature:
      'a call fails, lease mode, and within the lock wait before, a tab whose last lease message ' +
      'was a claim was disposed',
  },
  'resource-timer-after-end': {
    fixed: true,
    title:
      "Resource indicators: the proactive renewal timer of a resource's token (resource-tokens.ts, " +
      "schedule()) is re-armed on 'tokens' but not cleared when the session ends; when it fires " +
      'after a logout or an expiry, renewResource() calls session.current() synchronously, which ' +
      'throws NoSessionError out of the timer callback (an uncaught exception in the page; its ' +
      '.catch() is on the promise renewResource never returns). The page runs on, so the run ' +
      'does too (seed 1 with --options \'{"dpop":true,"resources":2}\'). Fixed: renewResource() ' +
      'rejects instead of throwing, and the end of the session clears the timer.',
    signature:
      "a tab's timer task throws NoSessionError or SessionExpiredError while the tab holds no " +
      'session',
  },
  'nonce-retry-needs-new-nonce': {
    fixed: true,
    title:
      "DPoP: an API's 401 use_dpop_nonce is retried only when its DPoP-Nonce is new to the tab " +
      '(api-fetch.ts attempt(): `prover.learn()` returns whether the nonce is new). When several ' +
      'calls are answered with the same new nonce (a burst in a tab that had none, or after the ' +
      'API rotated it), the first answer teaches the nonce and only that call retries; the ' +
      "others go to the 401 policy as rejections: a renewal of the session (or the resource's " +
      'token), a rotation of the refresh token and a count toward the breaker, for no reason. ' +
      'The retry should depend on the proof having carried another nonce than the challenge ' +
      'brings (seed 3 with --options \'{"dpop":true,"resources":2}\'). Since 69fbdc8 such a ' +
      '401 is returned to the app as it is: the call fails (seed 166, same options). Fixed: ' +
      "learn() compares the challenge's nonce with the one the call's own proof carried.",
    signature:
      "a call's use_dpop_nonce challenge is followed by a request with another token (5747651), " +
      'or ends the call with that 401 (since 69fbdc8, which returns such a 401 as it is), and ' +
      "the challenge's nonce was the one the tab already held when the challenge reached it",
  },
  'resource-renewal-waits-for-silent-sibling': {
    fixed: true,
    title:
      "Resource indicators: a resource's renewal first awaits refresher.settled() " +
      "(resource-tokens.ts renewResource), which awaits a sibling's announced renewal " +
      "(tabs.siblingRenewal(): resolved by the sibling's next 'session', 'backoff' or " +
      "'renewing') without a bound. A sibling whose renewal ends without such a message never " +
      "resolves it: one that finds the pause begun after its 'renewing' (exchange() throws " +
      "`backoff.paused` without posting 'backoff'), one whose session moved on during the drain, " +
      'one disposed, crashed or frozen meanwhile. The renewal then hangs, stays in `inflight`, ' +
      'and every later call and getAccessToken({ resource }) for that resource joins it and never ' +
      "settles, even after a new login. The session's own path bounds the same wait " +
      '(settledWithin(..., INFLIGHT_WAIT)). Seed 578 with --options ' +
      '\'{"dpop":true,"resources":2}\' (tab2 posts renewing at 32.7 s and fails on the pause; ' +
      "tab1's data-API renewal at 37.0 s waits for ever; the probe's calls at 174 s never settle). " +
      'Likewise a tab disposed while it waits: its channel closes, the outcome never reaches it, ' +
      'and its pending getAccessToken({ resource }) never settles (seed 2259, default options). ' +
      "Fixed: the wait is bounded like the session's own (SESSION_RENEWAL_WAIT = INFLIGHT_WAIT).",
    signature:
      "a call with a resource's token never settles, and some tab announced a renewal " +
      "('renewing') and sent no 'session' or 'backoff' after it, or the call's tab was disposed " +
      "while a sibling's announced renewal had no outcome yet",
  },
} as const

/** The id of a known bug. */
export type KnownBug = keyof typeof KNOWN_BUGS

/** Whether violations with this bug's signature are still excused. */
export function isOpen(bug: KnownBug): boolean {
  return !KNOWN_BUGS[bug].fixed
}
