import { jwtDecode } from 'jwt-decode'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  createMockTokenServer,
  type MockFault,
  type MockTokenServer,
  type MockTokenServerOptions,
} from '../../../src/testing/index.js'

const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => {
  server.resetHandlers()
  vi.useRealTimers()
})
afterAll(() => server.close())

/** Creates a mock and serves its handlers for the current test. */
function serve(options: MockTokenServerOptions = {}): MockTokenServer {
  const mock = createMockTokenServer(options)
  server.use(...mock.handlers)
  return mock
}

function refresh(
  mock: MockTokenServer,
  refreshToken: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  return fetch(mock.endpoints.token, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: 'spa',
      ...extra,
    }),
  })
}

function revoke(mock: MockTokenServer, token: string, clientId = 'spa'): Promise<Response> {
  return fetch(mock.endpoints.revocation, {
    method: 'POST',
    body: new URLSearchParams({ token, token_type_hint: 'refresh_token', client_id: clientId }),
  })
}

function callApi(path: string, accessToken?: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers)
  if (accessToken !== undefined) headers.set('Authorization', `Bearer ${accessToken}`)
  return fetch(`https://api.example.com${path}`, { ...init, headers })
}

/** Refreshes and returns the parsed success body, failing the test on anything else. */
async function refreshOK(mock: MockTokenServer, refreshToken: string, extra = {}) {
  const response = await refresh(mock, refreshToken, extra)
  expect(response.status).toBe(200)
  return (await response.json()) as {
    access_token: string
    refresh_token?: string
    expires_in?: number
    scope: string
    token_type: string
  }
}

async function expectOAuthError(response: Response, status: number, error: string) {
  expect(response.status).toBe(status)
  const body = (await response.json()) as { error: string; error_description?: string }
  expect(body.error).toBe(error)
  expect(typeof body.error_description).toBe('string')
}

describe('token endpoint (RFC 6749 §6)', () => {
  it('answers a refresh grant with a new access token, a rotated refresh token and no-store', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    expect(session).toMatchObject({ token_type: 'Bearer', expires_in: 60, scope: 'openid profile' })

    const response = await refresh(mock, session.refresh_token ?? '')
    expect(response.status).toBe(200)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    expect(response.headers.get('Content-Type')).toMatch(/^application\/json/)
    const body = await response.json()
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 60,
      refresh_token: expect.any(String),
      scope: 'openid profile',
    })
    expect(body.access_token).not.toBe(session.access_token)
    expect(body.refresh_token).not.toBe(session.refresh_token)
    expect(mock.introspect(session.refresh_token ?? '')).toMatchObject({
      active: false,
      state: 'rotated',
    })
    expect(mock.introspect(body.refresh_token)).toMatchObject({ active: true, family: 'family-1' })
    expect((await callApi('/me', body.access_token)).status).toBe(200)
  })

  it('mints unguessable token values that differ for every session', () => {
    const mock = createMockTokenServer()
    const values = Array.from({ length: 20 }, () => mock.issueTokens().access_token)
    expect(new Set(values).size).toBe(20)
    for (const value of values) expect(value).toMatch(/^at_[A-Za-z0-9_-]{43}$/)
  })

  it('keeps the refresh token valid and leaves it out of the response when rotation is off', async () => {
    const mock = serve({ rotation: false })
    const session = mock.issueTokens()
    const first = await refreshOK(mock, session.refresh_token ?? '')
    expect(first.refresh_token).toBeUndefined()
    const second = await refreshOK(mock, session.refresh_token ?? '')
    expect(second.access_token).not.toBe(first.access_token)
  })

  it('revokes the whole family when a rotated refresh token is presented again', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    const rotated = await refreshOK(mock, session.refresh_token ?? '')

    await expectOAuthError(await refresh(mock, session.refresh_token ?? ''), 400, 'invalid_grant')
    expect(mock.counters.reuseDetected).toBe(1)
    await expectOAuthError(await refresh(mock, rotated.refresh_token ?? ''), 400, 'invalid_grant')
    expect((await callApi('/me', session.access_token)).status).toBe(401)
    expect((await callApi('/me', rotated.access_token)).status).toBe(401)
    expect(mock.introspect(rotated.access_token).state).toBe('revoked')
  })

  it('leaves other sessions alone when one family is revoked for reuse', async () => {
    const mock = serve()
    const victim = mock.issueTokens()
    const bystander = mock.issueTokens()
    await refreshOK(mock, victim.refresh_token ?? '')
    await refresh(mock, victim.refresh_token ?? '')
    expect((await callApi('/me', bystander.access_token)).status).toBe(200)
    await refreshOK(mock, bystander.refresh_token ?? '')
  })

  it('only rejects a rotated refresh token, without revoking the family, when reuse detection is off', async () => {
    const mock = serve({ reuseDetection: false })
    const session = mock.issueTokens()
    const rotated = await refreshOK(mock, session.refresh_token ?? '')
    await expectOAuthError(await refresh(mock, session.refresh_token ?? ''), 400, 'invalid_grant')
    expect(mock.counters.reuseDetected).toBe(0)
    await refreshOK(mock, rotated.refresh_token ?? '')
  })

  it('accepts a rotated refresh token inside the reuse interval and treats it as reuse after', async () => {
    vi.useFakeTimers()
    const mock = serve({ reuseInterval: 2_000 })
    const session = mock.issueTokens()
    const original = session.refresh_token ?? ''
    const second = await refreshOK(mock, original)

    await vi.advanceTimersByTimeAsync(1_000)
    const third = await refreshOK(mock, original)
    expect(third.refresh_token).not.toBe(second.refresh_token)
    expect(mock.introspect(second.refresh_token ?? '').state).toBe('rotated')

    await vi.advanceTimersByTimeAsync(1_000)
    await expectOAuthError(await refresh(mock, original), 400, 'invalid_grant')
    expect(mock.counters.reuseDetected).toBe(1)
    expect(mock.introspect(third.refresh_token ?? '').state).toBe('revoked')
  })

  it('narrows the scope on request and refuses to widen it with invalid_scope', async () => {
    const mock = serve({ scope: 'openid profile email' })
    const session = mock.issueTokens()
    const narrowed = await refreshOK(mock, session.refresh_token ?? '', { scope: 'email openid' })
    expect(narrowed.scope).toBe('email openid')
    expect(mock.introspect(narrowed.access_token).scope).toBe('email openid')

    // The new refresh token keeps the original grant (RFC 6749 §6).
    const restored = await refreshOK(mock, narrowed.refresh_token ?? '')
    expect(restored.scope).toBe('openid profile email')

    const widened = await refresh(mock, restored.refresh_token ?? '', { scope: 'openid admin' })
    await expectOAuthError(widened, 400, 'invalid_scope')
  })

  it.each([
    {
      when: 'grant_type is missing',
      overrides: { grant_type: '' },
      status: 400,
      error: 'invalid_request',
    },
    {
      when: 'refresh_token is missing',
      overrides: { refresh_token: '' },
      status: 400,
      error: 'invalid_request',
    },
    {
      when: 'client_id is missing',
      overrides: { client_id: '' },
      status: 400,
      error: 'invalid_request',
    },
    {
      when: 'client_id is not registered',
      overrides: { client_id: 'other' },
      status: 401,
      error: 'invalid_client',
    },
    {
      when: 'the grant type is not supported',
      overrides: { grant_type: 'password' },
      status: 400,
      error: 'unsupported_grant_type',
    },
    {
      when: 'the refresh token is unknown',
      overrides: { refresh_token: 'rt_forged' },
      status: 400,
      error: 'invalid_grant',
    },
    { when: 'the scope is empty', overrides: { scope: '' }, status: 400, error: 'invalid_scope' },
  ])('answers $status $error when $when', async ({ overrides, status, error }) => {
    const mock = serve()
    const session = mock.issueTokens()
    const params = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: session.refresh_token ?? '',
      client_id: 'spa',
      ...overrides,
    })
    for (const [name, value] of [...params])
      if (value === '' && name !== 'scope') params.delete(name)
    const response = await fetch(mock.endpoints.token, { method: 'POST', body: params })
    await expectOAuthError(response, status, error)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    expect(mock.counters.tokenError).toBe(1)
  })

  it('rejects a JSON body and a repeated parameter with invalid_request', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    const json = await fetch(mock.endpoints.token, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: session.refresh_token }),
    })
    await expectOAuthError(json, 400, 'invalid_request')

    const repeated = await fetch(mock.endpoints.token, {
      method: 'POST',
      body: `grant_type=refresh_token&client_id=spa&refresh_token=${session.refresh_token}&client_id=spa`,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    })
    await expectOAuthError(repeated, 400, 'invalid_request')

    // None of these consumed the refresh token.
    await refreshOK(mock, session.refresh_token ?? '')
  })

  it('expires a refresh token after its lifetime, counted from when it was issued', async () => {
    vi.useFakeTimers()
    const mock = serve({ refreshTokenLifetime: 10_000 })
    const session = mock.issueTokens()
    await vi.advanceTimersByTimeAsync(9_999)
    const renewed = await refreshOK(mock, session.refresh_token ?? '')
    await vi.advanceTimersByTimeAsync(9_999)
    const again = await refreshOK(mock, renewed.refresh_token ?? '')
    await vi.advanceTimersByTimeAsync(10_000)
    await expectOAuthError(await refresh(mock, again.refresh_token ?? ''), 400, 'invalid_grant')
    expect(mock.introspect(again.refresh_token ?? '').state).toBe('expired')
  })

  it('answers invalid_grant for every refresh token after revokeRefreshTokens, while access tokens keep working', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    mock.revokeRefreshTokens()
    await expectOAuthError(await refresh(mock, session.refresh_token ?? ''), 400, 'invalid_grant')
    expect((await callApi('/me', session.access_token)).status).toBe(200)
  })

  it('omits expires_in on request and mints JWTs whose exp − iat is the lifetime despite clock skew', async () => {
    vi.useFakeTimers({ now: Date.UTC(2030, 0, 1) })
    const mock = serve({
      tokenFormat: 'jwt',
      omitExpiresIn: true,
      accessTokenLifetime: 300_000,
      clockSkew: -3_600_000,
    })
    const session = mock.issueTokens({ subject: 'alice', scope: 'openid' })
    expect(session.expires_in).toBeUndefined()
    const claims = jwtDecode<Record<string, unknown>>(session.access_token)
    expect(claims).toMatchObject({
      iss: 'https://auth.example.com',
      sub: 'alice',
      aud: 'https://api.example.com',
      client_id: 'spa',
      scope: 'openid',
      iat: Date.UTC(2029, 11, 31, 23) / 1000,
      exp: Date.UTC(2029, 11, 31, 23, 5) / 1000,
    })
    expect(jwtDecode(session.access_token, { header: true })).toEqual({
      alg: 'none',
      typ: 'at+jwt',
    })

    const renewed = await refreshOK(mock, session.refresh_token ?? '')
    expect(renewed.expires_in).toBeUndefined()
    const renewedClaims = jwtDecode(renewed.access_token)
    expect((renewedClaims.exp ?? 0) - (renewedClaims.iat ?? 0)).toBe(300)
    expect((await callApi('/me', renewed.access_token)).status).toBe(200)
  })
})

describe('protected resource (RFC 6750)', () => {
  it('accepts a valid bearer token and answers 401 invalid_token once it expires', async () => {
    vi.useFakeTimers()
    const mock = serve({ accessTokenLifetime: 60_000 })
    const session = mock.issueTokens({ subject: 'alice' })
    const me = await callApi('/me', session.access_token)
    expect(me.status).toBe(200)
    expect(await me.json()).toEqual({ sub: 'alice', scope: 'openid profile', client_id: 'spa' })

    await vi.advanceTimersByTimeAsync(59_999)
    expect((await callApi('/me', session.access_token)).status).toBe(200)
    await vi.advanceTimersByTimeAsync(1)
    const expired = await callApi('/me', session.access_token)
    expect(expired.status).toBe(401)
    expect(expired.headers.get('WWW-Authenticate')).toBe(
      'Bearer realm="api", error="invalid_token", error_description="The access token expired"',
    )
    expect(mock.counters.api401).toBe(1)
  })

  it('answers 401 invalid_token for every access token after expireAccessTokens, but not for new ones', async () => {
    const mock = serve()
    const first = mock.issueTokens()
    const second = mock.issueTokens()
    mock.expireAccessTokens()
    for (const token of [first.access_token, second.access_token]) {
      const response = await callApi('/me', token)
      expect(response.status).toBe(401)
      expect(response.headers.get('WWW-Authenticate')).toContain('error="invalid_token"')
    }
    const renewed = await refreshOK(mock, first.refresh_token ?? '')
    expect((await callApi('/me', renewed.access_token)).status).toBe(200)
  })

  it('answers an unknown token with invalid_token and a description containing commas inside quotes', async () => {
    serve()
    const response = await callApi('/me', 'at_forged')
    expect(response.status).toBe(401)
    expect(response.headers.get('WWW-Authenticate')).toBe(
      'Bearer realm="api", error="invalid_token", error_description="The access token is unknown, malformed, or from another server"',
    )
  })

  it('answers a bare Bearer challenge without an error code when no bearer token is sent', async () => {
    serve()
    for (const headers of [{}, { Authorization: 'Basic c3BhOg==' }]) {
      const response = await callApi('/me', undefined, { headers })
      expect(response.status).toBe(401)
      expect(response.headers.get('WWW-Authenticate')).toBe('Bearer realm="api"')
    }
  })

  it('accepts the bearer scheme in any case', async () => {
    const mock = serve()
    const { access_token } = mock.issueTokens()
    const response = await callApi('/me', undefined, {
      headers: { Authorization: `bearer ${access_token}` },
    })
    expect(response.status).toBe(200)
  })

  it('refuses a token in the query string or a malformed header with 400 invalid_request', async () => {
    const mock = serve()
    const { access_token } = mock.issueTokens()
    const query = await fetch(`https://api.example.com/me?access_token=${access_token}`)
    expect(query.status).toBe(400)
    expect(query.headers.get('WWW-Authenticate')).toContain('error="invalid_request"')
    const malformed = await callApi('/me', undefined, { headers: { Authorization: 'Bearer a b' } })
    expect(malformed.status).toBe(400)
  })

  it('answers a missing scope with 403 insufficient_scope naming the scope', async () => {
    const mock = serve({ scope: 'openid profile' })
    const { access_token } = mock.issueTokens()
    expect((await callApi('/scoped/profile', access_token)).status).toBe(200)
    const denied = await callApi('/scoped/admin', access_token)
    expect(denied.status).toBe(403)
    expect(denied.headers.get('WWW-Authenticate')).toBe(
      'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the admin scope", scope="admin"',
    )
    expect(mock.counters.api403).toBe(1)
  })

  it('answers insufficient_scope with 401 when configured like servers that do', async () => {
    const mock = serve({ insufficientScopeStatus: 401 })
    const denied = await callApi('/scoped/admin', mock.issueTokens().access_token)
    expect(denied.status).toBe(401)
    expect(denied.headers.get('WWW-Authenticate')).toContain('error="insufficient_scope"')
  })

  it('echoes the method, body text and content type of a request', async () => {
    const mock = serve()
    const response = await callApi('/echo?x=1', mock.issueTokens().access_token, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: '{"a":1}',
    })
    expect(await response.json()).toEqual({
      method: 'PUT',
      path: '/echo',
      query: '?x=1',
      contentType: 'application/json',
      body: '{"a":1}',
    })
  })

  it('answers the status a /status route names and 404 on unknown paths', async () => {
    const mock = serve()
    const { access_token } = mock.issueTokens()
    expect((await callApi('/status/404', access_token)).status).toBe(404)
    expect((await callApi('/status/500', access_token)).status).toBe(500)
    expect((await callApi('/status/204', access_token)).status).toBe(204)
    expect((await callApi('/nowhere', access_token)).status).toBe(404)
  })

  it('logs API requests with the token state and never the token value', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    await callApi('/me', session.access_token)
    mock.expireAccessTokens()
    await callApi('/me', session.access_token)
    await callApi('/me')
    expect(
      mock.log.api.map(({ path, status, token, family }) => ({ path, status, token, family })),
    ).toEqual([
      { path: '/me', status: 200, token: 'active', family: 'family-1' },
      { path: '/me', status: 401, token: 'expired', family: 'family-1' },
      { path: '/me', status: 401, token: 'missing', family: null },
    ])
    expect(JSON.stringify(mock.log)).not.toContain(session.access_token)
  })
})

describe('revocation endpoint (RFC 7009)', () => {
  it('ends the whole family, access tokens included, when a refresh token is revoked', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    const renewed = await refreshOK(mock, session.refresh_token ?? '')
    const response = await revoke(mock, renewed.refresh_token ?? '')
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('')
    expect((await callApi('/me', session.access_token)).status).toBe(401)
    expect((await callApi('/me', renewed.access_token)).status).toBe(401)
    await expectOAuthError(await refresh(mock, renewed.refresh_token ?? ''), 400, 'invalid_grant')
    expect(mock.log.revocation).toEqual([
      {
        at: expect.any(Number),
        clientId: 'spa',
        tokenTypeHint: 'refresh_token',
        tokenType: 'refresh_token',
        family: 'family-1',
        status: 200,
        fault: null,
      },
    ])
  })

  it('revokes an access token alone, whatever the hint says', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    expect((await revoke(mock, session.access_token)).status).toBe(200)
    expect((await callApi('/me', session.access_token)).status).toBe(401)
    await refreshOK(mock, session.refresh_token ?? '')
  })

  it('answers 200 for a token it does not know', async () => {
    const mock = serve()
    const response = await revoke(mock, 'rt_unknown')
    expect(response.status).toBe(200)
    expect(mock.log.revocation[0]?.tokenType).toBeNull()
  })

  it('refuses another client with 401 invalid_client and a missing token with invalid_request', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    await expectOAuthError(
      await revoke(mock, session.refresh_token ?? '', 'other'),
      401,
      'invalid_client',
    )
    const missing = await fetch(mock.endpoints.revocation, {
      method: 'POST',
      body: new URLSearchParams({ client_id: 'spa' }),
    })
    await expectOAuthError(missing, 400, 'invalid_request')
    await refreshOK(mock, session.refresh_token ?? '')
  })
})

describe('discovery (RFC 8414, OpenID Connect Discovery)', () => {
  it('publishes both documents for an issuer without a path, with the issuer verbatim', async () => {
    const mock = serve()
    expect(mock.endpoints.oauthMetadata).toBe(
      'https://auth.example.com/.well-known/oauth-authorization-server',
    )
    const oauth = await fetch(mock.endpoints.oauthMetadata)
    expect(oauth.status).toBe(200)
    expect(await oauth.json()).toMatchObject({
      issuer: 'https://auth.example.com',
      token_endpoint: 'https://auth.example.com/oauth/token',
      revocation_endpoint: 'https://auth.example.com/oauth/revoke',
      authorization_endpoint: 'https://auth.example.com/oauth/authorize',
      end_session_endpoint: 'https://auth.example.com/oauth/logout',
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      authorization_response_iss_parameter_supported: true,
    })
    const openid = await fetch('https://auth.example.com/.well-known/openid-configuration')
    expect(await openid.json()).toMatchObject({
      issuer: 'https://auth.example.com',
      token_endpoint: 'https://auth.example.com/oauth/token',
      jwks_uri: expect.any(String),
    })
    expect(mock.counters.discovery).toBe(2)
  })

  it('inserts the RFC 8414 suffix before the issuer path and appends the OpenID one', async () => {
    const mock = serve({ issuer: 'https://auth.example.com/tenant1' })
    expect(mock.endpoints).toMatchObject({
      token: 'https://auth.example.com/tenant1/oauth/token',
      oauthMetadata: 'https://auth.example.com/.well-known/oauth-authorization-server/tenant1',
      openidConfiguration: 'https://auth.example.com/tenant1/.well-known/openid-configuration',
    })
    const oauth = await fetch(
      'https://auth.example.com/.well-known/oauth-authorization-server/tenant1',
    )
    expect(await oauth.json()).toMatchObject({
      issuer: 'https://auth.example.com/tenant1',
      token_endpoint: 'https://auth.example.com/tenant1/oauth/token',
    })
    const openid = await fetch('https://auth.example.com/tenant1/.well-known/openid-configuration')
    expect((await openid.json()).issuer).toBe('https://auth.example.com/tenant1')
  })

  it('keeps a trailing slash of the issuer in the metadata but not in the URLs', async () => {
    const mock = serve({ issuer: 'https://auth.example.com/tenant1/' })
    expect(mock.endpoints.token).toBe('https://auth.example.com/tenant1/oauth/token')
    const oauth = await fetch(mock.endpoints.oauthMetadata)
    expect((await oauth.json()).issuer).toBe('https://auth.example.com/tenant1/')
  })

  it('answers 404 at the RFC 8414 URL when only OpenID discovery is published', async () => {
    const mock = serve({ discovery: 'openid' })
    expect((await fetch(mock.endpoints.oauthMetadata)).status).toBe(404)
    expect((await fetch(mock.endpoints.openidConfiguration)).status).toBe(200)
  })

  it('merges metadata overrides such as a mismatching issuer, and drops undefined members', async () => {
    const mock = serve({
      metadata: { issuer: 'https://evil.example.com', revocation_endpoint: undefined },
    })
    const body = await (await fetch(mock.endpoints.oauthMetadata)).json()
    expect(body.issuer).toBe('https://evil.example.com')
    expect(body).not.toHaveProperty('revocation_endpoint')
  })
})

describe('faults', () => {
  it('answers 503 with Retry-After for as many requests as asked, then recovers', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    mock.injectFault({ type: 'status', status: 503, retryAfter: 2, times: 2 })
    for (let i = 0; i < 2; i++) {
      const response = await refresh(mock, session.refresh_token ?? '')
      expect(response.status).toBe(503)
      expect(response.headers.get('Retry-After')).toBe('2')
      expect(await response.text()).toBe('Service Unavailable')
    }
    await refreshOK(mock, session.refresh_token ?? '')
    expect(mock.counters).toMatchObject({ token: 3, tokenSuccess: 1, faults: 2 })
    expect(mock.log.token.map((entry) => entry.fault)).toEqual(['status', 'status', null])
  })

  it('makes fetch reject with a network error', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    mock.injectFault({ type: 'network-error' })
    await expect(refresh(mock, session.refresh_token ?? '')).rejects.toThrow()
    expect(mock.log.token[0]).toMatchObject({ status: 0, fault: 'network-error' })
    // The server never saw the request: the refresh token is still current.
    await refreshOK(mock, session.refresh_token ?? '')
  })

  it('delays the answer until fake timers pass the latency', async () => {
    vi.useFakeTimers()
    const mock = serve()
    const session = mock.issueTokens()
    mock.injectFault({ type: 'latency', ms: 5_000 })
    let settled = false
    const pending = refresh(mock, session.refresh_token ?? '').finally(() => {
      settled = true
    })
    await vi.advanceTimersByTimeAsync(4_999)
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect((await pending).status).toBe(200)
    expect(mock.log.token[0]?.fault).toBe('latency')
  })

  it('serves a truncated JSON body with a JSON content type', async () => {
    const mock = serve()
    mock.injectFault({ type: 'malformed-json' })
    const response = await refresh(mock, mock.issueTokens().refresh_token ?? '')
    expect(response.status).toBe(200)
    expect(response.headers.get('Content-Type')).toBe('application/json')
    await expect(response.json()).rejects.toThrow()
  })

  it('serves an HTML error page like a proxy', async () => {
    const mock = serve()
    mock.injectFault({ type: 'html' })
    mock.injectFault({ type: 'html', status: 200 })
    const session = mock.issueTokens()
    const bad = await refresh(mock, session.refresh_token ?? '')
    expect(bad.status).toBe(502)
    expect(bad.headers.get('Content-Type')).toMatch(/^text\/html/)
    expect(await bad.text()).toContain('<title>502 Bad Gateway</title>')
    expect((await refresh(mock, session.refresh_token ?? '')).status).toBe(200)
  })

  it('serves an OAuth error with the status real servers use for its code', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    mock.injectFault({ type: 'oauth-error', error: 'invalid_client' })
    mock.injectFault({ type: 'oauth-error', error: 'temporarily_unavailable', retryAfter: 5 })
    mock.injectFault({ type: 'oauth-error', error: 'invalid_grant', description: 'Session ended' })
    await expectOAuthError(await refresh(mock, session.refresh_token ?? ''), 401, 'invalid_client')
    const unavailable = await refresh(mock, session.refresh_token ?? '')
    await expectOAuthError(unavailable, 503, 'temporarily_unavailable')
    expect(unavailable.headers.get('Retry-After')).toBe('5')
    const grant = await refresh(mock, session.refresh_token ?? '')
    expect(await grant.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'Session ended',
    })
    // An injected invalid_grant changes no server state.
    await refreshOK(mock, session.refresh_token ?? '')
  })

  it('serves arbitrary JSON for bodies with missing members or wrong types', async () => {
    const mock = serve()
    const body = { access_token: 42, token_type: 'Bearer', expires_in: '3600' }
    mock.injectFault({ type: 'body', body })
    const response = await refresh(mock, mock.issueTokens().refresh_token ?? '')
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual(body)
  })

  it('loses the response after the server rotated, so retrying the old token counts as reuse', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    mock.injectFault({ type: 'network-error', afterProcessing: true })
    await expect(refresh(mock, session.refresh_token ?? '')).rejects.toThrow()
    expect(mock.introspect(session.refresh_token ?? '').state).toBe('rotated')
    await expectOAuthError(await refresh(mock, session.refresh_token ?? ''), 400, 'invalid_grant')
    expect(mock.counters.reuseDetected).toBe(1)
  })

  it('lets the server act before a latency fault when afterProcessing is set', async () => {
    vi.useFakeTimers()
    const mock = serve()
    const session = mock.issueTokens()
    mock.injectFault({ type: 'latency', ms: 1_000, afterProcessing: true })
    const pending = refresh(mock, session.refresh_token ?? '')
    await vi.advanceTimersByTimeAsync(10)
    expect(mock.introspect(session.refresh_token ?? '').state).toBe('rotated')
    await vi.advanceTimersByTimeAsync(1_000)
    expect((await pending).status).toBe(200)
  })

  it('applies faults to the revocation, discovery and API endpoints when targeted', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    mock.injectFault({ type: 'status', status: 503, retryAfter: 1, target: 'revocation' })
    mock.injectFault({ type: 'html', target: 'discovery' })
    mock.injectFault({ type: 'status', status: 401, target: 'api' })

    expect((await revoke(mock, session.refresh_token ?? '')).status).toBe(503)
    expect(mock.introspect(session.refresh_token ?? '').active).toBe(true)
    expect((await fetch(mock.endpoints.oauthMetadata)).status).toBe(502)
    const plain401 = await callApi('/me', session.access_token)
    expect(plain401.status).toBe(401)
    expect(plain401.headers.get('WWW-Authenticate')).toBeNull()
    expect(mock.counters.api401).toBe(1)
    await refreshOK(mock, session.refresh_token ?? '')
  })

  it('keeps a fault with times Infinity until clearFaults', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    mock.injectFault({ type: 'status', status: 500, times: Number.POSITIVE_INFINITY })
    for (let i = 0; i < 5; i++) {
      expect((await refresh(mock, session.refresh_token ?? '')).status).toBe(500)
    }
    mock.clearFaults()
    await refreshOK(mock, session.refresh_token ?? '')
  })

  it('rejects a malformed fault with a TypeError when it is injected', () => {
    const mock = createMockTokenServer()
    const bad = [
      { type: 'explode' },
      { type: 'status' },
      { type: 'status', status: 99 },
      { type: 'latency', ms: -1 },
      { type: 'network-error', times: 0 },
      { type: 'network-error', target: 'elsewhere' },
      { type: 'oauth-error', error: '' },
    ]
    for (const fault of bad) expect(() => mock.injectFault(fault as MockFault)).toThrow(TypeError)
  })
})

describe('counters, log and reset', () => {
  it('counts requests per endpoint and logs token requests without token values', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    const renewed = await refreshOK(mock, session.refresh_token ?? '', { scope: 'openid' })
    await refresh(mock, 'rt_unknown')
    await callApi('/me', renewed.access_token)
    await fetch(mock.endpoints.oauthMetadata)
    await revoke(mock, renewed.refresh_token ?? '')
    expect({ ...mock.counters }).toEqual({
      token: 2,
      tokenSuccess: 1,
      tokenError: 1,
      revocation: 1,
      discovery: 1,
      api: 1,
      api401: 0,
      api403: 0,
      // happy-dom preflights every cross-origin request.
      preflight: 5,
      faults: 0,
      reuseDetected: 0,
      authorizations: 0,
      codeExchanges: 0,
      endSessions: 0,
      backendLogin: 0,
      backendRefresh: 0,
      backendLogout: 0,
      dpopProofs: 0,
      dpopInvalid: 0,
      dpopReplays: 0,
      dpopNonceErrors: 0,
      tokenByResource: {},
    })
    expect(mock.log.token).toEqual([
      {
        at: expect.any(Number),
        method: 'POST',
        grantType: 'refresh_token',
        clientId: 'spa',
        scope: 'openid',
        family: 'family-1',
        status: 200,
        error: null,
        fault: null,
      },
      expect.objectContaining({ family: null, status: 400, error: 'invalid_grant' }),
    ])
    const logged = JSON.stringify(mock.log)
    for (const value of [session.access_token, session.refresh_token, renewed.refresh_token]) {
      expect(logged).not.toContain(value)
    }
  })

  it('forgets tokens, faults, counters and logs on reset but keeps the same live objects', async () => {
    const mock = serve()
    const { counters, log } = mock
    const session = mock.issueTokens()
    await refreshOK(mock, session.refresh_token ?? '')
    mock.injectFault({ type: 'network-error' })
    mock.reset()
    expect(counters.token).toBe(0)
    expect(log.token).toHaveLength(0)
    expect(mock.introspect(session.access_token).state).toBe('unknown')
    const fresh = mock.issueTokens()
    expect(mock.introspect(fresh.access_token).family).toBe('family-1')
    await refreshOK(mock, fresh.refresh_token ?? '')
    expect(mock.counters).toBe(counters)
    expect(counters.token).toBe(1)
  })
})

describe('CORS', () => {
  it('passes the preflight happy-dom sends before every cross-origin request', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    await refreshOK(mock, session.refresh_token ?? '')
    await callApi('/me', session.access_token)
    await fetch(mock.endpoints.openidConfiguration)
    await revoke(mock, session.refresh_token ?? '')
    expect(mock.counters).toMatchObject({
      preflight: 4,
      token: 1,
      api: 1,
      discovery: 1,
      revocation: 1,
    })
  })

  it('gets a method the endpoint does not allow blocked at the preflight', async () => {
    const mock = serve()
    await expect(fetch(mock.endpoints.token)).rejects.toThrow(/Cross-Origin/)
    expect(mock.counters).toMatchObject({ preflight: 1, token: 0 })
  })

  it('allows the app origin and exposes WWW-Authenticate on actual responses', async () => {
    serve()
    const response = await callApi('/me', 'at_forged')
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('https://app.example.com')
    expect(response.headers.get('Access-Control-Expose-Headers')).toBe(
      'WWW-Authenticate, Retry-After, DPoP-Nonce',
    )
    expect(response.headers.get('Vary')).toContain('Origin')
  })

  it('can leave WWW-Authenticate unexposed, like many real APIs', async () => {
    serve({ exposeHeaders: [] })
    const response = await callApi('/me', 'at_forged')
    expect(response.headers.get('Access-Control-Expose-Headers')).toBeNull()
  })

  it('gets a request blocked by happy-dom when the page origin is not allowed', async () => {
    const mock = serve({ allowedOrigins: ['https://other.example.com'] })
    const session = mock.issueTokens()
    await expect(callApi('/me', session.access_token)).rejects.toThrow(/Cross-Origin/)
    expect(mock.counters).toMatchObject({ preflight: 1, api: 0 })
  })

  it('allows any origin with a wildcard', async () => {
    const mock = serve({ allowedOrigins: ['*'] })
    const response = await callApi('/me', mock.issueTokens().access_token)
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('*')
  })
})

describe('options', () => {
  it.each([
    [{ issuer: 'auth.example.com' }, 'issuer'],
    [{ issuer: 'https://auth.example.com/?tenant=1' }, 'issuer'],
    [{ apiOrigin: 'ftp://api.example.com' }, 'apiOrigin'],
    [{ clientId: '' }, 'clientId'],
    [{ accessTokenLifetime: -1 }, 'accessTokenLifetime'],
    [{ refreshTokenLifetime: Number.NaN }, 'refreshTokenLifetime'],
    [{ reuseInterval: -5 }, 'reuseInterval'],
    [{ tokenFormat: 'paseto' }, 'tokenFormat'],
    [{ discovery: 'sometimes' }, 'discovery'],
    [{ insufficientScopeStatus: 400 }, 'insufficientScopeStatus'],
    [{ redirectUris: ['/callback'] }, 'redirectUris'],
    [{ redirectUris: ['https://app.example.com/callback#done'] }, 'redirectUris'],
    [{ postLogoutRedirectUris: [] }, 'postLogoutRedirectUris'],
    [{ authorizationCodeLifetime: -1 }, 'authorizationCodeLifetime'],
  ])('rejects %o with a TypeError naming %s', (options, name) => {
    expect(() => createMockTokenServer(options as MockTokenServerOptions)).toThrow(
      new RegExp(`^"${name}"`),
    )
  })

  it('does not mutate the caller options object', () => {
    const options = Object.freeze({ allowedOrigins: Object.freeze(['https://app.example.com']) })
    expect(() => createMockTokenServer(options)).not.toThrow()
  })
})
