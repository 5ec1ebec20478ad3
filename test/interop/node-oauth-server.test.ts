// @vitest-environment happy-dom
// @vitest-environment-options {"url": "http://localhost:5173/"}
/**
 * The SDK, through its public API, against a real `@node-oauth/oauth2-server` (opaque tokens,
 * rotation with reuse detection, RFC 7009, RFC 8414) on 127.0.0.1.
 *
 * The page is http://localhost:5173 and the server http://127.0.0.1:<port>: every SDK request is
 * cross-origin, so happy-dom preflights it and enforces the server's CORS answers, as a browser
 * would. (An https page could not call the http server at all: happy-dom blocks mixed content.)
 */
import { createTokenClient, isAuthError, SessionExpiredError } from 'freshtoken'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type NodeOAuthServer, startNodeOAuthServer } from '../servers/node-oauth-server.js'
import { nextEvent, postRefreshGrant, useFixtureClients } from './helpers.js'

const PAGE_ORIGIN = 'http://localhost:5173'

let server: NodeOAuthServer
const { createClient, signedInClient, track } = useFixtureClients(() => server, {
  afterDispose: () => sessionStorage.clear(),
})

/** Presents a refresh token outside the SDK, as an attacker holding a stolen copy would. */
async function presentRefreshToken(refreshToken: string) {
  const response = await postRefreshGrant(server.tokenEndpoint, refreshToken)
  return { status: response.status, body: JSON.parse(response.body) as { error?: string } }
}

beforeAll(async () => {
  server = await startNodeOAuthServer({ allowedOrigins: [PAGE_ORIGIN] })
})

afterAll(async () => {
  await server.close()
})

beforeEach(() => {
  server.resetCounters()
})

describe('against @node-oauth/oauth2-server from a cross-origin page', () => {
  it('reaches the server through CORS preflights that the server answers for the page origin', async () => {
    const auth = await signedInClient()
    const response = await auth.fetch(`${server.apiUrl}/me`)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ sub: 'alice', client_id: 'spa' })
    expect(server.counters.preflights).toBeGreaterThan(0)
  })

  it('cannot read a server that does not allow the page origin, as in a browser', async () => {
    const closed = await startNodeOAuthServer({ allowedOrigins: ['http://other.example'] })
    try {
      const auth = track(
        createTokenClient({
          clientId: 'spa',
          tokenEndpoint: closed.tokenEndpoint,
          apiOrigins: [closed.url],
        }),
      )
      auth.setTokens(await closed.login())
      await expect(auth.fetch(`${closed.apiUrl}/me`)).rejects.toThrow(/Cross-Origin/)
      expect(closed.counters.apiRequests).toBe(0)
    } finally {
      await closed.close()
    }
  })

  it('rotates the refresh token on refresh, and the server then rejects the old one', async () => {
    const auth = await signedInClient()
    const before = auth.tokens
    const renewed = await auth.refresh()

    expect(renewed.refreshToken).toBeDefined()
    expect(renewed.refreshToken).not.toBe(before?.refreshToken)
    expect(renewed.accessToken).not.toBe(before?.accessToken)
    expect(auth.tokens).toEqual(renewed)
    expect(server.refreshTokenState(before?.refreshToken ?? '')).toBe('rotated')
    expect(server.refreshTokenState(renewed.refreshToken ?? '')).toBe('active')
    // The renewed access token works at the API.
    expect((await auth.fetch(`${server.apiUrl}/me`)).status).toBe(200)

    // Presenting the old token (as a thief would) is what the server punishes.
    const reuse = await presentRefreshToken(before?.refreshToken ?? '')
    expect(reuse).toEqual({
      status: 400,
      body: expect.objectContaining({ error: 'invalid_grant' }),
    })
    expect(server.counters.reuseDetections).toBe(1)
    expect(server.refreshTokenState(renewed.refreshToken ?? '')).toBe('revoked')
  })

  it('never resends a rotated refresh token across many renewals', async () => {
    const auth = await signedInClient()
    const seen = new Set<string>()
    for (let round = 0; round < 5; round++) {
      seen.add((await auth.refresh()).refreshToken ?? '')
      server.expireAccessTokens()
      expect((await auth.fetch(`${server.apiUrl}/me`)).status).toBe(200)
    }
    expect(seen.size).toBe(5)
    // 5 explicit renewals + 5 renewals after the server expired the access token.
    expect(server.counters).toMatchObject({
      refreshGrants: 10,
      rotations: 10,
      reuseDetections: 0,
      invalidGrants: 0,
    })
  })

  it('shares one refresh grant among 20 concurrent fetches after the server expired the token', async () => {
    const auth = await signedInClient()
    server.expireAccessTokens()
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => auth.fetch(`${server.apiUrl}/me`)),
    )
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200))
    expect(server.counters.refreshGrants).toBe(1)
    expect(server.counters.reuseDetections).toBe(0)
    // Each call was sent at most twice: once with the expired token, once after the renewal.
    expect(server.counters.apiRequests).toBe(20 + server.counters.api401s)
    expect(server.counters.api401s).toBeLessThanOrEqual(20)
  })

  it('retries a POST once after a 401 with the same body, through fetch', async () => {
    const auth = await signedInClient()
    server.expireAccessTokens()
    const body = JSON.stringify({ order: 42, note: 'ünïcode ✓' })
    const response = await auth.fetch(`${server.apiUrl}/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ method: 'POST', text: body })
    expect(server.counters).toMatchObject({ apiRequests: 2, api401s: 1, refreshGrants: 1 })
  })

  it('retries a form POST after a 401 with the same body and content type', async () => {
    const auth = await signedInClient()
    server.expireAccessTokens()
    const response = await auth.fetch(`${server.apiUrl}/echo`, {
      method: 'POST',
      body: new URLSearchParams({ q: 'a&b=c', lang: 'fr' }),
    })
    expect(await response.json()).toMatchObject({
      contentType: expect.stringMatching(/^application\/x-www-form-urlencoded/),
      text: 'q=a%26b%3Dc&lang=fr',
    })
    expect(server.counters).toMatchObject({ apiRequests: 2, api401s: 1, refreshGrants: 1 })
  })

  it('retries a Request object after a 401 with the same body', async () => {
    const auth = await signedInClient()
    server.expireAccessTokens()
    const request = new Request(`${server.apiUrl}/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"from":"request"}',
    })
    const response = await auth.fetch(request)
    expect(await response.json()).toMatchObject({ json: { from: 'request' } })
    expect(server.counters).toMatchObject({ apiRequests: 2, api401s: 1, refreshGrants: 1 })
  })

  it('retries a ky POST once after a 401 with the same JSON body', async () => {
    const auth = await signedInClient()
    server.expireAccessTokens()
    const echoed = await auth.ky
      .post(`${server.apiUrl}/echo`, { json: { items: [1, 2, 3] } })
      .json<{ json: unknown }>()
    expect(echoed.json).toEqual({ items: [1, 2, 3] })
    expect(server.counters).toMatchObject({ apiRequests: 2, api401s: 1, refreshGrants: 1 })
  })

  it('revokes the refresh token at the server on logout', async () => {
    const auth = await signedInClient()
    const refreshToken = auth.tokens?.refreshToken ?? ''
    const loggedOut = nextEvent(auth, 'logout', 5_000)
    await auth.logout()
    await loggedOut

    expect(auth.tokens).toBeNull()
    expect(server.counters.revocationRequests).toBe(1)
    expect(server.refreshTokenState(refreshToken)).toBe('revoked')
    expect((await presentRefreshToken(refreshToken)).body.error).toBe('invalid_grant')
  })

  it('revokes the newest refresh token when logout races a renewal', async () => {
    const auth = await signedInClient()
    const renewal = auth.refresh()
    await auth.logout()
    const renewed = await renewal

    expect(auth.tokens).toBeNull()
    expect(server.revocationLog).toEqual([
      { tokenTypeHint: 'refresh_token', clientId: 'spa', tokenState: 'active' },
    ])
    expect(server.refreshTokenState(renewed.refreshToken ?? '')).toBe('revoked')
    expect(server.counters.reuseDetections).toBe(0)
  })

  it('continues after a page reload with the rotated refresh token kept in sessionStorage', async () => {
    const firstPage = await signedInClient({ storage: 'session' })
    const rotated = await firstPage.refresh()
    firstPage.dispose()

    const reloaded = createClient({ storage: 'session' })
    expect(reloaded.tokens).toEqual(rotated)
    server.expireAccessTokens()
    expect((await reloaded.fetch(`${server.apiUrl}/me`)).status).toBe(200)
    expect(server.counters).toMatchObject({ rotations: 2, reuseDetections: 0, invalidGrants: 0 })
  })

  it('recovers through a 401 when the server leaves expires_in out of an opaque token', async () => {
    const auth = createClient()
    // The library omits expires_in when the whole seconds left round down to 0.
    const response = await server.login({ accessTokenLifetime: 0.5 })
    expect(response).not.toHaveProperty('expires_in')
    auth.setTokens(response)
    expect(auth.tokens?.expiresAt).toBeUndefined()

    server.expireAccessTokens()
    expect((await auth.fetch(`${server.apiUrl}/me`)).status).toBe(200)
    expect(server.counters).toMatchObject({ api401s: 1, refreshGrants: 1 })
    expect(auth.tokens?.expiresAt).toBeGreaterThan(Date.now())
  })

  it('ends the session with SessionExpiredError once the server revokes it, firing expired once', async () => {
    const auth = await signedInClient()
    let expiredEvents = 0
    auth.on('expired', () => {
      expiredEvents++
    })
    server.revokeAllSessions()

    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, () => auth.fetch(`${server.apiUrl}/me`)),
    )
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected')
      const reason = (outcome as PromiseRejectedResult).reason
      expect(reason).toBeInstanceOf(SessionExpiredError)
      expect(isAuthError(reason) && reason.code).toBe('session_expired')
    }
    expect(expiredEvents).toBe(1)
    expect(auth.tokens).toBeNull()
    expect(server.counters).toMatchObject({ refreshGrants: 1, invalidGrants: 1 })

    // The session stays over without asking the server again.
    const apiRequests = server.counters.apiRequests
    await expect(auth.fetch(`${server.apiUrl}/me`)).rejects.toBeInstanceOf(SessionExpiredError)
    await expect(auth.getAccessToken()).rejects.toBeInstanceOf(SessionExpiredError)
    expect(server.counters.refreshGrants).toBe(1)
    expect(server.counters.apiRequests).toBe(apiRequests)
    expect(expiredEvents).toBe(1)
  })

  it('retries a refresh that a gateway rejected before it reached the server', async () => {
    const auth = await signedInClient()
    server.failTokenRequests(1, { status: 503 })
    const renewed = await auth.refresh()
    expect(renewed.refreshToken).not.toBe(undefined)
    expect(server.counters).toMatchObject({ refreshGrants: 2, rotations: 1, reuseDetections: 0 })
  })

  it('loses the session, once and without looping, when a rotated refresh answer is lost', async () => {
    const auth = await signedInClient()
    let expiredEvents = 0
    auth.on('expired', () => {
      expiredEvents++
    })
    // The server rotates, then a gateway answers 502: the client never sees the new token, and
    // its retry presents the rotated one, which a strict server treats as reuse.
    server.failTokenRequests(1, { status: 502, afterProcessing: true })
    await expect(auth.refresh()).rejects.toBeInstanceOf(SessionExpiredError)
    expect(expiredEvents).toBe(1)
    expect(server.counters).toMatchObject({ refreshGrants: 2, rotations: 1, reuseDetections: 1 })
  })

  it('renews proactively before a short-lived access token expires', async () => {
    const auth = createClient()
    // 2 s on the server arrives as expires_in 1: renewal is due within about half a second.
    auth.setTokens(await server.login({ accessTokenLifetime: 2 }))
    const renewed = nextEvent(auth, 'refresh', 3_000)
    await renewed
    expect(server.counters).toMatchObject({ refreshGrants: 1, rotations: 1, api401s: 0 })
    expect((await auth.fetch(`${server.apiUrl}/me`)).status).toBe(200)
    expect(server.counters.api401s).toBe(0)
  })
})

describe('RFC 8414 discovery against @node-oauth/oauth2-server', () => {
  let tenant: NodeOAuthServer

  beforeAll(async () => {
    tenant = await startNodeOAuthServer({ issuerPath: '/tenant1', allowedOrigins: [PAGE_ORIGIN] })
  })

  afterAll(async () => {
    await tenant.close()
  })

  it('finds the token and revocation endpoints of an issuer with a path', async () => {
    const auth = track(
      createTokenClient({
        clientId: 'spa',
        issuer: tenant.issuer,
        apiOrigins: [tenant.url],
      }),
    )
    const tokens = await tenant.login()
    auth.setTokens(tokens)

    await auth.refresh()
    expect(tenant.counters.metadataRequests).toBe(1)
    expect(tenant.counters.rotations).toBe(1)

    const current = auth.tokens?.refreshToken ?? ''
    await auth.logout()
    expect(tenant.counters.revocationRequests).toBe(1)
    expect(tenant.refreshTokenState(current)).toBe('revoked')
    expect(tenant.counters.metadataRequests).toBe(1)
  })

  it('rejects metadata whose issuer is not the configured one, before any token request', async () => {
    const mixedUp = await startNodeOAuthServer({
      allowedOrigins: [PAGE_ORIGIN],
      metadataOverrides: { issuer: 'http://127.0.0.1:1' },
    })
    try {
      const auth = track(
        createTokenClient({
          clientId: 'spa',
          issuer: mixedUp.issuer,
          apiOrigins: [mixedUp.url],
        }),
      )
      auth.setTokens(await mixedUp.login())
      const error = await auth.refresh().catch((caught: unknown) => caught)
      expect(isAuthError(error) && error.code).toBe('discovery_failed')
      // login() itself was one token request; the SDK sent none.
      expect(mixedUp.counters.tokenRequests).toBe(1)
      expect(mixedUp.counters.metadataRequests).toBe(1)
    } finally {
      await mixedUp.close()
    }
  })
})
