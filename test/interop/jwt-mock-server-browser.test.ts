// @vitest-environment happy-dom
// @vitest-environment-options {"url": "http://localhost:5173/"}
/**
 * The SDK against `oauth2-mock-server` from a cross-origin page: the server's own CORS
 * (`Access-Control-Allow-Origin: *`, every `OPTIONS` answered 204) as happy-dom enforces it.
 */
import { createTokenClient, SessionExpiredError, type TokenClient } from 'freshtoken'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type JWTMockServer, startJWTMockServer } from '../servers/jwt-mock-server.js'

let server: JWTMockServer
let auth: TokenClient

beforeAll(async () => {
  server = await startJWTMockServer()
})

afterAll(async () => {
  await server.close()
})

beforeEach(async () => {
  server.resetCounters()
  auth = createTokenClient({ clientId: 'spa', issuer: server.issuer, apiOrigins: [server.url] })
  auth.setTokens(await server.login())
})

afterEach(() => {
  auth.dispose()
})

describe('against oauth2-mock-server from a cross-origin page', () => {
  it('discovers the endpoints, renews after a 401 and replays the POST body', async () => {
    server.expireAccessTokens()
    const response = await auth.fetch(`${server.apiUrl}/echo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ page: 'cross-origin' }),
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ sub: 'alice', json: { page: 'cross-origin' } })
    expect(server.counters).toMatchObject({
      discoveryRequests: 1,
      refreshGrants: 1,
      apiRequests: 2,
      api401s: 1,
    })
  })

  it('revokes on logout, after which the session is over at the server too', async () => {
    const refreshToken = auth.tokens?.refreshToken ?? ''
    await auth.logout()
    expect(server.counters.revocationRequests).toBe(1)
    expect(server.refreshTokenState(refreshToken)).toBe('revoked')

    auth.setTokens({ access_token: 'x.y.z', token_type: 'Bearer', refresh_token: refreshToken })
    await expect(auth.refresh()).rejects.toBeInstanceOf(SessionExpiredError)
    expect(server.counters.invalidGrants).toBe(1)
  })
})
