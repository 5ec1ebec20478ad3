/**
 * `auth.ky`: a ky instance on the client's lifecycle. It attaches the token, renews and retries
 * once on a 401 with the same body, leaves API errors as ky's own `HTTPError`, keeps all of that
 * through `.extend()`, and ky's own retries never turn a 401 into extra token calls.
 */
import { isAuthError } from 'freshtoken'
import { HTTPError } from 'ky'
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { attemptRecorder } from '../mocks/requests.js'
import { API_ORIGIN, CLIENT_ID, useMockEnvironment } from '../mocks/setup.js'
import { settle } from '../mocks/time.js'

// An hour-long access token: no proactive renewal fires while fake time is advanced.
const { mock, server } = useMockEnvironment({ accessTokenLifetime: 3_600_000 })

const { create: createClient } = useClients(
  { clientId: CLIENT_ID, tokenEndpoint: mock.endpoints.token, apiOrigins: [API_ORIGIN] },
  { fakeTimers: 'in-test' },
)

/** Records every non-preflight request to `path` on the API, then lets the mock answer it. */
const recordAttempts = attemptRecorder(server, ['authorization', 'contentType', 'body'])

it('attaches the access token to auth.ky requests', async () => {
  const auth = createClient()
  const session = mock.issueTokens()
  auth.setTokens(session)
  const attempts = recordAttempts('/me')

  const me = await auth.ky.get(`${API_ORIGIN}/me`).json()

  expect(me).toEqual({ sub: 'user-1', scope: 'openid profile', client_id: CLIENT_ID })
  expect(attempts.map((attempt) => attempt.authorization)).toEqual([
    `Bearer ${session.access_token}`,
  ])
  expect(mock.counters).toMatchObject({ api: 1, token: 0 })
})

it('renews once on a 401 and retries a JSON post with the same body', async () => {
  const auth = createClient()
  const session = mock.issueTokens()
  auth.setTokens(session)
  mock.expireAccessTokens()
  const attempts = recordAttempts('/echo')

  const echo = await auth.ky.post(`${API_ORIGIN}/echo`, { json: { name: 'Ada', n: 1 } }).json()

  const body = '{"name":"Ada","n":1}'
  expect(echo).toEqual({
    method: 'POST',
    path: '/echo',
    query: '',
    contentType: 'application/json',
    body,
  })
  expect(attempts).toEqual([
    { authorization: `Bearer ${session.access_token}`, contentType: 'application/json', body },
    { authorization: `Bearer ${auth.tokens?.accessToken}`, contentType: 'application/json', body },
  ])
  expect(auth.tokens?.accessToken).not.toBe(session.access_token)
  expect(mock.counters).toMatchObject({ token: 1, api: 2, api401: 1 })
})

it('lets ky retry a GET after a network failure, with the same token', async () => {
  vi.useFakeTimers()
  const auth = createClient()
  const session = mock.issueTokens()
  auth.setTokens(session)
  mock.injectFault({ type: 'network-error', target: 'api' })

  const me = await settle(auth.ky.get(`${API_ORIGIN}/me`).json())

  expect(me).toMatchObject({ status: 'fulfilled', value: { sub: 'user-1' } })
  // The mock counts the request it failed and the retry it answered.
  expect(mock.counters).toMatchObject({ api: 2, api401: 0, token: 0 })
})

it('leaves a 404 from the API as ky’s HTTPError, not an AuthError', async () => {
  const auth = createClient()
  auth.setTokens(mock.issueTokens())

  const error = await auth.ky
    .get(`${API_ORIGIN}/missing`)
    .json()
    .catch((caught: unknown) => caught)

  expect(error).toBeInstanceOf(HTTPError)
  expect(isAuthError(error)).toBe(false)
  expect((error as HTTPError).response.status).toBe(404)
  expect(mock.counters).toMatchObject({ api: 1, token: 0 })
  expect(mock.log.api).toMatchObject([{ path: '/missing', status: 404, token: 'active' }])
})

describe('.extend()', () => {
  it.each([
    ['baseUrl', { baseUrl: `${API_ORIGIN}/` }, 'me'],
    ['prefix', { prefix: API_ORIGIN }, '/me'],
  ] as const)('keeps the lifecycle with a %s', async (_, options, path) => {
    const auth = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    const api = auth.ky.extend(options)
    const attempts = recordAttempts('/me')

    expect(await api.get(path).json()).toMatchObject({ sub: 'user-1' })
    mock.expireAccessTokens()
    expect(await api.get(path).json()).toMatchObject({ sub: 'user-1' })

    expect(attempts.map((attempt) => attempt.authorization)).toEqual([
      `Bearer ${session.access_token}`,
      `Bearer ${session.access_token}`,
      `Bearer ${auth.tokens?.accessToken}`,
    ])
    expect(mock.counters).toMatchObject({ api: 3, api401: 1, token: 1 })
  })
})

describe('ky’s own retries', () => {
  it('return a persistent 401 as HTTPError after one renewal, whatever the retry limit', async () => {
    vi.useFakeTimers()
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({
      type: 'status',
      status: 401,
      target: 'api',
      times: Number.POSITIVE_INFINITY,
    })

    const result = await settle(auth.ky.get(`${API_ORIGIN}/me`, { retry: { limit: 5 } }).json())

    expect(result.status).toBe('rejected')
    const error = (result as PromiseRejectedResult).reason
    expect(error).toBeInstanceOf(HTTPError)
    expect((error as HTTPError).response.status).toBe(401)
    expect(mock.counters).toMatchObject({ api: 2, api401: 2, token: 1 })
  })

  it('never resend a 401, even when the app asks ky to retry 401s', async () => {
    vi.useFakeTimers()
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({
      type: 'status',
      status: 401,
      target: 'api',
      times: Number.POSITIVE_INFINITY,
    })

    const result = await settle(
      auth.ky.get(`${API_ORIGIN}/me`, { retry: { limit: 2, statusCodes: [401] } }).json(),
    )

    expect(result.status).toBe('rejected')
    expect((result as PromiseRejectedResult).reason).toBeInstanceOf(HTTPError)
    // The SDK already renewed and retried once; ky resending would renew again per attempt.
    expect(mock.counters.token).toBe(1)
    expect(mock.counters.api).toBe(2)
  })

  it('retry a 503 after the 401 retry with the renewed token, without another token call', async () => {
    vi.useFakeTimers()
    const auth = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    mock.expireAccessTokens()
    // The 401 is the mock's own (expired token); the retry then meets a 503 with Retry-After.
    mock.injectFault({ type: 'latency', ms: 0, target: 'api' })
    mock.injectFault({ type: 'status', status: 503, retryAfter: 1, target: 'api' })
    const attempts = recordAttempts('/me')

    const result = await settle(auth.ky.get(`${API_ORIGIN}/me`).json())

    expect(result).toEqual({
      status: 'fulfilled',
      value: { sub: 'user-1', scope: 'openid profile', client_id: CLIENT_ID },
    })
    const renewed = `Bearer ${auth.tokens?.accessToken}`
    expect(attempts.map((attempt) => attempt.authorization)).toEqual([
      `Bearer ${session.access_token}`,
      renewed,
      renewed,
    ])
    expect(mock.log.api.map((entry) => entry.status)).toEqual([401, 503, 200])
    expect(mock.counters).toMatchObject({ api: 3, token: 1 })
  })
})
