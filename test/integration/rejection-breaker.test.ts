/**
 * The circuit breaker for APIs that reject every token (a wrong audience, a resource server with a
 * skewed clock, a grant revoked on one side only): when the token a renewal issued for a 401 is
 * itself answered 401, 401-driven renewals pause (1 s, doubling up to 60 s) and the calls get the
 * 401; after each pause one renewal is tried; the breaker closes once the API accepts a token. The
 * app hears of it through the 'error' event, code `token_rejected`. The session is kept.
 */
import { type TokenClient, TokenRejectedError } from 'freshtoken'
import { describe, expect, it, vi } from 'vitest'
import { collect, useClients } from '../mocks/harness.js'
import { API_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { stepUntilSettled, T0 } from '../mocks/time.js'

const { mock, serve } = useMockEnvironment()

const { create: createClient, onCleanup } = useClients(
  { clientId: CLIENT_ID, tokenEndpoint: `${ISSUER}/oauth/token`, apiOrigins: [API_ORIGIN] },
  { fakeTimers: T0, teardown: () => vi.restoreAllMocks() },
)

/** Advances fake time in 10 ms steps until `promise` settles (at most `limit` ms). */
const advanceUntil = stepUntilSettled(10)

/** The API answers 401 to every token from now on (a bare 401, as many gateways send). */
const rejectEveryToken = () =>
  mock.injectFault({ type: 'status', status: 401, target: 'api', times: Number.POSITIVE_INFINITY })

/** A `token_rejected` error `auth` reported, with the fake time it was reported at. */
interface Reported {
  readonly error: TokenRejectedError
  readonly at: number
}

/**
 * Reads the `token_rejected` errors `auth` reports from now on; every `'error'` payload must be
 * an `Error`.
 */
function rejections(auth: TokenClient): () => Reported[] {
  const reported: Reported[] = []
  const notErrors: unknown[] = []
  auth.on('error', (error) => {
    if (error instanceof TokenRejectedError) reported.push({ error, at: Date.now() })
    else if (!(error instanceof Error)) notErrors.push(error)
  })
  return () => {
    expect(notErrors).toEqual([])
    return reported
  }
}

/** Calls the API every `every` ms until stopped; collects every outcome (0 for a rejection). */
function poll(auth: TokenClient, every: number): { statuses: number[]; stop: () => void } {
  const statuses: number[] = []
  const timer = setInterval(() => {
    auth.fetch(`${API_ORIGIN}/me`).then(
      ({ status }) => statuses.push(status),
      () => statuses.push(0),
    )
  }, every)
  const stop = () => clearInterval(timer)
  onCleanup(stop)
  return { statuses, stop }
}

describe('an API that rejects every token', () => {
  // About 1,300 calls through the mock API: a loaded machine needs more than the default 20 s.
  it('polled 10 times a second for 60 s costs at most 8 token requests, and recovers within 65 s', {
    timeout: 90_000,
  }, async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const expired = collect(auth, 'expired')
    const reported = rejections(auth)
    rejectEveryToken()

    const { statuses, stop } = poll(auth, 100)
    await vi.advanceTimersByTimeAsync(60_000)

    expect(mock.counters.token).toBeLessThanOrEqual(8)
    expect(mock.counters.token).toBeGreaterThanOrEqual(4)
    expect(statuses.length).toBeGreaterThanOrEqual(590)
    expect(new Set(statuses)).toEqual(new Set([401]))
    expect(expired).toEqual([])
    expect(auth.tokens).not.toBeNull()
    expect(reported().length).toBeGreaterThanOrEqual(3)
    for (const { error } of reported()) {
      expect(error).toMatchObject({ name: 'TokenRejectedError', code: 'token_rejected' })
    }

    // The API recovers, accepting only tokens issued from now on: within 65 s, calls answer 200.
    mock.clearFaults()
    mock.expireAccessTokens()
    const recovered = Date.now()
    statuses.length = 0
    await vi.advanceTimersByTimeAsync(65_000)
    stop()
    const firstOk = statuses.indexOf(200)
    expect(firstOk).toBeGreaterThanOrEqual(0)
    expect(firstOk * 100).toBeLessThanOrEqual(65_000)
    expect(statuses.slice(firstOk)).toEqual(statuses.slice(firstOk).map(() => 200))
    expect(Date.now() - recovered).toBe(65_000)
    expect(mock.counters.reuseDetected).toBe(0)
  })

  it('renews once for a 401, and once its token is rejected too, returns the 401 and reports it', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0)
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    const reported = rejections(auth)
    rejectEveryToken()

    const response = await advanceUntil(auth.fetch(`${API_ORIGIN}/me`))

    expect(response.status).toBe(401)
    expect(mock.counters.token).toBe(1)
    expect(mock.counters.api).toBe(2)
    expect(reported()).toHaveLength(1)
    const [{ error, at } = { error: undefined, at: 0 }] = reported()
    expect(error).toMatchObject({ code: 'token_rejected', retryAt: at + 1_000 })
    expect(auth.tokens?.accessToken).not.toBe(login.access_token)
  })

  it('pauses 401-driven renewals (1, 2, 4 … s), trying one renewal after each pause', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0)
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const reported = rejections(auth)
    rejectEveryToken()
    await advanceUntil(auth.fetch(`${API_ORIGIN}/me`))
    expect(mock.counters.token).toBe(1)

    for (const [i, pause] of [1_000, 2_000, 4_000, 8_000].entries()) {
      const retryAt = reported().at(-1)?.error.retryAt ?? 0
      expect(retryAt - (reported().at(-1)?.at ?? 0)).toBe(pause)
      // During the pause: the 401 comes back at once, without a renewal, however many calls.
      await vi.advanceTimersByTimeAsync(retryAt - 1 - Date.now())
      const paused = await Promise.all(
        Array.from({ length: 5 }, () => auth.fetch(`${API_ORIGIN}/me`)),
      )
      expect(paused.map(({ status }) => status)).toEqual([401, 401, 401, 401, 401])
      expect(mock.counters.token).toBe(1 + i)

      // After it: the concurrent 401s share one renewal, whose token is rejected: a longer pause.
      await vi.advanceTimersByTimeAsync(retryAt - Date.now())
      const tried = await advanceUntil(
        Promise.all(Array.from({ length: 5 }, () => auth.fetch(`${API_ORIGIN}/me`))),
      )
      expect(tried.map(({ status }) => status)).toEqual([401, 401, 401, 401, 401])
      expect(mock.counters.token).toBe(2 + i)
      expect(reported()).toHaveLength(2 + i)
    }
  })

  it('caps the pause at 60 s', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0)
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const reported = rejections(auth)
    rejectEveryToken()
    const { stop } = poll(auth, 2_000)
    await vi.advanceTimersByTimeAsync(10 * 60_000)
    stop()

    const pauses = reported().map(({ error, at }) => error.retryAt - at)
    expect(pauses.slice(0, 6)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000])
    const gaps = pauses.slice(6)
    expect(gaps.length).toBeGreaterThanOrEqual(5)
    expect(new Set(gaps)).toEqual(new Set([60_000]))
  })

  it('still retries a call whose token a renewal already replaced, without renewing', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0)
    // The server retires the previous access token when a refresh commits.
    const server = serve({ revokeAccessTokensOnRefresh: true })
    const auth = createClient()
    auth.setTokens(server.issueTokens())
    server.injectFault({ type: 'status', status: 401, target: 'api', times: 2 })
    await advanceUntil(auth.fetch(`${API_ORIGIN}/me`))
    expect(server.counters.token).toBe(1)

    // While the breaker is open, a call goes out and waits at the API for 5 s; meanwhile a renewal
    // (which waits 3 s at most for calls on their way) replaces its token, which the server then
    // rejects.
    server.injectFault({ type: 'latency', ms: 5_000, target: 'api' })
    const call = auth.fetch(`${API_ORIGIN}/me`)
    await vi.advanceTimersByTimeAsync(100)
    await advanceUntil(auth.refresh())
    const response = await advanceUntil(call)

    expect(response.status).toBe(200)
    expect(server.log.api.map(({ status, token }) => [status, token]).slice(-2)).toEqual([
      [401, 'revoked'],
      [200, 'active'],
    ])
    expect(server.counters.token).toBe(2)
  })
})

describe('the breaker closes', () => {
  it('once the API accepts a token: the next 401 renews at once again', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0)
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    rejectEveryToken()
    await advanceUntil(auth.fetch(`${API_ORIGIN}/me`))
    await vi.advanceTimersByTimeAsync(1_000)
    await advanceUntil(auth.fetch(`${API_ORIGIN}/me`))
    expect(mock.counters.token).toBe(2)

    // The API accepts the current token: closed. An expired token then renews at once.
    mock.clearFaults()
    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    mock.expireAccessTokens()
    const response = await advanceUntil(auth.fetch(`${API_ORIGIN}/me`))
    expect(response.status).toBe(200)
    expect(mock.counters.token).toBe(3)
  })

  it('never opens for tokens that expire one after another: each 401 renews once', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const reported = rejections(auth)

    for (let i = 1; i <= 11; i++) {
      mock.expireAccessTokens()
      const response = await advanceUntil(auth.fetch(`${API_ORIGIN}/me`))
      expect(response.status).toBe(200)
      expect(mock.counters.token).toBe(i)
    }
    expect(reported()).toHaveLength(0)
  })
})
