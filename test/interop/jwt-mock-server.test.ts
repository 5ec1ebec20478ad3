// @vitest-environment node
/**
 * The SDK, through its public API, against `oauth2-mock-server` (signed JWT access tokens, OpenID
 * discovery) on 127.0.0.1, in Node's runtime (native fetch, no CORS): the SDK outside a browser.
 */
import { createTokenClient, isAuthError, SessionExpiredError } from 'freshtoken'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type JWTMockServer, startJWTMockServer } from '../servers/jwt-mock-server.js'
import { jwtClaims, postRefreshGrant, useFixtureClients } from './helpers.js'

let server: JWTMockServer
const { signedInClient, track } = useFixtureClients(() => server, {
  beforeDispose: () => {
    server.setAccessTokenLifetime(3600)
    server.setOmitExpiresIn(false)
  },
})

beforeAll(async () => {
  server = await startJWTMockServer()
})

afterAll(async () => {
  await server.close()
})

beforeEach(() => {
  server.resetCounters()
})

describe('against oauth2-mock-server', () => {
  it('discovers the endpoints from OpenID metadata after the RFC 8414 location misses', async () => {
    const discovered = track(
      createTokenClient({
        clientId: 'spa',
        issuer: server.issuer,
        apiOrigins: [server.url],
      }),
    )
    discovered.setTokens(await server.login())

    const renewed = await discovered.refresh()
    expect(server.counters.discoveryRequests).toBe(1)
    expect(server.counters.rotations).toBe(1)
    expect((await discovered.fetch(`${server.apiUrl}/me`)).status).toBe(200)

    // logout() revokes at the revocation_endpoint advertised by the discovery document.
    await discovered.logout()
    expect(server.counters.revocationRequests).toBe(1)
    expect(server.refreshTokenState(renewed.refreshToken ?? '')).toBe('revoked')
    expect(server.counters.discoveryRequests).toBe(1)
  })

  it('sends client_id in a form-encoded body on every refresh grant', async () => {
    const auth = await signedInClient()
    await auth.refresh()
    expect(server.tokenRequestLog.at(-1)).toEqual({
      grantType: 'refresh_token',
      clientId: 'spa',
      contentType: expect.stringMatching(/^application\/x-www-form-urlencoded/),
    })
  })

  it('rotates the refresh token and never presents a rotated one again', async () => {
    const auth = await signedInClient()
    const first = auth.tokens?.refreshToken ?? ''
    const issued = [first]
    for (let round = 0; round < 3; round++) issued.push((await auth.refresh()).refreshToken ?? '')

    expect(new Set(issued).size).toBe(4)
    expect(issued.slice(0, 3).map((token) => server.refreshTokenState(token))).toEqual([
      'rotated',
      'rotated',
      'rotated',
    ])
    expect(server.refreshTokenState(issued[3] ?? '')).toBe('active')
    expect(server.counters).toMatchObject({ rotations: 3, reuseDetections: 0, invalidGrants: 0 })
    // The scope granted at login survives the renewals; the id_token member is not a problem.
    expect(auth.tokens?.scope).toBe('openid api')

    // The first token is now worthless at the server, and presenting it ends the family.
    const reuse = await postRefreshGrant(server.tokenEndpoint, first)
    expect(JSON.parse(reuse.body)).toMatchObject({ error: 'invalid_grant' })
    expect(server.counters.reuseDetections).toBe(1)
  })

  it('shares one refresh among 20 concurrent fetches when the token arrives already expired', async () => {
    // expires_in 0 (and exp = iat): the token is expired from the moment it is received.
    server.setAccessTokenLifetime(0)
    const auth = await signedInClient()
    server.setAccessTokenLifetime(3600)
    expect(auth.tokens?.expiresAt).toBeLessThanOrEqual(Date.now())

    const responses = await Promise.all(
      Array.from({ length: 20 }, () => auth.fetch(`${server.apiUrl}/me`)),
    )
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200))
    // The SDK renewed before sending: the expired token never reached the API.
    expect(server.counters).toMatchObject({
      refreshGrants: 1,
      reuseDetections: 0,
      apiRequests: 20,
      api401s: 0,
    })
  })

  it('shares one refresh among concurrent 401s from the API', async () => {
    const auth = await signedInClient()
    server.expireAccessTokens()
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => auth.ky.get(`${server.apiUrl}/me`).json<{ sub: string }>()),
    )
    expect(responses.every((me) => me.sub === 'alice')).toBe(true)
    expect(server.counters.refreshGrants).toBe(1)
    expect(server.counters.apiRequests).toBe(10 + server.counters.api401s)
  })

  it('retries a POST once after a 401 with the same JSON body', async () => {
    const auth = await signedInClient()
    server.expireAccessTokens()
    const echoed = await auth.ky
      .post(`${server.apiUrl}/echo`, { json: { cart: ['a', 'b'], total: 3.5 } })
      .json<{ json: unknown; method: string }>()
    expect(echoed).toMatchObject({ method: 'POST', json: { cart: ['a', 'b'], total: 3.5 } })
    expect(server.counters).toMatchObject({ apiRequests: 2, api401s: 1, refreshGrants: 1 })
  })

  it('reads the lifetime of a JWT without expires_in from exp − iat, not from the local clock', async () => {
    // The server's clock is two hours behind: by the local clock, exp is long past.
    const skewed = await startJWTMockServer({
      clockSkew: -7200,
      accessTokenLifetime: 600,
      omitExpiresIn: true,
    })
    try {
      const auth = track(
        createTokenClient({
          clientId: 'spa',
          tokenEndpoint: skewed.tokenEndpoint,
          apiOrigins: [skewed.url],
        }),
      )
      const response = await skewed.login()
      expect(response).not.toHaveProperty('expires_in')
      expect(jwtClaims(response.access_token).exp * 1000).toBeLessThan(Date.now())

      const before = Date.now()
      auth.setTokens(response)
      const after = Date.now()
      expect(auth.tokens?.expiresAt).toBeGreaterThanOrEqual(before + 600_000)
      expect(auth.tokens?.expiresAt).toBeLessThanOrEqual(after + 600_000)

      // The token is used as is: no renewal, and the API (on the server's clock) accepts it.
      expect((await auth.fetch(`${skewed.apiUrl}/me`)).status).toBe(200)
      expect(skewed.counters.refreshGrants).toBe(0)

      const renewedAt = Date.now()
      const renewed = await auth.refresh()
      expect(renewed.expiresAt).toBeGreaterThanOrEqual(renewedAt + 600_000)
      expect(renewed.expiresAt).toBeLessThanOrEqual(Date.now() + 600_000)
    } finally {
      await skewed.close()
    }
  })

  it('revokes the refresh token at the server on logout', async () => {
    const auth = await signedInClient()
    const refreshToken = auth.tokens?.refreshToken ?? ''
    await auth.logout()
    expect(auth.tokens).toBeNull()
    expect(server.counters.revocationRequests).toBe(1)
    expect(server.refreshTokenState(refreshToken)).toBe('revoked')
  })

  it('ends the session with SessionExpiredError once the server revokes it, firing expired once', async () => {
    const auth = await signedInClient()
    const expired: unknown[] = []
    auth.on('expired', (error) => {
      expired.push(error)
    })
    server.revokeAllSessions()

    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, () => auth.fetch(`${server.apiUrl}/me`)),
    )
    expect(outcomes.every((outcome) => outcome.status === 'rejected')).toBe(true)
    for (const outcome of outcomes as PromiseRejectedResult[]) {
      expect(outcome.reason).toBeInstanceOf(SessionExpiredError)
    }
    expect(expired).toHaveLength(1)
    expect(isAuthError(expired[0]) && expired[0].code).toBe('session_expired')
    expect(server.counters).toMatchObject({ refreshGrants: 1, invalidGrants: 1 })
    await expect(auth.refresh()).rejects.toBeInstanceOf(SessionExpiredError)
    expect(server.counters.refreshGrants).toBe(1)
  })
})
