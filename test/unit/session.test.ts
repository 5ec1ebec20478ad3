/**
 * The session state holder (src/session.ts) on its own: revisions, generations, what is written
 * to the store and published to siblings, and which late news from a sibling is refused. The
 * integration tests reach these through the public API; here each rule is pinned where a mutation
 * run found that nothing would notice it changing.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { NoSessionError, SessionExpiredError } from '../../src/errors.js'
import { createEmitter } from '../../src/events.js'
import { createSession, type SessionChange } from '../../src/session.js'
import type { SessionStore, StoredSession } from '../../src/storage.js'

const NOW = Date.UTC(2026, 11, 6, 12)

function stored(accessToken: string, revision?: number): StoredSession {
  return {
    tokens: { accessToken, tokenType: 'Bearer', refreshToken: `r-${accessToken}` },
    lifetime: 60_000,
    revision,
  }
}

interface Harness {
  session: ReturnType<typeof createSession>
  saved: (StoredSession | null)[]
  changes: (SessionChange | undefined)[]
  events: string[]
}

function start(
  options: {
    shared?: boolean
    load?: () => StoredSession | null | Promise<StoredSession | null>
  } = {},
): Harness {
  const saved: (StoredSession | null)[] = []
  const changes: (SessionChange | undefined)[] = []
  const events: string[] = []
  const store: SessionStore = {
    shared: options.shared ?? false,
    load: options.load ?? (() => null),
    save: (session) => {
      saved.push(session)
    },
  }
  const emitter = createEmitter()
  emitter.on('tokens', (tokens) => events.push(`tokens ${tokens.accessToken}`))
  emitter.on('expired', (error) => events.push(`expired ${error.code}`))
  const session = createSession(store, emitter, (change) => changes.push(change))
  return { session, saved, changes, events }
}

describe('createSession', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('starts with no session, nothing ended and no renewal time', () => {
    const { session } = start()
    expect(session.state).toEqual({ status: 'none' })
    expect(session.ended).toBe(0)
    expect(session.since).toBe(-Infinity)
    expect(() => session.current()).toThrow(NoSessionError)
  })

  it('restores a stored session without writing it back or publishing it', () => {
    const { session, saved, changes, events } = start({ load: () => stored('a', 7) })
    expect(session.current()).toEqual(stored('a', 7))
    expect(session.since).toBe(-Infinity)
    expect(saved).toEqual([])
    expect(changes).toEqual([undefined])
    expect(events).toEqual(['tokens a'])
  })

  it('does not let a slow async restore overwrite a login made meanwhile', async () => {
    let resolve!: (value: StoredSession) => void
    const { session } = start({ load: () => new Promise((r) => (resolve = r)) })
    expect(session.restored).toBe(false)
    session.replace(stored('login'))
    resolve(stored('old', 1))
    await session.ready
    expect(session.restored).toBe(true)
    expect(session.current().tokens.accessToken).toBe('login')
  })

  it('does not restore a stored session a sibling said had ended while the read was slow', async () => {
    // Async storage: a renewal's write may land after another tab's logout removed the entry.
    let resolve!: (value: StoredSession) => void
    const { session, events } = start({ load: () => new Promise((r) => (resolve = r)) })
    session.endedInSibling('logout', 9)
    resolve(stored('late', 9))
    await session.ready
    expect(session.state).toEqual({ status: 'none' })
    expect(events).toEqual([])

    // A newer session than the one that ended is restored.
    let later!: (value: StoredSession) => void
    const next = start({ load: () => new Promise((r) => (later = r)) })
    next.session.endedInSibling('logout', 9)
    later(stored('newer', 10))
    await next.session.ready
    expect(next.session.current().tokens.accessToken).toBe('newer')
  })

  it('numbers a login by the clock, at least two past the newest revision known', () => {
    const { session, saved, changes } = start()
    session.replace(stored('a'))
    expect(session.current().revision).toBe(NOW)
    expect(session.since).toBe(-Infinity)
    expect(saved).toEqual([session.current()])
    expect(changes).toEqual([{ type: 'session', stored: session.current() }])

    // A sibling's session from a clock ahead of this one: the next login still orders after it.
    expect(session.adopt(stored('b', NOW + 1_000))).toBe(true)
    session.replace(stored('c'))
    expect(session.current().revision).toBe(NOW + 1_002)
  })

  it('numbers a renewal one past the session it renewed, and counts it as just made', () => {
    const { session, changes } = start()
    session.replace(stored('a'))
    vi.advanceTimersByTime(5_000)
    expect(session.commitRenewal(session.generation, stored('b'))).toBe(true)
    expect(session.current().revision).toBe(NOW + 1)
    expect(session.since).toBe(NOW + 5_000)
    expect(changes.at(-1)).toEqual({ type: 'session', stored: session.current() })
  })

  it('numbers a login after an ended session past that session', () => {
    const { session } = start()
    session.adopt(stored('a', NOW + 10_000))
    session.clear()
    expect(session.ended).toBe(NOW + 10_000)
    session.replace(stored('b'))
    expect(session.current().revision).toBe(NOW + 10_002)
  })

  it('refuses a renewal made from an earlier generation, even one the counter passed through', () => {
    const { session } = start()
    session.replace(stored('a'))
    const first = session.generation
    session.clear()
    session.replace(stored('b'))
    expect(session.generation).not.toBe(first)
    expect(session.commitRenewal(first, stored('late'))).toBe(false)
    expect(session.current().tokens.accessToken).toBe('b')
  })

  it('starts a session from a renewal made without one (a session backend), as a login', () => {
    const { session } = start()
    expect(session.commitRenewal(session.generation, stored('a'))).toBe(true)
    expect(session.active()?.tokens.accessToken).toBe('a')
    // A login's revision: the time it was made, so it wins over any sibling's older state.
    expect(session.active()?.revision).toBe(NOW)
  })

  it('refuses a renewal made before the session changed', () => {
    const { session } = start()
    const before = session.generation
    session.replace(stored('b'))
    expect(session.commitRenewal(before, stored('a'))).toBe(false)
    expect(session.active()?.tokens.accessToken).toBe('b')
  })

  it('adopts a sibling session only when newer: by revision, then by access token', () => {
    const { session, saved, changes } = start({ shared: true })
    expect(session.adopt(stored('m', 5))).toBe(true)
    expect(session.since).toBe(NOW)
    expect(session.adopt(stored('a', 5))).toBe(false)
    expect(session.adopt(stored('m', 5))).toBe(false)
    expect(session.adopt(stored('z', 4))).toBe(false)
    expect(session.adopt(stored('z', 5))).toBe(true)
    expect(session.current().tokens.accessToken).toBe('z')
    // A shared store already holds what the sibling wrote; nothing goes back to the siblings.
    expect(saved).toEqual([])
    expect(changes).toEqual([undefined, undefined])
  })

  it('writes an adopted session to a store of its own', () => {
    const { session, saved } = start()
    session.adopt(stored('a', 5))
    expect(saved).toEqual([stored('a', 5)])
  })

  it('logs out: no session, nothing stored, the siblings told which revision ended', () => {
    const { session, saved, changes } = start()
    session.adopt(stored('a', 5))
    expect(session.clear()).toBe(true)
    expect(session.state).toEqual({ status: 'none' })
    expect(saved.at(-1)).toBeNull()
    expect(changes.at(-1)).toEqual({ type: 'logout', revision: 5 })
    expect(session.ended).toBe(5)
  })

  it('says there was no session to log out of, and publishes nothing', () => {
    const { session, changes } = start()
    expect(session.clear()).toBe(false)
    expect(changes).toEqual([undefined])
  })

  it('does not publish back a logout that came from a sibling', () => {
    const { session, changes } = start()
    session.adopt(stored('a', 5))
    expect(session.clear(true)).toBe(true)
    expect(changes.at(-1)).toBeUndefined()
  })

  it('refuses a sibling session of the revision that ended here, or an older one', () => {
    const { session } = start()
    session.adopt(stored('a', 5))
    session.clear()
    expect(session.adopt(stored('z', 5))).toBe(false)
    expect(session.adopt(stored('z', 4))).toBe(false)
    expect(session.adopt(stored('z', 6))).toBe(true)
  })

  it('expires the session of the current generation once, with one event', () => {
    const { session, changes, events } = start()
    session.adopt(stored('a', 5))
    const generation = session.generation
    session.expire(generation)
    session.expire(generation)
    expect(session.state).toEqual({ status: 'expired' })
    expect(() => session.current()).toThrow(SessionExpiredError)
    expect(events.filter((event) => event.startsWith('expired'))).toEqual([
      'expired session_expired',
    ])
    expect(changes.at(-1)).toEqual({ type: 'expired', revision: 5 })
  })

  it('ignores an expiry when there is no session, or for a session already replaced', () => {
    const { session, events } = start()
    session.expire(session.generation)
    expect(session.state).toEqual({ status: 'none' })
    session.replace(stored('a'))
    const old = session.generation
    session.replace(stored('b'))
    session.expire(old)
    expect(session.current().tokens.accessToken).toBe('b')
    expect(events.some((event) => event.startsWith('expired'))).toBe(false)
  })

  it("applies a sibling's logout of this session or an older one, never of a newer one here", () => {
    const { session } = start()
    session.adopt(stored('a', 10))
    expect(session.endedInSibling('logout', 9)).toBe(false)
    expect(session.current().tokens.accessToken).toBe('a')
    expect(session.endedInSibling('logout', 10)).toBe(true)
    expect(session.state).toEqual({ status: 'none' })
  })

  it("reports a sibling's expiry as applied but not as a logout", () => {
    const { session, events } = start()
    session.adopt(stored('a', 10))
    expect(session.endedInSibling('expired', 10)).toBe(false)
    expect(session.state).toEqual({ status: 'expired' })
    expect(events.at(-1)).toBe('expired session_expired')
  })

  it('remembers the newest revision ended anywhere, whatever order the news comes in', () => {
    const { session } = start()
    session.endedInSibling('logout', 10)
    session.endedInSibling('logout', 4)
    expect(session.ended).toBe(10)
    expect(session.adopt(stored('a', 10))).toBe(false)
  })

  it('remembers how the newest ended session ended, heard of or ended here', () => {
    const { session } = start()
    session.endedInSibling('expired', 5)
    expect(session.endedBy).toBe('expired')
    session.endedInSibling('logout', 5)
    session.endedInSibling('logout', 3)
    expect(session.endedBy).toBe('expired')
    session.endedInSibling('logout', 9)
    expect(session.endedBy).toBe('logout')

    // An expiry here stays the answer after a logout() that found the session already ended.
    session.adopt(stored('a', 12))
    session.expire(session.generation)
    session.clear()
    expect(session.state).toEqual({ status: 'none' })
    expect(session.endedBy).toBe('expired')
  })
})
