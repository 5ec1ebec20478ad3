/**
 * `logout()`: RFC 7009 revocation of the newest refresh token, best effort and bounded in time,
 * and the session forgotten whatever happens. Events: `tokens`, `refresh`, `error`, `expired`,
 * `logout`, unsubscribing, listeners that throw, and `dispose()`.
 */
import {
  createTokenClient,
  isAuthError,
  SessionExpiredError,
  TokenEndpointUnavailableError,
} from 'freshtoken'
import type { MockFault } from 'freshtoken/testing'
import { describe, expect, it, vi } from 'vitest'
import { collect, useClients } from '../mocks/harness.js'
import { recordRequestBodies } from '../mocks/requests.js'
import { API_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { stepUntilSettled, T0 } from '../mocks/time.js'

const { mock, server } = useMockEnvironment()

const REVOCATION_ENDPOINT = `${ISSUER}/oauth/revoke`

const {
  create: createClient,
  track,
  onCleanup,
} = useClients(
  {
    clientId: CLIENT_ID,
    tokenEndpoint: `${ISSUER}/oauth/token`,
    revocationEndpoint: REVOCATION_ENDPOINT,
    apiOrigins: [API_ORIGIN],
  },
  { fakeTimers: T0, teardown: () => vi.unstubAllGlobals() },
)

/** Advances fake time in 10 ms steps until `promise` settles (at most `limit` ms). */
const advanceUntil = stepUntilSettled(10, 120_000)

/** A revocation request as msw received it. */
interface SeenRevocation {
  method: string
  contentType: string | null
  form: Record<string, string>
}

/** Records every non-preflight request to the revocation endpoint; the result reads them, bodies included. */
function recordRevocations(): () => Promise<SeenRevocation[]> {
  const recorder = recordRequestBodies(
    server,
    (request) => request.url === REVOCATION_ENDPOINT,
    (request, body): SeenRevocation => ({
      method: request.method,
      contentType: request.headers.get('content-type'),
      form: Object.fromEntries(new URLSearchParams(body)),
    }),
  )
  onCleanup(recorder.stop)
  return recorder.read
}

describe('logout()', () => {
  it('revokes the refresh token with an RFC 7009 request, forgets the session and fires logout once', async () => {
    const revocations = recordRevocations()
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    const logouts = collect(auth, 'logout')
    const tokens = collect(auth, 'tokens')

    await auth.logout()
    expect(await revocations()).toEqual([
      {
        method: 'POST',
        contentType: expect.stringMatching(/^application\/x-www-form-urlencoded(;|$)/),
        form: { token: login.refresh_token, token_type_hint: 'refresh_token', client_id: 'spa' },
      },
    ])
    expect(mock.log.revocation).toEqual([
      {
        at: T0,
        clientId: 'spa',
        tokenTypeHint: 'refresh_token',
        tokenType: 'refresh_token',
        family: 'family-1',
        status: 200,
        fault: null,
      },
    ])
    expect(mock.introspect(login.refresh_token ?? '').state).toBe('revoked')
    // RFC 7009 §2.1: the server revoked the access token with it.
    expect(mock.introspect(login.access_token).state).toBe('revoked')
    expect(auth.tokens).toBeNull()
    expect(logouts).toEqual([undefined])
    expect(tokens).toEqual([])
  })

  it('makes later calls reject no_session without contacting any server, and stops the timer', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    await auth.logout()

    await expect(auth.getAccessToken()).rejects.toMatchObject({
      name: 'NoSessionError',
      code: 'no_session',
    })
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'no_session' })
    await expect(auth.fetch(`${API_ORIGIN}/me`)).rejects.toMatchObject({ code: 'no_session' })
    await vi.advanceTimersByTimeAsync(10 * 60_000)
    expect(mock.counters).toMatchObject({ token: 0, api: 0, revocation: 1 })
  })

  it('only forgets the session locally when no revocation endpoint is known', async () => {
    const auth = track(
      createTokenClient({
        clientId: CLIENT_ID,
        tokenEndpoint: `${ISSUER}/oauth/token`,
        apiOrigins: [API_ORIGIN],
      }),
    )
    const login = mock.issueTokens()
    auth.setTokens(login)
    const logouts = collect(auth, 'logout')
    await auth.logout()
    expect(mock.counters.revocation).toBe(0)
    expect(auth.tokens).toBeNull()
    expect(logouts).toHaveLength(1)
    expect(mock.introspect(login.refresh_token ?? '').state).toBe('active')
  })

  it('revokes once and fires logout once when called twice', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const logouts = collect(auth, 'logout')
    await auth.logout()
    await auth.logout()
    expect(mock.counters.revocation).toBe(1)
    expect(auth.tokens).toBeNull()
    // 'logout' means logout() ended a session; the second call had none to end.
    expect(logouts).toHaveLength(1)
  })

  it.each<{ failure: string; fault: MockFault; attempts: number }>([
    {
      failure: 'answers 503',
      fault: { type: 'status', status: 503, target: 'revocation', times: Number.POSITIVE_INFINITY },
      attempts: 1,
    },
    {
      failure: 'is unreachable',
      fault: { type: 'network-error', target: 'revocation', times: Number.POSITIVE_INFINITY },
      attempts: 1,
    },
    {
      failure: 'never answers',
      fault: {
        type: 'latency',
        ms: 10 * 60_000,
        target: 'revocation',
        times: Number.POSITIVE_INFINITY,
      },
      attempts: 1,
    },
  ])(
    'forgets the session within 10 s when the revocation endpoint $failure',
    async ({ fault, attempts }) => {
      const auth = createClient()
      auth.setTokens(mock.issueTokens())
      const logouts = collect(auth, 'logout')
      mock.injectFault(fault)

      const loggingOut = auth.logout()
      await vi.advanceTimersByTimeAsync(0)
      // The session is gone before the revocation is answered.
      expect(auth.tokens).toBeNull()
      expect(logouts).toHaveLength(1)

      await advanceUntil(loggingOut)
      expect(Date.now() - T0).toBeLessThanOrEqual(10_000 + 10)
      expect(mock.counters.revocation).toBe(attempts)
      await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'no_session' })
      expect(logouts).toHaveLength(1)
    },
  )

  it('waits for a renewal in flight and revokes the newest refresh token', async () => {
    const revocations = recordRevocations()
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    mock.injectFault({ type: 'latency', ms: 3_000 })

    const renewal = auth.refresh()
    const loggingOut = auth.logout()
    await advanceUntil(loggingOut)
    const renewed = await renewal

    expect(renewed.refreshToken).not.toBe(login.refresh_token)
    expect((await revocations()).map(({ form }) => form.token)).toEqual([renewed.refreshToken])
    expect(mock.introspect(renewed.refreshToken ?? '').state).toBe('revoked')
    expect(mock.counters.reuseDetected).toBe(0)
    expect(auth.tokens).toBeNull()
  })

  it('does not wait more than 5 s for a renewal, and a renewal answered later does not restore the session', async () => {
    const revocations = recordRevocations()
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    const tokens = collect(auth, 'tokens')
    const refreshes = collect(auth, 'refresh')
    const expired = collect(auth, 'expired')
    // The server rotates at once but its answer takes 8 s to arrive (within the SDK's 10 s
    // request timeout).
    mock.injectFault({ type: 'latency', ms: 8_000, afterProcessing: true })

    const renewal = auth.refresh()
    renewal.catch(() => undefined)
    await advanceUntil(auth.logout())
    expect(Date.now() - T0).toBeGreaterThanOrEqual(5_000)
    expect(Date.now() - T0).toBeLessThanOrEqual(5_000 + 10)
    expect((await revocations()).map(({ form }) => form.token)).toEqual([login.refresh_token])

    await expect(advanceUntil(renewal)).rejects.toMatchObject({ code: 'no_session' })
    expect(mock.log.token.map(({ status }) => status)).toEqual([200])
    expect(auth.tokens).toBeNull()
    expect(tokens).toEqual([])
    expect(refreshes).toEqual([])
    expect(expired).toEqual([])
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'no_session' })
  })

  it.each([true, false])(
    'revokes the refresh token of a renewal answered after logout() stopped waiting (crossTab %s)',
    async (crossTab) => {
      const revocations = recordRevocations()
      const auth = createClient({ crossTab })
      const login = mock.issueTokens()
      auth.setTokens(login)
      mock.injectFault({ type: 'latency', ms: 8_000, afterProcessing: true })
      const renewal = auth.refresh()
      renewal.catch(() => undefined)
      await advanceUntil(auth.logout())
      expect((await revocations()).map(({ form }) => form.token)).toEqual([login.refresh_token])

      // The answer arrives at 8 s with a refresh token nobody will use: it is revoked too.
      await expect(advanceUntil(renewal)).rejects.toMatchObject({ code: 'no_session' })
      await advanceUntil(new Promise((resolve) => setTimeout(resolve, 100)))
      const revoked = (await revocations()).map(({ form }) => form)
      expect(revoked).toHaveLength(2)
      const late = revoked[1]?.token ?? ''
      expect(late).not.toBe(login.refresh_token)
      expect(revoked[1]).toMatchObject({ token_type_hint: 'refresh_token', client_id: CLIENT_ID })
      expect(mock.introspect(late)).toMatchObject({
        type: 'refresh_token',
        family: 'family-1',
        state: 'revoked',
      })
      expect(auth.tokens).toBeNull()
    },
  )

  it('revokes the refresh token of a renewal answered after setTokens() replaced the session', async () => {
    const revocations = recordRevocations()
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'latency', ms: 2_000, afterProcessing: true })
    const renewal = auth.refresh()
    await vi.advanceTimersByTimeAsync(100)
    expect(mock.counters.token).toBe(1)
    const next = mock.issueTokens()
    const replaced = auth.setTokens(next)

    // The late renewal loses to the new login, which stays untouched.
    expect(await advanceUntil(renewal)).toBe(replaced)
    await advanceUntil(new Promise((resolve) => setTimeout(resolve, 100)))
    const revoked = (await revocations()).map(({ form }) => form.token ?? '')
    expect(revoked).toHaveLength(1)
    expect(mock.introspect(revoked[0] ?? '')).toMatchObject({
      type: 'refresh_token',
      family: 'family-1',
    })
    expect(auth.tokens).toBe(replaced)
    expect(mock.introspect(next.refresh_token ?? '').state).toBe('active')
    expect((await auth.refresh()).refreshToken).not.toBe(next.refresh_token)
  })
})

describe('events', () => {
  it('fires tokens on setTokens and on every renewal, with the current TokenSet', async () => {
    const auth = createClient()
    const tokens = collect(auth, 'tokens')

    const initial = auth.setTokens(mock.issueTokens())
    expect(tokens).toEqual([initial])
    const renewed = await auth.refresh()
    await vi.advanceTimersByTimeAsync(30_000)
    expect(mock.counters.token).toBe(2)
    expect(tokens).toHaveLength(3)
    expect(tokens[0]).toBe(initial)
    expect(tokens[1]).toBe(renewed)
    expect(tokens[2]).toBe(auth.tokens)
  })

  it('fires refresh once per renewal with the new TokenSet, not on setTokens', async () => {
    const auth = createClient()
    const refreshes = collect(auth, 'refresh')
    auth.setTokens(mock.issueTokens())
    expect(refreshes).toEqual([])

    const results = await Promise.all(Array.from({ length: 10 }, () => auth.refresh()))
    expect(refreshes).toHaveLength(1)
    expect(refreshes[0]).toBe(results[0])

    mock.expireAccessTokens()
    await auth.fetch(`${API_ORIGIN}/me`)
    expect(refreshes).toHaveLength(2)
    expect(refreshes[1]).toBe(auth.tokens)
  })

  it.each<{ failure: string; fault: MockFault; code: string }>([
    {
      failure: 'the server stays unavailable',
      fault: { type: 'status', status: 503, times: Number.POSITIVE_INFINITY },
      code: 'token_endpoint_unavailable',
    },
    {
      failure: 'the server answers invalid_client',
      fault: { type: 'oauth-error', error: 'invalid_client' },
      code: 'token_endpoint_error',
    },
    {
      failure: 'the response is not JSON',
      fault: { type: 'malformed-json' },
      code: 'invalid_token_response',
    },
    {
      failure: 'the response lacks access_token',
      fault: { type: 'body', body: { token_type: 'Bearer', expires_in: 60 } },
      code: 'invalid_token_response',
    },
  ])(
    'fires error with an AuthError, and keeps the session, when $failure',
    async ({ fault, code }) => {
      const auth = createClient()
      const initial = auth.setTokens(mock.issueTokens())
      const errors = collect(auth, 'error')
      const expired = collect(auth, 'expired')
      const refreshes = collect(auth, 'refresh')
      mock.injectFault(fault)

      const failure = await advanceUntil(auth.refresh()).catch((error: unknown) => error)
      expect(errors).toHaveLength(1)
      expect(errors[0]).toBe(failure)
      expect(isAuthError(errors[0])).toBe(true)
      expect(errors[0]).toMatchObject({ code })
      expect(expired).toEqual([])
      expect(refreshes).toEqual([])
      expect(auth.tokens).toBe(initial)
    },
  )

  it('reports a TokenEndpointUnavailableError from a failed proactive renewal', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const errors = collect(auth, 'error')
    mock.injectFault({ type: 'network-error', times: 3 })
    await advanceUntil(new Promise((resolve) => auth.on('error', resolve)), 40_000)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(TokenEndpointUnavailableError)
    // The first request and two retries in place.
    expect(mock.counters.token).toBe(3)
  })

  it('fires expired once with a SessionExpiredError when the refresh token is rejected', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const expired = collect(auth, 'expired')
    const errors = collect(auth, 'error')
    mock.revokeRefreshTokens()
    vi.setSystemTime(T0 + 61_000)

    const results = await Promise.allSettled([
      ...Array.from({ length: 20 }, () => auth.getAccessToken()),
      ...Array.from({ length: 5 }, () => auth.refresh()),
      auth.fetch(`${API_ORIGIN}/me`),
    ])
    for (const result of results) {
      expect(result).toMatchObject({ status: 'rejected', reason: { code: 'session_expired' } })
    }
    expect(mock.counters.token).toBe(1)
    expect(expired).toHaveLength(1)
    expect(expired[0]).toBeInstanceOf(SessionExpiredError)
    expect(expired[0]).toMatchObject({ name: 'SessionExpiredError', code: 'session_expired' })
    expect(errors).toEqual([])
    expect(auth.tokens).toBeNull()

    await expect(auth.refresh()).rejects.toMatchObject({ code: 'session_expired' })
    await vi.advanceTimersByTimeAsync(5 * 60_000)
    expect(mock.counters.token).toBe(1)
    expect(expired).toHaveLength(1)
  })

  it('on() returns an unsubscribe that stops that listener only', async () => {
    const auth = createClient()
    const kept: unknown[] = []
    const dropped: unknown[] = []
    auth.on('refresh', (tokens) => kept.push(tokens))
    const off = auth.on('refresh', (tokens) => dropped.push(tokens))
    auth.setTokens(mock.issueTokens())

    await auth.refresh()
    off()
    off()
    await auth.refresh()
    expect(kept).toHaveLength(2)
    expect(dropped).toHaveLength(1)
  })

  it('survives a listener that throws: the renewal succeeds, other listeners run, the error is reported', async () => {
    const reportError = vi.fn()
    vi.stubGlobal('reportError', reportError)
    const auth = createClient()
    const boom = new Error('listener bug')
    auth.on('refresh', () => {
      throw boom
    })
    const after = collect(auth, 'refresh')
    auth.setTokens(mock.issueTokens())

    const tokens = await auth.refresh()
    expect(auth.tokens).toBe(tokens)
    expect(after).toEqual([tokens])
    expect(reportError).toHaveBeenCalledTimes(1)
    expect(reportError).toHaveBeenCalledWith(boom)

    // Proactive renewals keep going too: one every 29–30 s.
    await vi.advanceTimersByTimeAsync(5 * 60_000)
    expect(mock.counters.tokenSuccess).toBe(11)
    expect(reportError).toHaveBeenCalledTimes(11)
  })

  it('keeps the lifecycle going when a listener throws and the page has no reportError', () => {
    vi.stubGlobal('reportError', undefined)
    const auth = createClient()
    auth.on('tokens', () => {
      throw new Error('listener bug')
    })
    const after: unknown[] = []
    auth.on('tokens', (tokens) => after.push(tokens))

    const tokens = auth.setTokens(mock.issueTokens())

    expect(auth.tokens).toBe(tokens)
    expect(after).toEqual([tokens])
  })

  it('setTokens still starts the session when a tokens listener throws', () => {
    const reportError = vi.fn()
    vi.stubGlobal('reportError', reportError)
    const auth = createClient()
    auth.on('tokens', () => {
      throw new Error('listener bug')
    })
    const login = mock.issueTokens()
    const tokens = auth.setTokens(login)
    expect(tokens.accessToken).toBe(login.access_token)
    expect(auth.tokens).toBe(tokens)
    expect(reportError).toHaveBeenCalledTimes(1)
  })

  it('dispose() removes every listener', async () => {
    // Without tabs to share with, a disposed client still works on its own (a shared one stops
    // renewing: see the cross-tab tests).
    const auth = createClient({ crossTab: false })
    const calls: string[] = []
    for (const event of ['tokens', 'refresh', 'error', 'expired', 'logout'] as const) {
      auth.on(event, () => calls.push(event))
    }
    auth.dispose()

    auth.setTokens(mock.issueTokens())
    await auth.refresh()
    mock.injectFault({ type: 'oauth-error', error: 'invalid_client' })
    await auth.refresh().catch(() => undefined)
    await vi.advanceTimersByTimeAsync(1_000)
    mock.revokeRefreshTokens()
    await auth.refresh().catch(() => undefined)
    auth.setTokens(mock.issueTokens())
    await auth.logout()
    expect(calls).toEqual([])
    expect(mock.counters).toMatchObject({ token: 3, tokenSuccess: 1, revocation: 1 })
  })
})
