/** The watch on the session's hard end: 'session-ending' once, then 'expired' at the end. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createEmitter } from '../../src/events.js'
import { createSession } from '../../src/session.js'
import { watchSessionEnd } from '../../src/session-end.js'
import type { StoredSession } from '../../src/storage.js'
import { createTokenSet } from '../../src/token-set.js'

const NOW = Date.UTC(2026, 11, 7, 12)
const NOTICE = 60_000

function stored(
  accessToken: string,
  refreshExpiresAt: number | undefined,
  refreshToken: string | null = 'rt',
): StoredSession {
  return {
    tokens: createTokenSet({
      accessToken,
      tokenType: 'Bearer',
      refreshToken: refreshToken ?? undefined,
      expiresAt: NOW + 3_600_000,
      refreshExpiresAt,
      scope: undefined,
      idToken: undefined,
    }),
    lifetime: 3_600_000,
  }
}

function start() {
  const events = createEmitter()
  let end: ReturnType<typeof watchSessionEnd> | undefined
  const session = createSession(
    { shared: false, load: () => null, save: () => undefined },
    events,
    () => end?.update(),
  )
  end = watchSessionEnd(
    session,
    events,
    NOTICE,
    (tokens) => tokens.refreshExpiresAt ?? (tokens.refreshToken ? undefined : tokens.expiresAt),
    60_000,
  )
  const ending: number[] = []
  let expired = 0
  events.on('session-ending', ({ endsAt }) => ending.push(endsAt))
  events.on('expired', () => expired++)
  return { session, end, ending, expired: () => expired }
}

describe('watchSessionEnd', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('fires session-ending once, the notice before the end, then ends the session as expired', () => {
    const { session, ending, expired } = start()
    session.replace(stored('a', NOW + 300_000))
    vi.advanceTimersByTime(240_000 - 1)
    expect(ending).toEqual([])
    vi.advanceTimersByTime(1)
    expect(ending).toEqual([NOW + 300_000])
    vi.advanceTimersByTime(60_000 - 1)
    expect(session.state.status).toBe('active')
    vi.advanceTimersByTime(1)
    expect(session.state.status).toBe('expired')
    expect(expired()).toBe(1)
    expect(ending).toHaveLength(1)
  })

  it('fires at once when the end is already nearer than the notice', () => {
    const { session, ending } = start()
    session.replace(stored('a', NOW + 10_000))
    expect(ending).toEqual([NOW + 10_000])
  })

  it('fires once even when renewals move the end by a moment', () => {
    const { session, ending } = start()
    session.replace(stored('a', NOW + 30_000))
    session.commitRenewal(session.generation, stored('b', NOW + 30_400))
    session.commitRenewal(session.generation, stored('c', NOW + 29_800))
    expect(ending).toHaveLength(1)
  })

  it('notices again an end that moved away and came near again (an idle timeout extended)', () => {
    const { session, ending } = start()
    session.replace(stored('a', NOW + 30_000))
    session.commitRenewal(session.generation, stored('b', NOW + 600_000))
    expect(ending).toHaveLength(1)
    vi.advanceTimersByTime(540_000)
    expect(ending).toEqual([NOW + 30_000, NOW + 600_000])
  })

  it('ends a session whose end has already passed (restored late) without a notice', () => {
    const { session, ending, expired } = start()
    session.replace(stored('a', NOW - 1))
    expect(session.state.status).toBe('expired')
    expect(expired()).toBe(1)
    expect(ending).toEqual([])
  })

  it('ends a session that cannot renew when its access token expires, even when idle', () => {
    const { session, ending, expired } = start()
    session.replace(stored('a', undefined, null))
    vi.advanceTimersByTime(3_600_000 - NOTICE)
    expect(ending).toEqual([NOW + 3_600_000])
    vi.advanceTimersByTime(NOTICE - 1)
    expect(session.state.status).toBe('active')
    vi.advanceTimersByTime(1)
    expect(session.state.status).toBe('expired')
    expect(expired()).toBe(1)
  })

  it('watches nothing without a known end, and nothing once disposed', () => {
    const { session, end, ending, expired } = start()
    session.replace(stored('a', undefined))
    vi.advanceTimersByTime(10 * 3_600_000)
    expect(session.state.status).toBe('active')
    session.replace(stored('b', NOW + 10 * 3_600_000 + 100_000))
    end.dispose()
    vi.advanceTimersByTime(3_600_000)
    expect(ending).toEqual([])
    expect(expired()).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })
})
