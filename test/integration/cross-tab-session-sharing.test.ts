/**
 * One session across the tabs of an origin (option `crossTab`, on by default): a login, a logout
 * or an ended session in one tab reaches every tab with the same client id; a tab opened later
 * gets the session from its siblings; stale or malformed messages change nothing; a disposed tab
 * leaves the group. Clients created in one test are the tabs (test/mocks/tabs.ts).
 */

import { setImmediate as nextMacrotask } from 'node:timers/promises'
import type { TokenClient, TokenStorage } from 'freshtoken'
import { describe, expect, it, vi } from 'vitest'
import { collect, useClients } from '../mocks/harness.js'
import { API_ORIGIN, CLIENT_ID, MOCK_CLIENT_OPTIONS, useMockEnvironment } from '../mocks/setup.js'
import { tabs } from '../mocks/tabs.js'
import { stepUntilSettled, T0 } from '../mocks/time.js'

const { mock } = useMockEnvironment()

const { create: createClient } = useClients(MOCK_CLIENT_OPTIONS, {
  fakeTimers: T0,
  teardown: () => {
    vi.restoreAllMocks()
    localStorage.clear()
    sessionStorage.clear()
  },
})

/** Advances fake time in 10 ms steps until `promise` settles (at most `limit` ms). */
const advanceUntil = stepUntilSettled(10)

/** Opens `count` tabs: clients of the same origin and client id. */
function openTabs(count: number, options: Parameters<typeof createClient>[0] = {}): TokenClient[] {
  return Array.from({ length: count }, () => createClient(options))
}

/** Lets every queued message and lock grant run, without moving fake time. */
async function deliver(): Promise<void> {
  await nextMacrotask()
}

/** Whether `promise` settled once queued work ran, without moving fake time. */
async function settledWithoutTime(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  promise.then(
    () => {
      settled = true
    },
    () => {
      settled = true
    },
  )
  await deliver()
  return settled
}

describe('a login in one tab', () => {
  it('reaches every sibling: they fire tokens and use its access token without a token request', async () => {
    const [a, b, c] = openTabs(3) as [TokenClient, TokenClient, TokenClient]
    const seenByB = collect(b, 'tokens')
    const seenByC = collect(c, 'tokens')

    const tokens = a.setTokens(mock.issueTokens())
    await deliver()

    expect(seenByB).toEqual([tokens])
    expect(seenByC).toEqual([tokens])
    expect(b.tokens).toEqual(tokens)
    expect(await b.getAccessToken()).toBe(tokens.accessToken)
    expect(await c.getAccessToken()).toBe(tokens.accessToken)
    expect(mock.counters.token).toBe(0)
  })

  it('is handed to a tab opened later, kept in memory: no token request', async () => {
    const [a] = openTabs(1) as [TokenClient]
    const tokens = a.setTokens(mock.issueTokens())

    const late = createClient()
    const seen = collect(late, 'tokens')
    expect(await late.getAccessToken()).toBe(tokens.accessToken)
    expect(seen).toEqual([tokens])
    expect(mock.counters.token).toBe(0)
    expect(localStorage.length + sessionStorage.length).toBe(0)
  })

  it('is handed to a tab opened later when its siblings take 50 ms to answer', async () => {
    const [a] = openTabs(1) as [TokenClient]
    const tokens = a.setTokens(mock.issueTokens())
    tabs.messageDelay = 50

    const late = createClient()
    const call = late.getAccessToken()
    // The question and the answer each take 50 ms; the new tab waits for it, up to 200 ms.
    expect(await advanceUntil(call, 150)).toBe(tokens.accessToken)
    expect(mock.counters.token).toBe(0)
  })

  it('is read from localStorage by a tab opened later, which then asks its siblings nothing first', async () => {
    const [a] = openTabs(1, { storage: 'local' }) as [TokenClient]
    const tokens = a.setTokens(mock.issueTokens())
    await deliver()
    tabs.messageDelay = 50

    const late = createClient({ storage: 'local' })
    const call = late.getAccessToken()

    // No fake time passes: the stored session serves at once, though a sibling is open.
    expect(await settledWithoutTime(call)).toBe(true)
    expect(await call).toBe(tokens.accessToken)
  })

  it('is handed to a tab opened later when the shared store could not keep it (storage full)', async () => {
    const full = {
      get: () => null,
      set: () => {
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError')
      },
      remove: () => undefined,
    }
    const [a] = openTabs(1, { storage: full }) as [TokenClient]
    const tokens = a.setTokens(mock.issueTokens())
    await deliver()
    tabs.messageDelay = 50

    const late = createClient({ storage: full })

    expect(await advanceUntil(late.getAccessToken(), 150)).toBe(tokens.accessToken)
    expect(mock.counters.token).toBe(0)
  })

  it('does not keep a lone tab without a session waiting for a sibling that cannot answer', async () => {
    const [auth] = openTabs(1) as [TokenClient]
    const call = auth.getAccessToken()
    // No fake time passes: the answer does not depend on the 200 ms wait for a sibling.
    expect(await settledWithoutTime(call)).toBe(true)
    await expect(call).rejects.toMatchObject({ code: 'no_session' })
  })

  it('serves the tab that logged in at once, without waiting for siblings that have no session', async () => {
    const [a] = openTabs(2) as [TokenClient, TokenClient]
    // Both tabs asked each other for a session; neither had one to answer with.
    await deliver()
    const tokens = a.setTokens(mock.issueTokens())
    const call = a.getAccessToken()
    expect(await settledWithoutTime(call)).toBe(true)
    expect(await call).toBe(tokens.accessToken)
  })

  it('does not keep a tab waiting once every sibling it could ask has been disposed', async () => {
    const [a, b] = openTabs(2) as [TokenClient, TokenClient]
    a.dispose()
    b.dispose()
    const auth = createClient()
    const call = auth.getAccessToken()
    expect(await settledWithoutTime(call)).toBe(true)
    await expect(call).rejects.toMatchObject({ code: 'no_session' })
  })
})

describe('a tab restored from the back/forward cache', () => {
  it('asks its siblings again before renewing, so it never sends the refresh token they rotated', async () => {
    const [a, b] = openTabs(2) as [TokenClient, TokenClient]
    a.setTokens(mock.issueTokens())
    await advanceUntil(b.getAccessToken())

    // b sits in the back/forward cache: it misses a's renewal.
    tabs.deliver = () => false
    const renewed = await advanceUntil(a.refresh())
    await deliver()
    expect(b.tokens?.accessToken).not.toBe(renewed.accessToken)
    tabs.deliver = () => true

    // Back in view, it renews at once (an explicit refresh, so that only b renews).
    window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))
    const renewedInB = await advanceUntil(b.refresh())
    expect(mock.counters).toMatchObject({ token: 2, tokenSuccess: 2, reuseDetected: 0 })
    await deliver()
    expect(a.tokens).toEqual(renewedInB)
    expect(b.tokens).toEqual(renewedInB)
  })
})

describe('a logout in one tab', () => {
  it('ends the session in every tab: each fires logout, holds no tokens, and revocation runs once', async () => {
    const [a, b, c] = openTabs(3) as [TokenClient, TokenClient, TokenClient]
    a.setTokens(mock.issueTokens())
    await deliver()
    const logouts = [a, b, c].map((tab) => collect(tab, 'logout'))

    await a.logout()
    await deliver()

    expect(logouts.map((seen) => seen.length)).toEqual([1, 1, 1])
    expect([a, b, c].map((tab) => tab.tokens)).toEqual([null, null, null])
    for (const tab of [b, c]) {
      await expect(tab.getAccessToken()).rejects.toMatchObject({ code: 'no_session' })
      await expect(tab.refresh()).rejects.toMatchObject({ code: 'no_session' })
      await expect(tab.fetch(`${API_ORIGIN}/me`)).rejects.toMatchObject({ code: 'no_session' })
    }
    await vi.advanceTimersByTimeAsync(5 * 60_000)
    expect(mock.counters).toMatchObject({ token: 0, api: 0, revocation: 1 })
  })

  it('about an older session does not end a newer login in a sibling', async () => {
    const [a, b] = openTabs(2) as [TokenClient, TokenClient]
    a.setTokens(mock.issueTokens())
    await deliver()
    tabs.messageDelay = 50

    // A logs out while B, not yet told, logs in anew.
    const loggingOut = a.logout()
    await vi.advanceTimersByTimeAsync(1)
    const login = b.setTokens(mock.issueTokens())
    await advanceUntil(loggingOut)
    await vi.advanceTimersByTimeAsync(100)

    expect(b.tokens).toEqual(login)
    expect(a.tokens).toEqual(login)
    expect(await b.getAccessToken()).toBe(login.accessToken)
  })
})

describe('a late message', () => {
  it('about an older session is not adopted over a newer one', async () => {
    const [a, b, c] = openTabs(3) as [TokenClient, TokenClient, TokenClient]
    a.setTokens(mock.issueTokens())
    await deliver()
    tabs.messageDelay = 50

    const older = a.setTokens(mock.issueTokens())
    await vi.advanceTimersByTimeAsync(10)
    // B has not heard of A's login yet when it makes its own.
    const newer = b.setTokens(mock.issueTokens())
    await vi.advanceTimersByTimeAsync(100)

    expect(older.accessToken).not.toBe(newer.accessToken)
    expect([a, b, c].map((tab) => tab.tokens)).toEqual([newer, newer, newer])
  })
})

describe('an ended session', () => {
  it('seen by one tab (invalid_grant) expires every tab once, with no further token requests', async () => {
    const [a, b, c] = openTabs(3) as [TokenClient, TokenClient, TokenClient]
    a.setTokens(mock.issueTokens())
    await deliver()
    const expired = [a, b, c].map((tab) => collect(tab, 'expired'))
    const errors = [a, b, c].map((tab) => collect(tab, 'error'))
    mock.revokeRefreshTokens()

    await expect(b.refresh()).rejects.toMatchObject({ code: 'session_expired' })
    await deliver()

    expect(expired.map((seen) => seen.length)).toEqual([1, 1, 1])
    expect(errors.map((seen) => seen.length)).toEqual([0, 0, 0])
    expect([a, b, c].map((tab) => tab.tokens)).toEqual([null, null, null])
    await expect(a.getAccessToken()).rejects.toMatchObject({ code: 'session_expired' })
    await expect(c.refresh()).rejects.toMatchObject({ code: 'session_expired' })
    await vi.advanceTimersByTimeAsync(5 * 60_000)
    expect(mock.counters.token).toBe(1)
    expect(expired.map((seen) => seen.length)).toEqual([1, 1, 1])
  })
})

describe('which tab writes the store', () => {
  /** A custom TokenStorage every tab shares, recording each write. */
  function sharedStorage(): { storage: TokenStorage; writes: string[]; removals: number } {
    const data = new Map<string, string>()
    const record = {
      writes: [] as string[],
      removals: 0,
      storage: {
        get: (key: string) => data.get(key) ?? null,
        set(key: string, value: string) {
          data.set(key, value)
          record.writes.push(value)
        },
        remove(key: string) {
          data.delete(key)
          record.removals++
        },
      },
    }
    return record
  }

  it('with a shared custom storage, only the tab that made the change writes it', async () => {
    const shared = sharedStorage()
    const [a, b, c] = openTabs(3, { storage: shared.storage }) as [
      TokenClient,
      TokenClient,
      TokenClient,
    ]
    a.setTokens(mock.issueTokens())
    await deliver()
    expect(shared.writes).toHaveLength(1)

    vi.setSystemTime(T0 + 61_000)
    const [renewed] = await Promise.all([a.refresh(), b.getAccessToken(), c.getAccessToken()])
    expect(mock.counters.token).toBe(1)
    expect(shared.writes).toHaveLength(2)
    expect(JSON.parse(shared.writes[1] ?? '').tokens.accessToken).toBe(renewed.accessToken)

    // B waits for the lock A keeps for the hand-off, in case A were still renewing.
    await advanceUntil(b.logout())
    await deliver()
    expect(shared.removals).toBe(1)
    expect(shared.writes).toHaveLength(2)
  })

  it("with storage 'session', every tab writes its own copy", async () => {
    const setItem = vi.spyOn(Storage.prototype, 'setItem')
    const writes = () => setItem.mock.calls.filter(([key]) => key === `freshtoken:${CLIENT_ID}`)
    const [a, b, c] = openTabs(3, { storage: 'session' }) as [TokenClient, TokenClient, TokenClient]
    a.setTokens(mock.issueTokens())
    await deliver()
    expect(writes()).toHaveLength(3)

    const renewed = await b.refresh()
    await deliver()
    expect(writes()).toHaveLength(6)
    for (const [, value] of writes().slice(3)) {
      expect(JSON.parse(value).tokens.accessToken).toBe(renewed.accessToken)
    }
    expect(c.tokens).toEqual(renewed)
  })
})

describe('isolation', () => {
  it('with crossTab: false, tabs neither share a session nor wait for each other', async () => {
    const [a, b] = openTabs(2, { crossTab: false }) as [TokenClient, TokenClient]
    const seenByB = collect(b, 'tokens')
    const first = a.setTokens(mock.issueTokens())
    await deliver()
    expect(seenByB).toEqual([])
    expect(b.tokens).toBeNull()
    await expect(b.getAccessToken()).rejects.toMatchObject({ code: 'no_session' })

    const second = b.setTokens(mock.issueTokens())
    vi.setSystemTime(T0 + 61_000)
    const [tokenA, tokenB] = await Promise.all([a.getAccessToken(), b.getAccessToken()])
    expect(mock.counters.token).toBe(2)
    expect(mock.log.token.map(({ family }) => family).sort()).toEqual(['family-1', 'family-2'])
    expect(tokenA).not.toBe(first.accessToken)
    expect(tokenB).not.toBe(second.accessToken)
    expect(tokenA).not.toBe(tokenB)
    expect(tabs.posted).toEqual([])
  })

  it('does not touch the session of another client id on the same origin', async () => {
    const [a, b] = openTabs(2) as [TokenClient, TokenClient]
    const other = createClient({ clientId: 'other-app' })
    const seenByOther = collect(other, 'tokens')
    const othersLogin = other.setTokens(mock.issueTokens())
    await deliver()
    expect(a.tokens).toBeNull()
    expect(b.tokens).toBeNull()

    const login = a.setTokens(mock.issueTokens())
    await deliver()
    expect(b.tokens).toEqual(login)
    await advanceUntil(a.logout())
    await deliver()
    expect(b.tokens).toBeNull()
    expect(other.tokens).toEqual(othersLogin)
    expect(seenByOther).toEqual([othersLogin])
  })

  it('does not count the tabs of another client id as siblings to wait for', async () => {
    openTabs(2)
    await deliver()
    const other = createClient({ clientId: 'other-app' })
    const call = other.getAccessToken()
    // No fake time passes: no sibling of its own exists, so it waits for no answer.
    expect(await settledWithoutTime(call)).toBe(true)
    await expect(call).rejects.toMatchObject({ code: 'no_session' })
  })
})

describe('garbage on the channel', () => {
  it.each<{ what: string; message: unknown }>([
    { what: 'null', message: null },
    { what: 'a string', message: 'logout' },
    { what: 'a session that is not JSON', message: { type: 'session', session: '{bad' } },
    { what: 'a session that is not a string', message: { type: 'session', session: 42 } },
    {
      what: 'a session of another format version',
      message: { type: 'session', session: JSON.stringify({ v: 2, tokens: {}, revision: 1e15 }) },
    },
    { what: 'a logout whose revision is not a number', message: { type: 'logout', revision: 'x' } },
    {
      what: 'a logout whose revision is a numeric string',
      message: { type: 'logout', revision: '99999999999999' },
    },
    { what: 'an expired without a revision', message: { type: 'expired' } },
    { what: 'a lease claim while Web Locks exist', message: { type: 'claim', id: 'x', at: 0 } },
    { what: 'an unknown type', message: { type: 'takeover', session: null } },
  ])('ignores $what: the session stays intact', async ({ message }) => {
    const [a, b] = openTabs(2) as [TokenClient, TokenClient]
    const login = a.setTokens(mock.issueTokens())
    await deliver()
    const events = [a, b].flatMap((tab) =>
      (['tokens', 'logout', 'expired', 'error'] as const).map((event) => collect(tab, event)),
    )

    const intruder = new BroadcastChannel(`freshtoken:${CLIENT_ID}`)
    intruder.postMessage(message)
    await deliver()
    intruder.close()

    expect(events.flat()).toEqual([])
    expect(a.tokens).toEqual(login)
    expect(b.tokens).toEqual(login)
    expect(await b.getAccessToken()).toBe(login.accessToken)
  })
})

describe('a disposed tab', () => {
  it('no longer follows its siblings nor tells them about its own changes', async () => {
    const [a, b] = openTabs(2) as [TokenClient, TokenClient]
    const login = a.setTokens(mock.issueTokens())
    await deliver()
    b.dispose()
    const posted = tabs.posted.length

    a.setTokens(mock.issueTokens())
    await deliver()
    expect(b.tokens).toEqual(login)

    const own = b.setTokens(mock.issueTokens())
    await deliver()
    expect(tabs.posted).toHaveLength(posted + 1)
    expect(a.tokens).not.toEqual(own)
  })

  it('stops renewing once disposed, so it cannot rotate a token its siblings never hear of', async () => {
    const [a, b] = openTabs(2) as [TokenClient, TokenClient]
    a.setTokens(mock.issueTokens())
    await deliver()
    a.dispose()

    await expect(a.refresh()).rejects.toMatchObject({
      code: 'no_session',
      message: 'disposed client',
    })
    expect(mock.counters.token).toBe(0)
    // The sibling still has the session and renews it.
    await b.refresh()
    expect(mock.counters).toMatchObject({ token: 1, reuseDetected: 0 })
  })

  it('keeps the renewal lock through the hand-off after dispose(), then a sibling renews at once', async () => {
    const [a, b] = openTabs(2) as [TokenClient, TokenClient]
    a.setTokens(mock.issueTokens())
    await deliver()

    await a.refresh()
    expect(tabs.held(`freshtoken:${CLIENT_ID}:renewal`)).toBe(1)
    a.dispose()
    await deliver()
    // The hand-off outlives dispose(): a sibling must hear of the rotated token before it can
    // take the lock and renew.
    expect(tabs.held(`freshtoken:${CLIENT_ID}:renewal`)).toBe(1)
    await vi.advanceTimersByTimeAsync(100)
    expect(tabs.held(`freshtoken:${CLIENT_ID}:renewal`)).toBe(0)

    const renewal = b.refresh()
    expect(await settledWithoutTime(renewal)).toBe(true)
    expect((await renewal).accessToken).toBe(b.tokens?.accessToken)
    expect(mock.counters.token).toBe(2)
    expect(mock.counters.reuseDetected).toBe(0)
  })
})
