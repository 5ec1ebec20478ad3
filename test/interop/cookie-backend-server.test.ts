// @vitest-environment node
/**
 * The cookie-session backend fixture (test/servers/cookie-backend.ts) on its own, with Node's
 * fetch and a hand-kept cookie jar standing in for the browser: the refresh cookie's attributes,
 * the CSRF header, rotation and reuse detection, the protected API's challenges, logout, the
 * absolute session lifetime on an injected clock, the options, and the static files.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  type CookieBackend,
  type CookieBackendOptions,
  REFRESH_COOKIE,
  startCookieBackend,
} from '../servers/cookie-backend.js'

/** One `Set-Cookie` header: attribute names lower-cased, flags mapped to `''`. */
interface SetCookie {
  name: string
  value: string
  attributes: Map<string, string>
}

function parseSetCookie(header: string): SetCookie {
  const [pair = '', ...rest] = header.split(';').map((part) => part.trim())
  const at = pair.indexOf('=')
  const attributes = new Map<string, string>()
  for (const attribute of rest) {
    const eq = attribute.indexOf('=')
    if (eq < 0) attributes.set(attribute.toLowerCase(), '')
    else attributes.set(attribute.slice(0, eq).toLowerCase(), attribute.slice(eq + 1))
  }
  return { name: pair.slice(0, at), value: pair.slice(at + 1), attributes }
}

/** The refresh cookie set by `response`, if any. */
function refreshCookieOf(response: Response): SetCookie | undefined {
  return response.headers
    .getSetCookie()
    .map(parseSetCookie)
    .find((cookie) => cookie.name === REFRESH_COOKIE)
}

/**
 * A browser's cookie jar for one origin, reduced to what the backend uses: cookies kept by name,
 * deleted by `Max-Age=0`, and sent only to paths under their `Path`.
 */
class CookieJar {
  private readonly cookies = new Map<string, SetCookie>()

  /** A jar holding only the refresh cookie `value`, to present a cookie the test kept aside. */
  static holding(value: string): CookieJar {
    const jar = new CookieJar()
    jar.cookies.set(REFRESH_COOKIE, {
      name: REFRESH_COOKIE,
      value,
      attributes: new Map([['path', '/auth']]),
    })
    return jar
  }

  store(response: Response): void {
    for (const cookie of response.headers.getSetCookie().map(parseSetCookie)) {
      if (cookie.attributes.get('max-age') === '0') this.cookies.delete(cookie.name)
      else this.cookies.set(cookie.name, cookie)
    }
  }

  header(url: string): string | undefined {
    const path = new URL(url).pathname
    const sent = [...this.cookies.values()].filter((cookie) => {
      const scope = cookie.attributes.get('path') ?? '/'
      return path === scope || path.startsWith(scope.endsWith('/') ? scope : `${scope}/`)
    })
    return sent.length === 0 ? undefined : sent.map((c) => `${c.name}=${c.value}`).join('; ')
  }

  value(name: string): string | undefined {
    return this.cookies.get(name)?.value
  }
}

/** A login or refresh answer. */
interface SessionBody {
  accessToken: string
  expiresIn: number
  refreshExpiresIn?: number
}

interface AuthCallOptions {
  /** Send the backend's CSRF header. @default true */
  csrf?: boolean
  /** @default 'POST' */
  method?: string
  headers?: Record<string, string>
  body?: string
}

/** Calls `/auth/<route>` as the app does: the jar's cookies, the CSRF header, the answer's cookies kept. */
async function callAuth(
  backend: CookieBackend,
  route: 'login' | 'refresh' | 'logout',
  jar: CookieJar,
  options: AuthCallOptions = {},
): Promise<Response> {
  const url = `${backend.origin}/auth/${route}`
  const headers: Record<string, string> = { ...options.headers }
  const cookie = jar.header(url)
  if (cookie !== undefined) headers.Cookie = cookie
  if (options.csrf ?? true) headers[backend.csrfHeader[0]] = backend.csrfHeader[1]
  const init: RequestInit = { method: options.method ?? 'POST', headers }
  if (options.body !== undefined) init.body = options.body
  const response = await fetch(url, init)
  jar.store(response)
  return response
}

/** Logs in with a new jar; returns the jar, the answer and its body. */
async function login(backend: CookieBackend, options: AuthCallOptions = {}) {
  const jar = new CookieJar()
  const response = await callAuth(backend, 'login', jar, options)
  expect(response.status).toBe(200)
  return { jar, response, body: (await response.json()) as SessionBody }
}

/** A successful refresh with `jar`; returns the answer and its body. */
async function refresh(backend: CookieBackend, jar: CookieJar, options: AuthCallOptions = {}) {
  const response = await callAuth(backend, 'refresh', jar, options)
  expect(response.status).toBe(200)
  return { response, body: (await response.json()) as SessionBody }
}

/** A refused refresh with `jar`; returns the status, the error code and the answer. */
async function refusedRefresh(backend: CookieBackend, jar: CookieJar, options?: AuthCallOptions) {
  const response = await callAuth(backend, 'refresh', jar, options)
  const text = await response.text()
  const error = text === '' ? undefined : (JSON.parse(text) as { error?: string }).error
  return { status: response.status, error, response }
}

/** Calls the protected API with `token` (none when `undefined`); returns status, challenge, body. */
async function callApi(backend: CookieBackend, token: string | undefined, path = '/me') {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.Authorization = `Bearer ${token}`
  const response = await fetch(`${backend.apiUrl}${path}`, { headers })
  return {
    status: response.status,
    challenge: response.headers.get('www-authenticate'),
    body: (await response.json()) as Record<string, unknown>,
  }
}

const servers: CookieBackend[] = []
/** A temporary directory holding `public/` (the static files) and a file beside it. */
let root: string | undefined

/** Starts a backend that afterAll closes. */
async function start(options: CookieBackendOptions = {}): Promise<CookieBackend> {
  const backend = await startCookieBackend(options)
  servers.push(backend)
  return backend
}

let backend: CookieBackend

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cookie-backend-'))
  const staticDir = join(root, 'public')
  await mkdir(join(staticDir, 'assets'), { recursive: true })
  await writeFile(join(root, 'secret.txt'), 'not for the web')
  await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>app</title>')
  await writeFile(join(staticDir, 'app.js'), 'export {}\n')
  await writeFile(join(staticDir, 'app.mjs'), 'export {}\n')
  await writeFile(join(staticDir, 'app.js.map'), '{"version":3}')
  await writeFile(join(staticDir, 'assets', 'style.css'), 'body{}')
  backend = await start({
    staticDir,
    extraRoutes: {
      '/page.html': { body: '<p>extra</p>' },
      '/teapot': (_req, res) => {
        res.writeHead(418, { 'Content-Length': '0' })
        res.end()
      },
    },
  })
})

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()))
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

beforeEach(() => {
  for (const server of servers) server.reset()
})

describe('login', () => {
  it('sets an httpOnly, SameSite=Strict refresh cookie on /auth and answers camelCase JSON', async () => {
    const { response, body } = await login(backend)

    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(body).toEqual({ accessToken: expect.any(String), expiresIn: 60 })
    const cookie = refreshCookieOf(response)
    expect(cookie?.value).toMatch(/^[\w-]{43}$/)
    expect(cookie?.attributes.get('httponly')).toBe('')
    expect(cookie?.attributes.get('samesite')).toBe('Strict')
    expect(cookie?.attributes.get('path')).toBe('/auth')
    // Plain http, no session lifetime: not Secure, a browser-session cookie.
    expect(cookie?.attributes.has('secure')).toBe(false)
    expect(cookie?.attributes.has('max-age')).toBe(false)
    expect(backend.counters()).toMatchObject({ logins: 1, refreshes: 0 })
  })

  it('marks the cookie Secure when the request came over https through a proxy', async () => {
    const { response } = await login(backend, { headers: { 'X-Forwarded-Proto': 'https' } })

    expect(refreshCookieOf(response)?.attributes.has('secure')).toBe(true)
  })

  it('accepts any user from a JSON body and refuses a body that is not a JSON object', async () => {
    const { body } = await login(backend, {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'bob', password: 'anything' }),
    })
    expect((await callApi(backend, body.accessToken)).body.sub).toBe('bob')

    const refused = await callAuth(backend, 'login', new CookieJar(), {
      headers: { 'Content-Type': 'text/plain' },
      body: 'bob',
    })
    expect(refused.status).toBe(400)
    expect(await refused.json()).toEqual({ error: 'invalid_request' })
  })
})

describe('refresh', () => {
  it('refuses a request without the CSRF header (403) and leaves the cookie current', async () => {
    const { jar } = await login(backend)
    const cookie = jar.value(REFRESH_COOKIE) ?? ''

    const missing = await refusedRefresh(backend, jar, { csrf: false })
    const wrong = await refusedRefresh(backend, jar, { csrf: false, headers: { 'X-CSRF': '0' } })

    expect([missing.status, missing.error]).toEqual([403, 'csrf'])
    expect([wrong.status, wrong.error]).toEqual([403, 'csrf'])
    expect(missing.response.headers.get('cache-control')).toBe('no-store')
    expect(backend.cookieState(cookie)).toBe('current')
    expect(backend.counters().refreshFailures).toEqual({ 403: 2 })
  })

  it('accepts only POST by default (405)', async () => {
    const { jar } = await login(backend)

    const get = await refusedRefresh(backend, jar, { method: 'GET' })

    expect(get.status).toBe(405)
    expect(get.response.headers.get('allow')).toBe('POST')
  })

  it('answers 401 no_session without a cookie', async () => {
    const refused = await refusedRefresh(backend, new CookieJar())

    expect([refused.status, refused.error]).toEqual([401, 'no_session'])
    expect(backend.counters().refreshFailures).toEqual({ 401: 1 })
  })

  it('rotates the cookie: a new value with the same attributes, the old one retired', async () => {
    const { jar, body: first } = await login(backend)
    const before = jar.value(REFRESH_COOKIE) ?? ''

    const { response, body } = await refresh(backend, jar)

    const after = refreshCookieOf(response)
    expect(after?.value).toBe(jar.value(REFRESH_COOKIE))
    expect(after?.value).not.toBe(before)
    expect(after?.attributes.get('httponly')).toBe('')
    expect(after?.attributes.get('samesite')).toBe('Strict')
    expect(after?.attributes.get('path')).toBe('/auth')
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(body).toEqual({ accessToken: expect.any(String), expiresIn: 60 })
    expect(body.accessToken).not.toBe(first.accessToken)
    expect(backend.cookieState(before)).toBe('retired')
    expect(backend.cookieState(after?.value ?? '')).toBe('current')
    expect(backend.counters()).toMatchObject({ refreshes: 1, reuseDetected: 0 })
  })

  it('treats a retired cookie as reuse: 401, and the whole session revoked', async () => {
    const { jar, body: first } = await login(backend)
    const old = jar.value(REFRESH_COOKIE) ?? ''
    const { body: second } = await refresh(backend, jar)
    const newest = jar.value(REFRESH_COOKIE) ?? ''

    const reuse = await refusedRefresh(backend, CookieJar.holding(old))

    expect([reuse.status, reuse.error]).toEqual([401, 'invalid_session'])
    expect(refreshCookieOf(reuse.response)?.attributes.get('max-age')).toBe('0')
    expect(backend.counters().reuseDetected).toBe(1)
    const afterReuse = await refusedRefresh(backend, jar)
    expect([afterReuse.status, afterReuse.error]).toEqual([401, 'invalid_session'])
    expect(backend.cookieState(newest)).toBe('revoked')
    expect((await callApi(backend, first.accessToken)).status).toBe(401)
    expect((await callApi(backend, second.accessToken)).status).toBe(401)
    expect(backend.counters()).toMatchObject({
      refreshes: 1,
      reuseDetected: 1,
      refreshFailures: { 401: 2 },
    })
  })

  it('leaves other sessions alone when one is revoked for reuse', async () => {
    const victim = await login(backend)
    const old = victim.jar.value(REFRESH_COOKIE) ?? ''
    await refresh(backend, victim.jar)
    const bystander = await login(backend)

    await refusedRefresh(backend, CookieJar.holding(old))

    await refresh(backend, bystander.jar)
  })
})

describe('protected API', () => {
  it('answers a fresh access token 200 and counts it', async () => {
    const { body } = await login(backend)

    const me = await callApi(backend, body.accessToken)
    const other = await callApi(backend, body.accessToken, '/orders/7')

    expect(me).toMatchObject({ status: 200, body: { sub: 'alice', path: '/api/me' } })
    expect(other).toMatchObject({ status: 200, body: { method: 'GET', path: '/api/orders/7' } })
    expect(backend.counters()).toMatchObject({ apiOk: 2, apiFailed: 0 })
  })

  it('refuses a garbage token with an invalid_token challenge, and no token with a bare one', async () => {
    const garbage = await callApi(backend, 'garbage')
    const missing = await callApi(backend, undefined)

    expect(garbage.status).toBe(401)
    expect(garbage.challenge).toMatch(/^Bearer .*error="invalid_token"/)
    expect(missing.status).toBe(401)
    expect(missing.challenge).toBe('Bearer realm="api"')
    expect(backend.counters()).toMatchObject({ apiOk: 0, apiFailed: 2 })
  })

  it('keeps the previous access token valid after a refresh by default', async () => {
    const { jar, body } = await login(backend)
    await refresh(backend, jar)

    expect((await callApi(backend, body.accessToken)).status).toBe(200)
  })

  it('refuses access tokens expired with expireAccessTokens()', async () => {
    const { body } = await login(backend)

    backend.expireAccessTokens()

    const expired = await callApi(backend, body.accessToken)
    expect(expired.status).toBe(401)
    expect(expired.challenge).toContain('error_description="The access token expired"')
  })
})

describe('logout', () => {
  it('requires the CSRF header', async () => {
    const { jar } = await login(backend)

    const refused = await callAuth(backend, 'logout', jar, { csrf: false })

    expect(refused.status).toBe(403)
    expect(await refused.json()).toEqual({ error: 'csrf' })
    expect(backend.cookieState(jar.value(REFRESH_COOKIE) ?? '')).toBe('current')
  })

  it('clears the cookie and revokes the session', async () => {
    const { jar, body } = await login(backend)
    const cookie = jar.value(REFRESH_COOKIE) ?? ''

    const response = await callAuth(backend, 'logout', jar)

    expect(response.status).toBe(204)
    const cleared = refreshCookieOf(response)
    expect(cleared?.value).toBe('')
    expect(cleared?.attributes.get('max-age')).toBe('0')
    expect(cleared?.attributes.get('path')).toBe('/auth')
    expect(jar.value(REFRESH_COOKIE)).toBeUndefined()
    const fromJar = await refusedRefresh(backend, jar)
    expect([fromJar.status, fromJar.error]).toEqual([401, 'no_session'])
    const fromCopy = await refusedRefresh(backend, CookieJar.holding(cookie))
    expect([fromCopy.status, fromCopy.error]).toEqual([401, 'invalid_session'])
    expect((await callApi(backend, body.accessToken)).status).toBe(401)
    expect(backend.counters()).toMatchObject({ logouts: 1, reuseDetected: 0 })
  })
})

describe('with an injected clock and an absolute session lifetime', () => {
  let clock = 1_700_000_000_000
  let timed: CookieBackend

  beforeAll(async () => {
    timed = await start({ now: () => clock, sessionLifetime: 3_600_000 })
  })

  it('answers refreshExpiresIn counted from login, decreasing with each refresh', async () => {
    const { jar, response, body } = await login(timed)
    expect(body.refreshExpiresIn).toBe(3600)
    expect(refreshCookieOf(response)?.attributes.get('max-age')).toBe('3600')

    clock += 10_000
    const second = await refresh(timed, jar)
    clock += 1_500
    const third = await refresh(timed, jar)

    expect(second.body).toEqual({
      accessToken: expect.any(String),
      expiresIn: 60,
      refreshExpiresIn: 3590,
    })
    expect(third.body.refreshExpiresIn).toBe(3588)
    expect(refreshCookieOf(third.response)?.attributes.get('max-age')).toBe('3589')
  })

  it('expires access tokens by its clock', async () => {
    const { body } = await login(timed)

    clock += 59_999
    const before = await callApi(timed, body.accessToken)
    clock += 1
    const after = await callApi(timed, body.accessToken)

    expect(before.status).toBe(200)
    expect(after.status).toBe(401)
  })

  it('ends the session at its lifetime: 401 session_expired and the cookie deleted', async () => {
    const { jar } = await login(timed)

    clock += 3_600_000
    const refused = await refusedRefresh(timed, jar)

    expect([refused.status, refused.error]).toEqual([401, 'session_expired'])
    expect(jar.value(REFRESH_COOKIE)).toBeUndefined()
  })

  it('ends every session with expireSessions()', async () => {
    const { jar } = await login(timed)

    timed.expireSessions()

    const refused = await refusedRefresh(timed, jar)
    expect([refused.status, refused.error]).toEqual([401, 'session_expired'])
  })

  it('revokes every session with revokeAll(): cookies and access tokens refused', async () => {
    const { jar, body } = await login(timed)

    timed.revokeAll()

    const refused = await refusedRefresh(timed, jar)
    expect([refused.status, refused.error]).toEqual([401, 'invalid_session'])
    expect((await callApi(timed, body.accessToken)).status).toBe(401)
  })
})

describe('options', () => {
  let strict: CookieBackend

  beforeAll(async () => {
    strict = await start({
      method: 'GET',
      csrfHeader: ['X-Requested-With', 'XMLHttpRequest'],
      deleteOldAccessTokenOnRefresh: true,
      accessTokenLifetime: 1_500,
      latency: 5,
    })
  })

  it('accepts GET refreshes with the configured CSRF header, and not the default one', async () => {
    const { jar } = await login(strict)

    const viaGet = await refresh(strict, jar, { method: 'GET' })
    const defaultHeader = await refusedRefresh(strict, jar, {
      csrf: false,
      headers: { 'X-CSRF': '1' },
    })

    expect(viaGet.body.expiresIn).toBe(1)
    expect([defaultHeader.status, defaultHeader.error]).toEqual([403, 'csrf'])
    expect((await refusedRefresh(strict, jar, { method: 'PUT' })).status).toBe(405)
  })

  it('revokes the previous access token on refresh with deleteOldAccessTokenOnRefresh', async () => {
    const { jar, body } = await login(strict)

    const { body: renewed } = await refresh(strict, jar)

    const old = await callApi(strict, body.accessToken)
    expect(old.status).toBe(401)
    expect(old.challenge).toContain('error_description="The access token was revoked"')
    expect((await callApi(strict, renewed.accessToken)).status).toBe(200)
  })

  it('counts from zero again after reset()', async () => {
    await login(strict)
    expect(strict.counters().logins).toBe(1)

    strict.reset()

    expect(strict.counters()).toEqual({
      logins: 0,
      refreshes: 0,
      reuseDetected: 0,
      refreshFailures: {},
      logouts: 0,
      apiOk: 0,
      apiFailed: 0,
    })
  })
})

describe('static files and extra routes', () => {
  it.each([
    ['/', 'text/html;charset=UTF-8', '<!doctype html><title>app</title>'],
    ['/index.html', 'text/html;charset=UTF-8', '<!doctype html><title>app</title>'],
    ['/app.js', 'text/javascript;charset=UTF-8', 'export {}\n'],
    ['/app.mjs', 'text/javascript;charset=UTF-8', 'export {}\n'],
    ['/app.js.map', 'application/json;charset=UTF-8', '{"version":3}'],
    ['/assets/style.css', 'text/css;charset=UTF-8', 'body{}'],
    ['/page.html', 'text/html;charset=UTF-8', '<p>extra</p>'],
  ])('serves %s as %s', async (path, type, content) => {
    const response = await fetch(`${backend.origin}${path}`)

    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe(type)
    expect(await response.text()).toBe(content)
  })

  it('answers 404 for missing files and paths outside the directory', async () => {
    const missing = await fetch(`${backend.origin}/nope.js`)
    const outside = await fetch(`${backend.origin}/..%2fsecret.txt`)

    expect(missing.status).toBe(404)
    expect(outside.status).toBe(404)
    await Promise.all([missing.text(), outside.text()])
  })

  it('lets an extra route handler answer itself', async () => {
    const response = await fetch(`${backend.origin}/teapot`, { method: 'POST' })

    expect(response.status).toBe(418)
    await response.text()
  })
})
