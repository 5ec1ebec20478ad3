/**
 * When an access token expires, as the SDK computes it: local receipt time plus `expires_in`
 * (RFC 6749 §5.1), the JWT `exp − iat` fallback counted from local receipt (never the server's
 * clock), and no expiry at all for an opaque token without `expires_in`.
 */
import type { TokenSet } from 'freshtoken'
import { jwtDecode } from 'jwt-decode'
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { API_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { advanceTo, T0 } from '../mocks/time.js'

const { mock, serve } = useMockEnvironment()

const HOUR = 3_600_000
const DAY = 24 * HOUR

const { create: createClient } = useClients(
  { clientId: CLIENT_ID, tokenEndpoint: `${ISSUER}/oauth/token`, apiOrigins: [API_ORIGIN] },
  { fakeTimers: T0 },
)

describe('expires_in', () => {
  it('sets expiresAt to the local time the tokens were set plus expires_in', () => {
    const auth = createClient()
    const tokens = auth.setTokens(mock.issueTokens())
    expect(tokens.expiresAt).toBe(T0 + 60_000)
    expect(auth.tokens?.expiresAt).toBe(T0 + 60_000)
  })

  it('counts a renewed token from when its response arrived, not from when it was requested', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    await advanceTo(10_000)
    // The server takes 3 s to answer: the 60 s start when the answer is received.
    mock.injectFault({ type: 'latency', ms: 3_000 })
    let renewed: TokenSet | undefined
    let resolvedAt = 0
    auth.refresh().then((tokens) => {
      renewed = tokens
      resolvedAt = Date.now()
    })
    for (let step = 0; step < 100 && renewed === undefined; step++) {
      await vi.advanceTimersByTimeAsync(100)
    }
    expect(mock.log.token.map((entry) => entry.at)).toEqual([T0 + 10_000])
    // Requested at 10 s, answered at 13 s: the lifetime starts at 13 s.
    const start = (renewed?.expiresAt ?? 0) - 60_000
    expect(start).toBeGreaterThanOrEqual(T0 + 13_000)
    expect(start).toBeLessThanOrEqual(resolvedAt)
  })

  it('accepts expires_in as a string of digits from setTokens and from the token endpoint', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    expect(auth.setTokens({ ...login, expires_in: '120' }).expiresAt).toBe(T0 + 120_000)

    // A token response whose expires_in is the string "90".
    const next = mock.issueTokens()
    mock.injectFault({ type: 'body', body: { ...next, expires_in: '90' } })
    await advanceTo(5_000)
    const renewed = await auth.refresh()
    expect(renewed.expiresAt).toBe(T0 + 5_000 + 90_000)
    expect(renewed.accessToken).toBe(next.access_token)

    // The 90 s lifetime drives the next proactive renewal: 30 s before expiry, jitter ≤ 1 s.
    await advanceTo(5_000 + 59_000 - 1)
    expect(mock.counters.token).toBe(1)
    await advanceTo(5_000 + 60_000)
    expect(mock.counters.token).toBe(2)
    expect(mock.counters.tokenSuccess).toBe(1)
  })

  it('treats expires_in 0 as already expired: the next call renews before answering', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens({ ...login, expires_in: 0 })
    const token = await auth.getAccessToken()
    expect(token).not.toBe(login.access_token)
    expect(token).toBe(auth.tokens?.accessToken)
    expect(mock.counters.token).toBe(1)
    expect(mock.introspect(token).active).toBe(true)
  })
})

describe('a token renewed already expired (expires_in 0)', () => {
  it('is used as it is for half a second, then renewed again: no renewal loop', async () => {
    const born = serve({ accessTokenLifetime: 0 })
    const auth = createClient()
    auth.setTokens(born.issueTokens())
    const first = await auth.getAccessToken()
    expect(born.counters.token).toBe(1)

    await advanceTo(499)
    expect(await auth.getAccessToken()).toBe(first)
    expect(born.counters.token).toBe(1)

    // At 500 ms, before the renewal timer (due then too) has fired: a call renews.
    vi.setSystemTime(T0 + 500)
    const second = await auth.getAccessToken()
    expect(second).not.toBe(first)
    expect(born.counters.token).toBe(2)
  })
})

describe('JWT access token without expires_in', () => {
  it.each([
    { clock: 'in step with ours', clockSkew: 0 },
    { clock: '5 hours ahead', clockSkew: 5 * HOUR },
    { clock: '5 hours behind', clockSkew: -5 * HOUR },
  ])(
    'counts exp − iat from local receipt when the server clock is $clock',
    async ({ clockSkew }) => {
      const skewed = serve({ tokenFormat: 'jwt', omitExpiresIn: true, clockSkew })
      const auth = createClient()
      const login = skewed.issueTokens()
      expect(login.expires_in).toBeUndefined()
      // The claims really are on the server's (skewed) clock.
      const claims = jwtDecode(login.access_token)
      expect(claims.iat).toBe(Math.floor((T0 + clockSkew) / 1000))
      expect(claims.exp).toBe(Math.floor((T0 + clockSkew) / 1000) + 60)

      expect(auth.setTokens(login).expiresAt).toBe(T0 + 60_000)

      // Same renewal time as with no skew: 30 s before the local expiry, at most 1 s earlier.
      await advanceTo(29_000 - 1)
      expect(skewed.counters.token).toBe(0)
      await advanceTo(30_000)
      expect(skewed.counters.token).toBe(1)
      expect(skewed.counters.tokenSuccess).toBe(1)

      const [renewal] = skewed.log.token
      expect(auth.tokens?.expiresAt).toBe((renewal?.at ?? Number.NaN) + 60_000)
      expect(skewed.introspect(auth.tokens?.accessToken ?? '').active).toBe(true)
    },
  )
})

describe('opaque access token without expires_in', () => {
  it('has no known expiry, is never renewed proactively, and is renewed once on a 401', async () => {
    const opaque = serve({ omitExpiresIn: true, refreshTokenLifetime: 7 * DAY })
    const auth = createClient()
    const login = opaque.issueTokens()
    const tokens = auth.setTokens(login)
    expect(tokens.expiresAt).toBeUndefined()
    expect(tokens).not.toHaveProperty('expiresAt')

    await advanceTo(DAY)
    expect(opaque.counters.token).toBe(0)
    // The SDK cannot know the token expired (the server expired it after 60 s) ...
    expect(await auth.getAccessToken()).toBe(login.access_token)
    expect(opaque.counters.token).toBe(0)

    // ... so the API's 401 is what renews it, once, and the request is retried.
    const response = await auth.fetch(`${API_ORIGIN}/me`)
    expect(response.status).toBe(200)
    expect(opaque.counters.token).toBe(1)
    expect(opaque.log.api.map(({ status, token }) => [status, token])).toEqual([
      [401, 'expired'],
      [200, 'active'],
    ])
    expect(auth.tokens?.accessToken).not.toBe(login.access_token)
    expect(auth.tokens?.expiresAt).toBeUndefined()

    await advanceTo(2 * DAY)
    expect(opaque.counters.token).toBe(1)
  })
})
