/**
 * A session whose token response carried no refresh token (RFC 6749 §5.1: it is optional): its
 * access token is used while it lasts, nothing is ever sent to the token endpoint, and once the
 * token is unusable the session ends with `session_expired`.
 */
import { describe, expect, it, vi } from 'vitest'
import { collect, useClients } from '../mocks/harness.js'
import { API_ORIGIN, MOCK_CLIENT_OPTIONS, useMockEnvironment } from '../mocks/setup.js'
import { T0 } from '../mocks/time.js'

const { mock } = useMockEnvironment()

const { create: createClient } = useClients(MOCK_CLIENT_OPTIONS, {
  fakeTimers: T0,
  teardown: () => localStorage.clear(),
})

/** A login answered without a refresh token. */
function loginWithoutRefreshToken() {
  const { refresh_token: _, ...response } = mock.issueTokens()
  return response
}

describe('a session without a refresh token', () => {
  it('uses its access token while it lasts and never schedules a renewal', async () => {
    const auth = createClient()
    const tokens = auth.setTokens(loginWithoutRefreshToken())
    expect(tokens.refreshToken).toBeUndefined()

    // Inside the leeway and up to the end of its lifetime: the token goes, nothing renews.
    await vi.advanceTimersByTimeAsync(59_000)
    expect(await auth.getAccessToken()).toBe(tokens.accessToken)
    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    expect(mock.counters.token).toBe(0)
    expect(auth.tokens).toBe(tokens)
  })

  it('ends with session_expired once its access token has expired, firing expired once', async () => {
    const auth = createClient()
    auth.setTokens(loginWithoutRefreshToken())
    const expired = collect(auth, 'expired')
    await vi.advanceTimersByTimeAsync(61_000)

    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'session_expired' })
    await expect(auth.fetch(`${API_ORIGIN}/me`)).rejects.toMatchObject({ code: 'session_expired' })
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'session_expired' })
    expect(expired).toHaveLength(1)
    expect(auth.tokens).toBeNull()
    expect(mock.counters.token).toBe(0)
    expect(mock.counters.api).toBe(0)
  })

  it('ends with session_expired on a 401, without asking the token endpoint', async () => {
    const auth = createClient()
    auth.setTokens(loginWithoutRefreshToken())
    mock.expireAccessTokens()

    await expect(auth.fetch(`${API_ORIGIN}/me`)).rejects.toMatchObject({
      code: 'session_expired',
    })
    expect(mock.counters).toMatchObject({ api: 1, token: 0 })
    expect(auth.tokens).toBeNull()
  })

  it('ends on an explicit refresh() while its access token is still valid', async () => {
    const auth = createClient()
    auth.setTokens(loginWithoutRefreshToken())

    await expect(auth.refresh()).rejects.toMatchObject({
      name: 'SessionExpiredError',
      message: 'Session expired: no refresh token',
    })
    expect(auth.tokens).toBeNull()
    expect(mock.counters.token).toBe(0)
  })

  it('logs out without a revocation request', async () => {
    const auth = createClient()
    auth.setTokens(loginWithoutRefreshToken())
    const logouts = collect(auth, 'logout')

    await auth.logout()

    expect(logouts).toHaveLength(1)
    expect(auth.tokens).toBeNull()
    expect(mock.counters.revocation).toBe(0)
  })

  it('is restored from storage as it was, and still never renewed', async () => {
    const first = createClient({ storage: 'local', crossTab: false })
    const tokens = first.setTokens(loginWithoutRefreshToken())
    first.dispose()

    const second = createClient({ storage: 'local', crossTab: false })
    expect(second.tokens).toEqual(tokens)
    await vi.advanceTimersByTimeAsync(59_000)
    expect(mock.counters.token).toBe(0)
  })
})
