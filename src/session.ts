import { NoSessionError, SessionExpiredError } from './errors.js'
import type { Emitter } from './events.js'
import type { SessionStore, StoredSession } from './storage.js'

/**
 * The session's state. `generation` changes whenever the session is replaced or ended, so a
 * renewal that started before can tell that its result must not be committed.
 */
export type SessionState =
  | { readonly status: 'none' }
  | { readonly status: 'active'; readonly stored: StoredSession }
  | { readonly status: 'expired' }

/**
 * A change this tab made, for sibling tabs to follow. `revision` names the session that ended,
 * so a sibling that already moved on to a newer one keeps it.
 */
export type SessionChange =
  | { readonly type: 'session'; readonly stored: StoredSession }
  | { readonly type: 'logout' | 'expired'; readonly revision: number }

/** The one place the session's tokens live; every change goes through here. */
export interface Session {
  readonly state: SessionState
  readonly generation: number
  /** Resolves once a session kept in async storage or held by a sibling tab has been restored. */
  readonly ready: Promise<void>
  /** Whether `ready` has resolved: no restore is pending, the state can be read at once. */
  readonly restored: boolean
  /**
   * Local time (epoch ms) the current state was renewed here or adopted from a sibling;
   * `-Infinity` for a login or a state restored from storage.
   */
  readonly since: number
  /** Makes `ready` wait for `restoring` too (a sibling tab's answer). */
  restoreFrom(restoring: Promise<unknown>): void
  /** The active tokens, or the error a call should reject with. */
  current(): StoredSession
  /** The active session, if any. */
  active(): StoredSession | undefined
  /** Replaces the session (login, `setTokens`). */
  replace(stored: StoredSession): void
  /**
   * Commits a renewal made from `generation`; returns false when the session moved on meanwhile.
   * A renewal made without a session (a session backend's) starts one, as a login does.
   */
  commitRenewal(generation: number, stored: StoredSession): boolean
  /**
   * Takes a sibling tab's session when it is newer than this one (a higher revision); returns
   * whether it did. Fires `tokens`, but is not published back.
   */
  adopt(stored: StoredSession): boolean
  /**
   * Ends the session because the server rejected the refresh token; fires `expired` once.
   * `fromSibling` marks a sibling's verdict, which is applied but not published back.
   */
  expire(generation: number, fromSibling?: boolean): void
  /**
   * A sibling says the session of `revision` ended (`logout`, or `expired` by `invalid_grant`):
   * applied when this tab holds that session or an older one; a later message offering a session
   * of that revision or older is not adopted either way. Returns whether a logout was applied.
   */
  endedInSibling(type: 'logout' | 'expired', revision: number): boolean
  /** The revision of the last session known to have ended here or in a sibling (0: none). */
  readonly ended: number
  /** How that session ended: `expired` stays so after a `logout()` that came later. */
  readonly endedBy: 'logout' | 'expired'
  /** Forgets the session (`logout`); returns whether one was active. */
  clear(fromSibling?: boolean): boolean
}

/** Whether `a` is a newer session state than `b`: by revision, ties broken the same in every tab. */
function isNewer(a: StoredSession, b: StoredSession): boolean {
  const ra = a.revision ?? 0
  const rb = b.revision ?? 0
  return ra > rb || (ra === rb && a.tokens.accessToken > b.tokens.accessToken)
}

/**
 * Creates the session state holder, restoring a stored session first.
 *
 * @param store - where the session is persisted. When every tab shares it, only the tab that made
 *   a change writes it, so a sibling's late write cannot put back an older session.
 * @param events - the client's emitter
 * @param onChange - called after every change, with the change when this tab made it
 */
export function createSession(
  store: SessionStore,
  events: Emitter,
  onChange: (change?: SessionChange) => void,
): Session {
  let state: SessionState = { status: 'none' }
  let generation = 0
  let since = -Infinity
  /** Restores in progress (async storage, a sibling's answer): `ready` waits for them. */
  let restoring = 0
  /** The revision of the last session that ended here: a late message about it is not adopted. */
  let ended = 0
  let endedBy: 'logout' | 'expired' = 'logout'

  function persist(stored: StoredSession | null, fromSibling: boolean): void {
    if (fromSibling && store.shared) return
    // Storage is persistence only: when a write throws or rejects (quota, storage disabled),
    // the in-memory session stays authoritative.
    try {
      Promise.resolve(store.save(stored)).catch(() => undefined)
    } catch {}
  }

  const revision = (): number => (state.status === 'active' ? (state.stored.revision ?? 0) : 0)

  function activate(
    stored: StoredSession,
    change: 'restore' | 'login' | 'renewal' | 'sibling',
  ): void {
    const made = change === 'login' || change === 'renewal'
    if (made) {
      // Strictly increasing, so siblings order it after the state it replaces (or ended). A
      // renewal is one step after the session it renewed, a login at least two: a login made in
      // a sibling that had not yet heard of this renewal (both replace the same session) wins.
      const after = Math.max(revision(), ended)
      const next = change === 'renewal' ? after + 1 : Math.max(Date.now(), after + 2)
      stored = { ...stored, revision: next }
    }
    generation++
    state = { status: 'active', stored }
    // A login or a restored session may hold a token that is long expired: only a renewal's (or a
    // sibling's) token counts as just made.
    since = change === 'renewal' || change === 'sibling' ? Date.now() : -Infinity
    if (change !== 'restore') persist(stored, change === 'sibling')
    events.emit('tokens', stored.tokens)
    onChange(made ? { type: 'session', stored } : undefined)
  }

  /**
   * Ends the session, by `logout` (this tab's or a sibling's) or as `expired` (`invalid_grant`):
   * publishes it to the siblings unless it came from one, and returns whether a session was active.
   */
  const end = (type: 'logout' | 'expired', fromSibling: boolean): boolean => {
    const wasActive = state.status === 'active'
    if (wasActive) endedBy = type
    ended = Math.max(ended, revision())
    generation++
    state = { status: type === 'logout' ? 'none' : 'expired' }
    persist(null, fromSibling)
    if (type === 'expired') events.emit('expired', new SessionExpiredError())
    onChange(fromSibling || !wasActive ? undefined : { type, revision: ended })
    return wasActive
  }

  // A stored session a sibling said has ended (its write raced that end, with async storage) stays
  // ended: it is not restored.
  const restore = (stored: StoredSession | null): void => {
    if (stored !== null && generation === 0 && !((stored.revision ?? 0) <= ended && ended)) {
      activate(stored, 'restore')
    }
  }
  let ready = Promise.resolve()
  /** Makes `ready` wait for `pending` too; a restore that fails leaves the state as it is. */
  const wait = (pending: Promise<unknown>): void => {
    restoring++
    ready = Promise.all([ready, pending.catch(() => undefined)]).then(() => {
      restoring--
    })
  }
  try {
    const loaded = store.load()
    if (loaded instanceof Promise) wait(loaded.then(restore))
    else restore(loaded)
  } catch {
    // Unreadable storage (disabled, sandboxed): start without a session.
  }

  return {
    get state() {
      return state
    },
    get generation() {
      return generation
    },
    get ready() {
      return ready
    },
    get restored() {
      return !restoring
    },
    get since() {
      return since
    },
    restoreFrom: wait,
    current() {
      if (state.status === 'active') return state.stored
      // A fresh error per call: callers may annotate what they catch.
      throw state.status === 'expired' ? new SessionExpiredError() : new NoSessionError()
    },
    replace(stored) {
      activate(stored, 'login')
    },
    active: () => (state.status === 'active' ? state.stored : undefined),
    commitRenewal(from, stored) {
      if (from !== generation) return false
      activate(stored, state.status === 'active' ? 'renewal' : 'login')
      return true
    },
    adopt(stored) {
      const stale =
        state.status === 'active' ? !isNewer(stored, state.stored) : (stored.revision ?? 0) <= ended
      if (stale) return false
      activate(stored, 'sibling')
      return true
    },
    expire(from, fromSibling = false) {
      if (from === generation && state.status === 'active') end('expired', fromSibling)
    },
    get ended() {
      return ended
    },
    get endedBy() {
      return endedBy
    },
    endedInSibling(type, at) {
      if (at > ended) endedBy = type
      ended = Math.max(ended, at)
      return state.status === 'active' && revision() <= at && end(type, true) && type === 'logout'
    },
    clear(fromSibling = false) {
      return end('logout', fromSibling)
    },
  }
}
