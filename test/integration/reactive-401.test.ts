/**
 * The reactive path: a 401 from the API renews the access token once and retries the request once
 * with the same body. The mock's `expireAccessTokens()` makes the server reject a token the client
 * still believes valid, which is exactly what a revoked or clock-skewed token looks like.
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises'
import { SessionExpiredError, TokenEndpointUnavailableError } from 'freshtoken'
import { createMockTokenServer, type MockFault } from 'freshtoken/testing'
import { HttpResponse, http } from 'msw'
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { attemptRecorder } from '../mocks/requests.js'
import { API_ORIGIN, APP_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'

// An hour-long access token: no proactive renewal fires while fake time is advanced.
const { mock, server } = useMockEnvironment({ accessTokenLifetime: 3_600_000 })

const { create: createClient } = useClients(
  { clientId: CLIENT_ID, tokenEndpoint: mock.endpoints.token, apiOrigins: [API_ORIGIN] },
  { fakeTimers: 'in-test' },
)

/** Records every non-preflight request to `path` on the API, then lets the mock answer it. */
const recordAttempts = attemptRecorder(server)

/**
 * Lets real I/O (happy-dom's fetch through msw) make progress while fake time stands still,
 * until `done()` holds. Yields macrotasks only; it never sleeps.
 */
async function until(done: () => boolean): Promise<void> {
  for (let turn = 0; turn < 500 && !done(); turn++) await nextMacrotask()
  expect(done()).toBe(true)
}

it('renews once and retries once with the new token when the API answers 401', async () => {
  const auth = createClient()
  const session = mock.issueTokens()
  auth.setTokens(session)
  mock.expireAccessTokens()
  const attempts = recordAttempts('/me')

  const response = await auth.fetch(`${API_ORIGIN}/me`)

  expect(response.status).toBe(200)
  expect(await response.json()).toMatchObject({ sub: 'user-1' })
  const renewed = auth.tokens?.accessToken
  expect(renewed).toBeDefined()
  expect(renewed).not.toBe(session.access_token)
  expect(attempts.map((attempt) => attempt.authorization)).toEqual([
    `Bearer ${session.access_token}`,
    `Bearer ${renewed}`,
  ])
  expect(mock.counters).toMatchObject({ token: 1, tokenSuccess: 1, api: 2, api401: 1 })
  expect(mock.log.api.map((entry) => [entry.status, entry.token])).toEqual([
    [401, 'expired'],
    [200, 'active'],
  ])
})

describe('body replay', () => {
  const text = (value: string) => new TextEncoder().encode(value)
  it.each<[string, () => [RequestInfo, RequestInit?], string, string | null]>([
    [
      'a string',
      () => [`${API_ORIGIN}/echo`, { method: 'POST', body: 'plain text, twice' }],
      'plain text, twice',
      'text/plain;charset=UTF-8',
    ],
    [
      'a JSON string',
      () => [
        `${API_ORIGIN}/echo`,
        {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: 'Ada', tags: ['a', 'b'] }),
        },
      ],
      '{"name":"Ada","tags":["a","b"]}',
      'application/json',
    ],
    [
      'URLSearchParams',
      () => [
        `${API_ORIGIN}/echo`,
        { method: 'POST', body: new URLSearchParams({ q: 'a b', n: '1' }) },
      ],
      'q=a+b&n=1',
      'application/x-www-form-urlencoded;charset=UTF-8',
    ],
    [
      'a Blob',
      () => [
        `${API_ORIGIN}/echo`,
        { method: 'PUT', body: new Blob(['blob ', 'parts'], { type: 'text/csv' }) },
      ],
      'blob parts',
      'text/csv',
    ],
    [
      'an ArrayBuffer',
      () => [`${API_ORIGIN}/echo`, { method: 'POST', body: text('array buffer').buffer }],
      'array buffer',
      null,
    ],
    [
      'a Uint8Array',
      () => [`${API_ORIGIN}/echo`, { method: 'POST', body: text('typed array') }],
      'typed array',
      null,
    ],
    [
      'a Request with a body',
      () => [
        new Request(`${API_ORIGIN}/echo`, {
          method: 'PUT',
          headers: { 'Content-Type': 'text/plain' },
          body: 'from a Request',
        }),
      ],
      'from a Request',
      'text/plain',
    ],
  ])('sends the same body from %s on the retry', async (_, args, body, contentType) => {
    const auth = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    mock.expireAccessTokens()
    const attempts = recordAttempts('/echo')
    const [input, init] = args()

    const response = await auth.fetch(input, init)

    expect(response.status).toBe(200)
    const method = init?.method ?? (input as Request).method
    expect(await response.json()).toEqual({ method, path: '/echo', query: '', contentType, body })
    expect(attempts).toEqual([
      { method, authorization: `Bearer ${session.access_token}`, contentType, body },
      { method, authorization: `Bearer ${auth.tokens?.accessToken}`, contentType, body },
    ])
    expect(mock.counters).toMatchObject({ token: 1, api: 2, api401: 1 })
  })

  it('sends the same multipart body from FormData on the retry', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.expireAccessTokens()
    const attempts = recordAttempts('/echo')
    const form = new FormData()
    form.set('field', 'value')
    form.set('file', new File(['file contents'], 'notes.txt', { type: 'text/plain' }))

    const response = await auth.fetch(`${API_ORIGIN}/echo`, { method: 'POST', body: form })

    expect(response.status).toBe(200)
    expect(attempts).toHaveLength(2)
    const [first, retry] = attempts
    const boundary = /^multipart\/form-data; ?boundary=(.+)$/.exec(first?.contentType ?? '')?.[1]
    expect(boundary).toBeDefined()
    expect(first?.body).toContain(`--${boundary}`)
    expect(first?.body).toContain('name="field"\r\n\r\nvalue\r\n')
    expect(first?.body).toContain('filename="notes.txt"')
    expect(first?.body).toContain('file contents')
    expect(retry?.contentType).toBe(first?.contentType)
    expect(retry?.body).toBe(first?.body)
    expect(await response.json()).toMatchObject({
      contentType: first?.contentType,
      body: first?.body,
    })
    expect(mock.counters).toMatchObject({ token: 1, api: 2 })
  })

  it('sends a ReadableStream body once and returns its 401 without renewing', async () => {
    const auth = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    mock.expireAccessTokens()
    const attempts = recordAttempts('/echo')
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(text('streamed '))
        controller.enqueue(text('once'))
        controller.close()
      },
    })

    const response = await auth.fetch(`${API_ORIGIN}/echo`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as RequestInit)

    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'invalid_token' })
    expect(attempts).toEqual([
      {
        method: 'POST',
        authorization: `Bearer ${session.access_token}`,
        contentType: null,
        body: 'streamed once',
      },
    ])
    expect(mock.counters).toMatchObject({ token: 0, api: 1, api401: 1 })
    expect(auth.tokens?.accessToken).toBe(session.access_token)
  })
})

describe('which 401s renew', () => {
  it('retries at most once: a second 401 is returned, after one renewal', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({ type: 'status', status: 401, target: 'api', times: 2 })

    const response = await auth.fetch(`${API_ORIGIN}/me`)

    expect(response.status).toBe(401)
    expect(await response.text()).toBe('Unauthorized')
    expect(mock.counters).toMatchObject({ api: 2, api401: 2, token: 1, tokenSuccess: 1 })
  })

  it('treats a plain 401 without WWW-Authenticate as invalid_token', async () => {
    const auth = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    mock.injectFault({ type: 'status', status: 401, target: 'api' })

    const response = await auth.fetch(`${API_ORIGIN}/me`)

    expect(response.status).toBe(200)
    expect(mock.log.api.map((entry) => [entry.status, entry.fault])).toEqual([
      [401, 'status'],
      [200, null],
    ])
    expect(mock.counters.token).toBe(1)
    expect(auth.tokens?.accessToken).not.toBe(session.access_token)
  })

  it('treats a 401 with a non-Bearer challenge as invalid_token', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    server.use(
      http.get(
        `${API_ORIGIN}/me`,
        () =>
          new HttpResponse('Unauthorized', {
            status: 401,
            headers: {
              'Access-Control-Allow-Origin': APP_ORIGIN,
              'Access-Control-Expose-Headers': 'WWW-Authenticate',
              'WWW-Authenticate': 'Basic realm="legacy", charset="UTF-8"',
            },
          }),
        { once: true },
      ),
    )

    const response = await auth.fetch(`${API_ORIGIN}/me`)

    expect(response.status).toBe(200)
    expect(mock.counters).toMatchObject({ token: 1, api: 1 })
  })

  it('returns a 401 insufficient_scope challenge without renewing', async () => {
    // Some APIs answer insufficient_scope with 401 instead of RFC 6750's 403.
    const scoped = createMockTokenServer({
      issuer: ISSUER,
      clientId: CLIENT_ID,
      apiOrigin: API_ORIGIN,
      allowedOrigins: [APP_ORIGIN],
      accessTokenLifetime: 3_600_000,
      insufficientScopeStatus: 401,
    })
    server.use(...scoped.handlers)
    const auth = createClient()
    const session = scoped.issueTokens({ scope: 'openid profile' })
    auth.setTokens(session)

    const denied = await auth.fetch(`${API_ORIGIN}/scoped/admin`)
    const granted = await auth.fetch(`${API_ORIGIN}/scoped/profile`)

    expect(denied.status).toBe(401)
    expect(denied.headers.get('WWW-Authenticate')).toContain('error="insufficient_scope"')
    expect(granted.status).toBe(200)
    expect(scoped.counters).toMatchObject({ api: 2, api401: 1, token: 0 })
    expect(auth.tokens?.accessToken).toBe(session.access_token)
  })

  it('returns insufficient_scope in a challenge that also names another scheme, without renewing', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    server.use(
      http.get(`${API_ORIGIN}/reports`, () =>
        HttpResponse.json(
          { error: 'insufficient_scope' },
          {
            status: 401,
            headers: {
              'Access-Control-Allow-Origin': APP_ORIGIN,
              'Access-Control-Expose-Headers': 'WWW-Authenticate',
              'WWW-Authenticate':
                'Basic realm="legacy", Bearer realm="api", error="insufficient_scope", error_description="needs reports, read"',
            },
          },
        ),
      ),
    )

    const response = await auth.fetch(`${API_ORIGIN}/reports`)

    expect(response.status).toBe(401)
    expect(mock.counters.token).toBe(0)
  })

  it('returns a 403 insufficient_scope answer untouched', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())

    const response = await auth.fetch(`${API_ORIGIN}/scoped/admin`)

    expect(response.status).toBe(403)
    expect(mock.counters).toMatchObject({ api: 1, api403: 1, token: 0 })
  })
})

describe('stale 401s', () => {
  it('retries a 401 for a token a renewal already replaced with the current token, without renewing again', async () => {
    vi.useFakeTimers()
    const auth = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    const attempts = recordAttempts('/me')
    mock.injectFault({ type: 'latency', ms: 5_000, target: 'api' })

    // A slow request carrying the first token is on its way...
    const slow = auth.fetch(`${API_ORIGIN}/me`)
    await until(() => mock.counters.api === 1)
    // ...the server stops accepting that token, and a renewal replaces it meanwhile (after
    // waiting 3 s at most for the call on its way: the drain).
    mock.expireAccessTokens()
    const renewal = auth.refresh()
    await vi.advanceTimersByTimeAsync(3_000)
    const renewed = await renewal
    expect(mock.counters.token).toBe(1)

    await vi.advanceTimersByTimeAsync(2_000)
    const response = await slow

    expect(response.status).toBe(200)
    expect(attempts.map((attempt) => attempt.authorization)).toEqual([
      `Bearer ${session.access_token}`,
      `Bearer ${renewed.accessToken}`,
    ])
    expect(mock.log.api.map((entry) => [entry.status, entry.token])).toEqual([
      [401, 'expired'],
      [200, 'active'],
    ])
    expect(mock.counters.token).toBe(1)
  })

  it('lets 401s that arrive after a renewal completed retry without further token calls', async () => {
    vi.useFakeTimers()
    const auth = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    mock.injectFault({ type: 'latency', ms: 2_000, target: 'api', times: 4 })

    const slow = Array.from({ length: 4 }, () => auth.fetch(`${API_ORIGIN}/me`))
    await until(() => mock.counters.api === 4)
    mock.expireAccessTokens()
    // A fast request meets the 401 first and renews, once the slow ones (on their way when the
    // renewal started) have been answered, at 2 s.
    const fastCall = auth.fetch(`${API_ORIGIN}/me`)
    await vi.advanceTimersByTimeAsync(2_000)
    const fast = await fastCall
    expect(fast.status).toBe(200)
    expect(mock.counters.token).toBe(1)

    const responses = await Promise.all(slow)

    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200])
    expect(mock.counters).toMatchObject({ token: 1, api: 10, api401: 5 })
    expect(auth.tokens?.accessToken).not.toBe(session.access_token)
  })
})

describe('when the renewal after a 401 fails', () => {
  it('rejects with SessionExpiredError and ends the session when the refresh token is rejected', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.expireAccessTokens()
    mock.revokeRefreshTokens()

    const error = await auth.fetch(`${API_ORIGIN}/me`).catch((caught: unknown) => caught)

    expect(error).toBeInstanceOf(SessionExpiredError)
    expect(error).toMatchObject({ code: 'session_expired' })
    expect(mock.counters).toMatchObject({ api: 1, token: 1, tokenError: 1 })
    expect(mock.log.token[0]?.error).toBe('invalid_grant')
    expect(auth.tokens).toBeNull()
  })

  it.each<[string, MockFault, number | undefined]>([
    ['unreachable', { type: 'network-error', times: Number.POSITIVE_INFINITY }, undefined],
    ['answering 503', { type: 'status', status: 503, times: Number.POSITIVE_INFINITY }, 503],
  ])(
    'rejects with token_endpoint_unavailable and keeps the session when the token server is %s',
    async (_, fault, status) => {
      vi.useFakeTimers()
      const auth = createClient()
      auth.setTokens(mock.issueTokens())
      const before = auth.tokens
      mock.expireAccessTokens()
      mock.injectFault(fault)

      const failed = expect(auth.fetch(`${API_ORIGIN}/me`)).rejects.toSatisfy(
        (error) =>
          error instanceof TokenEndpointUnavailableError &&
          error.code === 'token_endpoint_unavailable' &&
          error.status === status,
      )
      await vi.advanceTimersByTimeAsync(20_000)
      await failed

      // One renewal: the first request and two retries in place, after pauses of 1 s and 2 s.
      expect(mock.counters).toMatchObject({ api: 1, token: 3, tokenSuccess: 0 })
      expect(auth.tokens).toEqual(before)

      // The session survives the outage: once the server is back, the next 401 renews.
      mock.clearFaults()
      await vi.advanceTimersByTimeAsync(1_000)
      const response = await auth.fetch(`${API_ORIGIN}/me`)
      expect(response.status).toBe(200)
      expect(mock.counters).toMatchObject({ api: 3, token: 4, tokenSuccess: 1 })
    },
  )
})
