/**
 * Single-flight renewal: however many callers need a new token at once (expired token, a storm of
 * 401s, explicit `refresh()`), one request reaches the token endpoint, everyone gets its result,
 * and a rotated refresh token is never presented again (RFC 9700 §4.14.2).
 */
import { describe, expect, it, vi } from 'vitest'
import { nextEvent, useClients } from '../mocks/harness.js'
import { onRequest } from '../mocks/requests.js'
import { API_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { stepUntilSettled, T0 } from '../mocks/time.js'

const { mock, server } = useMockEnvironment()

const { create: createClient, onCleanup } = useClients(
  { clientId: CLIENT_ID, tokenEndpoint: `${ISSUER}/oauth/token`, apiOrigins: [API_ORIGIN] },
  { fakeTimers: T0 },
)

/** Advances fake time in 100 ms steps until `promise` settles (at most `limit` ms). */
const advanceUntil = stepUntilSettled(100)

/** Whether `promise` has settled, checked without moving fake time. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol('pending')
  const result = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    Promise.resolve().then(() => Promise.resolve(pending)),
  ])
  return result !== pending
}

/**
 * Records the `Authorization` header of every API request (not preflights) as msw receives it,
 * until the end of the test.
 * @returns the live list
 */
function recordApiAuthorization(): { headers: (string | null)[] } {
  const headers: (string | null)[] = []
  onCleanup(
    onRequest(server, (request) => {
      if (request.url.startsWith(API_ORIGIN)) headers.push(request.headers.get('authorization'))
    }),
  )
  return { headers }
}

describe('an expired access token', () => {
  it('shares one renewal between 500 concurrent auth.fetch calls, all sent with the new token', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    vi.setSystemTime(T0 + 61_000)
    const recorder = recordApiAuthorization()

    const responses = await Promise.all(
      Array.from({ length: 500 }, () => auth.fetch(`${API_ORIGIN}/me`)),
    )
    expect(mock.counters.token).toBe(1)
    expect(mock.counters.tokenSuccess).toBe(1)
    expect(responses.map((response) => response.status)).toEqual(Array(500).fill(200))

    const current = auth.tokens?.accessToken
    expect(current).not.toBe(login.access_token)
    expect(recorder.headers).toEqual(Array(500).fill(`Bearer ${current}`))
    expect(mock.counters.api).toBe(500)
    expect(mock.counters.api401).toBe(0)
    expect(
      mock.log.api.every(({ token, family }) => token === 'active' && family === 'family-1'),
    ).toBe(true)
  })

  it('shares one renewal between 500 concurrent getAccessToken() calls, all answered the new token', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    vi.setSystemTime(T0 + 61_000)

    const tokens = await Promise.all(Array.from({ length: 500 }, () => auth.getAccessToken()))
    expect(mock.counters.token).toBe(1)
    expect(new Set(tokens)).toEqual(new Set([auth.tokens?.accessToken]))
    expect(tokens[0]).not.toBe(login.access_token)
  })

  it('shares one renewal between getAccessToken(), auth.fetch, auth.ky and refresh() called together', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    vi.setSystemTime(T0 + 61_000)

    const [token, response, me, refreshed] = await Promise.all([
      auth.getAccessToken(),
      auth.fetch(`${API_ORIGIN}/me`),
      auth.ky.get(`${API_ORIGIN}/me`).json<{ sub: string }>(),
      auth.refresh(),
    ])
    expect(mock.counters.token).toBe(1)
    expect(token).toBe(refreshed.accessToken)
    expect(response.status).toBe(200)
    expect(me.sub).toBe('user-1')
    expect(auth.tokens).toBe(refreshed)
  })
})

describe('a storm of 401s', () => {
  it('shares one renewal between 200 concurrent 401s and retries each request once', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    // The server revoked the access tokens; the SDK still believes its token is valid.
    mock.expireAccessTokens()
    const recorder = recordApiAuthorization()

    const responses = await Promise.all(
      Array.from({ length: 200 }, () => auth.fetch(`${API_ORIGIN}/me`)),
    )
    expect(responses.map((response) => response.status)).toEqual(Array(200).fill(200))
    expect(mock.counters.token).toBe(1)
    expect(mock.counters.api401).toBe(200)
    expect(mock.counters.api).toBe(400)

    const current = auth.tokens?.accessToken
    const sent = recorder.headers
    expect(sent.filter((header) => header === `Bearer ${login.access_token}`)).toHaveLength(200)
    expect(sent.filter((header) => header === `Bearer ${current}`)).toHaveLength(200)
  })

  it('does not renew again for 401s that arrive after the renewal completed', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    mock.expireAccessTokens()
    // The first 100 API requests to arrive are answered 5 s late (with their 401).
    mock.injectFault({ type: 'latency', target: 'api', ms: 5_000, times: 100 })

    const renewed = nextEvent(auth, 'refresh')
    const responses = Promise.all(Array.from({ length: 200 }, () => auth.fetch(`${API_ORIGIN}/me`)))
    // The 100 prompt 401s renew once (after waiting 1 s at most for the slow ones: the drain) ...
    const tokens = await advanceUntil(renewed)
    expect(mock.counters.token).toBe(1)
    expect(await isSettled(responses)).toBe(false)

    // ... and the 100 late 401s (for the token that renewal replaced) are retried without one.
    const statuses = (await advanceUntil(responses)).map((response) => response.status)
    expect(statuses).toEqual(Array(200).fill(200))
    expect(mock.counters.token).toBe(1)
    expect(mock.counters.api401).toBe(200)
    expect(auth.tokens?.accessToken).toBe(tokens.accessToken)
  })

  it('renews again for a 401 on the renewed token, once per new rejection', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())

    mock.expireAccessTokens()
    await Promise.all(Array.from({ length: 50 }, () => auth.fetch(`${API_ORIGIN}/me`)))
    expect(mock.counters.token).toBe(1)

    mock.expireAccessTokens()
    await Promise.all(Array.from({ length: 50 }, () => auth.fetch(`${API_ORIGIN}/me`)))
    expect(mock.counters.token).toBe(2)
    expect(mock.counters.tokenSuccess).toBe(2)
    expect(mock.counters.reuseDetected).toBe(0)
  })
})

describe('cancellation', () => {
  it("aborts only the caller's own wait; the shared renewal completes for everyone else", async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    vi.setSystemTime(T0 + 61_000)
    // Keep the renewal in flight until fake time moves.
    mock.injectFault({ type: 'latency', ms: 5_000 })

    const controller = new AbortController()
    const fetchController = new AbortController()
    const aborted = auth.getAccessToken({ signal: controller.signal })
    const abortedFetch = auth.fetch(`${API_ORIGIN}/me`, { signal: fetchController.signal })
    const others = Promise.all([
      auth.getAccessToken(),
      auth.fetch(`${API_ORIGIN}/me`),
      auth.refresh(),
      auth.getAccessToken({ signal: new AbortController().signal }),
    ])

    controller.abort()
    fetchController.abort()
    await expect(aborted).rejects.toBe(controller.signal.reason)
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' })
    await expect(abortedFetch).rejects.toMatchObject({ name: 'AbortError' })
    expect(await isSettled(others)).toBe(false)

    const [token, response, refreshed, lateToken] = await advanceUntil(others)
    expect(mock.counters.token).toBe(1)
    expect(mock.counters.tokenSuccess).toBe(1)
    expect(token).toBe(refreshed.accessToken)
    expect(lateToken).toBe(refreshed.accessToken)
    expect(token).not.toBe(login.access_token)
    expect(response.status).toBe(200)
    expect(auth.tokens).toBe(refreshed)
    // The aborted fetch never reached the API.
    expect(mock.counters.api).toBe(1)
  })

  it('aborting the only waiter does not cancel the renewal: its result is kept', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    mock.injectFault({ type: 'latency', ms: 5_000 })

    const controller = new AbortController()
    const renewed = nextEvent(auth, 'refresh')
    const waiting = auth.refresh({ signal: controller.signal })
    controller.abort(new Error('user navigated away'))
    await expect(waiting).rejects.toThrow('user navigated away')

    const tokens = await advanceUntil(renewed)
    expect(mock.counters.tokenSuccess).toBe(1)
    expect(auth.tokens).toBe(tokens)
    expect(tokens.refreshToken).not.toBe(login.refresh_token)
    expect(mock.introspect(tokens.refreshToken ?? '').state).toBe('active')
  })
  it('rejects a caller whose signal is already aborted at once, without starting a renewal', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    vi.setSystemTime(T0 + 61_000)
    const controller = new AbortController()
    controller.abort()

    await expect(auth.getAccessToken({ signal: controller.signal })).rejects.toBe(
      controller.signal.reason,
    )
    await expect(auth.refresh({ signal: controller.signal })).rejects.toBe(controller.signal.reason)
    await expect(
      auth.fetch(`${API_ORIGIN}/me`, { signal: controller.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' })
    await vi.advanceTimersByTimeAsync(0)
    expect(mock.counters.token).toBe(0)
    expect(mock.counters.api).toBe(0)
    expect(auth.tokens?.accessToken).toBe(login.access_token)
  })
})

describe('refresh()', () => {
  it('joins 10 concurrent refresh() calls into one token request with one TokenSet', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)

    const results = await Promise.all(Array.from({ length: 10 }, () => auth.refresh()))
    expect(mock.counters.token).toBe(1)
    for (const tokens of results) expect(tokens).toBe(results[0])
    expect(auth.tokens).toBe(results[0])
    expect(results[0]?.accessToken).not.toBe(login.access_token)
  })

  it('starts a new renewal for a refresh() called after the previous one settled', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const first = await auth.refresh()
    const second = await auth.refresh()
    expect(mock.counters.token).toBe(2)
    expect(second.accessToken).not.toBe(first.accessToken)
    expect(second.refreshToken).not.toBe(first.refreshToken)
  })
})

describe('a session replaced during a renewal', () => {
  it('does not let a renewal of the old session overwrite tokens set meanwhile', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const refreshes: unknown[] = []
    auth.on('refresh', (tokens) => refreshes.push(tokens))
    mock.injectFault({ type: 'latency', ms: 3_000 })

    const renewal = auth.refresh()
    // The old session's renewal is on its way to the server.
    await vi.advanceTimersByTimeAsync(0)
    expect(mock.counters.token).toBe(1)
    const next = mock.issueTokens()
    const replaced = auth.setTokens(next)
    await advanceUntil(renewal).catch(() => undefined)

    expect(auth.tokens).toBe(replaced)
    expect(refreshes).toEqual([])
    // The next renewal presents the new session's refresh token.
    await auth.refresh()
    expect(mock.log.token.map(({ family }) => family)).toEqual(['family-1', 'family-2'])
    expect(mock.counters.reuseDetected).toBe(0)
  })

  it("renews the new session's token after its 401, not the replaced session's", async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'latency', ms: 3_000 })
    const renewal = auth.refresh()
    renewal.catch(() => undefined)
    await vi.advanceTimersByTimeAsync(0)
    expect(mock.counters.token).toBe(1)

    // A new login replaces the session; the API no longer accepts its access token.
    const next = mock.issueTokens()
    auth.setTokens(next)
    mock.expireAccessTokens()
    const response = await advanceUntil(auth.fetch(`${API_ORIGIN}/me`))

    expect(response.status).toBe(200)
    expect(auth.tokens?.accessToken).not.toBe(next.access_token)
    expect(mock.log.token.map(({ family }) => family)).toContain('family-2')
    expect(mock.log.api.map(({ status }) => status)).toEqual([401, 200])
  })
})

describe('a second session renewed while the first one’s renewal is in flight', () => {
  it.each([true, false])(
    'keeps the new session’s single flight when the old renewal ends (crossTab %s)',
    async (crossTab) => {
      const auth = createClient({ crossTab })
      auth.setTokens(mock.issueTokens())
      // The old session's renewal takes 3 s, the new one's 5 s.
      mock.injectFault({ type: 'latency', ms: 3_000 })
      mock.injectFault({ type: 'latency', ms: 5_000 })
      const old = auth.refresh()
      old.catch(() => undefined)
      await vi.advanceTimersByTimeAsync(0)
      expect(mock.counters.token).toBe(1)
      const next = mock.issueTokens()
      auth.setTokens(next)
      const renewal = auth.refresh()
      renewal.catch(() => undefined)
      await vi.advanceTimersByTimeAsync(200)

      // The old renewal ends while the new one is still in flight: callers still join the latter.
      await vi.advanceTimersByTimeAsync(3_000)
      const joined = auth.refresh()
      const tokens = await advanceUntil(Promise.all([renewal, joined]))

      expect(tokens[0]).toBe(tokens[1])
      expect(mock.log.token.map(({ family }) => family)).toEqual(['family-1', 'family-2'])
      expect(mock.counters.reuseDetected).toBe(0)
      expect(auth.tokens).toBe(tokens[0])
    },
  )

  it('keeps the new session when the old session’s renewal fails', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const errors: unknown[] = []
    auth.on('error', (error) => errors.push(error))
    // The server takes 1 s before it looks at the old refresh token, which is revoked meanwhile.
    mock.injectFault({ type: 'latency', ms: 1_000 })
    const old = auth.refresh()
    await vi.advanceTimersByTimeAsync(0)
    mock.revokeRefreshTokens()
    const replaced = auth.setTokens(mock.issueTokens())

    // The replaced session's invalid_grant ends nothing: the caller gets the new session.
    expect(await advanceUntil(old)).toBe(replaced)
    expect(mock.log.token.map(({ error }) => error)).toEqual(['invalid_grant'])
    expect(auth.tokens).toBe(replaced)
    expect(errors).toEqual([])
    const renewed = await auth.refresh()
    expect(renewed.refreshToken).not.toBe(replaced.refreshToken)
  })
})

describe('rotation under concurrency', () => {
  it('never presents a rotated refresh token across rounds of concurrent renewals', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    const presented = [login.refresh_token ?? '']

    for (let round = 1; round <= 5; round++) {
      mock.expireAccessTokens()
      vi.setSystemTime(Date.now() + 61_000)
      await Promise.all([
        ...Array.from({ length: 40 }, () => auth.fetch(`${API_ORIGIN}/me`)),
        ...Array.from({ length: 40 }, () => auth.getAccessToken()),
        ...Array.from({ length: 5 }, () => auth.refresh()),
      ])
      expect(mock.counters.token).toBe(round)
      presented.push(auth.tokens?.refreshToken ?? '')
    }

    expect(mock.counters.reuseDetected).toBe(0)
    expect(mock.counters.tokenSuccess).toBe(5)
    expect(new Set(presented).size).toBe(6)
    expect(presented.slice(0, -1).map((token) => mock.introspect(token).state)).toEqual(
      Array(5).fill('rotated'),
    )
    expect(mock.introspect(presented.at(-1) ?? '').state).toBe('active')
  })

  it('shares one renewal between the proactive timer, a background renewal and a 401 storm', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    // Inside the leeway and the timer overdue; the server also rejects the access token.
    vi.setSystemTime(T0 + 45_000)
    mock.expireAccessTokens()
    mock.injectFault({ type: 'latency', ms: 2_000 })

    const work = Promise.all([
      ...Array.from({ length: 50 }, () => auth.getAccessToken()),
      ...Array.from({ length: 50 }, () => auth.fetch(`${API_ORIGIN}/me`)),
    ])
    window.dispatchEvent(new Event('online'))
    const results = await advanceUntil(work)

    expect(mock.counters.token).toBe(1)
    expect(mock.counters.reuseDetected).toBe(0)
    expect(mock.introspect(login.refresh_token ?? '').state).toBe('rotated')
    expect(mock.introspect(auth.tokens?.refreshToken ?? '').state).toBe('active')
    const responses = results.slice(50) as Response[]
    expect(responses.map((response) => response.status)).toEqual(Array(50).fill(200))
  })
})
