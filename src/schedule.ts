import type { Refresher } from './refresh.js'
import type { Session } from './session.js'
import { MAX_CHUNK, MAX_JITTER } from './timing.js'

/** Proactive renewal: the timer plus the wake-up checks. */
export interface Schedule {
  /** Re-arms the timer for the current session. */
  update(): void
  /** Stops the timer and removes the page listeners. */
  dispose(): void
}

type Listen = (type: string, listener: () => void) => void

/**
 * Schedules a renewal `leeway` before the access token expires (at most half its lifetime, minus
 * a little jitter so sibling clients do not renew in lockstep). The timer is clamped and chunked
 * and re-checked when the page becomes visible, regains focus, comes back online or is restored
 * from the back/forward cache, because background tabs throttle timers and sleep stops them.
 *
 * @param session - the session state holder
 * @param refresher - the single-flight refresher
 * @param used - whether any API is called with the session's own token: when every `apiOrigins`
 *   entry has a resource of its own (RFC 8707), that token is renewed only when asked for
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export function createSchedule(session: Session, refresher: Refresher, used: boolean): Schedule {
  let timer: ReturnType<typeof setTimeout> | undefined
  let dueAt: number | undefined
  let jitterFor: object | undefined
  let jitter = 0
  let disposed = false

  function computeDue(): number | undefined {
    const { state } = session
    if (!used || state.status !== 'active') return undefined
    const { tokens } = state.stored
    if (tokens.expiresAt === undefined || !refresher.canRenew(tokens)) return undefined
    // One jitter per token set, so re-arming does not move the target around.
    if (jitterFor !== state.stored) {
      jitterFor = state.stored
      const lifetime = state.stored.lifetime ?? Infinity
      jitter = Math.random() * Math.min(MAX_JITTER, lifetime / 20)
    }
    const due = tokens.expiresAt - refresher.leewayFor(state.stored) - jitter
    // Whole milliseconds: a timer cannot wait for a fraction of one, and would wake just before.
    return Math.ceil(Math.max(due, refresher.notBefore))
  }

  function fire(): void {
    // Only an armed timer fires, and arming sets dueAt.
    if (Date.now() < (dueAt as number)) {
      arm()
      return
    }
    // Failures are reported through the 'error' event; re-arm for after the pause.
    refresher.refresh().then(arm, arm)
  }

  function arm(): void {
    clearTimeout(timer)
    dueAt = disposed ? undefined : computeDue()
    if (dueAt === undefined) return
    const delay = Math.min(Math.max(dueAt - Date.now(), 0), MAX_CHUNK)
    timer = setTimeout(fire, delay)
  }

  const recheck = (): void => {
    if (doc?.visibilityState !== 'hidden') arm()
  }
  const target = globalThis as { addEventListener?: Listen; removeEventListener?: Listen }
  const doc = (
    globalThis as {
      document?: {
        addEventListener: Listen
        removeEventListener: Listen
        visibilityState: string
      }
    }
  ).document
  const windowEvents = ['online', 'focus', 'pageshow']
  for (const type of windowEvents) target.addEventListener?.(type, recheck)
  doc?.addEventListener('visibilitychange', recheck)

  return {
    update: arm,
    dispose() {
      disposed = true
      arm()
      for (const type of windowEvents) target.removeEventListener?.(type, recheck)
      doc?.removeEventListener('visibilitychange', recheck)
    },
  }
}
