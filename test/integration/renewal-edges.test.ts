/**
 * Edges of one renewal: retried in place without sibling tabs, a session replaced during the
 * pause between its requests, and a renewal answered after the app set the same refresh token
 * again (a server that does not rotate), whose token must then stay live.
 */
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { CLIENT_ID, MOCK_CLIENT_OPTIONS, useMockEnvironment } from '../mocks/setup.js'
import { stepUntilSettled, T0 } from '../mocks/time.js'

const { mock, serve } = useMockEnvironment()

const { create: createClient } = useClients(MOCK_CLIENT_OPTIONS, {
  fakeTimers: T0,
  teardown: () => vi.restoreAllMocks(),
})

/** Advances fake time in 10 ms steps until `promise` settles. */
const advanceUntil = stepUntilSettled(10)

describe('a renewal whose first request meets a 503', () => {
  it('is retried in place by a client that works alone (crossTab: false)', async () => {
    const auth = createClient({ crossTab: false })
    const login = auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'status', status: 503 })

    const renewed = await advanceUntil(auth.refresh())

    expect(renewed.accessToken).not.toBe(login.accessToken)
    expect(mock.log.token.map(({ status }) => status)).toEqual([503, 200])
  })

  it('sends no second request when the session is replaced during the pause', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'status', status: 503 })
    const renewal = auth.refresh()
    await vi.waitFor(() => expect(mock.counters.token).toBe(1))

    const login = auth.setTokens(mock.issueTokens())
    const result = await advanceUntil(renewal)
    await vi.advanceTimersByTimeAsync(5_000)

    expect(result).toBe(login)
    expect(auth.tokens).toBe(login)
    expect(mock.counters.token).toBe(1)
  })

  it('stops waiting in place when a sibling makes the pause long, and fails at once', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'status', status: 503 })
    const renewal = auth.refresh().catch((error: unknown) => error)
    await vi.waitFor(() => expect(mock.counters.token).toBe(1))
    const started = Date.now()

    // A sibling's requests failed five times in a row: token requests pause for a minute.
    const sibling = new BroadcastChannel(`freshtoken:${CLIENT_ID}`)
    sibling.postMessage({ type: 'backoff', until: Date.now() + 60_000, failures: 5 })
    const failure = await advanceUntil(renewal)
    sibling.close()

    expect(failure).toMatchObject({ code: 'token_endpoint_unavailable' })
    expect(Date.now() - started).toBeLessThan(1_100)
    expect(mock.counters.token).toBe(1)
  })
})

describe('a renewal answered after the app set the same refresh token again', () => {
  it('does not revoke that refresh token (a server that does not rotate)', async () => {
    const server = serve({ rotation: false })
    const auth = createClient()
    const issued = server.issueTokens()
    auth.setTokens(issued)
    server.injectFault({ type: 'latency', ms: 1_000 })
    const renewal = auth.refresh()
    await vi.advanceTimersByTimeAsync(500)

    // The app sets the tokens it holds again (a login page that re-sent them, say).
    auth.setTokens(issued)
    await advanceUntil(renewal)
    await vi.advanceTimersByTimeAsync(1_000)

    expect(server.counters.revocation).toBe(0)
    expect(auth.tokens?.refreshToken).toBe(issued.refresh_token)
    await advanceUntil(auth.refresh())
    expect(server.counters.tokenSuccess).toBe(2)
  })
})
