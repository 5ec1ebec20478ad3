/**
 * One renewal at a time across the tabs of an origin: the tab that takes the renewal lock (a Web
 * Lock, or a lease over `BroadcastChannel` without Web Locks) sends the refresh token, and the
 * others adopt its result instead of presenting the same, rotated refresh token again (RFC 9700
 * §4.14.2). Waits for the lock are bounded; a session replaced during a renewal wins over it.
 * Clients created in one test are the tabs (test/mocks/tabs.ts).
 */

import { setImmediate as nextMacrotask } from 'node:timers/promises'
import type { TokenClient } from 'freshtoken'
import { describe, expect, it, vi } from 'vitest'
import { collect, useClients } from '../mocks/harness.js'
import { API_ORIGIN, CLIENT_ID, MOCK_CLIENT_OPTIONS, useMockEnvironment } from '../mocks/setup.js'
import { tabs } from '../mocks/tabs.js'
import { advanceTo, stepUntilSettled, T0 } from '../mocks/time.js'

const { mock } = useMockEnvironment()

const { create: createClient, onCleanup } = useClients(MOCK_CLIENT_OPTIONS, {
  fakeTimers: T0,
  teardown: () => {
    vi.restoreAllMocks()
    localStorage.clear()
  },
})

const RENEWAL_LOCK = `freshtoken:${CLIENT_ID}:renewal`

/** Advances fake time in 10 ms steps until `promise` settles (at most `limit` ms). */
const advanceUntil = stepUntilSettled(10)

/**
 * Opens `count` tabs (clients of one origin and client id) and logs in in the first; resolves
 * once every tab holds the session.
 */
async function loggedInTabs(
  count: number,
  options: Parameters<typeof createClient>[0] = {},
): Promise<TokenClient[]> {
  const opened = Array.from({ length: count }, () => createClient(options))
  const tokens = opened[0]?.setTokens(mock.issueTokens())
  await advanceUntil(Promise.all(opened.map((tab) => tab.getAccessToken())))
  for (const tab of opened) expect(tab.tokens).toEqual(tokens)
  return opened
}

/** Whether a message between the tabs is a claim of the lease (the lock without Web Locks). */
const isClaim = (data: unknown): boolean => (data as { type?: unknown } | null)?.type === 'claim'

/**
 * Waits, with fake time standing still, until `count` claims of the lease have been posted in all.
 * A tab loads the lease code on demand (a dynamic import, in real time) before its first claim:
 * fake time advanced before that would run ahead of it, so the claim would go out at another
 * instant than the test means, or a 40 s lock wait would run out while the code is still loading.
 */
const claimsPosted = (count = 1): Promise<void> => tabs.whenPosted(isClaim, count)

/** Holds the renewal lock from outside the SDK (a tab stuck mid-renewal); returns its release. */
async function holdRenewalLock(): Promise<() => void> {
  let release: (() => void) | undefined
  void navigator.locks.request(
    RENEWAL_LOCK,
    () =>
      new Promise<void>((resolve) => {
        release = resolve
      }),
  )
  await nextMacrotask()
  expect(tabs.held(RENEWAL_LOCK)).toBe(1)
  onCleanup(() => release?.())
  return () => release?.()
}

describe('an expired access token in several tabs', () => {
  it('is renewed once: every tab ends with the same tokens; refresh fires in the renewing tab only', async () => {
    const open = await loggedInTabs(3)
    const [a, b, c] = open as [TokenClient, TokenClient, TokenClient]
    const login = a.tokens
    const refreshes = open.map((tab) => collect(tab, 'refresh'))
    const tokens = open.map((tab) => collect(tab, 'tokens'))
    vi.setSystemTime(T0 + 61_000)

    const [response, token, fetched] = await Promise.all([
      a.fetch(`${API_ORIGIN}/me`),
      b.getAccessToken(),
      c.fetch(`${API_ORIGIN}/me`),
    ])

    expect(mock.counters.token).toBe(1)
    expect(mock.counters.reuseDetected).toBe(0)
    expect([response.status, fetched.status]).toEqual([200, 200])
    const renewed = a.tokens
    expect(renewed?.accessToken).not.toBe(login?.accessToken)
    expect(token).toBe(renewed?.accessToken)
    expect(open.map((tab) => tab.tokens)).toEqual([renewed, renewed, renewed])
    expect(refreshes.map((seen) => seen.length)).toEqual([1, 0, 0])
    expect(tokens.map((seen) => seen.length)).toEqual([1, 1, 1])
    expect(mock.introspect(renewed?.refreshToken ?? '').state).toBe('active')
  })

  it('is renewed once when messages take 50 ms to arrive (less than the hand-off)', async () => {
    const open = await loggedInTabs(3)
    tabs.messageDelay = 50
    vi.setSystemTime(T0 + 61_000)

    const results = await advanceUntil(Promise.all(open.map((tab) => tab.getAccessToken())))

    expect(mock.counters.token).toBe(1)
    expect(mock.counters.reuseDetected).toBe(0)
    expect(new Set(results).size).toBe(1)
    expect(open.map((tab) => tab.tokens?.accessToken)).toEqual(results)
  })

  it('is renewed once when messages take 5 s: a waiting tab adopts from the shared store', async () => {
    const a = createClient({ storage: 'local' })
    const login = a.setTokens(mock.issueTokens())
    tabs.messageDelay = 5_000
    // Restored from localStorage at once: no need to ask a sibling.
    const b = createClient({ storage: 'local' })
    expect(b.tokens).toEqual(login)
    vi.setSystemTime(T0 + 61_000)

    const renewal = a.getAccessToken()
    const waiting = b.getAccessToken()
    // a waits 1 s at most for b to answer its announcement (the drain), which cannot come sooner.
    const [renewed, adopted] = await advanceUntil(Promise.all([renewal, waiting]), 2_000)

    expect(Date.now() - T0 - 61_000).toBeLessThan(2_000)
    expect(adopted).toBe(renewed)
    expect(b.tokens?.accessToken).toBe(renewed)
    expect(mock.counters.token).toBe(1)
    expect(mock.counters.reuseDetected).toBe(0)
    // The message, arriving late, changes nothing.
    await vi.advanceTimersByTimeAsync(5_000)
    expect(b.tokens?.accessToken).toBe(renewed)
  })
})

describe('proactive renewal in several tabs', () => {
  it.each([
    { count: 1, delay: 0 },
    { count: 4, delay: 0 },
    { count: 4, delay: 50 },
  ])(
    '$count tab(s), messages delayed $delay ms, renew 20 times in 10 lifetimes, as one tab alone',
    async ({ count, delay }) => {
      const open = await loggedInTabs(count)
      tabs.messageDelay = delay

      // A 60 s token is renewed 29 to 30 s into its lifetime: 20 times in 600 s.
      await advanceTo(10 * 60_000)

      expect(mock.counters.token).toBe(20)
      expect(mock.counters.tokenSuccess).toBe(20)
      expect(mock.counters.reuseDetected).toBe(0)
      await vi.advanceTimersByTimeAsync(delay)
      const current = open[0]?.tokens
      expect(open.map((tab) => tab.tokens)).toEqual(Array(count).fill(current))
      expect(mock.introspect(current?.refreshToken ?? '').state).toBe('active')
    },
  )

  it('renews once per lifetime when every tab draws the same jitter and fires at the same instant', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5)
    const open = await loggedInTabs(4)
    await advanceTo(10 * 60_000)
    expect(mock.counters.token).toBe(20)
    expect(mock.counters.reuseDetected).toBe(0)
    expect(new Set(open.map((tab) => tab.tokens?.accessToken)).size).toBe(1)
  })
})

describe("a sibling's successful renewal", () => {
  it('clears the failures this tab counted, so its next failure pauses it for 1 s, not 2 s', async () => {
    const [a, b] = (await loggedInTabs(2)) as [TokenClient, TokenClient]
    // One failed request (503): the renewing tab retries in place after about 1 s and succeeds;
    // the sibling heard of the failure, then of the new tokens.
    mock.injectFault({ type: 'status', status: 503 })
    const renewed = await advanceUntil(a.refresh())
    expect(b.tokens).toEqual(renewed)

    mock.injectFault({ type: 'status', status: 503 })
    await advanceUntil(b.refresh())

    const log = mock.log.token.map(({ at, status }) => [at, status] as const)
    expect(log.map(([, status]) => status)).toEqual([503, 200, 503, 200])
    const [failedAt, retriedAt] = [log[2]?.[0] ?? 0, log[3]?.[0] ?? 0]
    // A first failure's pause is 1 s, up to 20 % shorter; a second one's is 2 s.
    expect(retriedAt - failedAt).toBeGreaterThanOrEqual(800)
    expect(retriedAt - failedAt).toBeLessThan(1_100)
  })
})

describe('a renewal lock that is not released', () => {
  it('makes a renewal give up after 40 s with token_endpoint_unavailable, keeping the session', async () => {
    const [auth] = (await loggedInTabs(1)) as [TokenClient]
    const login = auth.tokens
    const errors = collect(auth, 'error')
    const release = await holdRenewalLock()

    const renewal = auth.refresh()
    renewal.catch(() => undefined)
    await vi.advanceTimersByTimeAsync(40_000 - 1)
    expect(errors).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    await expect(renewal).rejects.toMatchObject({
      code: 'token_endpoint_unavailable',
      message: 'renewal lock not granted in time',
    })
    expect(errors).toHaveLength(1)
    expect(mock.counters.token).toBe(0)
    expect(auth.tokens).toBe(login)
    expect(await auth.getAccessToken()).toBe(login?.accessToken)

    // Once the lock is free, the next renewal goes through.
    release()
    await vi.advanceTimersByTimeAsync(1_000)
    const renewed = await advanceUntil(auth.refresh())
    expect(renewed.accessToken).not.toBe(login?.accessToken)
    expect(auth.tokens).toBe(renewed)
    expect(mock.counters.tokenSuccess).toBeGreaterThanOrEqual(1)
    expect(mock.counters.reuseDetected).toBe(0)
  })
})

describe('without Web Locks', () => {
  it('renews once for concurrent renewals in 3 tabs, and sequential renewals keep working', async () => {
    tabs.webLocks = false
    const open = await loggedInTabs(3)
    const [a, b, c] = open as [TokenClient, TokenClient, TokenClient]
    vi.setSystemTime(Date.now() + 61_000)

    const renewals = Promise.all(open.map((tab) => tab.getAccessToken()))
    // The tabs race for the lease from one instant: the first claim is out, the others follow
    // (or see it) without any time passing.
    await claimsPosted()
    const results = await advanceUntil(renewals)
    expect(mock.counters.token).toBe(1)
    expect(new Set(results).size).toBe(1)

    for (const [round, tab] of [b, c, a, b].entries()) {
      const renewed = await advanceUntil(tab.refresh())
      await vi.advanceTimersByTimeAsync(1)
      expect(mock.counters.token).toBe(round + 2)
      expect(open.map((other) => other.tokens)).toEqual([renewed, renewed, renewed])
    }
    expect(mock.counters.tokenSuccess).toBe(5)
    expect(mock.counters.reuseDetected).toBe(0)
  })
})

describe('without Web Locks, a tab that stops waiting for the lease', () => {
  it('withdraws its claim, so the holder renews again without waiting for it to lapse', async () => {
    tabs.webLocks = false
    const [a, b] = (await loggedInTabs(2)) as [TokenClient, TokenClient]
    mock.injectFault({ type: 'latency', ms: 1_000 })
    // Messages take 80 ms: b claims 60 ms after a, before a's claim reaches it, and b's claim
    // reaches a after a's 100 ms claim window, while a holds the lease.
    tabs.messageDelay = 80
    const first = a.refresh()
    await claimsPosted(1)
    await vi.advanceTimersByTimeAsync(60)
    const joined = b.refresh()
    await claimsPosted(2)
    await vi.advanceTimersByTimeAsync(140)
    expect(mock.counters.token).toBe(1)
    const renewed = await advanceUntil(first)
    expect(await advanceUntil(joined)).toEqual(renewed)
    expect(mock.counters.token).toBe(1)
    await vi.advanceTimersByTimeAsync(500) // past the hand-off: a no longer holds the lease

    // b lost to a's earlier claim, then adopted a's result; a renews again within a second, not
    // after the 40 s that b's forgotten claim would take to lapse.
    const start = Date.now()
    const next = await advanceUntil(a.refresh(), 1_000)
    expect(Date.now() - start).toBeLessThan(1_000)
    expect(next.accessToken).not.toBe(renewed.accessToken)
    expect(mock.counters).toMatchObject({ token: 2, tokenSuccess: 2, reuseDetected: 0 })
  })
})

describe('a login in one tab while another renews', () => {
  it('wins: after the renewal completes, every tab holds the new login', async () => {
    const open = await loggedInTabs(3)
    const [a, b] = open as [TokenClient, TokenClient, TokenClient]
    const refreshes = collect(a, 'refresh')
    mock.injectFault({ type: 'latency', ms: 3_000 })

    const renewal = a.refresh()
    await vi.advanceTimersByTimeAsync(0)
    expect(mock.counters.token).toBe(1)
    const login = b.setTokens(mock.issueTokens())
    await advanceUntil(renewal)

    expect(open.map((tab) => tab.tokens)).toEqual([login, login, login])
    expect(refreshes).toEqual([])
    expect(await a.getAccessToken()).toBe(login.accessToken)
  })

  it('wins when the renewal is answered while the login is still on its way to the renewing tab', async () => {
    const open = await loggedInTabs(3)
    const [a, b] = open as [TokenClient, TokenClient, TokenClient]
    tabs.messageDelay = 50
    mock.injectFault({ type: 'latency', ms: 1_000 })

    const renewal = a.refresh()
    await vi.advanceTimersByTimeAsync(980)
    // B logs in 20 ms before A's renewal is answered; A hears of it 30 ms after.
    const login = b.setTokens(mock.issueTokens())
    await advanceUntil(renewal)
    await vi.advanceTimersByTimeAsync(100)

    expect(open.map((tab) => tab.tokens)).toEqual([login, login, login])
  })
})

describe('a logout in one tab while another renews', () => {
  it.each([0, 50])(
    'ends the session in every tab, whenever the renewal is answered (messages delayed %i ms)',
    async (delay) => {
      const open = await loggedInTabs(3)
      const [a, , c] = open as [TokenClient, TokenClient, TokenClient]
      tabs.messageDelay = delay
      mock.injectFault({ type: 'latency', ms: 1_000 })

      const renewal = c.refresh()
      renewal.catch(() => undefined)
      await vi.advanceTimersByTimeAsync(980)
      // A logs out 20 ms before C's renewal is answered; C hears of it only after.
      await advanceUntil(a.logout())
      await advanceUntil(renewal.catch(() => undefined))
      await vi.advanceTimersByTimeAsync(1_000)

      expect(open.map((tab) => tab.tokens)).toEqual([null, null, null])
      await expect(c.getAccessToken()).rejects.toMatchObject({ code: 'no_session' })
      expect(mock.counters.revocation).toBe(1)
      expect(mock.counters.reuseDetected).toBe(0)
    },
  )
})
