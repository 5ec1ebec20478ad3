// @vitest-environment node
/**
 * Self-tests of the real-server fixtures with plain `fetch`, so that an interop failure can be
 * blamed on the SDK and not on a fixture.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type JWTMockServer, startJWTMockServer } from '../servers/jwt-mock-server.js'
import { type NodeOAuthServer, startNodeOAuthServer } from '../servers/node-oauth-server.js'
import { jwtClaims } from './helpers.js'

const APP_ORIGIN = 'http://localhost:5173'

function postForm(url: string, form: Record<string, string>, headers: HeadersInit = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  })
}

function refreshGrant(url: string, refreshToken: string, clientId = 'spa') {
  return postForm(url, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: clientId,
  })
}

function revokeRefreshToken(url: string, refreshToken: string) {
  return postForm(url, { token: refreshToken, token_type_hint: 'refresh_token', client_id: 'spa' })
}

function bearer(token: string): HeadersInit {
  return { Authorization: `Bearer ${token}` }
}

describe('node-oauth-server fixture', () => {
  let server: NodeOAuthServer
  let tenant: NodeOAuthServer
  let staticDir: string

  beforeAll(async () => {
    staticDir = await mkdtemp(join(tmpdir(), 'freshtoken-static-'))
    await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>app</title>')
    server = await startNodeOAuthServer({ allowedOrigins: [APP_ORIGIN], staticDir })
    tenant = await startNodeOAuthServer({ issuerPath: '/tenant1' })
  })

  afterAll(async () => {
    await server.close()
    await tenant.close()
    await rm(staticDir, { recursive: true, force: true })
  })

  it('serves RFC 8414 metadata whose issuer is exactly the issuer identifier', async () => {
    const response = await fetch(`${server.url}/.well-known/oauth-authorization-server`)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({
      issuer: server.issuer,
      token_endpoint: server.tokenEndpoint,
      revocation_endpoint: server.revocationEndpoint,
    })
  })

  it('inserts the well-known segment before the issuer path, as RFC 8414 §3.1 says', async () => {
    expect(tenant.issuer).toBe(`${tenant.url}/tenant1`)
    expect(tenant.metadataUrl).toBe(`${tenant.url}/.well-known/oauth-authorization-server/tenant1`)
    const metadata = await (await fetch(tenant.metadataUrl)).json()
    expect(metadata).toMatchObject({ issuer: tenant.issuer, token_endpoint: tenant.tokenEndpoint })
    const appended = await fetch(`${tenant.issuer}/.well-known/oauth-authorization-server`)
    expect(appended.status).toBe(404)
  })

  it('logs in with an RFC 6749 §5.1 response carrying expires_in and a refresh token', async () => {
    const tokens = await server.login()
    expect(tokens).toMatchObject({ token_type: 'Bearer', scope: 'api' })
    expect(tokens.access_token).toMatch(/^[0-9a-f]{64}$/)
    expect(tokens.refresh_token).toMatch(/^[0-9a-f]{64}$/)
    // The library counts the whole seconds left when it builds the response.
    expect(tokens.expires_in).toBeGreaterThanOrEqual(3599)
    expect(tokens.expires_in).toBeLessThanOrEqual(3600)
  })

  it('answers token requests as JSON that no cache may store', async () => {
    const tokens = await server.login()
    const response = await refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? '')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^application\/json/)
    expect(response.headers.get('cache-control')).toBe('no-store')
  })

  it('rotates the refresh token and rejects the old one with invalid_grant', async () => {
    const tokens = await server.login()
    const first = tokens.refresh_token ?? ''
    const rotated = await (await refreshGrant(server.tokenEndpoint, first)).json()
    expect(rotated.refresh_token).not.toBe(first)
    expect(server.refreshTokenState(first)).toBe('rotated')

    const reuse = await refreshGrant(server.tokenEndpoint, first)
    expect(reuse.status).toBe(400)
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' })
  })

  it('revokes the whole token family when a rotated refresh token is presented again', async () => {
    server.resetCounters()
    const tokens = await server.login()
    const rotated = await (
      await refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? '')
    ).json()
    await refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? '')

    expect(server.counters.reuseDetections).toBe(1)
    expect(server.refreshTokenState(rotated.refresh_token)).toBe('revoked')
    const next = await refreshGrant(server.tokenEndpoint, rotated.refresh_token)
    expect(await next.json()).toMatchObject({ error: 'invalid_grant' })
    const api = await fetch(`${server.apiUrl}/me`, { headers: bearer(rotated.access_token) })
    expect(api.status).toBe(401)
    expect(server.counters).toMatchObject({ refreshGrants: 3, rotations: 1, invalidGrants: 2 })
  })

  it('counts two racing refreshes with the same token as a reuse', async () => {
    server.resetCounters()
    const tokens = await server.login()
    const answers = await Promise.all([
      refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? ''),
      refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? ''),
    ])
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 400])
    expect(server.counters.reuseDetections).toBe(1)
  })

  it('requires client_id from the public client on a refresh', async () => {
    const tokens = await server.login()
    const response = await postForm(server.tokenEndpoint, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token ?? '',
    })
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ error: 'invalid_client' })
    expect(server.refreshTokenState(tokens.refresh_token ?? '')).toBe('active')
  })

  it('rejects a JSON-encoded token request, as RFC 6749 §6 asks for a form body', async () => {
    const tokens = await server.login()
    const response = await fetch(server.tokenEndpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }),
    })
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ error: 'invalid_request' })
  })

  it('lets a per-login access-token lifetime differ from the server lifetime', async () => {
    const tokens = await server.login({ accessTokenLifetime: 20 })
    expect(tokens.expires_in).toBeGreaterThanOrEqual(19)
    expect(tokens.expires_in).toBeLessThanOrEqual(20)
    const refreshed = await (
      await refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? '')
    ).json()
    expect(refreshed.expires_in).toBeGreaterThanOrEqual(3599)
  })

  it('fails token requests with an HTML page before or after processing the grant', async () => {
    server.resetCounters()
    const tokens = await server.login()
    server.failTokenRequests(1, { status: 503 })
    const before = await refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? '')
    expect(before.status).toBe(503)
    expect(before.headers.get('content-type')).toBe('text/html')
    expect(server.refreshTokenState(tokens.refresh_token ?? '')).toBe('active')

    server.failTokenRequests(1, { status: 502, afterProcessing: true })
    const after = await refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? '')
    expect(after.status).toBe(502)
    expect(server.refreshTokenState(tokens.refresh_token ?? '')).toBe('rotated')
    expect(server.counters).toMatchObject({ refreshGrants: 2, rotations: 1 })
  })

  it('serves the protected API to a valid bearer token', async () => {
    const tokens = await server.login({ username: 'bob' })
    const me = await fetch(`${server.apiUrl}/me`, { headers: bearer(tokens.access_token) })
    expect(await me.json()).toEqual({ sub: 'bob', client_id: 'spa', scope: ['api'] })

    const echo = await fetch(`${server.apiUrl}/echo`, {
      method: 'POST',
      headers: { ...bearer(tokens.access_token), 'Content-Type': 'application/json' },
      body: JSON.stringify({ n: 1 }),
    })
    expect(await echo.json()).toMatchObject({ sub: 'bob', json: { n: 1 }, text: '{"n":1}' })
  })

  it('answers 401 with an invalid_token challenge once the server expires the tokens', async () => {
    server.resetCounters()
    const tokens = await server.login()
    server.expireAccessTokens()
    const response = await fetch(`${server.apiUrl}/me`, { headers: bearer(tokens.access_token) })
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="Service",error="invalid_token"',
    )
    expect(server.counters.api401s).toBe(1)
  })

  it('answers 401 with a bare Bearer challenge when no token is sent', async () => {
    const response = await fetch(`${server.apiUrl}/me`)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="Service"')
  })

  it('revokes a refresh token and its family at the RFC 7009 endpoint', async () => {
    const tokens = await server.login()
    const revoke = await revokeRefreshToken(server.revocationEndpoint, tokens.refresh_token ?? '')
    expect(revoke.status).toBe(200)
    expect(server.refreshTokenState(tokens.refresh_token ?? '')).toBe('revoked')
    const api = await fetch(`${server.apiUrl}/me`, { headers: bearer(tokens.access_token) })
    expect(api.status).toBe(401)
  })

  it('answers 200 to the revocation of an unknown token', async () => {
    const revoke = await postForm(server.revocationEndpoint, { token: 'nope', client_id: 'spa' })
    expect(revoke.status).toBe(200)
  })

  it('answers a CORS preflight from the app origin and exposes WWW-Authenticate', async () => {
    const preflight = await fetch(`${server.apiUrl}/echo`, {
      method: 'OPTIONS',
      headers: {
        Origin: APP_ORIGIN,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN)
    expect(preflight.headers.get('access-control-allow-headers')).toBe(
      'Authorization, Content-Type',
    )
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST')

    const denied = await fetch(`${server.apiUrl}/me`, { headers: { Origin: APP_ORIGIN } })
    expect(denied.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN)
    expect(denied.headers.get('access-control-expose-headers')).toBe('WWW-Authenticate')
  })

  it('gives other origins no CORS permission', async () => {
    const preflight = await fetch(`${server.tokenEndpoint}`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' },
    })
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('serves files from the static directory and nothing outside it', async () => {
    const page = await fetch(`${server.url}/`)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await page.text()).toContain('<title>app</title>')
    expect((await fetch(`${server.url}/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404)
  })
})

describe('oauth2-mock-server fixture', () => {
  let server: JWTMockServer

  beforeAll(async () => {
    server = await startJWTMockServer({ accessTokenLifetime: 600 })
  })

  afterAll(async () => {
    await server.close()
  })

  it('publishes OpenID metadata whose issuer is the loopback address it listens on', async () => {
    const metadata = await (await fetch(server.discoveryUrl)).json()
    expect(metadata).toMatchObject({
      issuer: server.url,
      token_endpoint: server.tokenEndpoint,
      revocation_endpoint: server.revocationEndpoint,
      jwks_uri: server.jwksUri,
    })
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const rfc8414 = await fetch(`${server.url}/.well-known/oauth-authorization-server`)
    expect(rfc8414.status).toBe(404)
  })

  it('logs in with a refresh token, an id_token and a JWT whose exp − iat is the lifetime', async () => {
    const tokens = await server.login({ username: 'carol' })
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'openid api' })
    expect(typeof tokens.refresh_token).toBe('string')
    expect(typeof tokens.id_token).toBe('string')
    const claims = jwtClaims(tokens.access_token)
    expect(claims).toMatchObject({ iss: server.url, sub: 'carol', scope: 'openid api' })
    expect(Number(claims.exp) - Number(claims.iat)).toBe(600)
  })

  it('rotates refresh tokens, keeps sub and scope, and detects reuse', async () => {
    server.resetCounters()
    const tokens = await server.login({ username: 'dave' })
    const rotated = await (
      await refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? '')
    ).json()
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token)
    expect(rotated.scope).toBe('openid api')
    expect(jwtClaims(rotated.access_token)).toMatchObject({ sub: 'dave', scope: 'openid api' })

    const reuse = await refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? '')
    expect(reuse.status).toBe(400)
    expect(await reuse.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'refresh token was already used',
    })
    expect(server.counters).toMatchObject({ reuseDetections: 1, invalidGrants: 1, rotations: 1 })
    expect(server.refreshTokenState(rotated.refresh_token)).toBe('revoked')
  })

  it('verifies the JWT at the protected API and answers 401 with a challenge', async () => {
    const tokens = await server.login({ username: 'erin' })
    const me = await fetch(`${server.apiUrl}/me`, { headers: bearer(tokens.access_token) })
    expect(await me.json()).toEqual({ sub: 'erin', scope: 'openid api' })

    const [header, payload] = tokens.access_token.split('.')
    const forged = `${header}.${payload}.${Buffer.from('forged').toString('base64url')}`
    const rejected = await fetch(`${server.apiUrl}/me`, { headers: bearer(forged) })
    expect(rejected.status).toBe(401)
    expect(rejected.headers.get('www-authenticate')).toContain('error="invalid_token"')

    server.expireAccessTokens()
    const expired = await fetch(`${server.apiUrl}/me`, { headers: bearer(tokens.access_token) })
    expect(expired.status).toBe(401)
    expect(expired.headers.get('www-authenticate')).toContain('error_description="token expired"')
  })

  it('echoes a JSON body at the protected API', async () => {
    const tokens = await server.login()
    const echo = await fetch(`${server.apiUrl}/echo`, {
      method: 'POST',
      headers: { ...bearer(tokens.access_token), 'Content-Type': 'application/json' },
      body: JSON.stringify({ hello: 'world' }),
    })
    expect(await echo.json()).toMatchObject({ sub: 'alice', json: { hello: 'world' } })
  })

  it('can leave expires_in out while the JWT still says exp − iat', async () => {
    server.setOmitExpiresIn(true)
    server.setAccessTokenLifetime(90)
    try {
      const tokens = await server.login()
      expect(tokens).not.toHaveProperty('expires_in')
      const claims = jwtClaims(tokens.access_token)
      expect(Number(claims.exp) - Number(claims.iat)).toBe(90)
    } finally {
      server.setOmitExpiresIn(false)
      server.setAccessTokenLifetime(600)
    }
  })

  it('revokes a refresh token at /revoke so that it no longer refreshes', async () => {
    const tokens = await server.login()
    const revoke = await revokeRefreshToken(server.revocationEndpoint, tokens.refresh_token ?? '')
    expect(revoke.status).toBe(200)
    const refresh = await refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? '')
    expect(await refresh.json()).toMatchObject({ error: 'invalid_grant' })
  })

  it('records the client_id and content type of each token request', async () => {
    server.resetCounters()
    const tokens = await server.login()
    await refreshGrant(server.tokenEndpoint, tokens.refresh_token ?? '', 'spa')
    expect(server.tokenRequestLog).toEqual([
      { grantType: 'password', clientId: 'spa', contentType: 'application/x-www-form-urlencoded' },
      {
        grantType: 'refresh_token',
        clientId: 'spa',
        contentType: 'application/x-www-form-urlencoded',
      },
    ])
  })

  it('answers CORS preflights on every path with a wildcard origin', async () => {
    const preflight = await fetch(server.tokenEndpoint, {
      method: 'OPTIONS',
      headers: { Origin: APP_ORIGIN, 'Access-Control-Request-Method': 'POST' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*')
    expect(preflight.headers.get('access-control-allow-headers')).toBe(
      'Content-Type, Authorization',
    )
  })

  it('skews the server clock without changing exp − iat', async () => {
    const skewed = await startJWTMockServer({ clockSkew: -7200, accessTokenLifetime: 300 })
    try {
      const tokens = await skewed.login()
      const claims = jwtClaims(tokens.access_token)
      expect(Number(claims.exp) - Number(claims.iat)).toBe(300)
      expect(Number(claims.exp) * 1000).toBeLessThan(Date.now())
      const me = await fetch(`${skewed.apiUrl}/me`, { headers: bearer(tokens.access_token) })
      expect(me.status).toBe(200)
    } finally {
      await skewed.close()
    }
  })
})
