/**
 * Which requests receive the access token: only those whose origin is in `apiOrigins` (by default
 * the page's own origin), never one that already carries `Authorization`, and never in a URL.
 * What arrived is observed on the wire through msw handlers and the mock's request log.
 */
import type { TokenClientOptions } from 'freshtoken'
import { HttpResponse, http } from 'msw'
import { describe, expect, it } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { API_ORIGIN, APP_ORIGIN, CLIENT_ID, useMockEnvironment } from '../mocks/setup.js'

const { mock, server } = useMockEnvironment()

const clients = useClients({ clientId: CLIENT_ID, tokenEndpoint: mock.endpoints.token })

/** A client for the mock; `apiOrigins` is the mock API unless overridden (or set to undefined). */
function createClient(options: Partial<TokenClientOptions> = { apiOrigins: [API_ORIGIN] }) {
  return clients.create(options)
}

/** A request as it reached the network. */
interface Arrival {
  readonly method: string
  readonly url: string
  readonly authorization: string | null
}

/**
 * Serves every path of `origin` with a 401 `invalid_token` challenge (CORS open to the app) and
 * records what arrived. The 401 is bait: a client that wrongly treated the origin as its API
 * would renew and retry.
 */
function serveForeignOrigin(origin: string): Arrival[] {
  const arrivals: Arrival[] = []
  const cors = {
    'Access-Control-Allow-Origin': APP_ORIGIN,
    'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE',
    'Access-Control-Allow-Headers': 'Authorization, Content-Type',
    'Access-Control-Expose-Headers': 'WWW-Authenticate',
  }
  server.use(
    http.all(`${origin}/*`, ({ request }) => {
      if (request.method === 'OPTIONS')
        return new HttpResponse(null, { status: 204, headers: cors })
      arrivals.push({
        method: request.method,
        url: request.url,
        authorization: request.headers.get('Authorization'),
      })
      return HttpResponse.json(
        { error: 'invalid_token' },
        { status: 401, headers: { ...cors, 'WWW-Authenticate': 'Bearer error="invalid_token"' } },
      )
    }),
  )
  return arrivals
}

/** Records every request msw sees (preflights included) and lets the next handler answer it. */
function recordAllRequests(): Arrival[] {
  const arrivals: Arrival[] = []
  server.use(
    http.all('*', ({ request }) => {
      arrivals.push({
        method: request.method,
        url: request.url,
        authorization: request.headers.get('Authorization'),
      })
    }),
  )
  return arrivals
}

describe('with apiOrigins', () => {
  it('attaches the access token to requests for a listed API origin', async () => {
    const auth = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    const arrivals = recordAllRequests()

    const response = await auth.fetch(`${API_ORIGIN}/me`)

    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      sub: 'user-1',
      scope: 'openid profile',
      client_id: CLIENT_ID,
    })
    const sent = arrivals.filter((arrival) => arrival.method === 'GET')
    expect(sent).toEqual([
      {
        method: 'GET',
        url: `${API_ORIGIN}/me`,
        authorization: `Bearer ${session.access_token}`,
      },
    ])
    expect(mock.log.api).toMatchObject([{ path: '/me', status: 200, token: 'active' }])
    expect(mock.counters.token).toBe(0)
  })

  it.each([
    ['a look-alike host that starts with the API host', 'https://api.example.com.evil.test'],
    ['a subdomain of the API host', 'https://v2.api.example.com'],
    ['the API host on another port', 'https://api.example.com:8443'],
    ['the page origin when it is not listed', APP_ORIGIN],
  ])('sends no token to %s and returns its 401 untouched', async (_, origin) => {
    const auth = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    const arrivals = serveForeignOrigin(origin)

    const response = await auth.fetch(`${origin}/me`)

    expect(response.status).toBe(401)
    expect(arrivals).toEqual([{ method: 'GET', url: `${origin}/me`, authorization: null }])
    expect(mock.counters.token).toBe(0)
    expect(mock.counters.api).toBe(0)
    expect(auth.tokens?.accessToken).toBe(session.access_token)
  })

  it('sends no token to the same host and port under another scheme', async () => {
    // http: is accepted for loopback origins only; the https: twin is a different origin.
    const auth = createClient({ apiOrigins: ['http://localhost:4000'] })
    auth.setTokens(mock.issueTokens())
    const arrivals = serveForeignOrigin('https://localhost:4000')

    const response = await auth.fetch('https://localhost:4000/me')

    expect(response.status).toBe(401)
    expect(arrivals).toEqual([
      { method: 'GET', url: 'https://localhost:4000/me', authorization: null },
    ])
    expect(mock.counters.token).toBe(0)
  })

  it('matches origins after URL normalisation: host case and the default port do not matter', async () => {
    const auth = createClient({ apiOrigins: ['https://API.example.com:443/'] })
    const session = mock.issueTokens()
    auth.setTokens(session)
    const arrivals = recordAllRequests()

    const response = await auth.fetch('https://Api.Example.com:443/me')

    expect(response.status).toBe(200)
    expect(arrivals.filter((arrival) => arrival.method === 'GET')).toEqual([
      { method: 'GET', url: `${API_ORIGIN}/me`, authorization: `Bearer ${session.access_token}` },
    ])
  })

  it('resolves a relative URL against the page origin, which is not the API', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const arrivals = serveForeignOrigin(APP_ORIGIN)

    const response = await auth.fetch('/me')

    expect(response.status).toBe(401)
    expect(arrivals).toEqual([{ method: 'GET', url: `${APP_ORIGIN}/me`, authorization: null }])
    expect(mock.counters.token).toBe(0)
  })
})

describe('without apiOrigins', () => {
  it('sends the token to the page origin only', async () => {
    const auth = createClient({})
    const session = mock.issueTokens()
    auth.setTokens(session)
    const arrivals = serveForeignOrigin(APP_ORIGIN)

    const own = await auth.fetch(`${APP_ORIGIN}/profile`)
    const api = await auth.fetch(`${API_ORIGIN}/me`)

    // The page origin got the token (its 401 then made the client renew and retry once).
    expect(own.status).toBe(401)
    expect(arrivals.map((arrival) => arrival.authorization)).toEqual([
      `Bearer ${session.access_token}`,
      `Bearer ${auth.tokens?.accessToken}`,
    ])
    expect(mock.counters.token).toBe(1)
    // The API origin is not the page's: no token, so the mock saw none and answered 401.
    expect(api.status).toBe(401)
    expect(mock.log.api).toMatchObject([{ path: '/me', status: 401, token: 'missing' }])
    expect(mock.counters.token).toBe(1)
  })

  it('attaches the token to a relative URL, resolved against the page origin', async () => {
    const auth = createClient({})
    const session = mock.issueTokens()
    auth.setTokens(session)
    server.use(http.get(`${APP_ORIGIN}/api/profile`, () => HttpResponse.json({ name: 'Ada' })))
    const arrivals = recordAllRequests()

    const response = await auth.fetch('/api/profile?tab=security')

    expect(await response.json()).toEqual({ name: 'Ada' })
    expect(arrivals).toEqual([
      {
        method: 'GET',
        url: `${APP_ORIGIN}/api/profile?tab=security`,
        authorization: `Bearer ${session.access_token}`,
      },
    ])
  })
})

describe('request shapes', () => {
  it('attaches the token to a Request object, keeping its method, headers and body', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const request = new Request(`${API_ORIGIN}/echo?page=2`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: '{"name":"Ada"}',
    })

    const response = await auth.fetch(request)

    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      method: 'PUT',
      path: '/echo',
      query: '?page=2',
      contentType: 'application/json',
      body: '{"name":"Ada"}',
    })
    expect(mock.log.api).toMatchObject([{ path: '/echo', status: 200, token: 'active' }])
  })

  it('attaches the token to a URL object', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())

    const response = await auth.fetch(new URL('/me', API_ORIGIN))

    expect(response.status).toBe(200)
    expect(mock.log.api).toMatchObject([{ path: '/me', status: 200, token: 'active' }])
  })
})

describe('every spelling of a request URL', () => {
  /** Answers every request to any origin with 200 (CORS open to the app) and records it. */
  function answerEverything(): Arrival[] {
    const arrivals: Arrival[] = []
    const cors = {
      'Access-Control-Allow-Origin': APP_ORIGIN,
      'Access-Control-Allow-Methods': 'GET',
      'Access-Control-Allow-Headers': 'Authorization',
    }
    server.use(
      http.all('*', ({ request }) => {
        if (request.method === 'OPTIONS') {
          return new HttpResponse(null, { status: 204, headers: cors })
        }
        arrivals.push({
          method: request.method,
          url: request.url,
          authorization: request.headers.get('Authorization'),
        })
        return HttpResponse.json({}, { headers: cors })
      }),
    )
    return arrivals
  }

  const EVIL = 'https://evil.test'
  // `null`: the platform's fetch refuses it (credentials in a URL, mixed content) and nothing goes.
  it.each<[string, RequestInfo | URL, readonly string[], string | null, boolean]>([
    ['the bare origin', API_ORIGIN, [API_ORIGIN], `${API_ORIGIN}/`, true],
    [
      'a query right after the host',
      `${API_ORIGIN}?page=2`,
      [API_ORIGIN],
      `${API_ORIGIN}/?page=2`,
      true,
    ],
    ['a fragment right after the host', `${API_ORIGIN}#top`, [API_ORIGIN], `${API_ORIGIN}/`, true],
    ['upper case', 'HTTPS://API.EXAMPLE.COM/me', [API_ORIGIN], `${API_ORIGIN}/me`, true],
    ['the default port', 'https://api.example.com:443/me', [API_ORIGIN], `${API_ORIGIN}/me`, true],
    [
      'a backslash after the host',
      'https://api.example.com\\me',
      [API_ORIGIN],
      `${API_ORIGIN}/me`,
      true,
    ],
    [
      'a look-alike host',
      `${API_ORIGIN}.evil.test/me`,
      [API_ORIGIN],
      'https://api.example.com.evil.test/me',
      false,
    ],
    ['userinfo before another host', `${API_ORIGIN}@evil.test/me`, [API_ORIGIN], null, false],
    ['userinfo and a port', `${API_ORIGIN}:443@evil.test/me`, [API_ORIGIN], null, false],
    ['another port', `${API_ORIGIN}:8443/me`, [API_ORIGIN], `${API_ORIGIN}:8443/me`, false],
    ['http instead of https', 'http://api.example.com/me', [API_ORIGIN], null, false],
    [
      'a scheme-relative URL to the API',
      '//api.example.com/me',
      [API_ORIGIN],
      `${API_ORIGIN}/me`,
      true,
    ],
    ['a path on the page origin', '/me', [API_ORIGIN], `${APP_ORIGIN}/me`, false],
    ['a path on the page origin, allowed', '/me', [APP_ORIGIN], `${APP_ORIGIN}/me`, true],
    ['a scheme-relative URL elsewhere', '//evil.test/me', [APP_ORIGIN], `${EVIL}/me`, false],
    ['a backslash-relative URL elsewhere', '/\\evil.test/me', [APP_ORIGIN], `${EVIL}/me`, false],
    ['a tab hiding a scheme-relative URL', '/\t/evil.test/me', [APP_ORIGIN], `${EVIL}/me`, false],
    [
      'a newline hiding a scheme-relative URL',
      '/\n/evil.test/me',
      [APP_ORIGIN],
      `${EVIL}/me`,
      false,
    ],
    ['a relative path', 'me', [APP_ORIGIN], `${APP_ORIGIN}/me`, true],
    ['a URL object', new URL('/me', API_ORIGIN), [API_ORIGIN], `${API_ORIGIN}/me`, true],
    ['a URL object elsewhere', new URL('/me', EVIL), [API_ORIGIN], `${EVIL}/me`, false],
    ['a Request', new Request(`${API_ORIGIN}/me`), [API_ORIGIN], `${API_ORIGIN}/me`, true],
    ['a Request elsewhere', new Request(`${EVIL}/me`), [API_ORIGIN], `${EVIL}/me`, false],
    ['a Request with a relative URL', new Request('/me'), [APP_ORIGIN], `${APP_ORIGIN}/me`, true],
  ])(
    'with %s, sends the token only to an allowed origin',
    async (_, input, apiOrigins, url, token) => {
      const auth = createClient({ apiOrigins })
      const session = mock.issueTokens()
      auth.setTokens(session)
      const arrivals = answerEverything()

      if (url === null) {
        await expect(auth.fetch(input)).rejects.toThrow()
        expect(arrivals).toEqual([])
        return
      }
      const response = await auth.fetch(input)

      expect(response.status).toBe(200)
      expect(arrivals).toEqual([
        { method: 'GET', url, authorization: token ? `Bearer ${session.access_token}` : null },
      ])
    },
  )
})

describe('requests that already carry Authorization', () => {
  it.each([
    [
      'init.headers as an object',
      (url: string) => [url, { headers: { Authorization: 'Bearer app-own' } }],
    ],
    [
      'init.headers as a Headers instance',
      (url: string) => [url, { headers: new Headers({ authorization: 'Bearer app-own' }) }],
    ],
    [
      'init.headers as pairs',
      (url: string) => [url, { headers: [['AUTHORIZATION', 'Bearer app-own']] }],
    ],
    [
      'a Request',
      (url: string) => [new Request(url, { headers: { Authorization: 'Bearer app-own' } })],
    ],
  ] as const)('sends one from %s untouched and never retries its 401', async (_, args) => {
    const auth = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    const arrivals = serveForeignOrigin(API_ORIGIN)

    const response = await auth.fetch(...(args(`${API_ORIGIN}/me`) as [RequestInfo, RequestInit?]))

    expect(response.status).toBe(401)
    expect(arrivals).toEqual([
      { method: 'GET', url: `${API_ORIGIN}/me`, authorization: 'Bearer app-own' },
    ])
    expect(mock.counters.token).toBe(0)
    expect(auth.tokens?.accessToken).toBe(session.access_token)
  })

  it('leaves another scheme in Authorization alone too', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const arrivals = serveForeignOrigin(API_ORIGIN)

    const response = await auth.fetch(`${API_ORIGIN}/me`, {
      headers: { Authorization: 'Basic YWRhOmxvdmVsYWNl' },
    })

    expect(response.status).toBe(401)
    expect(arrivals).toEqual([
      { method: 'GET', url: `${API_ORIGIN}/me`, authorization: 'Basic YWRhOmxvdmVsYWNl' },
    ])
    expect(mock.counters.token).toBe(0)
  })
})

it('never puts a token in a request URL, including renewals and retries', async () => {
  const auth = createClient()
  const session = mock.issueTokens()
  auth.setTokens(session)
  serveForeignOrigin('https://cdn.example.com')
  const arrivals = recordAllRequests()

  await auth.fetch(`${API_ORIGIN}/me?include=profile`)
  await auth.fetch(new Request(`${API_ORIGIN}/echo`, { method: 'POST', body: 'a=1' }))
  mock.expireAccessTokens()
  // A 401, a renewal at the token endpoint, and a retry with the new token.
  const retried = await auth.fetch(`${API_ORIGIN}/me`)
  await auth.fetch('https://cdn.example.com/asset.js')

  expect(retried.status).toBe(200)
  expect(mock.counters.token).toBe(1)
  const renewed = auth.tokens
  const secrets = [
    session.access_token,
    session.refresh_token,
    renewed?.accessToken,
    renewed?.refreshToken,
  ].filter((value): value is string => typeof value === 'string')
  expect(secrets).toHaveLength(4)
  expect(arrivals.length).toBeGreaterThanOrEqual(9)
  for (const { url } of arrivals) {
    for (const secret of secrets) {
      expect(url).not.toContain(secret)
      expect(decodeURIComponent(url)).not.toContain(secret)
    }
  }
  // The token travelled in the header, and only to the API.
  const bearers = arrivals.filter((arrival) => arrival.authorization !== null)
  expect(bearers.map((arrival) => [arrival.method, arrival.url, arrival.authorization])).toEqual([
    ['GET', `${API_ORIGIN}/me?include=profile`, `Bearer ${session.access_token}`],
    ['POST', `${API_ORIGIN}/echo`, `Bearer ${session.access_token}`],
    ['GET', `${API_ORIGIN}/me`, `Bearer ${session.access_token}`],
    ['GET', `${API_ORIGIN}/me`, `Bearer ${renewed?.accessToken}`],
  ])
})
