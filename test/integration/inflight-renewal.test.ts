/**
 * A call that starts while a renewal of the session is in flight, in this tab or a sibling, waits
 * for its result (at most 5 s, or longer only when its token has expired anyway). Servers such as
 * Django OAuth Toolkit revoke the previous access token the moment a refresh commits: a call sent
 * with it during the renewal would meet a 401.
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises'
import type { TokenClient } from 'freshtoken'
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { API_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { advanceToInstant, stepUntilSettled, T0 } from '../mocks/time.js'

const { mock, serve } = useMockEnvironment()

const { create: createClient, onCleanup } = useClients(
  { clientId: CLIENT_ID, tokenEndpoint: `${ISSUER}/oauth/token`, apiOrigins: [API_ORIGIN] },
  { fakeTimers: T0, teardown: () => vi.restoreAllMocks() },
)

/** Advances fake time in 10 ms steps until `promise` settles (at most `limit` ms). */
const advanceUntil = stepUntilSettled(10)

/** Calls the API every `every` ms until stopped; collects every outcome (0 for a rejection). */
function poll(auth: TokenClient, every: number): { statuses: number[]; stop: () => void } {
  const statuses: number[] = []
  const timer = setInterval(() => {
    auth.fetch(`${API_ORIGIN}/me`).then(
      ({ status }) => statuses.push(status),
      () => statuses.push(0),
    )
  }, every)
  return { statuses, stop: () => clearInterval(timer) }
}

describe('a server that revokes the previous access token when a refresh commits', () => {
  it('never meets a 401 from calls made during proactive renewals', async () => {
    // The server commits at once; its answer takes 1 s to arrive. Calls go out every 250 ms, so
    // about four of them start during each renewal.
    const server = serve({ revokeAccessTokensOnRefresh: true, accessTokenLifetime: 10_000 })
    server.injectFault({
      type: 'latency',
      ms: 1_000,
      afterProcessing: true,
      times: Number.POSITIVE_INFINITY,
    })
    const auth = createClient()
    auth.setTokens(server.issueTokens())
    const { statuses, stop } = poll(auth, 250)
    onCleanup(stop)

    // Three token lifetimes of 10 s: a proactive renewal about every 5 s (half the lifetime).
    await vi.advanceTimersByTimeAsync(30_000)
    stop()
    await advanceUntil(new Promise((resolve) => setTimeout(resolve, 1_000)))

    const renewals = server.log.token.map(({ at }) => at)
    expect(renewals.length).toBeGreaterThanOrEqual(5)
    expect(server.counters.tokenSuccess).toBe(renewals.length)
    expect(server.counters.api401).toBe(0)
    expect(server.log.api.filter(({ token }) => token !== 'active')).toEqual([])
    // No call went out while a renewal was on its way: the calls made then waited for it.
    const during = server.log.api.filter(({ at }) => renewals.some((r) => at > r && at < r + 1_000))
    expect(during).toEqual([])
    expect(statuses.length).toBeGreaterThan(110)
    expect(statuses.every((status) => status === 200)).toBe(true)
    expect(server.counters.reuseDetected).toBe(0)
  })
})

describe('calls already on their way when a renewal starts', () => {
  it.each([
    ['this tab', 1],
    ['a sibling tab', 0],
  ] as const)(
    'are answered before the refresh grant goes out, when they were sent by %s',
    async (_, caller) => {
      // The API takes 500 ms before it looks at a token; the server revokes the previous access
      // token the moment a refresh commits.
      const server = serve({ revokeAccessTokensOnRefresh: true })
      const a = createClient()
      const b = createClient()
      a.setTokens(server.issueTokens())
      await advanceUntil(b.getAccessToken())
      server.injectFault({ type: 'latency', ms: 500, target: 'api' })
      const call = [b, a][caller]?.fetch(`${API_ORIGIN}/me`)
      await vi.advanceTimersByTimeAsync(100)
      expect(server.counters.api).toBe(1)

      const renewed = await advanceUntil(a.refresh())
      const response = await advanceUntil(call as Promise<Response>)

      // The call was answered with its token (at 500 ms), and only then did the refresh commit.
      expect(response.status).toBe(200)
      expect(server.log.api.map(({ status, token }) => [status, token])).toEqual([[200, 'active']])
      expect(server.log.token[0]?.at).toBeGreaterThanOrEqual(T0 + 500)
      expect(renewed.accessToken).not.toBe(undefined)
      expect(server.counters.api401).toBe(0)
    },
  )

  it('are waited for 3 s at most: a call slower than that does not hold the renewal', async () => {
    const a = createClient()
    a.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'latency', ms: 5_000, target: 'api' })
    const slow = a.fetch(`${API_ORIGIN}/me`)
    await vi.advanceTimersByTimeAsync(100)

    await advanceUntil(a.refresh())

    expect(mock.log.token[0]?.at).toBeGreaterThanOrEqual(T0 + 3_100)
    expect(mock.log.token[0]?.at).toBeLessThan(T0 + 3_200)
    await advanceUntil(slow)
  })

  it('does not wait for a call that already failed on the network', async () => {
    const a = createClient()
    a.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'network-error', target: 'api' })
    const failed = await advanceUntil(a.fetch(`${API_ORIGIN}/me`).catch((error: unknown) => error))
    // happy-dom's network failure (a browser's is a TypeError).
    expect(failed).toMatchObject({ name: 'NetworkError' })
    const at = Date.now()

    await advanceUntil(a.refresh())

    expect(mock.log.token[0]?.at).toBeLessThan(at + 100)
  })
})

describe('a call made while this tab renews', () => {
  it('waits for the renewal and goes with the new token', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    mock.injectFault({ type: 'latency', ms: 2_000 })

    const renewal = auth.refresh()
    const call = auth.fetch(`${API_ORIGIN}/me`)
    const token = auth.getAccessToken()
    await vi.advanceTimersByTimeAsync(2_000 - 1)
    expect(mock.counters.api).toBe(0)
    const [tokens, response, current] = await advanceUntil(Promise.all([renewal, call, token]))

    expect(response.status).toBe(200)
    expect(current).toBe(tokens.accessToken)
    expect(current).not.toBe(login.access_token)
    expect(mock.log.api.map(({ at }) => at - T0)).toEqual([2_000])
    expect(mock.counters.token).toBe(1)
  })

  it('is in flight for a call made in the same turn as refresh()', async () => {
    const sent: (string | null)[] = []
    const auth = createClient({
      fetch: (input, init) => {
        if (String(input).startsWith(API_ORIGIN)) {
          sent.push(new Headers(init?.headers).get('authorization'))
        }
        return globalThis.fetch(input, init)
      },
    })
    auth.setTokens(mock.issueTokens())
    // Past the start-up wait for a sibling's session: the call takes the path without an await.
    await vi.advanceTimersByTimeAsync(1_000)

    const renewal = auth.refresh()
    const call = auth.fetch(`${API_ORIGIN}/me`)
    const [tokens, response] = await advanceUntil(Promise.all([renewal, call]))

    expect(response.status).toBe(200)
    expect(sent).toEqual([`Bearer ${tokens.accessToken}`])
  })

  it('inside the leeway starts one renewal and waits for it', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    vi.setSystemTime(T0 + 45_000)
    mock.injectFault({ type: 'latency', ms: 1_000 })

    const results = await advanceUntil(
      Promise.all([auth.getAccessToken(), auth.getAccessToken(), auth.fetch(`${API_ORIGIN}/me`)]),
    )

    expect(mock.counters.token).toBe(1)
    const renewed = auth.tokens?.accessToken
    expect(renewed).not.toBe(login.access_token)
    expect(results.slice(0, 2)).toEqual([renewed, renewed])
    expect(mock.log.api.map(({ at, token }) => [at - T0, token])).toEqual([[46_000, 'active']])
  })

  it('waits at most 5 s for a slow renewal, then goes with the still-valid token', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    mock.injectFault({ type: 'latency', ms: 8_000 })
    const renewal = auth.refresh()

    const token = auth.getAccessToken()
    await advanceToInstant(T0 + 5_000 - 1)
    const pending = Symbol('pending')
    expect(await Promise.race([token, Promise.resolve(pending)])).toBe(pending)
    await advanceToInstant(T0 + 5_000)
    expect(await token).toBe(login.access_token)

    const renewed = await advanceUntil(renewal)
    expect(await auth.getAccessToken()).toBe(renewed.accessToken)
  })

  it('goes with the still-valid token when the renewal it waited for fails', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    const errors: unknown[] = []
    auth.on('error', (error) => errors.push(error))
    mock.injectFault({ type: 'oauth-error', error: 'invalid_scope' })
    mock.injectFault({ type: 'latency', ms: 500 })
    const renewal = auth.refresh()
    renewal.catch(() => undefined)

    const response = await advanceUntil(auth.fetch(`${API_ORIGIN}/me`))

    expect(response.status).toBe(200)
    expect(mock.log.api.map(({ token }) => token)).toEqual(['active'])
    await expect(renewal).rejects.toMatchObject({ code: 'token_endpoint_error' })
    expect(errors).toHaveLength(1)
    expect(auth.tokens?.accessToken).toBe(login.access_token)
  })

  it('stops waiting when the caller aborts, without cancelling the renewal', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'latency', ms: 3_000 })
    const renewal = auth.refresh()
    const controller = new AbortController()

    const call = auth.fetch(`${API_ORIGIN}/me`, { signal: controller.signal })
    await vi.advanceTimersByTimeAsync(1_000)
    controller.abort(new Error('left the page'))
    await expect(call).rejects.toThrow('left the page')
    expect(mock.counters.api).toBe(0)

    const renewed = await advanceUntil(renewal)
    expect(auth.tokens).toBe(renewed)
  })
})

describe('a call made while a sibling tab renews', () => {
  it('waits for the sibling’s result and goes with its token, sending no token request', async () => {
    const a = createClient()
    const b = createClient()
    const login = mock.issueTokens()
    a.setTokens(login)
    await advanceUntil(b.getAccessToken())
    mock.injectFault({ type: 'latency', ms: 1_000 })
    const renewal = a.refresh()
    // The sibling's announcement arrives before the call.
    await nextMacrotask()

    const response = await advanceUntil(b.fetch(`${API_ORIGIN}/me`))

    const renewed = await renewal
    expect(response.status).toBe(200)
    expect(b.tokens).toEqual(renewed)
    // Sent once the sibling's answer had arrived (1 s), with the new token.
    expect(mock.log.api.map(({ token }) => token)).toEqual(['active'])
    expect(mock.log.api[0]?.at).toBeGreaterThanOrEqual(T0 + 1_000)
    expect(mock.log.api[0]?.at).toBeLessThan(T0 + 1_100)
    expect(mock.counters.token).toBe(1)
  })

  it('stops waiting as soon as the sibling says its renewal ended the session', async () => {
    const a = createClient()
    const b = createClient()
    a.setTokens(mock.issueTokens())
    await advanceUntil(b.getAccessToken())
    mock.revokeRefreshTokens()
    mock.injectFault({ type: 'latency', ms: 1_000 })
    a.refresh().catch(() => undefined)
    await nextMacrotask()

    const failure = await advanceUntil(b.fetch(`${API_ORIGIN}/me`).catch((error: unknown) => error))

    expect(failure).toMatchObject({ code: 'session_expired' })
    expect(Date.now()).toBeLessThan(T0 + 1_100)
    expect(mock.counters.api).toBe(0)
  })

  it('waits at most 5 s for a sibling that went silent, then goes with the still-valid token', async () => {
    const a = createClient()
    const b = createClient()
    const login = mock.issueTokens()
    a.setTokens(login)
    await advanceUntil(b.getAccessToken())
    mock.injectFault({ type: 'latency', ms: 20_000 })
    a.refresh().catch(() => undefined)
    await nextMacrotask()
    // The renewing tab is closed: its result never reaches the sibling.
    a.dispose()

    const call = b.fetch(`${API_ORIGIN}/me`)
    await vi.advanceTimersByTimeAsync(5_000 - 1)
    expect(mock.counters.api).toBe(0)
    const response = await advanceUntil(call)

    expect(response.status).toBe(200)
    expect(mock.log.api.map(({ token }) => token)).toEqual(['active'])
    expect(mock.log.api[0]?.at).toBeGreaterThanOrEqual(T0 + 5_000)
    expect(mock.log.api[0]?.at).toBeLessThan(T0 + 5_100)
    expect(b.tokens?.accessToken).toBe(login.access_token)

    // The silent sibling's renewal has lapsed: a later call does not wait for it again.
    const later = Date.now()
    expect((await advanceUntil(b.fetch(`${API_ORIGIN}/me`))).status).toBe(200)
    expect(mock.log.api[1]?.at).toBeLessThan(later + 100)
  })
})
