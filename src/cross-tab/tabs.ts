import type { Session, SessionChange } from '../session.js'
import type { StoredSession } from '../storage.js'

/**
 * One session across the tabs of an origin: shared results, and one renewal at a time. A client
 * that works alone has only `exclusive`.
 */
export interface CrossTab {
  /**
   * Runs `renew` so that no sibling renews at the same time. Resolves to `undefined`, without
   * calling `renew`, when the lock came but the session had moved on from `generation` (a sibling
   * renewed and this tab adopted its tokens, or the session ended). Rejects with
   * `TokenEndpointUnavailableError` when the wait for the lock was stopped: it ran out, or the
   * session changed (which the caller, seeing a new generation, takes as moved on).
   */
  exclusive(
    generation: number,
    renew: (stored: StoredSession | undefined) => Promise<StoredSession | undefined>,
  ): Promise<StoredSession | undefined>
  /**
   * Tells siblings about a change this tab made, and stops every wait for the lock: each was for
   * the session state the change replaced.
   */
  changed?(change?: SessionChange): void
  /** Tells siblings that token requests pause until `until` (epoch ms), after `failures`. */
  paused?(until: number, failures: number): void
  /**
   * A sibling's renewal of this tab's session in flight: resolves when its outcome arrives (new
   * tokens, the end of the session, a failure). `undefined` when no sibling is renewing it, or the
   * one that said so went silent for `SIBLING_RENEWAL_LAPSE`.
   */
  siblingRenewal?(): Promise<void> | undefined
  /** How many siblings are open; `undefined` when that cannot be known (no Web Locks). */
  siblings?(): Promise<number | undefined>
  /** Set by a renewal while it waits: called for each sibling that answered `drained`. */
  onDrained?: (() => void) | undefined
  /** Leaves the group: closes the channel and releases the lock. */
  close?(): void
}

/**
 * A client that works alone (`crossTab: false`, or no `BroadcastChannel`): renewals run at once.
 *
 * @param session - the client's session
 */
export function alone(session: Session): CrossTab {
  return { exclusive: (_, renew) => renew(session.active()) }
}
