/**
 * Proactive renewal: `refreshLeeway` before expiry (at most half the lifetime, minus a jitter of at
 * most min(1 s, lifetime / 20)), clamped timers for long-lived tokens, re-checks when the page
 * wakes up, the check on every call, and `dispose()`.
 */
import { describe, expect, it, vi } from 'vitest'
import { nextEvent, useClients } from '../mocks/harness.js'
import { API_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { advanceTo, stepUntilSettled, T0 } from '../mocks/time.js'

const { mock, serve } = useMockEnvironment()

const HOUR = 3_600_000
const DAY = 24 * HOUR
const YEAR = 365 * DAY
/** The longest delay a browser's setTimeout honours; longer ones fire at once. */
const MAX_TIMER = 2 ** 31 - 1

const { create: createClient } = useClients(
  { clientId: CLIENT_ID, tokenEndpoint: `${ISSUER}/oauth/token`, apiOrigins: [API_ORIGIN] },
  { fakeTimers: T0, teardown: () => vi.restoreAllMocks() },
)

/** Advances fake time in 100 ms steps until `promise` settles (at most `limit` ms). */
const _advanceUntil = stepUntilSettled(100)

describe('when the timer renews', () => {
  it('renews a 60 s token 30 s before expiry, at most 1 s earlier', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    expect(auth.setTokens(login).expiresAt).toBe(T0 + 60_000)

    await advanceTo(29_000 - 1)
    expect(mock.counters.token).toBe(0)
    await advanceTo(30_000)
    expect(mock.counters.token).toBe(1)
    expect(mock.counters.tokenSuccess).toBe(1)
    const at = mock.log.token[0]?.at ?? 0
    expect(at).toBeGreaterThanOrEqual(T0 + 29_000)
    expect(at).toBeLessThanOrEqual(T0 + 30_000)
    expect(auth.tokens?.accessToken).not.toBe(login.access_token)
    expect(mock.introspect(login.access_token).active).toBe(true)
  })

  it.each([
    { random: 0, renewsAt: 30_000 },
    { random: 0.5, renewsAt: 29_500 },
    { random: 0.999, renewsAt: 29_001 },
  ])(
    'subtracts a jitter of at most 1 s (Math.random() = $random renews at $renewsAt ms)',
    async ({ random, renewsAt }) => {
      vi.spyOn(Math, 'random').mockReturnValue(random)
      const auth = createClient()
      auth.setTokens(mock.issueTokens())
      await advanceTo(renewsAt - 1)
      expect(mock.counters.token).toBe(0)
      await advanceTo(renewsAt)
      expect(mock.counters.token).toBe(1)
      expect(mock.log.token[0]?.at).toBe(T0 + renewsAt)
    },
  )

  it('renews a 20 s token at half its lifetime: between 9 s and 10 s', async () => {
    const short = serve({ accessTokenLifetime: 20_000 })
    createClient().setTokens(short.issueTokens())
    await advanceTo(9_000 - 1)
    expect(short.counters.token).toBe(0)
    await advanceTo(10_000)
    expect(short.counters.token).toBe(1)
    expect(short.counters.tokenSuccess).toBe(1)
  })

  it('caps the jitter at a twentieth of the lifetime: a 10 s token renews between 4.5 s and 5 s', async () => {
    const short = serve({ accessTokenLifetime: 10_000 })
    createClient().setTokens(short.issueTokens())
    await advanceTo(4_500 - 1)
    expect(short.counters.token).toBe(0)
    await advanceTo(5_000)
    expect(short.counters.token).toBe(1)
  })

  it.each([
    { refreshLeeway: 5_000, window: [54_000, 55_000] },
    { refreshLeeway: 0, window: [59_000, 60_000] },
  ])(
    'honours refreshLeeway $refreshLeeway: renews between $window.0 and $window.1 ms',
    async ({ refreshLeeway, window: [from = 0, to = 0] }) => {
      createClient({ refreshLeeway }).setTokens(mock.issueTokens())
      await advanceTo(from - 1)
      expect(mock.counters.token).toBe(0)
      await advanceTo(to)
      expect(mock.counters.token).toBe(1)
      expect(mock.counters.tokenSuccess).toBe(1)
    },
  )

  it('keeps renewing each new token on the same rule: exactly 10 renewals in 5 minutes', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    // Renewal k happens between 29 s and 30 s after renewal k−1: the 10th by 300 s, the 11th
    // not before 319 s.
    await advanceTo(300_000)
    expect(mock.counters.token).toBe(10)
    expect(mock.counters.tokenSuccess).toBe(10)
    expect(mock.counters.reuseDetected).toBe(0)
    const gaps = mock.log.token.slice(1).map((entry, i) => entry.at - (mock.log.token[i]?.at ?? 0))
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(29_000)
      expect(gap).toBeLessThanOrEqual(30_000)
    }
    expect(mock.introspect(auth.tokens?.refreshToken ?? '').state).toBe('active')
  })
})

describe('short-lived tokens', () => {
  it('renews a 1 s token every half second, as the rules say', async () => {
    const short = serve({ accessTokenLifetime: 1_000 })
    createClient().setTokens(short.issueTokens())
    // Each renewal 0.5 s (minus up to 50 ms of jitter) after the previous: 10 in 5 s.
    for (let step = 0; step < 50; step++) await vi.advanceTimersByTimeAsync(100)
    expect(short.counters.token).toBeGreaterThanOrEqual(10)
    expect(short.counters.token).toBeLessThanOrEqual(11)
  })

  it('does not renew in a tight loop when the server issues tokens that expire at once (expires_in 0)', async () => {
    const broken = serve({ accessTokenLifetime: 0 })
    const auth = createClient()
    expect(auth.setTokens(broken.issueTokens()).expiresAt).toBe(T0)
    for (let step = 0; step < 10; step++) await vi.advanceTimersByTimeAsync(100)
    // One renewal at once, then at most one per 500 ms (the floor between renewals) however
    // short the lifetime: not one per millisecond.
    expect(broken.counters.token).toBeGreaterThanOrEqual(2)
    expect(broken.counters.token).toBeLessThanOrEqual(3)
    // Calls in between use the fresh token instead of renewing again.
    await Promise.all(Array.from({ length: 20 }, () => auth.getAccessToken()))
    expect(broken.counters.token).toBeLessThanOrEqual(3)
    for (let step = 0; step < 90; step++) await vi.advanceTimersByTimeAsync(100)
    expect(broken.counters.token).toBeLessThanOrEqual(21)
  })
})

describe('long-lived tokens', () => {
  it('does not storm the token endpoint with a 30-day token, and renews it near its end', async () => {
    const lifetime = 30 * DAY
    const long = serve({ accessTokenLifetime: lifetime, refreshTokenLifetime: YEAR })
    const auth = createClient()
    expect(auth.setTokens(long.issueTokens()).expiresAt).toBe(T0 + lifetime)

    await advanceTo(3 * HOUR)
    expect(long.counters.token).toBe(0)

    // The machine sleeps until a minute before the renewal is due; timers resume on wake.
    vi.setSystemTime(T0 + lifetime - 90_000)
    await advanceTo(lifetime - 30_000 - 1_000 - 1)
    expect(long.counters.token).toBe(0)
    await advanceTo(lifetime - 30_000)
    expect(long.counters.token).toBe(1)
    expect(long.counters.tokenSuccess).toBe(1)
    expect(auth.tokens?.expiresAt).toBe((long.log.token[0]?.at ?? 0) + lifetime)
  })

  it('does not storm the token endpoint with a 10-year token (beyond 2^31−1 ms), and renews it near its end', async () => {
    const lifetime = 10 * YEAR
    expect(lifetime).toBeGreaterThan(MAX_TIMER)
    const long = serve({ accessTokenLifetime: lifetime, refreshTokenLifetime: 20 * YEAR })
    const auth = createClient()
    expect(auth.setTokens(long.issueTokens()).expiresAt).toBe(T0 + lifetime)

    await advanceTo(3 * HOUR)
    expect(long.counters.token).toBe(0)
    // Past the point where an unclamped timer of 2^31−1 ms would have fired.
    await advanceTo(MAX_TIMER + HOUR)
    expect(long.counters.token).toBe(0)

    vi.setSystemTime(T0 + lifetime - 2 * 60_000)
    await advanceTo(lifetime - 30_000 - 1_000 - 1)
    expect(long.counters.token).toBe(0)
    await advanceTo(lifetime - 30_000)
    expect(long.counters.token).toBe(1)
    expect(long.counters.tokenSuccess).toBe(1)

    // The renewed 10-year token is left alone again.
    await advanceTo(lifetime + 3 * HOUR)
    expect(long.counters.token).toBe(1)
  })
})

describe('wake-up re-checks', () => {
  const wakeUps: [string, () => void][] = [
    ['online on window', () => window.dispatchEvent(new Event('online'))],
    ['focus on window', () => window.dispatchEvent(new Event('focus'))],
    ['pageshow on window', () => window.dispatchEvent(new Event('pageshow'))],
    [
      'visibilitychange on a visible document',
      () => document.dispatchEvent(new Event('visibilitychange')),
    ],
  ]

  it.each(wakeUps)(
    'renews at once on %s when a suspended timer missed the renewal',
    async (_, wake) => {
      const auth = createClient()
      const login = mock.issueTokens()
      auth.setTokens(login)
      // The tab was frozen: the wall clock ran 45 s, the timer did not (it is still ~29 s away).
      vi.setSystemTime(T0 + 45_000)
      await vi.advanceTimersByTimeAsync(1_000)
      expect(mock.counters.token).toBe(0)

      const renewed = nextEvent(auth, 'refresh')
      wake()
      await vi.advanceTimersByTimeAsync(0)
      const tokens = await renewed
      expect(mock.counters.token).toBe(1)
      expect(mock.log.token[0]?.at).toBe(T0 + 46_000)
      expect(tokens.accessToken).not.toBe(login.access_token)
      expect(auth.tokens).toEqual(tokens)

      // The stale timer, when it finally fires, does not renew again.
      await advanceTo(46_000 + 29_000 - 1)
      expect(mock.counters.token).toBe(1)
    },
  )

  it('neither renews early nor twice when wake-up events arrive before the renewal is due', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    for (let second = 1; second <= 28; second++) {
      await advanceTo(second * 1_000)
      window.dispatchEvent(new Event('online'))
      window.dispatchEvent(new Event('focus'))
      document.dispatchEvent(new Event('visibilitychange'))
    }
    await vi.advanceTimersByTimeAsync(0)
    expect(mock.counters.token).toBe(0)
    await advanceTo(30_000)
    expect(mock.counters.token).toBe(1)
    await advanceTo(45_000)
    window.dispatchEvent(new Event('online'))
    await vi.advanceTimersByTimeAsync(0)
    expect(mock.counters.token).toBe(1)
  })

  it('does not re-check on visibilitychange while the page is hidden, and does once it is visible', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    vi.setSystemTime(T0 + 45_000)

    const visibility = vi.spyOn(document, 'visibilityState', 'get').mockReturnValue('hidden')
    document.dispatchEvent(new Event('visibilitychange'))
    await vi.advanceTimersByTimeAsync(0)
    expect(mock.counters.token).toBe(0)

    visibility.mockReturnValue('visible')
    const renewed = nextEvent(auth, 'refresh')
    document.dispatchEvent(new Event('visibilitychange'))
    await vi.advanceTimersByTimeAsync(0)
    await renewed
    expect(mock.counters.token).toBe(1)
  })
})

describe('the check on every call', () => {
  it('getAccessToken() renews first after the clock jumped past expiry, then answers the new token', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    vi.setSystemTime(T0 + 61_000)

    const token = await auth.getAccessToken()
    expect(token).not.toBe(login.access_token)
    expect(token).toBe(auth.tokens?.accessToken)
    expect(mock.counters.token).toBe(1)
    expect(mock.introspect(token).active).toBe(true)
  })

  it('auth.fetch renews first after the clock jumped past expiry and sends only the new token', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    vi.setSystemTime(T0 + 61_000)

    const response = await auth.fetch(`${API_ORIGIN}/me`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      sub: 'user-1',
      scope: 'openid profile',
      client_id: 'spa',
    })
    expect(mock.counters.token).toBe(1)
    // The expired token never reached the API.
    expect(mock.log.api.map(({ status, token }) => [status, token])).toEqual([[200, 'active']])
  })

  it('outside the leeway, answers the current token without contacting the token endpoint', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    await advanceTo(28_000)
    expect(await auth.getAccessToken()).toBe(login.access_token)
    await vi.advanceTimersByTimeAsync(0)
    expect(mock.counters.token).toBe(0)
  })
})

describe('dispose()', () => {
  it('stops the timer: no renewal after dispose, even long past expiry', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    await advanceTo(10_000)
    auth.dispose()
    await advanceTo(10 * 60_000)
    expect(mock.counters.token).toBe(0)
  })

  it('stops the wake-up listeners', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    auth.dispose()
    vi.setSystemTime(T0 + 45_000)
    window.dispatchEvent(new Event('online'))
    window.dispatchEvent(new Event('focus'))
    window.dispatchEvent(new Event('pageshow'))
    document.dispatchEvent(new Event('visibilitychange'))
    await vi.advanceTimersByTimeAsync(60_000)
    expect(mock.counters.token).toBe(0)
  })
})
