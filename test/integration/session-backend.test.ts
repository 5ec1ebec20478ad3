/**
 * A session backend (OAuth 2.0 for Browser-Based Applications §6.2): the app's own endpoint keeps
 * the refresh token in an httpOnly cookie and answers access tokens in its own JSON shape. The
 * backend here is an msw handler on the page's origin that behaves like one: it needs the CSRF
 * header, rotates its cookie on every refresh (so two refreshes at once would be a reuse), and
 * answers 401 without a session.
 */
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { collect, useClients } from '../mocks/harness.js'
import { T0 } from '../mocks/time.js'

const APP = 'https://app.example.com'

/** The backend's state and what it saw. */
const backend = {
  /** Whether the browser holds a live session cookie. */
  session: false,
  /** The next refresh's answer, when a test wants another than the normal one. */
  next: [] as (() => Response)[],
  refreshes: [] as { method: string; csrf: string | null; body: string }[],
  logouts: [] as { csrf: string | null }[],
  inFlight: 0,
  maxInFlight: 0,
  issued: 0,
  /** Access tokens the API accepts. */
  valid: new Set<string>(),
  api: { ok: 0, rejected: 0 },
  reset() {
    this.session = false
    this.next = []
    this.refreshes = []
    this.logouts = []
    this.inFlight = 0
    this.maxInFlight = 0
    this.issued = 0
    this.valid.clear()
    this.api = { ok: 0, rejected: 0 }
  },
}

const server = setupServer(
  http.all(`${APP}/auth/refresh`, async ({ request }) => {
    backend.inFlight++
    backend.maxInFlight = Math.max(backend.maxInFlight, backend.inFlight)
    backend.refreshes.push({
      method: request.method,
      csrf: request.headers.get('x-csrf'),
      body: await request.text(),
    })
    // A moment on the wire (many turns, no timer: time is fake), so concurrent refreshes overlap.
    for (let turn = 0; turn < 50; turn++) await null
    backend.inFlight--
    const next = backend.next.shift()
    if (next) return next()
    if (request.headers.get('x-csrf') !== '1')
      return HttpResponse.json({ error: 'csrf' }, { status: 403 })
    if (!backend.session) return HttpResponse.json({ error: 'no_session' }, { status: 401 })
    const accessToken = `at-${++backend.issued}`
    backend.valid.add(accessToken)
    return HttpResponse.json({ accessToken, expiresIn: 60, refreshExpiresIn: 3600 })
  }),
  http.post(`${APP}/auth/logout`, ({ request }) => {
    backend.logouts.push({ csrf: request.headers.get('x-csrf') })
    backend.session = false
    return new HttpResponse(null, { status: 204 })
  }),
  http.get(`${APP}/api/me`, ({ request }) => {
    const token = request.headers.get('authorization')?.replace(/^Bearer /, '')
    if (token && backend.valid.has(token)) {
      backend.api.ok++
      return HttpResponse.json({ sub: 'alice' })
    }
    backend.api.rejected++
    return new HttpResponse(null, {
      status: 401,
      headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    })
  }),
)

beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => {
  server.resetHandlers()
  backend.reset()
})
afterAll(() => server.close())

const BACKEND = {
  refresh: '/auth/refresh',
  logout: '/auth/logout',
  headers: { 'X-CSRF': '1' },
  response: (body: unknown) => {
    const { accessToken, expiresIn, refreshExpiresIn } = body as Record<string, unknown>
    return {
      access_token: accessToken as string,
      expires_in: expiresIn as number,
      refresh_expires_in: refreshExpiresIn,
    }
  },
}

/**
 * The credentials mode of each request the SDK made. msw hands handlers a copy of the request
 * that loses it (it reads 'same-origin'), so it is read where the SDK calls fetch.
 */
const credentials = new Map<string, string | undefined>()
/** Every URL the SDK fetched, as it gave it. */
const fetched: string[] = []
const recordingFetch = (input: RequestInfo | URL, init?: RequestInit) => {
  fetched.push(String(input))
  credentials.set(new URL(String(input), APP).pathname, init?.credentials)
  return globalThis.fetch(input, init)
}
afterEach(() => {
  credentials.clear()
  fetched.length = 0
})

const { create } = useClients({ backend: BACKEND, fetch: recordingFetch }, { fakeTimers: T0 })

describe('a session backend', () => {
  it('rejects calls with no_session, without expired, while the backend has no session', async () => {
    const auth = create()
    const expired = collect(auth, 'expired')
    await expect(auth.getAccessToken()).rejects.toMatchObject({
      name: 'NoSessionError',
      code: 'no_session',
    })
    await expect(auth.fetch(`${APP}/api/me`)).rejects.toMatchObject({ code: 'no_session' })
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'no_session' })
    expect(expired).toEqual([])
    expect(backend.refreshes).toHaveLength(3)
    expect(backend.api.ok + backend.api.rejected).toBe(0)
  })

  it('starts the session with the first call once the backend has one, no setTokens needed', async () => {
    const auth = create()
    backend.session = true
    const tokens = collect(auth, 'tokens')
    const response = await auth.fetch(`${APP}/api/me`)
    expect(response.status).toBe(200)
    expect(auth.tokens).toMatchObject({
      accessToken: 'at-1',
      tokenType: 'Bearer',
      expiresAt: T0 + 60_000,
    })
    expect(auth.tokens?.refreshExpiresAt).toBe(T0 + 3_600_000)
    expect(auth.tokens?.refreshToken).toBeUndefined()
    expect(tokens).toHaveLength(1)
    // The cookie goes with the request; the CSRF header too; nothing in the body.
    expect(backend.refreshes).toEqual([{ method: 'POST', csrf: '1', body: '' }])
    expect(credentials.get('/auth/refresh')).toBe('include')
  })

  it('makes one backend request for many calls at once, and one at a time across tabs', async () => {
    backend.session = true
    const first = create()
    const second = create()
    const calls = [first, second].flatMap((auth) =>
      Array.from({ length: 10 }, () => auth.fetch(`${APP}/api/me`)),
    )
    await vi.advanceTimersByTimeAsync(1_000)
    const statuses = (await Promise.all(calls)).map((response) => response.status)
    expect(statuses.every((status) => status === 200)).toBe(true)
    expect(backend.maxInFlight).toBe(1)
    // The second tab adopted the first tab's session, or asked after it: never two at once.
    expect(backend.refreshes.length).toBeLessThanOrEqual(2)
    expect(second.tokens?.accessToken).toBe(first.tokens?.accessToken)
  })

  it('renews before expiry and on a 401, like any session', async () => {
    backend.session = true
    const auth = create()
    await auth.getAccessToken()
    // Due 30 s (the leeway) before the 60 s lifetime, less a jitter of at most 1 s.
    await vi.advanceTimersByTimeAsync(29_000 - 1)
    expect(backend.refreshes.length).toBe(1)
    await vi.advanceTimersByTimeAsync(1_001)
    expect(backend.refreshes.length).toBe(2)
    expect(auth.tokens?.accessToken).toBe('at-2')
    backend.valid.clear()
    const response = await auth.fetch(`${APP}/api/me`)
    expect(response.status).toBe(200)
    expect(backend.refreshes.length).toBe(3)
  })

  it('ends an existing session with expired when the backend answers 401 or 403, then asks again', async () => {
    backend.session = true
    const auth = create()
    await auth.getAccessToken()
    const expired = collect(auth, 'expired')
    backend.next.push(() => HttpResponse.json({ error: 'csrf' }, { status: 403 }))
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'session_expired' })
    expect(expired).toHaveLength(1)
    expect(auth.tokens).toBeNull()
    // The app may have signed in again meanwhile: the next call asks the backend.
    expect(await auth.getAccessToken()).toBe('at-2')
    backend.session = false
    backend.valid.clear()
    await expect(auth.fetch(`${APP}/api/me`)).rejects.toMatchObject({ code: 'session_expired' })
    expect(expired).toHaveLength(2)
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'no_session' })
    expect(expired).toHaveLength(2)
  })

  it('ends the session on invalid_grant from a backend that speaks RFC 6749', async () => {
    backend.session = true
    const auth = create()
    await auth.getAccessToken()
    backend.next.push(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 }))
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'session_expired' })
  })

  it.each([
    ['503', () => new HttpResponse('busy', { status: 503 })],
    ['501', () => new HttpResponse('no', { status: 501 })],
    ['429', () => new HttpResponse(null, { status: 429, headers: { 'Retry-After': '3' } })],
    ['408', () => new HttpResponse(null, { status: 408 })],
    ['a network failure', () => HttpResponse.error()],
  ])('keeps the session through %s, and reports it', async (_, answer) => {
    backend.session = true
    const auth = create()
    const token = await auth.getAccessToken()
    const errors = collect(auth, 'error')
    server.use(http.post(`${APP}/auth/refresh`, answer))
    // The renewal asks again in place after short pauses, then gives up for now.
    const renewal = auth.refresh().catch((error: unknown) => error)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(await renewal).toMatchObject({ code: 'token_endpoint_unavailable' })
    expect(auth.tokens?.accessToken).toBe(token)
    expect(errors.map((error) => error.code)).toEqual(['token_endpoint_unavailable'])
    expect((await auth.fetch(`${APP}/api/me`)).status).toBe(200)
  })

  it.each([
    [
      'an HTML page',
      () => new HttpResponse('<html>login</html>', { headers: { 'Content-Type': 'text/html' } }),
    ],
    ['a body without an access token', () => HttpResponse.json({ expiresIn: 60 })],
    ['JSON null', () => HttpResponse.json(null)],
    ['a token with a line break', () => HttpResponse.json({ accessToken: 'a\nb', expiresIn: 60 })],
  ])('refuses %s as invalid_token_response and keeps the session', async (_, answer) => {
    backend.session = true
    const auth = create()
    const token = await auth.getAccessToken()
    backend.next.push(answer)
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'invalid_token_response' })
    expect(auth.tokens?.accessToken).toBe(token)
  })

  it('keeps what a failing response mapping says (it may quote the body) out of the error', async () => {
    backend.session = true
    const auth = create({
      backend: {
        ...BACKEND,
        response: (body) => {
          throw new Error(`cannot map ${JSON.stringify(body)}`)
        },
      },
    })
    const error = (await auth.getAccessToken().catch((caught: unknown) => caught)) as Error
    expect(error).toMatchObject({ code: 'invalid_token_response' })
    expect(`${error.message} ${JSON.stringify(error)} ${String(error.cause)}`).not.toContain('at-1')
  })

  it('takes an RFC 6749 body as it is when no mapping is given, token_type optional', async () => {
    backend.session = true
    server.use(
      http.post(`${APP}/auth/refresh`, () =>
        HttpResponse.json({ access_token: 'plain-1', expires_in: 30 }),
      ),
    )
    const auth = create({ backend: { refresh: '/auth/refresh' } })
    expect(await auth.getAccessToken()).toBe('plain-1')
    expect(auth.tokens?.expiresAt).toBe(T0 + 30_000)
  })

  it('sends a refresh token the backend handed out through request(), by GET when asked', async () => {
    backend.session = true
    const seen: string[] = []
    server.use(
      http.post(`${APP}/auth/refresh`, async ({ request }) => {
        const { refreshToken } = (await request.json()) as { refreshToken?: string }
        seen.push(String(refreshToken))
        return HttpResponse.json({
          access_token: `at-${seen.length}`,
          refresh_token: `rt-${seen.length}`,
        })
      }),
      http.get(`${APP}/auth/session`, ({ request }) => {
        seen.push(`GET ${request.headers.get('x-csrf')}`)
        return HttpResponse.json({ access_token: 'get-1' })
      }),
    )
    const auth = create({
      backend: {
        refresh: '/auth/refresh',
        request: (refreshToken) => JSON.stringify({ refreshToken }),
      },
    })
    await auth.getAccessToken()
    await auth.refresh()
    expect(seen).toEqual(['undefined', 'rt-1'])
    // Another client id: two backends on one origin keep their sessions (and tabs' channels) apart.
    const viaGet = create({
      clientId: 'other',
      backend: { refresh: '/auth/session', method: 'GET', headers: { 'X-CSRF': '1' } },
    })
    expect(await viaGet.getAccessToken()).toBe('get-1')
    expect(seen.at(-1)).toBe('GET 1')
    expect(credentials.get('/auth/session')).toBe('include')
  })

  it('calls the backend logout with the cookie and the CSRF header, with or without a session here', async () => {
    backend.session = true
    const auth = create()
    await auth.getAccessToken()
    const logouts = collect(auth, 'logout')
    await auth.logout()
    expect(logouts).toHaveLength(1)
    expect(backend.logouts).toEqual([{ csrf: '1' }])
    expect(credentials.get('/auth/logout')).toBe('include')
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'no_session' })
    // Another tab may have signed in: logout() still ends the backend's session.
    const other = create().logout()
    // A new tab first asks its siblings for the session, a short wait.
    await vi.advanceTimersByTimeAsync(1_000)
    await other
    expect(backend.logouts).toHaveLength(2)
  })

  it('fires session-ending before the backend session hard end, then ends it', async () => {
    backend.session = true
    const auth = create({ sessionEndingNotice: 120_000 })
    const ending = collect(auth, 'session-ending')
    const expired = collect(auth, 'expired')
    server.use(
      http.post(`${APP}/auth/refresh`, () =>
        HttpResponse.json({
          accessToken: `at-${++backend.issued}`,
          expiresIn: 60,
          refreshExpiresIn: 300 - (Date.now() - T0) / 1000,
        }),
      ),
    )
    await auth.getAccessToken()
    await vi.advanceTimersByTimeAsync(180_000 - 1)
    expect(ending).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(ending).toEqual([{ endsAt: T0 + 300_000 }])
    await vi.advanceTimersByTimeAsync(120_000)
    expect(expired).toHaveLength(1)
    expect(ending).toHaveLength(1)
  })

  it('sends no body by GET even with request(), and asks for JSON', async () => {
    backend.session = true
    const seen: string[] = []
    server.use(
      http.get(`${APP}/auth/session`, async ({ request }) => {
        seen.push(`${request.headers.get('accept')} ${await request.text()}`)
        return HttpResponse.json({ access_token: 'get-2' })
      }),
    )
    const auth = create({
      clientId: 'get',
      backend: { refresh: '/auth/session', method: 'GET', request: () => 'a body' },
    })
    expect(await auth.getAccessToken()).toBe('get-2')
    expect(seen).toEqual(['application/json '])
  })

  it('redacts the access token a backend quotes back in its error', async () => {
    backend.session = true
    const auth = create()
    const token = await auth.getAccessToken()
    backend.next.push(() =>
      HttpResponse.json(
        { error: 'invalid_request', error_description: `bad token ${token}` },
        { status: 400 },
      ),
    )
    const error = (await auth.refresh().catch((caught: unknown) => caught)) as Error
    expect(error).toMatchObject({ code: 'token_endpoint_error', error: 'invalid_request' })
    expect(JSON.stringify(error)).not.toContain(token)
  })

  it('names the backend when its answer is no token response', async () => {
    backend.session = true
    backend.next.push(
      () => new HttpResponse('<html/>', { headers: { 'Content-Type': 'text/html' } }),
    )
    const error = (await create()
      .getAccessToken()
      .catch((caught: unknown) => caught)) as Error
    expect(error.message).toBe(
      'session backend answered HTTP 200 with a body that is not a token response',
    )
  })

  it('calls nothing at logout without a logout endpoint', async () => {
    backend.session = true
    const auth = create({
      clientId: 'no-logout',
      backend: { ...BACKEND, logout: undefined } as never,
    })
    await auth.getAccessToken()
    fetched.length = 0
    await auth.logout()
    expect(fetched).toEqual([])
    expect(backend.logouts).toEqual([])
  })

  it('needs no clientId, and resolves its URLs against the page', () => {
    expect(() => create({ backend: { refresh: 'https://evil.example.com:99999/x' } })).toThrow(
      TypeError,
    )
    expect(() =>
      create({ backend: { refresh: 'http://backend.example.com/auth/refresh' } }),
    ).toThrow(/https/)
    expect(() => create({ backend: { refresh: '/r', method: 'PUT' as 'POST' } })).toThrow(
      /backend.method/,
    )
    expect(() =>
      create({ backend: BACKEND, tokenEndpoint: 'https://auth.example.com/token' }),
    ).toThrow(/exactly one/)
  })
})
