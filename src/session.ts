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

/** The one place the session's tokens live; every change goes through here. */
export interface Session {
  readonly state: SessionState
  readonly generation: number
  /** Resolves once a session kept in async storage has been restored. */
  readonly ready: Promise<void>
  /** The active tokens, or the error a call should reject with. */
  current(): StoredSession
  /** Replaces the session (login, `setTokens`). */
  replace(stored: StoredSession): void
  /** Commits a renewal made from `generation`; returns false when the session moved on meanwhile. */
  commitRenewal(generation: number, stored: StoredSession): boolean
  /** Ends the session because the server rejected the refresh token; fires `expired` once. */
  expire(generation: number): void
  /** Forgets the session (`logout`). */
  clear(): void
}

/**
 * Creates the session state holder, restoring a stored session first.
 *
 * @param store - where the session is persisted
 * @param events - the client's emitter
 * @param onChange - called after every change (the proactive schedule listens here)
 */
export function createSession(store: SessionStore, events: Emitter, onChange: () => void): Session {
  let state: SessionState = { status: 'none' }
  let generation = 0

  function persist(stored: StoredSession | null): void {
    // Storage is persistence only: when a write throws or rejects (quota, storage disabled),
    // the in-memory session stays authoritative.
    try {
      Promise.resolve(store.save(stored)).catch(() => undefined)
    } catch {}
  }

  function activate(stored: StoredSession, save: boolean): void {
    generation++
    state = { status: 'active', stored }
    if (save) persist(stored)
    events.emit('tokens', stored.tokens)
    onChange()
  }

  const restore = (stored: StoredSession | null): void => {
    if (stored !== null && generation === 0) activate(stored, false)
  }
  let ready = Promise.resolve()
  try {
    const loaded = store.load()
    if (loaded instanceof Promise) ready = loaded.then(restore, () => undefined)
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
    ready,
    current() {
      if (state.status === 'active') return state.stored
      // A fresh error per call: callers may annotate what they catch.
      throw state.status === 'expired' ? new SessionExpiredError() : new NoSessionError()
    },
    replace(stored) {
      activate(stored, true)
    },
    commitRenewal(from, stored) {
      if (from !== generation || state.status !== 'active') return false
      activate(stored, true)
      return true
    },
    expire(from) {
      if (from !== generation || state.status !== 'active') return
      generation++
      state = { status: 'expired' }
      persist(null)
      events.emit('expired', new SessionExpiredError())
      onChange()
    },
    clear() {
      generation++
      state = { status: 'none' }
      persist(null)
      onChange()
    },
  }
}
