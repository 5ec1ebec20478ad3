// @vitest-environment node
// Node's fetch shows `Set-Cookie` on responses and sends a `Cookie` header as given, so this file
// checks the refresh cookie on the wire: its attributes, its rotation, and a replayed old value.
// happy-dom hides `Set-Cookie` from the page, as browsers do (see cookie-backend.test.ts).
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  createMockTokenServer,
  MOCK_REFRESH_COOKIE,
  type MockTokenServer,
  type MockTokenServerOptions,
} from '../../../src/testing/index.js'

const APP = 'https://app.example.com'
const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

function serve(options: MockTokenServerOptions = {}): MockTokenServer {
  const mock = createMockTokenServer({ backend: {}, ...options })
  server.use(...mock.handlers)
  return mock
}

function post(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${APP}${path}`, {
    method: 'POST',
    credentials: 'include',
    headers: { 'X-CSRF': '1', ...headers },
  })
}

/** The refresh cookie's value in a response's `Set-Cookie`, `null` when it sets none. */
function cookieSet(response: Response): string | null {
  const header = response.headers
    .getSetCookie()
    .find((c) => c.startsWith(`${MOCK_REFRESH_COOKIE}=`))
  return header === undefined
    ? null
    : (header.split(';')[0] ?? '').slice(MOCK_REFRESH_COOKIE.length + 1)
}

describe('the session backend refresh cookie on the wire', () => {
  it('is set __Host-, Secure, HttpOnly, SameSite=Strict, with Max-Age the refresh lifetime', async () => {
    serve({ refreshTokenLifetime: 600_000 })
    const login = await post('/auth/login')
    expect(login.headers.getSetCookie()).toEqual([
      expect.stringMatching(
        /^__Host-refresh=rt_[A-Za-z0-9_-]{43}; Path=\/; Max-Age=600; Secure; HttpOnly; SameSite=Strict$/,
      ),
    ])
    expect(JSON.stringify(await login.json())).not.toContain(cookieSet(login))
  })

  it('gets a new value on every refresh, and replaying a retired one revokes the session', async () => {
    const mock = serve()
    const first = cookieSet(await post('/auth/login'))
    const renewed = await post('/auth/refresh', { Cookie: `${MOCK_REFRESH_COOKIE}=${first}` })
    expect(renewed.status).toBe(200)
    const second = cookieSet(renewed)
    expect(second).toMatch(/^rt_/)
    expect(second).not.toBe(first)
    expect(mock.introspect(first ?? '').state).toBe('rotated')

    const replayed = await post('/auth/refresh', {
      Cookie: `theme=dark; ${MOCK_REFRESH_COOKIE}=${first}`,
    })
    expect(replayed.status).toBe(401)
    expect(replayed.headers.getSetCookie()[0]).toMatch(/^__Host-refresh=; Path=\/; Max-Age=0;/)
    expect(mock.counters.reuseDetected).toBe(1)
    const legit = await post('/auth/refresh', { Cookie: `${MOCK_REFRESH_COOKIE}=${second}` })
    expect(legit.status).toBe(401)
    expect(mock.introspect(second ?? '').state).toBe('revoked')
  })

  it('lets a Cookie header on the request win over the cookie the browser holds', async () => {
    const mock = serve()
    mock.signIn()
    const forged = await post('/auth/refresh', { Cookie: `${MOCK_REFRESH_COOKIE}=rt_forged` })
    expect(forged.status).toBe(401)
    expect(mock.log.backend[0]).toMatchObject({ cookie: 'unknown' })
    const none = await post('/auth/refresh', { Cookie: 'theme=dark' })
    expect(none.status).toBe(401)
    expect(mock.log.backend[1]).toMatchObject({ cookie: 'missing' })
  })

  it('keeps the cookie, setting none, when rotation is off', async () => {
    const mock = serve({ rotation: false })
    mock.signIn()
    const renewed = await post('/auth/refresh')
    expect(renewed.status).toBe(200)
    expect(renewed.headers.getSetCookie()).toEqual([])
    expect((await post('/auth/refresh')).status).toBe(200)
    expect(mock.introspectCookie().state).toBe('active')
  })

  it('clears the cookie on logout', async () => {
    const mock = serve()
    mock.signIn()
    const logout = await post('/auth/logout')
    expect(logout.status).toBe(204)
    expect(cookieSet(logout)).toBe('')
  })

  it('lets another origin send the cookie and the CSRF header through CORS, never with a wildcard', async () => {
    serve({ allowedOrigins: ['https://www.example.com'] })
    const preflight = await fetch(`${APP}/auth/refresh`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://www.example.com',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'x-csrf',
      },
    })
    expect(Object.fromEntries(preflight.headers)).toMatchObject({
      'access-control-allow-origin': 'https://www.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-allow-headers': 'Authorization, Content-Type, DPoP, X-CSRF',
    })
    const actual = await post('/auth/refresh', { Origin: 'https://www.example.com' })
    expect(actual.headers.get('Access-Control-Allow-Credentials')).toBe('true')

    server.resetHandlers()
    serve({ allowedOrigins: ['*'] })
    const wildcard = await post('/auth/refresh', { Origin: 'https://www.example.com' })
    expect(wildcard.headers.get('Access-Control-Allow-Credentials')).toBeNull()
  })
})

describe('methods the sign-in endpoints do not take', () => {
  it('answers them with 405 and an Allow header', async () => {
    const mock = serve()
    const cases = [
      [`${APP}/auth/refresh`, 'GET', 'POST, OPTIONS'],
      [`${APP}/auth/logout`, 'PUT', 'POST, OPTIONS'],
      [mock.endpoints.authorization, 'POST', 'GET, OPTIONS'],
      [mock.endpoints.endSession, 'DELETE', 'GET, POST, OPTIONS'],
    ] as const
    for (const [url, method, allow] of cases) {
      const response = await fetch(url, { method })
      expect(response.status).toBe(405)
      expect(response.headers.get('Allow')).toBe(allow)
    }
    expect(mock.counters).toMatchObject({
      backendRefresh: 1,
      backendLogout: 1,
      authorizations: 0,
      endSessions: 0,
    })
    expect(mock.introspectCookie().state).toBe('unknown')
  })
})
