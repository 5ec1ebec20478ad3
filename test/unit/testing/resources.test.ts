import { jwtDecode } from 'jwt-decode'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  createMockTokenServer,
  type MockTokenServer,
  type MockTokenServerOptions,
} from '../../../src/testing/index.js'

const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

/** Resource indicators as apps write them: one with a trailing slash, one without. */
const MAIN = 'https://api.example.com/'
const OTHER = 'https://other.example.com'
const UNUSED = 'urn:example:reports'
const REDIRECT_URI = 'https://app.example.com/callback'
const VERIFIER = 'verifier-of-forty-three-characters-or-more-0123'

/** A mock whose API at api.example.com is MAIN's, with a second API for OTHER. */
function serve(options: MockTokenServerOptions = {}): MockTokenServer {
  const mock = createMockTokenServer({
    tokenFormat: 'jwt',
    resources: [MAIN, OTHER, UNUSED],
    apis: [{ origin: 'https://other.example.com', resource: OTHER }],
    ...options,
  })
  server.use(...mock.handlers)
  return mock
}

interface TokenBody {
  access_token: string
  refresh_token?: string
  token_type: string
}

function tokenRequest(mock: MockTokenServer, form: [string, string][]): Promise<Response> {
  return fetch(mock.endpoints.token, {
    method: 'POST',
    body: new URLSearchParams([['client_id', 'spa'], ...form]),
  })
}

function refresh(mock: MockTokenServer, refreshToken: string, ...resources: string[]) {
  return tokenRequest(mock, [
    ['grant_type', 'refresh_token'],
    ['refresh_token', refreshToken],
    ...resources.map((resource): [string, string] => ['resource', resource]),
  ])
}

async function refreshOK(mock: MockTokenServer, refreshToken: string, ...resources: string[]) {
  const response = await refresh(mock, refreshToken, ...resources)
  expect(response.status).toBe(200)
  return (await response.json()) as TokenBody
}

async function expectError(response: Response, status: number, error: string) {
  expect({
    status: response.status,
    error: ((await response.json()) as { error: string }).error,
  }).toEqual({ status, error })
}

function callApi(url: string, token: string): Promise<Response> {
  return fetch(url, { headers: { Authorization: `Bearer ${token}` } })
}

async function challengeOf(url: string, token: string): Promise<[number, string | null]> {
  const response = await callApi(url, token)
  return [response.status, response.headers.get('WWW-Authenticate')]
}

async function codeChallenge(): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(VERIFIER))
  return Buffer.from(digest).toString('base64url')
}

/** Runs an authorization request with the given resources and returns the redirect's query. */
async function authorize(mock: MockTokenServer, resources: readonly string[]) {
  const url = new URL(mock.endpoints.authorization)
  const params: [string, string][] = [
    ['response_type', 'code'],
    ['client_id', 'spa'],
    ['redirect_uri', REDIRECT_URI],
    ['code_challenge', await codeChallenge()],
    ['code_challenge_method', 'S256'],
    ...resources.map((resource): [string, string] => ['resource', resource]),
  ]
  for (const [name, value] of params) url.searchParams.append(name, value)
  return new URL(mock.authorize(url.href)).searchParams
}

function exchange(mock: MockTokenServer, code: string, ...resources: string[]) {
  return tokenRequest(mock, [
    ['grant_type', 'authorization_code'],
    ['code', code],
    ['redirect_uri', REDIRECT_URI],
    ['code_verifier', VERIFIER],
    ...resources.map((resource): [string, string] => ['resource', resource]),
  ])
}

describe('resource indicators at the token endpoint (RFC 8707 §2)', () => {
  it('issues an access token whose audience is the requested resource', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    expect(jwtDecode<{ aud: string }>(session.access_token).aud).toBe('https://api.example.com')
    expect(mock.introspect(session.access_token).resource).toBeNull()

    const forOther = await refreshOK(mock, session.refresh_token ?? '', OTHER)
    expect(jwtDecode<{ aud: string }>(forOther.access_token).aud).toBe(OTHER)
    expect(mock.introspect(forOther.access_token)).toMatchObject({ active: true, resource: OTHER })

    const forMain = await refreshOK(mock, forOther.refresh_token ?? '', MAIN)
    expect(jwtDecode<{ aud: string }>(forMain.access_token).aud).toBe(MAIN)

    const plain = await refreshOK(mock, forMain.refresh_token ?? '')
    expect(mock.introspect(plain.access_token).resource).toBeNull()

    expect(mock.counters.tokenByResource).toEqual({ [OTHER]: 1, [MAIN]: 1 })
    expect(mock.log.token.map((entry) => entry.resource)).toEqual([OTHER, MAIN, undefined])
  })

  it.each([
    ['an unknown resource', ['https://evil.example.com/']],
    ['a relative URI', ['/api']],
    ['a URI with a fragment', [`${MAIN}#x`]],
    ['the known resource without its trailing slash', ['https://api.example.com']],
    ['two resources at once', [MAIN, OTHER]],
  ])('answers %s with 400 invalid_target and keeps the session', async (_, resources) => {
    const mock = serve()
    const session = mock.issueTokens()
    await expectError(
      await refresh(mock, session.refresh_token ?? '', ...resources),
      400,
      'invalid_target',
    )
    expect(mock.introspect(session.refresh_token ?? '').state).toBe('active')
    expect(mock.counters.tokenError).toBe(1)
  })

  it('answers a resource at a server that knows none with invalid_target', async () => {
    const mock = createMockTokenServer()
    server.use(...mock.handlers)
    const session = mock.issueTokens()
    await expectError(await refresh(mock, session.refresh_token ?? '', MAIN), 400, 'invalid_target')
  })

  it('keeps one refresh token family rotating across resources, reuse detection included', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    const first = await refreshOK(mock, session.refresh_token ?? '', MAIN)
    const second = await refreshOK(mock, first.refresh_token ?? '', OTHER)
    const third = await refreshOK(mock, second.refresh_token ?? '')
    const tokens = [session, first, second, third]
    expect(new Set(tokens.map((t) => mock.introspect(t.refresh_token ?? '').family))).toEqual(
      new Set(['family-1']),
    )
    expect(mock.introspect(first.refresh_token ?? '').state).toBe('rotated')
    expect(mock.introspect(third.refresh_token ?? '').state).toBe('active')

    // The token rotated away by the OTHER refresh comes back: the whole session ends.
    await expectError(await refresh(mock, first.refresh_token ?? '', MAIN), 400, 'invalid_grant')
    expect(mock.counters.reuseDetected).toBe(1)
    expect(mock.introspect(third.refresh_token ?? '').state).toBe('revoked')
    expect(mock.introspect(second.access_token).state).toBe('revoked')
  })

  it('lets issueTokens limit the resources later refreshes may ask for', async () => {
    const mock = serve()
    const session = mock.issueTokens({ resources: [OTHER] })
    await expectError(await refresh(mock, session.refresh_token ?? '', MAIN), 400, 'invalid_target')
    await refreshOK(mock, session.refresh_token ?? '', OTHER)
    expect(() => mock.issueTokens({ resources: ['https://evil.example.com/'] })).toThrow(
      /"resources"/,
    )
  })
})

describe('resource indicators in shared state', () => {
  it('keeps the audience and the allowed resources for a second mock over the same storage', async () => {
    const shared = new Map<string, string>()
    const stateStorage = {
      getItem: (k: string) => shared.get(k) ?? null,
      setItem: (k: string, v: string) => void shared.set(k, v),
    }
    const first = createMockTokenServer({ resources: [MAIN, OTHER], stateStorage })
    server.use(...first.handlers)
    const session = first.issueTokens({ resources: [OTHER] })
    const forOther = await refreshOK(first, session.refresh_token ?? '', OTHER)
    const second = createMockTokenServer({ resources: [MAIN, OTHER], stateStorage })
    expect(second.introspect(forOther.access_token).resource).toBe(OTHER)
    server.use(...second.handlers)
    await expectError(
      await refresh(second, forOther.refresh_token ?? '', MAIN),
      400,
      'invalid_target',
    )
  })
})

describe('resource indicators in the authorization request (RFC 8707 §2.1)', () => {
  it('records several resources on the code and allows only those afterwards', async () => {
    const mock = serve()
    const query = await authorize(mock, [OTHER, UNUSED])
    const code = query.get('code') ?? ''
    expect(code).not.toBe('')
    expect(mock.log.authorization[0]?.resources).toEqual([OTHER, UNUSED])

    await expectError(await exchange(mock, code, MAIN), 400, 'invalid_target')
    const response = await exchange(mock, code, OTHER)
    expect(response.status).toBe(200)
    const tokens = (await response.json()) as TokenBody
    expect(mock.introspect(tokens.access_token).resource).toBe(OTHER)

    await expectError(await refresh(mock, tokens.refresh_token ?? '', MAIN), 400, 'invalid_target')
    const later = await refreshOK(mock, tokens.refresh_token ?? '', UNUSED)
    expect(jwtDecode<{ aud: string }>(later.access_token).aud).toBe(UNUSED)
  })

  it('allows any known resource later when the authorization request named none', async () => {
    const mock = serve()
    const code = (await authorize(mock, [])).get('code') ?? ''
    const response = await exchange(mock, code)
    const tokens = (await response.json()) as TokenBody
    expect(mock.introspect(tokens.access_token).resource).toBeNull()
    const forMain = await refreshOK(mock, tokens.refresh_token ?? '', MAIN)
    await refreshOK(mock, forMain.refresh_token ?? '', OTHER)
  })

  it('redirects with invalid_target for a resource the server does not know', async () => {
    const mock = serve()
    const query = await authorize(mock, [MAIN, 'https://evil.example.com/'])
    expect(query.get('error')).toBe('invalid_target')
    expect(query.get('code')).toBeNull()
    expect(mock.log.authorization[0]?.error).toBe('invalid_target')
  })
})

describe('APIs bound to a resource', () => {
  it('accepts at each API only the tokens issued for its resource', async () => {
    const mock = serve({ apiResource: MAIN })
    expect(mock.endpoints.apis).toEqual(['https://api.example.com', 'https://other.example.com'])
    const session = mock.issueTokens()
    const forMain = await refreshOK(mock, session.refresh_token ?? '', MAIN)
    const forOther = await refreshOK(mock, forMain.refresh_token ?? '', OTHER)

    expect((await callApi('https://api.example.com/me', forMain.access_token)).status).toBe(200)
    expect((await callApi('https://other.example.com/me', forOther.access_token)).status).toBe(200)

    const [status, challenge] = await challengeOf(
      'https://api.example.com/me',
      forOther.access_token,
    )
    expect(status).toBe(401)
    expect(challenge).toContain('error="invalid_token"')
    expect((await callApi('https://other.example.com/me', forMain.access_token)).status).toBe(401)
    // A default token is for no resource: neither API takes it.
    expect((await callApi('https://api.example.com/me', session.access_token)).status).toBe(401)
    expect(mock.counters).toMatchObject({ api: 5, api401: 3 })
  })

  it('keeps an API without a resource for default tokens only', async () => {
    const mock = serve()
    const session = mock.issueTokens()
    expect((await callApi('https://api.example.com/me', session.access_token)).status).toBe(200)
    const forMain = await refreshOK(mock, session.refresh_token ?? '', MAIN)
    const [status, challenge] = await challengeOf(
      'https://api.example.com/me',
      forMain.access_token,
    )
    expect(status).toBe(401)
    expect(challenge).toMatch(/^Bearer .*error="invalid_token"/)
  })

  it.each<[MockTokenServerOptions, string]>([
    [{ resources: [`${MAIN}#frag`] }, 'resources'],
    [{ resources: ['relative/path'] }, 'resources'],
    [{ resources: [MAIN], apiResource: OTHER }, 'apiResource'],
    [{ resources: [OTHER], apis: [{ origin: OTHER, resource: MAIN }] }, 'apis[].resource'],
    [{ apis: [{ origin: 'https://api.example.com/' }] }, 'apis[].origin'],
    [{ apis: [{ origin: 'ftp://files.example.com' }] }, 'apis[].origin'],
  ])('rejects %o with a TypeError naming %s', (options, name) => {
    expect(() => createMockTokenServer(options)).toThrow(
      new RegExp(`^"${name.replace(/[[\]]/g, '\\$&')}"`),
    )
  })
})
