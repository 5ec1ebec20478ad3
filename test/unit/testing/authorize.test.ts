import { createHash, createHmac } from 'node:crypto'
import { jwtDecode } from 'jwt-decode'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  type AuthorizeVerdict,
  createMockTokenServer,
  MOCK_ID_TOKEN_SECRET,
  MockAuthorizationError,
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

const ISSUER = 'https://auth.example.com'
const AUTHORIZE = `${ISSUER}/oauth/authorize`
const CALLBACK = 'https://app.example.com/callback'
/** A PKCE pair, its challenge computed by Node's crypto, independently of the mock (RFC 7636 §4.2). */
const VERIFIER = 'dBjftJeZ4CVP-mJ92K1DJ2xbW3qEAFq9qOGdD1nF3TBV-._~'
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url')

function serve(options: MockTokenServerOptions = {}): MockTokenServer {
  const mock = createMockTokenServer(options)
  server.use(...mock.handlers)
  return mock
}

/** An authorization request URL; `null` drops a parameter, an array repeats it. */
function authorizationURL(
  overrides: Record<string, string | readonly string[] | null> = {},
  endpoint = AUTHORIZE,
): string {
  const params: Record<string, string | readonly string[] | null> = {
    response_type: 'code',
    client_id: 'spa',
    redirect_uri: CALLBACK,
    scope: 'openid profile',
    state: 'st-1',
    nonce: 'n-1',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    ...overrides,
  }
  const url = new URL(endpoint)
  for (const [name, value] of Object.entries(params)) {
    for (const item of value === null ? [] : typeof value === 'string' ? [value] : value) {
      url.searchParams.append(name, item)
    }
  }
  return url.href
}

/** The authorization response parameters of a redirect, and the redirect URI without them. */
function responseOf(redirect: string) {
  const url = new URL(redirect)
  const params = Object.fromEntries(url.searchParams)
  return { target: `${url.origin}${url.pathname}`, params }
}

function codeOf(redirect: string): string {
  const { code } = responseOf(redirect).params
  expect(code).toMatch(/^ac_[A-Za-z0-9_-]{43}$/)
  return code as string
}

function exchange(
  mock: MockTokenServer,
  code: string,
  overrides: Record<string, string | null> = {},
): Promise<Response> {
  const params: Record<string, string | null> = {
    grant_type: 'authorization_code',
    code,
    redirect_uri: CALLBACK,
    client_id: 'spa',
    code_verifier: VERIFIER,
    ...overrides,
  }
  const body = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) if (value !== null) body.set(name, value)
  return fetch(mock.endpoints.token, { method: 'POST', body })
}

interface TokenBody {
  access_token: string
  token_type: string
  expires_in: number
  refresh_token?: string
  scope: string
  id_token?: string
}

async function exchangeOK(mock: MockTokenServer, code: string): Promise<TokenBody> {
  const response = await exchange(mock, code)
  expect(response.status).toBe(200)
  return (await response.json()) as TokenBody
}

async function expectOAuthError(response: Response, status: number, error: string) {
  expect(response.status).toBe(status)
  const body = (await response.json()) as { error: string; error_description?: string }
  expect(body.error).toBe(error)
  expect(typeof body.error_description).toBe('string')
}

function refresh(mock: MockTokenServer, refreshToken: string): Promise<Response> {
  return fetch(mock.endpoints.token, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: 'spa',
    }),
  })
}

function callMe(accessToken: string): Promise<Response> {
  return fetch('https://api.example.com/me', {
    headers: { Authorization: `Bearer ${accessToken}` },
  })
}

describe('authorization endpoint (RFC 6749 §4.1, RFC 7636, RFC 9207)', () => {
  it('sends the browser back with a code, the state verbatim and iss, keeping the redirect URI query', () => {
    const redirectUri = 'https://app.example.com/callback?tenant=a'
    const mock = createMockTokenServer({ redirectUris: [redirectUri] })
    const state = 'a b&c=d/é+%'
    const redirect = mock.authorize(authorizationURL({ redirect_uri: redirectUri, state }))
    const { target, params } = responseOf(redirect)
    expect(target).toBe(CALLBACK)
    expect(params).toEqual({ tenant: 'a', code: expect.any(String), state, iss: ISSUER })
    codeOf(redirect)
    expect(mock.counters.authorizations).toBe(1)
    expect(mock.log.authorization).toEqual([
      {
        at: expect.any(Number),
        clientId: 'spa',
        redirectUri,
        scope: 'openid profile',
        prompt: null,
        codeChallengeMethod: 'S256',
        state: true,
        nonce: true,
        error: null,
        redirected: true,
      },
    ])
  })

  it('leaves state out of the response when the request had none', () => {
    const mock = createMockTokenServer()
    const { params } = responseOf(mock.authorize(authorizationURL({ state: null })))
    expect(Object.keys(params).sort()).toEqual(['code', 'iss'])
  })

  it.each<Exclude<AuthorizeVerdict, 'approve'>>([
    'access_denied',
    'login_required',
    'consent_required',
    'interaction_required',
  ])('answers the %s verdict with that error on the redirect URI and no code', (verdict) => {
    const mock = createMockTokenServer()
    const { target, params } = responseOf(mock.authorize(authorizationURL(), verdict))
    expect(target).toBe(CALLBACK)
    expect(params).toEqual({
      error: verdict,
      error_description: expect.any(String),
      state: 'st-1',
      iss: ISSUER,
    })
    expect(mock.log.authorization[0]).toMatchObject({ error: verdict, redirected: true })
  })

  it('follows the authorizeVerdict option unless a call overrides it', () => {
    const mock = createMockTokenServer({ authorizeVerdict: 'consent_required' })
    expect(responseOf(mock.authorize(authorizationURL())).params.error).toBe('consent_required')
    codeOf(mock.authorize(authorizationURL(), 'approve'))
  })

  it('answers prompt=none with login_required without a provider session, until an interactive sign-in', () => {
    const mock = createMockTokenServer({ providerSession: false })
    const silent = authorizationURL({ prompt: 'none' })
    expect(responseOf(mock.authorize(silent)).params.error).toBe('login_required')
    codeOf(mock.authorize(authorizationURL({ prompt: 'login' })))
    codeOf(mock.authorize(silent))
    expect(mock.log.authorization.map(({ prompt, error }) => [prompt, error])).toEqual([
      ['none', 'login_required'],
      ['login', null],
      ['none', null],
    ])
  })

  it('does not start a provider session from an approved prompt=none request', () => {
    const mock = createMockTokenServer({ providerSession: false })
    const silent = authorizationURL({ prompt: 'none' })
    expect(responseOf(mock.authorize(silent, 'approve')).params.error).toBe('login_required')
    expect(responseOf(mock.authorize(silent, 'approve')).params.error).toBe('login_required')
  })

  it.each([
    ['PKCE is missing', { code_challenge: null }, 'invalid_request'],
    ['the challenge method is missing (plain)', { code_challenge_method: null }, 'invalid_request'],
    ['the challenge method is plain', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['the challenge is not a SHA-256 hash', { code_challenge: 'abc' }, 'invalid_request'],
    ['response_type is missing', { response_type: null }, 'invalid_request'],
    ['response_type is token', { response_type: 'token' }, 'unsupported_response_type'],
    ['response_mode is fragment', { response_mode: 'fragment' }, 'invalid_request'],
    ['a parameter is repeated', { scope: ['openid', 'profile'] }, 'invalid_request'],
    ['prompt=none comes with another value', { prompt: 'none login' }, 'invalid_request'],
  ])('redirects with an error when %s', (_, overrides, error) => {
    const mock = createMockTokenServer()
    const { target, params } = responseOf(mock.authorize(authorizationURL(overrides)))
    expect(target).toBe(CALLBACK)
    expect(params).toEqual({
      error,
      error_description: expect.any(String),
      state: 'st-1',
      iss: ISSUER,
    })
  })

  it.each([
    ['the client is unknown', authorizationURL({ client_id: 'other' }), 'invalid_client'],
    ['client_id is missing', authorizationURL({ client_id: null }), 'invalid_client'],
    ['client_id is repeated', authorizationURL({ client_id: ['spa', 'spa'] }), 'invalid_client'],
    ['redirect_uri is missing', authorizationURL({ redirect_uri: null }), 'invalid_redirect_uri'],
    [
      'redirect_uri only starts with a registered one',
      authorizationURL({ redirect_uri: `${CALLBACK}/evil` }),
      'invalid_redirect_uri',
    ],
    [
      'redirect_uri adds a query to a registered one',
      authorizationURL({ redirect_uri: `${CALLBACK}?next=/admin` }),
      'invalid_redirect_uri',
    ],
    [
      'redirect_uri is repeated',
      authorizationURL({ redirect_uri: [CALLBACK, CALLBACK] }),
      'invalid_redirect_uri',
    ],
    [
      'the URL is another endpoint',
      authorizationURL({}, `${ISSUER}/oauth/token`),
      'invalid_endpoint',
    ],
    ['the URL is not a URL', 'not a url', 'invalid_endpoint'],
  ])('throws instead of redirecting when %s', (_, url, code) => {
    const mock = createMockTokenServer()
    let thrown: unknown
    try {
      mock.authorize(url)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(MockAuthorizationError)
    expect(thrown).toMatchObject({ name: 'MockAuthorizationError', code })
    expect(mock.counters.authorizations).toBe(1)
    expect(mock.log.authorization[0]).toMatchObject({ error: code, redirected: false })
  })

  it('rejects a verdict that is not one with a TypeError, counting nothing', () => {
    const mock = createMockTokenServer()
    expect(() => mock.authorize(authorizationURL(), 'maybe' as AuthorizeVerdict)).toThrow(
      new TypeError(
        '"verdict" must be one of approve, access_denied, login_required, consent_required, interaction_required',
      ),
    )
    expect(() => createMockTokenServer({ authorizeVerdict: 'yes' as AuthorizeVerdict })).toThrow(
      /^"authorizeVerdict"/,
    )
    expect(mock.counters.authorizations).toBe(0)
  })

  it('sends no iss and advertises no RFC 9207 support when issParameter is false', async () => {
    const mock = serve({ issParameter: false })
    expect(responseOf(mock.authorize(authorizationURL())).params).not.toHaveProperty('iss')
    const denied = responseOf(mock.authorize(authorizationURL(), 'access_denied')).params
    expect(denied).not.toHaveProperty('iss')
    for (const url of [mock.endpoints.oauthMetadata, mock.endpoints.openidConfiguration]) {
      const metadata = await (await fetch(url)).json()
      expect(metadata).not.toHaveProperty('authorization_response_iss_parameter_supported')
      expect(metadata.end_session_endpoint).toBe(`${ISSUER}/oauth/logout`)
    }
  })

  it('advertises RFC 9207 support, PKCE S256 and both sign-in endpoints in both documents', async () => {
    const mock = serve()
    for (const url of [mock.endpoints.oauthMetadata, mock.endpoints.openidConfiguration]) {
      expect(await (await fetch(url)).json()).toMatchObject({
        authorization_endpoint: AUTHORIZE,
        end_session_endpoint: `${ISSUER}/oauth/logout`,
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
        grant_types_supported: ['authorization_code', 'refresh_token'],
      })
    }
  })

  it('answers a GET of the endpoint with a 302 to the same redirect, and a 400 page when it cannot redirect', async () => {
    const mock = serve()
    const response = await fetch(authorizationURL(), { redirect: 'manual' })
    expect(response.status).toBe(302)
    const location = response.headers.get('Location') ?? ''
    expect(responseOf(location)).toMatchObject({ target: CALLBACK, params: { state: 'st-1' } })
    await exchangeOK(mock, codeOf(location))

    const page = await fetch(authorizationURL({ redirect_uri: 'https://evil.example.com/' }), {
      redirect: 'manual',
    })
    expect(page.status).toBe(400)
    expect(page.headers.get('Content-Type')).toMatch(/^text\/html/)
    expect(page.headers.get('Location')).toBeNull()
    expect(await page.text()).toContain('redirect_uri')
    expect(mock.counters.authorizations).toBe(2)
  })
})

describe('code exchange (RFC 6749 §4.1.3, RFC 7636 §4.6)', () => {
  it('exchanges a code and the right verifier for tokens the API and the refresh grant accept', async () => {
    const mock = serve()
    const code = codeOf(mock.authorize(authorizationURL({ scope: 'openid email' })))
    const response = await exchange(mock, code)
    expect(response.status).toBe(200)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    const body = (await response.json()) as TokenBody
    expect(body).toEqual({
      access_token: expect.stringMatching(/^at_/),
      token_type: 'Bearer',
      expires_in: 60,
      refresh_token: expect.stringMatching(/^rt_/),
      scope: 'openid email',
      id_token: expect.any(String),
    })
    expect(await (await callMe(body.access_token)).json()).toEqual({
      sub: 'user-1',
      scope: 'openid email',
      client_id: 'spa',
    })
    expect((await refresh(mock, body.refresh_token ?? '')).status).toBe(200)
    expect(mock.counters).toMatchObject({ codeExchanges: 1, token: 2, tokenSuccess: 2 })
    expect(mock.log.codeExchange).toEqual([
      {
        at: expect.any(Number),
        clientId: 'spa',
        redirectUri: CALLBACK,
        codeVerifier: true,
        family: 'family-1',
        reuseDetected: false,
        status: 200,
        error: null,
        fault: null,
      },
    ])
    expect(mock.log.token[0]).toMatchObject({ grantType: 'authorization_code', status: 200 })
  })

  it.each([
    ['a wrong verifier', { code_verifier: `${VERIFIER.slice(0, -1)}x` }, /does not match/],
    ['no verifier', { code_verifier: null }, /43 to 128 unreserved/],
    ['a verifier shorter than 43 characters', { code_verifier: 'short' }, /43 to 128 unreserved/],
  ])(
    'answers %s with invalid_grant and leaves the code to the right verifier',
    async (_, bad, why) => {
      const mock = serve()
      const code = codeOf(mock.authorize(authorizationURL()))
      const response = await exchange(mock, code, bad)
      expect(response.status).toBe(400)
      expect(await response.json()).toEqual({
        error: 'invalid_grant',
        error_description: expect.stringMatching(why),
      })
      expect(mock.log.codeExchange[0]).toMatchObject({
        status: 400,
        error: 'invalid_grant',
        codeVerifier: bad.code_verifier !== null,
      })
      await exchangeOK(mock, code)
    },
  )

  it.each([
    ['42 characters', 'a'.repeat(42)],
    ['a character outside the unreserved set', `${'a'.repeat(42)}+`],
  ])('refuses a verifier of %s even when its hash matches the challenge', async (_, verifier) => {
    const mock = serve()
    const challenge = createHash('sha256').update(verifier).digest('base64url')
    const code = codeOf(mock.authorize(authorizationURL({ code_challenge: challenge })))
    await expectOAuthError(
      await exchange(mock, code, { code_verifier: verifier }),
      400,
      'invalid_grant',
    )
  })

  it('checks the verifier against the challenge of its own code', async () => {
    const mock = serve()
    const verifier = 'a'.repeat(43)
    const challenge = createHash('sha256').update(verifier).digest('base64url')
    const code = codeOf(mock.authorize(authorizationURL({ code_challenge: challenge })))
    await expectOAuthError(await exchange(mock, code), 400, 'invalid_grant')
    expect((await exchange(mock, code, { code_verifier: verifier })).status).toBe(200)
  })

  it('answers a second redemption invalid_grant and revokes the tokens issued from the code', async () => {
    const mock = serve()
    const bystander = mock.issueTokens()
    const code = codeOf(mock.authorize(authorizationURL()))
    const first = await exchangeOK(mock, code)

    await expectOAuthError(await exchange(mock, code), 400, 'invalid_grant')
    expect((await callMe(first.access_token)).status).toBe(401)
    await expectOAuthError(await refresh(mock, first.refresh_token ?? ''), 400, 'invalid_grant')
    expect(mock.introspect(first.refresh_token ?? '').state).toBe('revoked')
    expect((await callMe(bystander.access_token)).status).toBe(200)
    expect(mock.log.codeExchange[1]).toMatchObject({
      family: 'family-2',
      reuseDetected: true,
      error: 'invalid_grant',
    })
    expect(mock.counters.reuseDetected).toBe(0)
  })

  it('answers invalid_grant for a redirect_uri other than the request one, and invalid_request without one', async () => {
    const other = 'https://app.example.com/other-callback'
    const mock = serve({ redirectUris: [CALLBACK, other] })
    const code = codeOf(mock.authorize(authorizationURL()))
    await expectOAuthError(
      await exchange(mock, code, { redirect_uri: other }),
      400,
      'invalid_grant',
    )
    await expectOAuthError(
      await exchange(mock, code, { redirect_uri: null }),
      400,
      'invalid_request',
    )
    await exchangeOK(mock, code)
  })

  it('answers an unknown code invalid_grant, a missing one invalid_request, another client invalid_client', async () => {
    const mock = serve()
    await expectOAuthError(await exchange(mock, 'ac_unknown'), 400, 'invalid_grant')
    await expectOAuthError(await exchange(mock, '', { code: null }), 400, 'invalid_request')
    const code = codeOf(mock.authorize(authorizationURL()))
    await expectOAuthError(
      await exchange(mock, code, { client_id: 'other' }),
      401,
      'invalid_client',
    )
    expect(mock.counters.codeExchanges).toBe(3)
  })

  it('lets a code expire 60 seconds after it was issued, on the mock clock', async () => {
    vi.useFakeTimers()
    const mock = serve()
    const early = codeOf(mock.authorize(authorizationURL()))
    const late = codeOf(mock.authorize(authorizationURL()))
    vi.advanceTimersByTime(59_999)
    await exchangeOK(mock, early)
    vi.advanceTimersByTime(1)
    await expectOAuthError(await exchange(mock, late), 400, 'invalid_grant')
  })

  it('honours authorizationCodeLifetime', async () => {
    vi.useFakeTimers()
    const mock = serve({ authorizationCodeLifetime: 5_000 })
    const code = codeOf(mock.authorize(authorizationURL()))
    vi.advanceTimersByTime(5_000)
    await expectOAuthError(await exchange(mock, code), 400, 'invalid_grant')
  })

  it('issues a refresh token without offline_access unless refreshTokenWithoutOfflineAccess is false', async () => {
    const lenient = serve()
    const plain = await exchangeOK(lenient, codeOf(lenient.authorize(authorizationURL())))
    expect(plain.refresh_token).toMatch(/^rt_/)

    server.resetHandlers()
    const strict = serve({ refreshTokenWithoutOfflineAccess: false })
    const without = await exchangeOK(strict, codeOf(strict.authorize(authorizationURL())))
    expect(without).not.toHaveProperty('refresh_token')
    const offline = authorizationURL({ scope: 'openid offline_access' })
    const withIt = await exchangeOK(strict, codeOf(strict.authorize(offline)))
    expect(withIt.refresh_token).toMatch(/^rt_/)
    expect(withIt.scope).toBe('openid offline_access')
  })

  it('mints an HS256 ID token with iss, sub, aud, azp, iat, exp, auth_time and the nonce', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000, toFake: ['Date'] })
    const mock = serve({ accessTokenLifetime: 300_000, clockSkew: 5_000 })
    const code = codeOf(
      mock.authorize(authorizationURL({ nonce: 'n-0S6_WzA2Mj', login_hint: 'ada' })),
    )
    vi.setSystemTime(1_700_000_010_000)
    const { id_token } = await exchangeOK(mock, code)
    const [header, payload, signature] = (id_token ?? '').split('.')
    expect(jwtDecode(id_token ?? '', { header: true })).toEqual({ alg: 'HS256', typ: 'JWT' })
    const expected = createHmac('sha256', MOCK_ID_TOKEN_SECRET)
      .update(`${header}.${payload}`)
      .digest('base64url')
    expect(signature).toBe(expected)
    expect(jwtDecode(id_token ?? '')).toEqual({
      iss: ISSUER,
      sub: 'ada',
      aud: 'spa',
      azp: 'spa',
      iat: 1_700_000_015,
      exp: 1_700_000_315,
      auth_time: 1_700_000_005,
      nonce: 'n-0S6_WzA2Mj',
    })
  })

  it('leaves the nonce claim out without a nonce, and the ID token out without openid', async () => {
    const mock = serve()
    const noNonce = await exchangeOK(
      mock,
      codeOf(mock.authorize(authorizationURL({ nonce: null }))),
    )
    expect(jwtDecode(noNonce.id_token ?? '')).not.toHaveProperty('nonce')
    const oauthOnly = authorizationURL({ scope: 'profile' })
    expect(await exchangeOK(mock, codeOf(mock.authorize(oauthOnly)))).not.toHaveProperty('id_token')
  })

  it('never logs a code, verifier, state, nonce or token value', async () => {
    const mock = serve()
    const redirect = mock.authorize(
      authorizationURL({ state: 'secret-state', nonce: 'secret-nonce' }),
    )
    const code = codeOf(redirect)
    const body = await exchangeOK(mock, code)
    await exchange(mock, code)
    const logged = JSON.stringify(mock.log)
    for (const value of [
      code,
      VERIFIER,
      'secret-state',
      'secret-nonce',
      body.access_token,
      body.refresh_token,
      body.id_token,
    ]) {
      expect(logged).not.toContain(value)
    }
  })

  it('shares codes between mocks over one stateStorage, as tabs of a page do', async () => {
    const items = new Map<string, string>()
    const storage = {
      getItem: (key: string) => items.get(key) ?? null,
      setItem: (key: string, value: string) => void items.set(key, value),
    }
    const popup = createMockTokenServer({ stateStorage: storage })
    const opener = serve({ stateStorage: storage })
    const code = codeOf(popup.authorize(authorizationURL()))
    const tokens = await exchangeOK(opener, code)
    expect(popup.introspect(tokens.access_token)).toMatchObject({
      active: true,
      family: 'family-1',
    })
    await expectOAuthError(await exchange(opener, code), 400, 'invalid_grant')
    expect(popup.introspect(tokens.access_token).state).toBe('revoked')
  })
})

describe('end-session endpoint (OpenID Connect RP-Initiated Logout 1.0)', () => {
  const LOGOUT = `${ISSUER}/oauth/logout`

  async function idToken(mock: MockTokenServer): Promise<string> {
    return (await exchangeOK(mock, codeOf(mock.authorize(authorizationURL())))).id_token ?? ''
  }

  it('redirects to a registered post-logout URI with the state when the client is identified', async () => {
    const mock = serve()
    const hint = await idToken(mock)
    const byClientId = new URL(LOGOUT)
    byClientId.search = new URLSearchParams({
      client_id: 'spa',
      post_logout_redirect_uri: 'https://app.example.com/',
      state: 'bye',
    }).toString()
    const get = await fetch(byClientId, { redirect: 'manual' })
    expect(get.status).toBe(302)
    expect(get.headers.get('Location')).toBe('https://app.example.com/?state=bye')

    const post = await fetch(LOGOUT, {
      method: 'POST',
      redirect: 'manual',
      body: new URLSearchParams({
        id_token_hint: hint,
        post_logout_redirect_uri: 'https://app.example.com/',
      }),
    })
    expect(post.status).toBe(302)
    expect(post.headers.get('Location')).toBe('https://app.example.com/')
    expect(mock.counters.endSessions).toBe(2)
    expect(mock.log.endSession).toEqual([
      {
        at: expect.any(Number),
        method: 'GET',
        idTokenHint: false,
        clientId: 'spa',
        postLogoutRedirectUri: 'https://app.example.com/',
        status: 302,
      },
      {
        at: expect.any(Number),
        method: 'POST',
        idTokenHint: true,
        clientId: null,
        postLogoutRedirectUri: 'https://app.example.com/',
        status: 302,
      },
    ])
    expect(JSON.stringify(mock.log)).not.toContain(hint)
  })

  it.each([
    [
      'the URI is not registered',
      { client_id: 'spa', post_logout_redirect_uri: 'https://evil.example.com/' },
    ],
    ['no client is identified', { post_logout_redirect_uri: 'https://app.example.com/' }],
    [
      'the client is another',
      { client_id: 'other', post_logout_redirect_uri: 'https://app.example.com/' },
    ],
    [
      'the hint is not an ID token',
      { id_token_hint: 'x.y.z', post_logout_redirect_uri: 'https://app.example.com/' },
    ],
    ['no URI is given', { client_id: 'spa' }],
  ])('answers 200 with a signed-out page when %s', async (_, params) => {
    const mock = serve()
    const url = new URL(LOGOUT)
    url.search = new URLSearchParams(params).toString()
    const response = await fetch(url, { redirect: 'manual' })
    expect(response.status).toBe(200)
    expect(response.headers.get('Content-Type')).toMatch(/^text\/html/)
    expect(response.headers.get('Location')).toBeNull()
    expect(mock.counters.endSessions).toBe(1)
  })

  it('does not take the client from an ID token of another issuer', async () => {
    const mock = serve()
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const foreign = `${encode({ alg: 'none' })}.${encode({ iss: 'https://evil.example.com', aud: 'spa' })}.`
    const url = new URL(LOGOUT)
    url.search = new URLSearchParams({
      id_token_hint: foreign,
      post_logout_redirect_uri: 'https://app.example.com/',
    }).toString()
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(200)
    expect(mock.log.endSession[0]).toMatchObject({ idTokenHint: true, status: 200 })
  })

  it('does not redirect when the hint and client_id name different clients', async () => {
    const mock = serve({ clientId: 'spa' })
    const hint = await idToken(mock)
    const url = new URL(LOGOUT)
    url.search = new URLSearchParams({
      id_token_hint: hint,
      client_id: 'other',
      post_logout_redirect_uri: 'https://app.example.com/',
    }).toString()
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(200)
  })

  it('ends the session at the server, so prompt=none needs a sign-in again, and keeps tokens valid', async () => {
    const mock = serve()
    const tokens = await exchangeOK(mock, codeOf(mock.authorize(authorizationURL())))
    codeOf(mock.authorize(authorizationURL({ prompt: 'none' })))
    await fetch(LOGOUT)
    const silent = responseOf(mock.authorize(authorizationURL({ prompt: 'none' })))
    expect(silent.params.error).toBe('login_required')
    expect((await callMe(tokens.access_token)).status).toBe(200)
    mock.reset()
    codeOf(mock.authorize(authorizationURL({ prompt: 'none' })))
  })

  it('gets another method blocked at the preflight', async () => {
    const mock = serve()
    await expect(fetch(LOGOUT, { method: 'DELETE' })).rejects.toThrow(/Cross-Origin/)
    expect(mock.counters).toMatchObject({ preflight: 1, endSessions: 0 })
  })
})
