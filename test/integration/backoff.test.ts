/**
 * The pause after failed token requests: every request counts toward it, whichever renewal, retry
 * or tab sent it; `Retry-After` (seconds or HTTP-date) is honoured up to 10 minutes; a renewal
 * retries in place only briefly; and a server that is down for minutes sees a bounded number of
 * requests, the session survives, and it is renewed within 65 s of the server's recovery.
 */
import type { TokenClient, TokenClientEvents } from 'freshtoken'
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { API_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { advanceToInstant, stepUntilSettled, T0 } from '../mocks/time.js'

const { mock, serve } = useMockEnvironment()

const HOUR = 3_600_000
const MINUTE = 60_000

const { create: createClient, onCleanup } = useClients(
  { clientId: CLIENT_ID, tokenEndpoint: `${ISSUER}/oauth/token`, apiOrigins: [API_ORIGIN] },
  { fakeTimers: T0, teardown: () => vi.restoreAllMocks() },
)

/** Collects the events `event` fires, with the fake time each fired at. */
function collect<E extends keyof TokenClientEvents>(
  auth: TokenClient,
  event: E,
): { payload: TokenClientEvents[E]; at: number }[] {
  const seen: { payload: TokenClientEvents[E]; at: number }[] = []
  auth.on(event, (payload) => seen.push({ payload, at: Date.now() }))
  return seen
}

/** Advances fake time in 10 ms steps until `promise` settles (at most `limit` ms). */
const advanceUntil = stepUntilSettled(10)

/** Every pause at its full length (no jitter), so the times below are exact. */
const noJitter = () => vi.spyOn(Math, 'random').mockReturnValue(0)

/** When the token endpoint was asked, in ms since `start`. */
const requestTimes = (start = T0) => mock.log.token.map(({ at }) => at - start)

describe('a renewal that meets a transient failure', () => {
  it.each([
    { fault: 'a network error', inject: { type: 'network-error' } as const, status: 0 },
    { fault: 'a 502 HTML page from a proxy', inject: { type: 'html' } as const, status: 502 },
    {
      fault: 'a 503 temporarily_unavailable',
      inject: { type: 'oauth-error', error: 'temporarily_unavailable' } as const,
      status: 503,
    },
  ])(
    'retries $fault in place after 1 s, then 2 s: every request counts',
    async ({ inject, status }) => {
      noJitter()
      const auth = createClient()
      const login = mock.issueTokens()
      auth.setTokens(login)
      mock.injectFault({ ...inject, times: 2 })

      const tokens = await advanceUntil(auth.refresh())

      expect(mock.log.token.map((entry) => entry.status)).toEqual([status, status, 200])
      expect(requestTimes()).toEqual([0, 1_000, 3_000])
      expect(tokens.accessToken).not.toBe(login.access_token)
    },
  )

  it('shortens a pause by at most a fifth at random, so clients that failed together spread out', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999_999)
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'network-error', times: 2 })

    await advanceUntil(auth.refresh())

    const [first = 0, second = 0, third = 0] = requestTimes()
    expect(second - first).toBeGreaterThanOrEqual(800)
    expect(second - first).toBeLessThan(810)
    expect(third - second).toBeGreaterThanOrEqual(1_600)
    expect(third - second).toBeLessThan(1_610)
  })

  it('retries in place even when its timer fires before the clock reaches the end of the pause', async () => {
    // Node counts a timer from the start of the event loop's turn, so a busy turn makes it fire
    // early by the clock: here every pause of 500 ms or more fires 20 ms early.
    noJitter()
    const schedule = globalThis.setTimeout
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((
      callback: () => void,
      ms = 0,
      ...rest: unknown[]
    ) => schedule(callback, ms >= 500 ? ms - 20 : ms, ...rest)) as typeof setTimeout)
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'status', status: 503, times: 1 })

    const tokens = await advanceUntil(auth.refresh())

    expect(mock.log.token.map((entry) => entry.status)).toEqual([503, 200])
    expect(requestTimes()).toEqual([0, 1_000])
    expect(auth.tokens).toBe(tokens)
  })

  it('fails after three requests, keeps the session, and tells the callers at once', async () => {
    noJitter()
    const auth = createClient()
    const login = mock.issueTokens()
    const tokens = auth.setTokens(login)
    const errors = collect(auth, 'error')
    mock.injectFault({ type: 'status', status: 503, times: Number.POSITIVE_INFINITY })

    const renewal = auth.refresh()
    await expect(advanceUntil(renewal)).rejects.toMatchObject({
      name: 'TokenEndpointUnavailableError',
      code: 'token_endpoint_unavailable',
      status: 503,
      retryAfter: undefined,
    })
    expect(requestTimes()).toEqual([0, 1_000, 3_000])
    expect(errors.map(({ at }) => at - T0)).toEqual([3_000])
    expect(await renewal.catch((error: unknown) => error)).toBe(errors[0]?.payload)
    expect(auth.tokens).toBe(tokens)
    expect(await auth.getAccessToken()).toBe(login.access_token)
    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    expect(mock.counters.token).toBe(3)
  })

  it('does not retry an answer that will not change (invalid_client), but pauses after it', async () => {
    noJitter()
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'oauth-error', error: 'invalid_client', times: 2 })

    await expect(auth.refresh()).rejects.toMatchObject({ code: 'token_endpoint_error' })
    expect(mock.counters.token).toBe(1)
    await advanceToInstant(T0 + 1_000 - 1)
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'token_endpoint_error' })
    expect(mock.counters.token).toBe(1)
    await advanceToInstant(T0 + 1_000)
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'token_endpoint_error' })
    expect(mock.counters.token).toBe(2)
  })
})

describe('the pause between failed requests', () => {
  it('doubles with every failed request (1, 2, 4 … s) up to 60 s, across renewals', async () => {
    noJitter()
    // A long-lived token, so only the calls below (and the timer, after each pause) renew.
    const down = serve({ accessTokenLifetime: 24 * HOUR })
    const auth = createClient()
    auth.setTokens(down.issueTokens())
    const errors = collect(auth, 'error')
    down.injectFault({ type: 'status', status: 503, times: Number.POSITIVE_INFINITY })

    // The first renewal waits out the pauses of 1 s and 2 s in place.
    await expect(advanceUntil(auth.refresh())).rejects.toMatchObject({
      code: 'token_endpoint_unavailable',
    })
    expect(down.counters.token).toBe(3)
    // Each later renewal is a single request: the pauses are too long to wait out in place.
    const pauses = [4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
    for (const [i, pause] of pauses.entries()) {
      const failedAt = errors[i]?.at ?? 0
      await advanceToInstant(failedAt + pause - 1)
      await expect(auth.refresh()).rejects.toMatchObject({ code: 'token_endpoint_unavailable' })
      expect(down.counters.token).toBe(3 + i)
      expect(errors).toHaveLength(i + 1)

      await advanceToInstant(failedAt + pause)
      await expect(auth.refresh()).rejects.toMatchObject({ code: 'token_endpoint_unavailable' })
      expect(down.counters.token).toBe(4 + i)
      expect(errors).toHaveLength(i + 2)
    }
  })

  it('holds back calls, refresh(), the timer and wake-up events alike, without a request', async () => {
    noJitter()
    const auth = createClient()
    const login = mock.issueTokens()
    // An access token that has already expired: every call needs a renewal.
    auth.setTokens({ ...login, expires_in: 0 })
    const errors = collect(auth, 'error')
    mock.injectFault({ type: 'status', status: 503, times: Number.POSITIVE_INFINITY })
    await expect(advanceUntil(auth.getAccessToken())).rejects.toMatchObject({
      code: 'token_endpoint_unavailable',
    })
    const failedAt = errors[0]?.at ?? 0
    expect(mock.counters.token).toBe(3)

    await advanceToInstant(failedAt + 4_000 - 1)
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'token_endpoint_unavailable' })
    await expect(auth.getAccessToken()).rejects.toMatchObject({
      code: 'token_endpoint_unavailable',
    })
    await expect(auth.fetch(`${API_ORIGIN}/me`)).rejects.toMatchObject({
      code: 'token_endpoint_unavailable',
    })
    window.dispatchEvent(new Event('online'))
    window.dispatchEvent(new Event('focus'))
    await vi.advanceTimersByTimeAsync(0)
    expect(Date.now()).toBe(failedAt + 4_000 - 1)
    expect(mock.counters.token).toBe(3)
    expect(mock.counters.api).toBe(0)
    expect(errors).toHaveLength(1)
    expect(auth.tokens?.accessToken).toBe(login.access_token)

    // The timer renews once the pause is over, and the server has recovered.
    mock.clearFaults()
    await vi.advanceTimersByTimeAsync(1)
    await vi.advanceTimersByTimeAsync(10)
    expect(mock.counters.token).toBe(4)
    expect(mock.counters.tokenSuccess).toBe(1)
    expect(auth.tokens?.accessToken).not.toBe(login.access_token)
  })

  it('ends after a success: the next failure pauses 1 s again', async () => {
    noJitter()
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'network-error', times: 3 })
    await expect(advanceUntil(auth.refresh())).rejects.toMatchObject({
      code: 'token_endpoint_unavailable',
    })
    await advanceToInstant(T0 + 3_000 + 4_000)
    await auth.refresh()
    expect(mock.counters.tokenSuccess).toBe(1)

    mock.injectFault({ type: 'network-error' })
    const start = Date.now()
    await advanceUntil(auth.refresh())
    expect(requestTimes(start).slice(-2)).toEqual([0, 1_000])
  })
})

describe('Retry-After (RFC 9110 §10.2.3)', () => {
  it('waits a 503 Retry-After of 2 s in place, not less', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'status', status: 503, retryAfter: 2 })

    const renewal = auth.refresh()
    await advanceToInstant(T0 + 2_000 - 1)
    expect(mock.counters.token).toBe(1)
    const tokens = await advanceUntil(renewal)

    expect(mock.log.token.map(({ status }) => status)).toEqual([503, 200])
    expect(requestTimes()).toEqual([0, 2_000])
    expect(auth.tokens).toBe(tokens)
  })

  it('waits a 429 Retry-After given as an HTTP-date', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({
      type: 'status',
      status: 429,
      retryAfter: new Date(T0 + 2_000).toUTCString(),
    })

    await advanceUntil(auth.refresh())
    expect(mock.log.token.map(({ status }) => status)).toEqual([429, 200])
    expect(requestTimes()).toEqual([0, 2_000])
  })

  it.each([
    { status: 503, retryAfter: 120 as number | string },
    { status: 429, retryAfter: 120 },
    { status: 503, retryAfter: new Date(T0 + 120_000).toUTCString() },
  ])(
    'sends nothing for the $retryAfter of a $status, and tells callers at once',
    async ({ status, retryAfter }) => {
      const auth = createClient()
      const login = mock.issueTokens()
      // Expired at once: every call below needs a renewal.
      auth.setTokens({ ...login, expires_in: 0 })
      const errors = collect(auth, 'error')
      mock.injectFault({ type: 'status', status, retryAfter })

      // Too long to wait in place: the caller learns it without delay.
      await expect(auth.getAccessToken()).rejects.toMatchObject({
        code: 'token_endpoint_unavailable',
        status,
        retryAfter: 120_000,
      })
      expect(Date.now()).toBe(T0)

      // Calls every 100 ms (and the timer) for those 120 s: no request.
      const hammer = setInterval(() => {
        auth.fetch(`${API_ORIGIN}/me`).catch(() => undefined)
        auth.refresh().catch(() => undefined)
      }, 100)
      await advanceToInstant(T0 + 120_000 - 1)
      clearInterval(hammer)
      expect(mock.counters.token).toBe(1)
      expect(mock.counters.api).toBe(0)
      expect(errors).toHaveLength(1)

      // Then the timer renews.
      await advanceToInstant(T0 + 120_000 + 100)
      expect(mock.counters.token).toBe(2)
      expect(mock.counters.tokenSuccess).toBe(1)
    },
  )

  it('honours a Retry-After of a day for 10 minutes at most', async () => {
    const auth = createClient()
    auth.setTokens({ ...mock.issueTokens(), expires_in: 0 })
    mock.injectFault({ type: 'status', status: 503, retryAfter: 86_400 })
    await expect(auth.refresh()).rejects.toMatchObject({ retryAfter: 86_400_000 })

    await advanceToInstant(T0 + 10 * MINUTE - 1)
    expect(mock.counters.token).toBe(1)
    await advanceToInstant(T0 + 10 * MINUTE + 100)
    expect(mock.counters.tokenSuccess).toBe(1)
  })

  it('ignores a Retry-After it cannot read, and pauses as after any failure', async () => {
    noJitter()
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'status', status: 503, retryAfter: 'soon' })

    await advanceUntil(auth.refresh())
    expect(requestTimes()).toEqual([0, 1_000])
  })
})

describe('a 10-minute outage', () => {
  it('costs at most 20 token requests, never ends the session, and ends within 65 s of recovery', async () => {
    // Network errors and 503s alternating; real jitter: the bound holds for every draw.
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    const expired = collect(auth, 'expired')
    const refreshes = collect(auth, 'refresh')
    for (let i = 0; i < 100; i++) {
      mock.injectFault(i % 2 ? { type: 'status', status: 503 } : { type: 'network-error' })
    }

    // An app calling twice a second (how often does not change what the server sees).
    const outcomes: number[] = []
    const hammer = setInterval(() => {
      auth.getAccessToken().catch(() => undefined)
      auth.fetch(`${API_ORIGIN}/me`).then(
        ({ status }) => outcomes.push(status),
        () => outcomes.push(0),
      )
    }, 500)
    onCleanup(() => clearInterval(hammer))
    await vi.advanceTimersByTimeAsync(10 * MINUTE)

    expect(mock.counters.token).toBeLessThanOrEqual(20)
    // Renewals start in the leeway (30 s before the 60 s token expires) and go on all along.
    expect(mock.counters.token).toBeGreaterThanOrEqual(12)
    expect(mock.counters.tokenSuccess).toBe(0)
    expect(expired).toHaveLength(0)
    expect(auth.tokens?.accessToken).toBe(login.access_token)

    // The server recovers: within 65 s a renewal succeeds and calls answer 200 again.
    mock.clearFaults()
    const recovered = Date.now()
    outcomes.length = 0
    await vi.advanceTimersByTimeAsync(65_000)
    clearInterval(hammer)
    // (A second renewal may follow, 30 s before the renewed token expires.)
    expect(refreshes.length).toBeGreaterThanOrEqual(1)
    expect((refreshes[0]?.at ?? Infinity) - recovered).toBeLessThanOrEqual(65_000)
    expect(outcomes.slice(-10)).toEqual(Array(10).fill(200))
    expect(expired).toHaveLength(0)
  })
})

describe('between tabs', () => {
  it('holds back a tab that waited for the lock while a sibling’s requests failed', async () => {
    noJitter()
    const a = createClient()
    const b = createClient()
    a.setTokens(mock.issueTokens())
    await advanceUntil(b.getAccessToken())
    vi.setSystemTime(T0 + 61_000)
    mock.injectFault({ type: 'status', status: 503, times: Number.POSITIVE_INFINITY })

    // Both tabs need a renewal at once: a sends its requests under the lock, b waits for it.
    const renewals = [a.refresh(), b.refresh()]
    const [first, second] = await advanceUntil(Promise.allSettled(renewals))

    expect(first).toMatchObject({
      status: 'rejected',
      reason: { code: 'token_endpoint_unavailable' },
    })
    expect(second).toMatchObject({
      status: 'rejected',
      reason: { code: 'token_endpoint_unavailable' },
    })
    // a's request and its two retries in place; nothing from b, which then met a's pause.
    expect(mock.counters.token).toBe(3)
  })

  it('pauses every tab after one tab’s request failed: the server sees one request', async () => {
    noJitter()
    const a = createClient()
    const b = createClient()
    const login = mock.issueTokens()
    a.setTokens(login)
    await advanceUntil(b.getAccessToken())
    expect(b.tokens).toEqual(a.tokens)
    // Both tabs' access token has expired: every call needs a renewal.
    vi.setSystemTime(T0 + 61_000)
    mock.injectFault({ type: 'status', status: 503, retryAfter: 60 })

    await expect(a.refresh()).rejects.toMatchObject({ code: 'token_endpoint_unavailable' })
    await vi.advanceTimersByTimeAsync(0)
    await expect(b.refresh()).rejects.toMatchObject({ code: 'token_endpoint_unavailable' })
    await expect(b.fetch(`${API_ORIGIN}/me`)).rejects.toMatchObject({
      code: 'token_endpoint_unavailable',
    })
    expect(mock.counters.token).toBe(1)

    // The pause over, one tab renews and the other adopts its tokens.
    await advanceToInstant(T0 + 61_000 + 60_000 + 200)
    expect(mock.counters.tokenSuccess).toBe(1)
    expect(b.tokens).toEqual(a.tokens)
    expect(b.tokens?.accessToken).not.toBe(login.access_token)
  })
})
