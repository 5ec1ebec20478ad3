import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  createMockTokenServer,
  type MockBackendOptions,
  type MockStateStorage,
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

const APP = 'https://app.example.com'
const CSRF = { 'X-CSRF': '1' }

function serve(
  backend: MockBackendOptions = {},
  options: MockTokenServerOptions = {},
): MockTokenServer {
  const mock = createMockTokenServer({ backend, ...options })
  server.use(...mock.handlers)
  return mock
}

/** A request to the app's backend as the SDK sends it: same origin, credentials included. */
function post(path: string, headers: Record<string, string> = CSRF, body?: BodyInit) {
  return fetch(`${APP}${path}`, {
    method: 'POST',
    credentials: 'include',
    headers,
    ...(body === undefined ? {} : { body }),
  })
}

interface CamelBody {
  accessToken: string
  expiresIn: number
  refreshExpiresIn: number
}

async function refreshOK(
  path = '/auth/refresh',
  headers: Record<string, string> = CSRF,
): Promise<CamelBody> {
  const response = await post(path, headers)
  expect(response.status).toBe(200)
  return (await response.json()) as CamelBody
}

function callMe(accessToken: string): Promise<Response> {
  return fetch('https://api.example.com/me', {
    headers: { Authorization: `Bearer ${accessToken}` },
  })
}

describe('session backend (OAuth 2.0 for Browser-Based Applications §6.2)', () => {
  it('logs in with a cookie and camel-case tokens the API accepts', async () => {
    const mock = serve()
    const response = await post(
      '/auth/login',
      { 'Content-Type': 'application/json' },
      JSON.stringify({ username: 'ada', password: 'pw' }),
    )
    expect(response.status).toBe(200)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    const body = (await response.json()) as CamelBody
    expect(body).toEqual({
      accessToken: expect.stringMatching(/^at_/),
      expiresIn: 60,
      refreshExpiresIn: 86_400,
    })
    expect(mock.introspectCookie()).toMatchObject({ active: true, family: 'family-1' })
    expect(await (await callMe(body.accessToken)).json()).toMatchObject({ sub: 'ada' })
    expect(mock.counters).toMatchObject({ backendLogin: 1, backendRefresh: 0, token: 0 })
    expect(mock.log.backend).toEqual([
      {
        at: expect.any(Number),
        endpoint: 'login',
        method: 'POST',
        // Login is not cookie-authenticated, so it requires no CSRF header; the log still tells.
        csrf: false,
        cookie: 'missing',
        family: 'family-1',
        status: 200,
        fault: null,
      },
    ])
  })

  it('takes the subject from a form body too, and the server default without one', async () => {
    const mock = serve()
    const form = await post('/auth/login', {}, new URLSearchParams({ username: 'grace' }))
    const { accessToken } = (await form.json()) as CamelBody
    expect(mock.introspect(accessToken).active).toBe(true)
    expect(await (await callMe(accessToken)).json()).toMatchObject({ sub: 'grace' })
    const bare = (await (await post('/auth/login', {})).json()) as CamelBody
    expect(await (await callMe(bare.accessToken)).json()).toMatchObject({ sub: 'user-1' })
  })

  it('renews with the cookie and the CSRF header, rotating the cookie each time', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const mock = serve()
    mock.signIn({ subject: 'ada' })
    const before = mock.introspectCookie()
    vi.advanceTimersByTime(1_000)
    const first = await refreshOK()
    const rotated = mock.introspectCookie()
    expect(rotated).toMatchObject({ active: true, family: 'family-1' })
    // A new refresh token, with a lifetime counted from the rotation.
    expect(rotated.expiresAt).toBe((before.expiresAt ?? 0) + 1_000)
    const second = await refreshOK()
    expect(second.accessToken).not.toBe(first.accessToken)
    expect(await (await callMe(second.accessToken)).json()).toMatchObject({ sub: 'ada' })
    expect(mock.counters).toMatchObject({ backendRefresh: 2, reuseDetected: 0 })
    expect(mock.log.backend.map(({ cookie, status }) => [cookie, status])).toEqual([
      ['active', 200],
      ['active', 200],
    ])
  })

  it('answers 403 without the CSRF header, before it looks at the cookie, and keeps the session', async () => {
    const mock = serve()
    mock.signIn()
    for (const headers of [{}, { 'X-CSRF': '0' }]) {
      const response = await post('/auth/refresh', headers)
      expect(response.status).toBe(403)
      expect(await response.json()).toMatchObject({ error: 'forbidden' })
    }
    expect((await post('/auth/logout', {})).status).toBe(403)
    expect(mock.log.backend.map(({ csrf, status }) => [csrf, status])).toEqual([
      [false, 403],
      [false, 403],
      [false, 403],
    ])
    await refreshOK()
  })

  it('answers 401 without a session cookie', async () => {
    const mock = serve()
    const response = await post('/auth/refresh')
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'unauthorized' })
    expect(mock.log.backend[0]).toMatchObject({ cookie: 'missing', status: 401 })
  })

  it('treats a cookie whose rotation was lost with its response as reuse: 401 and the session revoked', async () => {
    const mock = serve()
    const { accessToken } = mock.loginResponse() as CamelBody
    // The server rotates, but the answer (and its Set-Cookie) never reaches the browser.
    mock.injectFault({ type: 'status', status: 502, target: 'backend', afterProcessing: true })
    expect((await post('/auth/refresh')).status).toBe(502)
    expect(mock.introspectCookie()).toMatchObject({ state: 'rotated', family: 'family-1' })

    const reused = await post('/auth/refresh')
    expect(reused.status).toBe(401)
    expect(mock.counters.reuseDetected).toBe(1)
    expect(mock.log.backend[1]).toMatchObject({ cookie: 'rotated', family: 'family-1' })
    expect(mock.introspectCookie().state).toBe('unknown')
    expect((await callMe(accessToken)).status).toBe(401)
    expect((await post('/auth/refresh')).status).toBe(401)
  })

  it('accepts the retired cookie inside reuseInterval, as the token endpoint does', async () => {
    const mock = serve({}, { reuseInterval: 2_000 })
    mock.signIn()
    mock.injectFault({ type: 'network-error', target: 'backend', afterProcessing: true })
    await expect(post('/auth/refresh')).rejects.toThrow(/Network error/)
    await refreshOK()
    expect(mock.counters.reuseDetected).toBe(0)
  })

  it('keeps the cookie when a fault answers before the server acted', async () => {
    const mock = serve()
    mock.signIn()
    mock.injectFault({ type: 'status', status: 503, target: 'backend', retryAfter: 1 })
    const response = await post('/auth/refresh')
    expect(response.status).toBe(503)
    expect(response.headers.get('Retry-After')).toBe('1')
    expect(mock.introspectCookie()).toMatchObject({ state: 'active' })
    await refreshOK()
    expect(mock.counters).toMatchObject({ faults: 1, backendRefresh: 2 })
  })

  it('logs out: revokes the session, clears the cookie, and the next refresh is 401', async () => {
    const mock = serve()
    const { accessToken } = mock.loginResponse() as CamelBody
    const response = await post('/auth/logout')
    expect(response.status).toBe(204)
    expect(mock.introspectCookie().state).toBe('unknown')
    expect((await callMe(accessToken)).status).toBe(401)
    expect((await post('/auth/refresh')).status).toBe(401)
    expect(mock.counters.backendLogout).toBe(1)
    expect(mock.log.backend[0]).toMatchObject({
      endpoint: 'logout',
      cookie: 'active',
      family: 'family-1',
      status: 204,
    })
    // Logging out without a session is fine too.
    expect((await post('/auth/logout')).status).toBe(204)
  })

  it('answers in the RFC 6749 shape when asked', async () => {
    const mock = serve({ shape: 'rfc6749' })
    const login = await (await post('/auth/login', {})).json()
    expect(login).toEqual({
      access_token: expect.stringMatching(/^at_/),
      token_type: 'Bearer',
      expires_in: 60,
    })
    expect(await (await post('/auth/refresh')).json()).toEqual({
      access_token: expect.stringMatching(/^at_/),
      token_type: 'Bearer',
      expires_in: 60,
    })
    expect(mock.loginResponse()).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 60,
    })
  })

  it('leaves expiresIn out with omitExpiresIn', async () => {
    const mock = serve({}, { omitExpiresIn: true })
    expect(mock.loginResponse()).toEqual({
      accessToken: expect.any(String),
      refreshExpiresIn: 86_400,
    })
  })

  it('counts refreshExpiresIn down to the hard end of the session with sessionLifetime', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const mock = serve({}, { sessionLifetime: 3_600_000, refreshTokenLifetime: 86_400_000 })
    expect((mock.loginResponse() as CamelBody).refreshExpiresIn).toBe(3_600)
    vi.advanceTimersByTime(1_000_000)
    expect((await refreshOK()).refreshExpiresIn).toBe(2_600)
    vi.advanceTimersByTime(2_599_999)
    expect((await refreshOK()).refreshExpiresIn).toBe(0)
    vi.advanceTimersByTime(1)
    const ended = await post('/auth/refresh')
    expect(ended.status).toBe(401)
    // The browser dropped the cookie when its Max-Age ran out, at the session's end.
    expect(mock.log.backend.at(-1)).toMatchObject({ cookie: 'missing', status: 401 })
  })

  it('slides refreshExpiresIn with every rotation when sessions have no hard end', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const mock = serve({}, { refreshTokenLifetime: 600_000 })
    mock.signIn()
    vi.advanceTimersByTime(500_000)
    expect((await refreshOK()).refreshExpiresIn).toBe(600)
    vi.advanceTimersByTime(500_000)
    expect((await refreshOK()).refreshExpiresIn).toBe(600)
  })

  it('serves custom paths and CSRF header, or none', async () => {
    const custom = serve({
      loginPath: '/session/new',
      refreshPath: '/session/renew',
      logoutPath: '/session/end',
      csrfHeader: ['X-Requested-With', 'XMLHttpRequest'],
    })
    expect(custom.endpoints.backend).toEqual({
      login: `${APP}/session/new`,
      refresh: `${APP}/session/renew`,
      logout: `${APP}/session/end`,
    })
    custom.signIn()
    expect((await post('/session/renew', CSRF)).status).toBe(403)
    await refreshOK('/session/renew', { 'x-requested-with': 'XMLHttpRequest' })
    expect((await post('/session/end', { 'X-Requested-With': 'XMLHttpRequest' })).status).toBe(204)

    server.resetHandlers()
    const open = serve({ csrfHeader: null })
    open.signIn()
    await refreshOK('/auth/refresh', {})
    expect(open.log.backend[0]).toMatchObject({ csrf: true })
  })

  it('forgets the cookie on reset', () => {
    const mock = createMockTokenServer({ backend: {} })
    mock.signIn()
    expect(mock.introspectCookie().active).toBe(true)
    mock.reset()
    expect(mock.introspectCookie()).toMatchObject({ active: false, state: 'unknown' })
  })

  it('shares the cookie jar between mocks over one stateStorage, as the tabs of a browser do', async () => {
    const items = new Map<string, string>()
    const storage: MockStateStorage = {
      getItem: (key) => items.get(key) ?? null,
      setItem: (key, value) => void items.set(key, value),
    }
    const other = createMockTokenServer({ backend: {}, stateStorage: storage })
    const tab = serve({}, { stateStorage: storage })
    other.signIn()
    await refreshOK()
    expect(tab.counters.backendRefresh).toBe(1)
    expect(other.introspectCookie()).toMatchObject({ active: true, family: 'family-1' })
  })

  it('serves no backend without the option', () => {
    const mock = createMockTokenServer()
    expect(mock.endpoints.backend).toBeNull()
    expect(() => mock.signIn()).toThrow(
      new TypeError('"backend" must be set to sign in to the backend'),
    )
    expect(() => mock.loginResponse()).toThrow(TypeError)
  })

  it.each([
    [{ shape: 'xml' }, 'backend.shape'],
    [{ csrfHeader: ['X-CSRF'] }, 'backend.csrfHeader'],
    [{ csrfHeader: ['', '1'] }, 'backend.csrfHeader'],
    [{ refreshPath: 'auth/refresh' }, 'backend.refreshPath'],
    [{ loginPath: '/auth/login?x=1' }, 'backend.loginPath'],
    [{ logoutPath: '/auth/refresh' }, 'backend'],
  ])('rejects backend %o with a TypeError naming %s', (backend, name) => {
    expect(() => createMockTokenServer({ backend: backend as MockBackendOptions })).toThrow(
      new RegExp(`^"${name.replace('.', '\\.')}"`),
    )
  })

  it('rejects a non-duration sessionLifetime and a malformed appOrigin', () => {
    expect(() => createMockTokenServer({ sessionLifetime: -1 })).toThrow(/^"sessionLifetime"/)
    expect(() => createMockTokenServer({ appOrigin: 'app.example.com' })).toThrow(/^"appOrigin"/)
  })
})

describe('sessionLifetime at the token endpoint', () => {
  it('refuses a refresh token past the session end even when its own lifetime is longer', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const mock = serve({}, { sessionLifetime: 10_000 })
    const session = mock.issueTokens()
    expect(mock.introspect(session.refresh_token ?? '').expiresAt).toBe(Date.now() + 10_000)
    const refresh = () =>
      fetch(mock.endpoints.token, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: session.refresh_token ?? '',
          client_id: 'spa',
        }),
      })
    vi.advanceTimersByTime(10_000)
    const response = await refresh()
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' })
    expect(mock.introspect(session.refresh_token ?? '').state).toBe('expired')
  })
})
