/**
 * The proactive renewal timer (src/schedule.ts) on its own: when it fires, that its jitter stays
 * put when it is re-armed, that it never leaves a second timer or a page listener behind, and
 * that a disposed schedule renews nothing.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Refresher } from '../../src/refresh.js'
import { createSchedule, type Schedule } from '../../src/schedule.js'
import type { Session } from '../../src/session.js'
import type { StoredSession } from '../../src/storage.js'

const NOW = Date.UTC(2026, 11, 6, 12)
const LEEWAY = 30_000

function active(expiresIn: number | undefined, lifetime?: number, renewable = true): Session {
  const stored: StoredSession = {
    tokens: {
      accessToken: 'at',
      tokenType: 'Bearer',
      ...(renewable && { refreshToken: 'rt' }),
      ...(expiresIn !== undefined && { expiresAt: Date.now() + expiresIn }),
    },
    lifetime,
  }
  return { state: { status: 'active', stored } } as Session
}

function refresherFake() {
  const refresh = vi.fn(() => new Promise<never>(() => undefined))
  const refresher = {
    refresh,
    leewayFor: () => LEEWAY,
    notBefore: 0,
    canRenew: (tokens: { refreshToken?: string }) => tokens.refreshToken !== undefined,
  } as unknown as Refresher
  return { refresher, refresh }
}

/** Every schedule a test made: disposed after it, so none hears the next test's page events. */
const made: Schedule[] = []
function start(session: Session, refresher: Refresher, used = true): Schedule {
  const created = createSchedule(session, refresher, used)
  made.push(created)
  return created
}

describe('createSchedule', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW })
  })
  afterEach(() => {
    for (const created of made.splice(0)) created.dispose()
    vi.useRealTimers()
    vi.restoreAllMocks()
  })

  it('renews the leeway before expiry, less a jitter of at most 1 s', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5)
    const { refresher, refresh } = refresherFake()
    const schedule = start(active(600_000, 600_000), refresher)
    schedule.update()
    await vi.advanceTimersByTimeAsync(600_000 - LEEWAY - 500 - 1)
    expect(refresh).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(refresh).toHaveBeenCalledTimes(1)
    schedule.dispose()
  })

  it('never renews a token no API is called with: every API has a resource of its own', async () => {
    const { refresher, refresh } = refresherFake()
    const schedule = start(active(60_000, 60_000), refresher, false)
    schedule.update()
    await vi.advanceTimersByTimeAsync(600_000)
    expect(refresh).not.toHaveBeenCalled()
    // The same session with an API that uses the token renews it.
    start(active(60_000, 60_000), refresher).update()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(refresh).toHaveBeenCalledTimes(1)
  })

  it('keeps a short-lived token’s jitter within a twentieth of its lifetime', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999_999)
    const { refresher, refresh } = refresherFake()
    // 100 s tokens: at most 5 s … but never more than 1 s; 10 s tokens: at most 0.5 s.
    const schedule = start(active(10_000, 10_000), refresher)
    schedule.update()
    // Due at 10 s - min(30 s, the refresher's leeway) - 0.5 s: at once, the leeway is longer.
    await vi.advanceTimersByTimeAsync(0)
    expect(refresh).toHaveBeenCalledTimes(1)
    schedule.dispose()

    const later = refresherFake()
    const jittered = start(active(LEEWAY + 10_000, 10_000), later.refresher)
    jittered.update()
    // Due 9,500 ms from now less a jitter just under 0.5 s, rounded up to a whole ms.
    await vi.advanceTimersByTimeAsync(10_000 - 500)
    expect(later.refresh).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(later.refresh).toHaveBeenCalledTimes(1)
    jittered.dispose()
  })

  it('keeps the jitter it drew for a token set when it is re-armed', async () => {
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.9)
    const { refresher, refresh } = refresherFake()
    const schedule = start(active(600_000, 600_000), refresher)
    schedule.update()
    random.mockReturnValue(0)
    schedule.update()
    window.dispatchEvent(new Event('focus'))
    await vi.advanceTimersByTimeAsync(600_000 - LEEWAY - 900)
    expect(refresh).toHaveBeenCalledTimes(1)
    schedule.dispose()
  })

  it('arms no timer for a token without expiry or without a refresh token', () => {
    const { refresher } = refresherFake()
    for (const session of [active(undefined), active(600_000, 600_000, false)]) {
      const schedule = start(session, refresher)
      schedule.update()
      expect(vi.getTimerCount()).toBe(0)
      schedule.dispose()
    }
  })

  it('holds one timer however often it is re-armed', () => {
    const { refresher } = refresherFake()
    const schedule = start(active(600_000, 600_000), refresher)
    schedule.update()
    schedule.update()
    window.dispatchEvent(new Event('online'))
    expect(vi.getTimerCount()).toBe(1)
    schedule.dispose()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('renews nothing once disposed, even when the page comes back', async () => {
    const { refresher, refresh } = refresherFake()
    const schedule = start(active(600_000, 600_000), refresher)
    schedule.update()
    schedule.dispose()
    window.dispatchEvent(new Event('pageshow'))
    document.dispatchEvent(new Event('visibilitychange'))
    schedule.update()
    await vi.advanceTimersByTimeAsync(3_600_000)
    expect(refresh).not.toHaveBeenCalled()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('removes every page listener it added when disposed', () => {
    const added: [EventTarget, string, unknown][] = []
    const removed: [EventTarget, string, unknown][] = []
    for (const target of [window, document]) {
      const add = target.addEventListener.bind(target)
      const remove = target.removeEventListener.bind(target)
      vi.spyOn(target, 'addEventListener').mockImplementation((type, listener) => {
        added.push([target, type, listener])
        add(type, listener)
      })
      vi.spyOn(target, 'removeEventListener').mockImplementation((type, listener) => {
        removed.push([target, type, listener])
        remove(type, listener)
      })
    }
    const { refresher } = refresherFake()
    const schedule = start(active(600_000, 600_000), refresher)
    expect(
      added.map(([target, type]) => `${target === document ? 'document' : 'window'} ${type}`),
    ).toEqual(['window online', 'window focus', 'window pageshow', 'document visibilitychange'])
    schedule.dispose()
    expect(removed).toEqual(added)
  })

  it('re-arms on a wake-up event where there is no document (a worker)', async () => {
    vi.stubGlobal('document', undefined)
    try {
      const { refresher, refresh } = refresherFake()
      const session = active(600_000, 600_000)
      const schedule = start(session, refresher)
      schedule.update()
      // The machine slept past the renewal time: the timer has not fired, the clock moved on.
      vi.setSystemTime(NOW + 3_600_000)
      window.dispatchEvent(new Event('online'))
      await vi.advanceTimersByTimeAsync(0)
      expect(refresh).toHaveBeenCalledTimes(1)
      schedule.dispose()
    } finally {
      vi.unstubAllGlobals()
    }
  })
})
