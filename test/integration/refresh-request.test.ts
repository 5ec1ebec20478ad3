/**
 * The refresh request on the wire (RFC 6749 §6), its retry policy for transient failures (5xx, 429
 * with Retry-After, network errors), the pause between failed renewals, and refresh token rotation.
 */
import type { TokenClient, TokenClientEvents, TokenSet } from 'freshtoken'
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { recordRequestBodies } from '../mocks/requests.js'
import { API_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { advanceToInstant, stepUntilSettled, T0 } from '../mocks/time.js'

const { mock, server, serve } = useMockEnvironment()

const TOKEN_ENDPOINT = `${ISSUER}/oauth/token`
const HOUR = 3_600_000

const { create: createClient, onCleanup } = useClients(
  { clientId: CLIENT_ID, tokenEndpoint: TOKEN_ENDPOINT, apiOrigins: [API_ORIGIN] },
  { fakeTimers: T0 },
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

/** A token endpoint request as msw received it. */
interface SeenRequest {
  method: string
  contentType: string | null
  accept: string | null
  authorization: string | null
  form: Record<string, string>
}

/** Records every non-preflight request to the token endpoint; the result reads them, bodies included. */
function recordTokenRequests(): () => Promise<SeenRequest[]> {
  const recorder = recordRequestBodies(
    server,
    (request) => request.url.startsWith(TOKEN_ENDPOINT),
    (request, body): SeenRequest => ({
      method: request.method,
      contentType: request.headers.get('content-type'),
      accept: request.headers.get('accept'),
      authorization: request.headers.get('authorization'),
      form: Object.fromEntries(new URLSearchParams(body)),
    }),
  )
  onCleanup(recorder.stop)
  return recorder.read
}

describe('the request (RFC 6749 §6)', () => {
  it('POSTs grant_type, refresh_token and client_id as a form, and nothing else', async () => {
    const requests = recordTokenRequests()
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)

    await auth.refresh()
    expect(await requests()).toEqual([
      {
        method: 'POST',
        contentType: expect.stringMatching(/^application\/x-www-form-urlencoded(;|$)/),
        accept: 'application/json',
        authorization: null,
        form: { grant_type: 'refresh_token', refresh_token: login.refresh_token, client_id: 'spa' },
      },
    ])
    expect(mock.log.token).toEqual([
      {
        at: T0,
        method: 'POST',
        grantType: 'refresh_token',
        clientId: 'spa',
        scope: null,
        family: 'family-1',
        status: 200,
        error: null,
        fault: null,
      },
    ])
  })

  it('adds the scope option to every refresh, and the narrowed scope is granted', async () => {
    const requests = recordTokenRequests()
    const auth = createClient({ scope: 'openid' })
    const login = mock.issueTokens({ scope: 'openid profile' })
    auth.setTokens(login)

    const first = await auth.refresh()
    const second = await auth.refresh()
    expect((await requests()).map(({ form }) => form)).toEqual([
      {
        grant_type: 'refresh_token',
        refresh_token: login.refresh_token,
        client_id: 'spa',
        scope: 'openid',
      },
      {
        grant_type: 'refresh_token',
        refresh_token: first.refreshToken,
        client_id: 'spa',
        scope: 'openid',
      },
    ])
    expect(mock.log.token.map(({ scope }) => scope)).toEqual(['openid', 'openid'])
    expect(second.scope).toBe('openid')
    expect(mock.introspect(second.accessToken).scope).toBe('openid')
  })
})

describe('retries of transient failures', () => {
  it('retries a 503 after its Retry-After of 2 s, not before', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'status', status: 503, retryAfter: 2 })

    const renewal = auth.refresh()
    await advanceToInstant(T0 + 2_000 - 1)
    expect(mock.counters.token).toBe(1)
    const tokens = await advanceUntil(renewal)

    expect(mock.log.token.map(({ status }) => status)).toEqual([503, 200])
    const [first, second] = mock.log.token.map(({ at }) => at)
    expect(first).toBe(T0)
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(2_000)
    expect((second ?? 0) - (first ?? 0)).toBeLessThanOrEqual(2_100)
    expect(auth.tokens).toBe(tokens)
  })

  it('retries a 429 after its Retry-After', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'status', status: 429, retryAfter: 3 })

    const renewal = auth.refresh()
    await advanceToInstant(T0 + 3_000 - 1)
    expect(mock.counters.token).toBe(1)
    await advanceUntil(renewal)
    expect(mock.log.token.map(({ status }) => status)).toEqual([429, 200])
    const [first, second] = mock.log.token.map(({ at }) => at)
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(3_000)
    expect((second ?? 0) - (first ?? 0)).toBeLessThanOrEqual(3_100)
  })

  it.each([
    { fault: 'a network error', inject: { type: 'network-error' } as const, status: 0 },
    { fault: 'a 502 HTML page from a proxy', inject: { type: 'html' } as const, status: 502 },
    {
      fault: 'a 503 temporarily_unavailable',
      inject: { type: 'oauth-error', error: 'temporarily_unavailable' } as const,
      status: 503,
    },
  ])('retries $fault with a short backoff', async ({ inject, status }) => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    mock.injectFault({ ...inject, times: 2 })

    const tokens = await advanceUntil(auth.refresh())
    expect(mock.log.token.map((entry) => entry.status)).toEqual([status, status, 200])
    // ky's backoff: at most 300 ms, then at most 600 ms (jittered).
    const at = mock.log.token.map((entry) => entry.at)
    expect((at[2] ?? 0) - (at[0] ?? 0)).toBeLessThanOrEqual(900 + 20)
    expect(tokens.accessToken).not.toBe(login.access_token)
  })
})

describe('when every retry fails', () => {
  it('rejects token_endpoint_unavailable after 4 attempts and keeps the session', async () => {
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
    })
    expect(mock.counters.token).toBe(4)
    expect(errors).toHaveLength(1)
    expect(await renewal.catch((error: unknown) => error)).toBe(errors[0]?.payload)
    expect(auth.tokens).toBe(tokens)
    expect(await auth.getAccessToken()).toBe(login.access_token)
    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    expect(mock.counters.token).toBe(4)
  })

  it('pauses renewals after a failure: calls during the pause fail at once without a request', async () => {
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
    expect(mock.counters.token).toBe(4)

    await advanceToInstant(failedAt + 1_000 - 1)
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'token_endpoint_unavailable' })
    await expect(auth.getAccessToken()).rejects.toMatchObject({
      code: 'token_endpoint_unavailable',
    })
    await expect(auth.fetch(`${API_ORIGIN}/me`)).rejects.toMatchObject({
      code: 'token_endpoint_unavailable',
    })
    // Nor do the page's wake-up events bypass the pause.
    window.dispatchEvent(new Event('online'))
    window.dispatchEvent(new Event('focus'))
    await vi.advanceTimersByTimeAsync(0)
    expect(Date.now()).toBe(failedAt + 1_000 - 1)
    expect(mock.counters.token).toBe(4)
    expect(mock.counters.api).toBe(0)
    expect(errors).toHaveLength(1)
    expect(auth.tokens?.accessToken).toBe(login.access_token)
  })

  it('doubles the pause after each failed renewal (1, 2, 4 … s) up to 60 s', async () => {
    // A long-lived token, so only the calls below (and the timer, after each pause) renew.
    const down = serve({ accessTokenLifetime: 24 * HOUR })
    const auth = createClient()
    auth.setTokens(down.issueTokens())
    const errors = collect(auth, 'error')
    down.injectFault({ type: 'status', status: 503, times: Number.POSITIVE_INFINITY })

    await expect(advanceUntil(auth.refresh())).rejects.toMatchObject({
      code: 'token_endpoint_unavailable',
    })
    const pauses = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
    for (const [i, pause] of pauses.entries()) {
      const failedAt = errors[i]?.at ?? 0
      const requests = down.counters.token
      await advanceToInstant(failedAt + pause - 1)
      await expect(auth.refresh()).rejects.toMatchObject({ code: 'token_endpoint_unavailable' })
      expect(down.counters.token).toBe(requests)
      expect(errors).toHaveLength(i + 1)

      await advanceToInstant(failedAt + pause)
      await expect(advanceUntil(auth.refresh())).rejects.toMatchObject({
        code: 'token_endpoint_unavailable',
      })
      expect(down.counters.token).toBe(requests + 4)
      expect(errors).toHaveLength(i + 2)
    }
  })

  it('renews again after the pause once the server has recovered', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    const errors = collect(auth, 'error')
    const refreshes = collect(auth, 'refresh')
    mock.injectFault({ type: 'status', status: 503, times: 4 })
    await expect(advanceUntil(auth.refresh())).rejects.toMatchObject({
      code: 'token_endpoint_unavailable',
    })

    await advanceToInstant((errors[0]?.at ?? 0) + 1_000)
    const tokens = await auth.refresh()
    expect(mock.counters.token).toBe(5)
    expect(mock.counters.tokenSuccess).toBe(1)
    expect(refreshes.map(({ payload }) => payload)).toEqual([tokens])
    expect(tokens.accessToken).not.toBe(login.access_token)
  })

  it('meets a 10-minute outage with callers every 100 ms with a bounded number of requests', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    const errors = collect(auth, 'error')
    const refreshes = collect(auth, 'refresh')
    mock.injectFault({ type: 'status', status: 503, times: Number.POSITIVE_INFINITY })

    let calls = 0
    const hammer = setInterval(() => {
      calls++
      auth.getAccessToken().catch(() => undefined)
      auth.fetch(`${API_ORIGIN}/me`).catch(() => undefined)
    }, 100)
    await vi.advanceTimersByTimeAsync(10 * 60_000)
    clearInterval(hammer)
    expect(calls).toBe(6_000)

    // Renewals start at 29–30 s (leeway) and then only after pauses of 1, 2, 4, 8, 16, 32 s and
    // 60 s after that: renewal k starts no earlier than 29 s + the first k−1 pauses, so at most
    // 15 start within 600 s, each of at most 4 attempts.
    expect(errors.length).toBeLessThanOrEqual(15)
    expect(errors.length).toBeGreaterThanOrEqual(13)
    const pauses = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000]
    for (const [i, { at }] of errors.slice(1).entries()) {
      expect(at - (errors[i]?.at ?? 0)).toBeGreaterThanOrEqual(pauses[i] ?? 60_000)
    }
    expect(mock.counters.token).toBe(4 * errors.length)
    expect(mock.counters.token).toBeLessThanOrEqual(60)
    expect(refreshes).toHaveLength(0)
    expect(auth.tokens?.accessToken).toBe(login.access_token)

    // The server recovers: within one more (60 s) pause the session is renewed, once.
    mock.clearFaults()
    await vi.advanceTimersByTimeAsync(61_000)
    expect(refreshes).toHaveLength(1)
    expect(mock.counters.tokenSuccess).toBe(1)
    expect(auth.tokens?.accessToken).not.toBe(login.access_token)
  })
})

describe('rotation', () => {
  it('replaces the refresh token with the rotated one and retires the old one', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)

    const first = await auth.refresh()
    expect(first.refreshToken).not.toBe(login.refresh_token)
    expect(mock.introspect(login.refresh_token ?? '').state).toBe('rotated')
    expect(mock.introspect(first.refreshToken ?? '').state).toBe('active')

    const second = await auth.refresh()
    expect(mock.introspect(first.refreshToken ?? '').state).toBe('rotated')
    expect(mock.introspect(second.refreshToken ?? '').state).toBe('active')
    expect(mock.counters.reuseDetected).toBe(0)
    expect(mock.log.token.map(({ family, status }) => [family, status])).toEqual([
      ['family-1', 200],
      ['family-1', 200],
    ])
  })

  it('keeps the refresh token when the response has none (rotation off), and it keeps working', async () => {
    const fixed = serve({ rotation: false })
    const auth = createClient()
    const login = fixed.issueTokens()
    auth.setTokens(login)

    const first = await auth.refresh()
    const second = await auth.refresh()
    expect(first.refreshToken).toBe(login.refresh_token)
    expect(second.refreshToken).toBe(login.refresh_token)
    expect(second.accessToken).not.toBe(first.accessToken)
    expect(fixed.counters.tokenSuccess).toBe(2)
    expect(fixed.introspect(login.refresh_token ?? '').state).toBe('active')
  })
})

describe('a lost response', () => {
  it('ends the session once, cleanly, when the retry presents the token the lost answer rotated', async () => {
    // The server rotates, then its answer is lost (502). The SDK cannot know a rotation happened:
    // its retry presents the old refresh token, which the server treats as reuse (RFC 9700).
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    const expired = collect(auth, 'expired')
    const errors = collect(auth, 'error')
    mock.injectFault({ type: 'status', status: 502, afterProcessing: true })

    await expect(advanceUntil(auth.refresh())).rejects.toMatchObject({
      name: 'SessionExpiredError',
      code: 'session_expired',
    })
    expect(mock.log.token.map(({ status, error, fault }) => [status, error, fault])).toEqual([
      [502, null, 'status'],
      [400, 'invalid_grant', null],
    ])
    expect(mock.counters.reuseDetected).toBe(1)
    expect(expired).toHaveLength(1)
    expect(expired[0]?.payload).toMatchObject({ code: 'session_expired' })
    expect(errors).toHaveLength(0)
    expect(auth.tokens).toBeNull()

    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'session_expired' })
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'session_expired' })
    await vi.advanceTimersByTimeAsync(5 * 60_000)
    expect(mock.counters.token).toBe(2)
    expect(expired).toHaveLength(1)
  })

  it('ends the session once when an answer slower than the 10 s request timeout is retried', async () => {
    // Same situation as a lost answer: the server rotated at once, but the SDK gave up waiting
    // after 10 s and its retry presents the rotated refresh token.
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const expired = collect(auth, 'expired')
    mock.injectFault({ type: 'latency', ms: 12_000, afterProcessing: true })

    await expect(advanceUntil(auth.refresh())).rejects.toMatchObject({ code: 'session_expired' })
    expect(Date.now() - T0).toBeGreaterThanOrEqual(10_000)
    expect(Date.now() - T0).toBeLessThan(12_000)
    expect(mock.counters.token).toBe(2)
    expect(mock.counters.reuseDetected).toBe(1)
    expect(expired).toHaveLength(1)
    expect(auth.tokens).toBeNull()
  })

  it('survives a lost response when the server has a reuse grace window', async () => {
    const lenient = serve({ reuseInterval: 2_000 })
    const auth = createClient()
    const login = lenient.issueTokens()
    auth.setTokens(login)
    lenient.injectFault({ type: 'status', status: 502, afterProcessing: true })

    const tokens: TokenSet = await advanceUntil(auth.refresh())
    expect(lenient.log.token.map(({ status }) => status)).toEqual([502, 200])
    expect(lenient.counters.reuseDetected).toBe(0)
    expect(lenient.introspect(tokens.refreshToken ?? '').state).toBe('active')
    expect(auth.tokens).toBe(tokens)
  })
})
