/**
 * How token endpoint failures are classified (RFC 6749 §5.2): `invalid_grant` ends the session,
 * other OAuth errors and malformed or unavailable responses keep it, a client without a session
 * makes no calls, and no error or event ever reveals a token.
 */
import {
  type AuthError,
  InvalidTokenResponseError,
  NoSessionError,
  SessionExpiredError,
  type TokenClientOptions,
  TokenEndpointError,
  TokenEndpointUnavailableError,
} from 'freshtoken'
import type { MockFault } from 'freshtoken/testing'
import { HttpResponse, http } from 'msw'
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { API_ORIGIN, APP_ORIGIN, CLIENT_ID, useMockEnvironment } from '../mocks/setup.js'
import { settle } from '../mocks/time.js'

// An hour-long access token: no proactive renewal fires while fake time is advanced.
const { mock, server } = useMockEnvironment({ accessTokenLifetime: 3_600_000 })

const clients = useClients(
  { clientId: CLIENT_ID, tokenEndpoint: mock.endpoints.token, apiOrigins: [API_ORIGIN] },
  { fakeTimers: 'in-test', teardown: () => vi.restoreAllMocks() },
)

/** A client for the mock, with its `error` and `expired` events recorded. */
function createClient(options: Partial<TokenClientOptions> = {}) {
  const auth = clients.create(options)
  const events = { error: [] as AuthError[], expired: [] as SessionExpiredError[] }
  auth.on('error', (error) => events.error.push(error))
  auth.on('expired', (error) => events.expired.push(error))
  return { auth, events }
}

/** The rejection reason of `promise`, failing the test if it fulfils. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  const result = await settle(promise)
  if (result.status === 'fulfilled') throw new Error('expected a rejection, got a value')
  return result.reason
}

/**
 * Everything a value could reveal when logged, serialised or reported: its string and JSON forms
 * and, recursively, every own property (enumerable or not: `message`, `stack`, `cause`, …) down
 * the cause chain.
 */
function reveal(value: unknown, seen = new Set<unknown>()): string {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
    return String(value)
  }
  if (seen.has(value)) return ''
  seen.add(value)
  const parts = [String(value)]
  try {
    parts.push(JSON.stringify(value))
  } catch {
    // Circular or not serialisable: the property walk below still covers it.
  }
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)
    parts.push(
      String(key),
      reveal(descriptor?.get ? descriptor.get.call(value) : descriptor?.value, seen),
    )
  }
  if (value instanceof Error) {
    parts.push(value.message, String(value.stack), String(value.cause), reveal(value.cause, seen))
  }
  return parts.join('\n')
}

/** Asserts that no secret appears anywhere in any of `values`. */
function expectNoSecrets(values: readonly unknown[], secrets: readonly (string | undefined)[]) {
  const known = secrets.filter((secret): secret is string => typeof secret === 'string')
  expect(known.length).toBeGreaterThan(0)
  expect(values.length).toBeGreaterThan(0)
  for (const value of values) {
    const text = reveal(value)
    for (const secret of known) expect(text).not.toContain(secret)
  }
}

/** `token` with the five HTML specials escaped, the apostrophe as `apostrophe` (servers differ). */
function htmlEscaped(token: string, apostrophe: string): string {
  return token
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", apostrophe)
}

describe('invalid_grant', () => {
  it('ends the session once for many concurrent callers, and every later call rejects until setTokens', async () => {
    vi.useFakeTimers()
    const { auth, events } = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    mock.revokeRefreshTokens()
    // An hour later the access token has expired on both clocks: every caller needs a renewal.
    vi.setSystemTime(Date.now() + 3_600_000)

    const callers: Promise<unknown>[] = [
      ...Array.from({ length: 4 }, () => auth.getAccessToken()),
      ...Array.from({ length: 4 }, () => auth.fetch(`${API_ORIGIN}/me`)),
      ...Array.from({ length: 4 }, () => auth.refresh()),
    ]
    const results = await Promise.all(callers.map((caller) => settle(caller)))

    for (const result of results) {
      expect(result.status).toBe('rejected')
      const reason = (result as PromiseRejectedResult).reason
      expect(reason).toBeInstanceOf(SessionExpiredError)
      expect(reason).toMatchObject({ name: 'SessionExpiredError', code: 'session_expired' })
    }
    expect(mock.counters).toMatchObject({ token: 1, tokenError: 1, api: 0 })
    expect(mock.log.token.map((entry) => entry.error)).toEqual(['invalid_grant'])
    expect(auth.tokens).toBeNull()
    expect(events.expired).toHaveLength(1)
    expect(events.expired[0]).toBeInstanceOf(SessionExpiredError)
    expect(events.error).toHaveLength(0)

    // Later calls reject the same way, without asking the server again.
    const later = [
      await rejection(auth.getAccessToken()),
      await rejection(auth.fetch(`${API_ORIGIN}/me`)),
      await rejection(auth.refresh()),
    ]
    for (const reason of later) expect(reason).toMatchObject({ code: 'session_expired' })
    expect(mock.counters).toMatchObject({ token: 1, api: 0 })
    expect(events.expired).toHaveLength(1)
    expectNoSecrets(
      [
        ...results.map((result) => (result as PromiseRejectedResult).reason),
        ...later,
        ...events.expired,
      ],
      [session.access_token, session.refresh_token],
    )

    // A new login starts a working session.
    const next = mock.issueTokens()
    auth.setTokens(next)
    await expect(auth.getAccessToken()).resolves.toBe(next.access_token)
    const response = await auth.fetch(`${API_ORIGIN}/me`)
    expect(response.status).toBe(200)
    expect(mock.log.api).toMatchObject([{ status: 200, token: 'active', family: 'family-2' }])
  })

  it('ends the session when a 401 meets a revoked refresh token, firing expired once for all waiting requests', async () => {
    const { auth, events } = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    mock.expireAccessTokens()
    mock.revokeRefreshTokens()

    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => auth.fetch(`${API_ORIGIN}/me`)),
    )

    const reasons = results.map((result) => (result as PromiseRejectedResult).reason)
    expect(results.map((result) => result.status)).toEqual(Array(5).fill('rejected'))
    for (const reason of reasons) expect(reason).toBeInstanceOf(SessionExpiredError)
    expect(mock.counters).toMatchObject({ token: 1, api: 5, api401: 5 })
    expect(auth.tokens).toBeNull()
    expect(events.expired).toHaveLength(1)
    expectNoSecrets([...reasons, ...events.expired], [session.access_token, session.refresh_token])
  })
})

describe('other RFC 6749 §5.2 errors', () => {
  it.each([
    ['invalid_client', 401],
    ['invalid_scope', 400],
    ['unauthorized_client', 400],
    ['invalid_request', 400],
    ['unsupported_grant_type', 400],
  ])('reject with TokenEndpointError for %s and keep the session', async (code, status) => {
    const { auth, events } = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    const before = auth.tokens
    mock.injectFault({ type: 'oauth-error', error: code, description: 'Not this time' })

    const error = await auth.refresh().catch((caught: unknown) => caught)

    expect(error).toBeInstanceOf(TokenEndpointError)
    expect(error).toMatchObject({
      name: 'TokenEndpointError',
      code: 'token_endpoint_error',
      error: code,
      status,
      errorDescription: 'Not this time',
    })
    expect(events.error).toHaveLength(1)
    expect(events.error[0]).toMatchObject({ code: 'token_endpoint_error', error: code })
    expect(events.expired).toHaveLength(0)
    expect(auth.tokens).toEqual(before)
    // The still-valid access token keeps working.
    const response = await auth.fetch(`${API_ORIGIN}/me`)
    expect(response.status).toBe(200)
    expect(mock.counters).toMatchObject({ token: 1, api: 1 })
    expect(mock.log.api).toMatchObject([{ token: 'active', family: 'family-1' }])
    expectNoSecrets([error, ...events.error], [session.access_token, session.refresh_token])
  })

  it('reports invalid_client from a server that does not know the client, keeping the session', async () => {
    const { auth, events } = createClient({ clientId: 'someone-else' })
    const session = mock.issueTokens()
    auth.setTokens(session)

    const error = await auth.refresh().catch((caught: unknown) => caught)

    expect(error).toMatchObject({
      code: 'token_endpoint_error',
      error: 'invalid_client',
      status: 401,
    })
    expect(mock.counters).toMatchObject({ token: 1, tokenError: 1 })
    expect(auth.tokens?.refreshToken).toBe(session.refresh_token)
    expect(events.error).toHaveLength(1)
    expectNoSecrets([error, ...events.error], [session.access_token, session.refresh_token])
  })

  it('reports invalid_scope when the requested scope exceeds the grant, keeping the session', async () => {
    const { auth, events } = createClient({ scope: 'openid admin' })
    const session = mock.issueTokens({ scope: 'openid profile' })
    auth.setTokens(session)

    const error = await auth.refresh().catch((caught: unknown) => caught)

    expect(error).toMatchObject({
      code: 'token_endpoint_error',
      error: 'invalid_scope',
      status: 400,
    })
    expect(mock.log.token).toMatchObject([{ scope: 'openid admin', error: 'invalid_scope' }])
    expect(auth.tokens?.accessToken).toBe(session.access_token)
    expect(events.error).toHaveLength(1)
    expectNoSecrets([error, ...events.error], [session.access_token, session.refresh_token])
  })
})

describe('malformed token responses', () => {
  it.each<[string, MockFault]>([
    ['a truncated JSON body', { type: 'malformed-json' }],
    ['an HTML page with status 200', { type: 'html', status: 200 }],
    ['a JSON array', { type: 'body', body: [{ access_token: 'at_in_an_array' }] }],
    ['no access_token', { type: 'body', body: { token_type: 'Bearer', expires_in: 60 } }],
    ['an empty access_token', { type: 'body', body: { access_token: '', token_type: 'Bearer' } }],
    ['a numeric access_token', { type: 'body', body: { access_token: 42, token_type: 'Bearer' } }],
    ['no token_type', { type: 'body', body: { access_token: 'at_without_type', expires_in: 60 } }],
    ['token_type mac', { type: 'body', body: { access_token: 'at_mac_token', token_type: 'mac' } }],
    [
      'token_type DPoP',
      { type: 'body', body: { access_token: 'at_dpop_token', token_type: 'DPoP' } },
    ],
    [
      'expires_in "soon"',
      {
        type: 'body',
        body: { access_token: 'at_soon_token', token_type: 'Bearer', expires_in: 'soon' },
      },
    ],
    [
      'a numeric refresh_token',
      {
        type: 'body',
        body: { access_token: 'at_with_bad_rt', token_type: 'Bearer', refresh_token: 7 },
      },
    ],
    ['a 400 without an "error" member', { type: 'body', status: 400, body: { message: 'no' } }],
    // RFC 6749 Appendix A.12, A.17: tokens are 1*VSCHAR (%x20-7E); anything else cannot be sent.
    ...(
      [
        ['an empty refresh_token', { refresh_token: '' }],
        ['an access_token with a control character', { access_token: 'at_bell\u0007' }],
        ['an access_token with a line break', { access_token: 'at_line\r\nX-Evil: 1' }],
        ['an access_token with a NUL', { access_token: 'at_nul\u0000' }],
        ['a non-ASCII access_token', { access_token: 'at_café' }],
        ['an access_token ending in a space', { access_token: 'at_trailing ' }],
        ['an access_token of spaces', { access_token: '   ' }],
        ['a refresh_token with a control character', { refresh_token: 'rt_tab\there' }],
        ['a non-ASCII refresh_token', { refresh_token: 'rt_ünïcode' }],
        ['a refresh_token with DEL', { refresh_token: 'rt_del\u007f' }],
      ] as const
    ).map(([name, members]): [string, MockFault] => [
      name,
      {
        type: 'body',
        body: { access_token: 'at_fine', token_type: 'Bearer', expires_in: 60, ...members },
      },
    ]),
  ])(
    'rejects %s with InvalidTokenResponseError and leaves the session untouched',
    async (_, fault) => {
      const { auth, events } = createClient()
      const session = mock.issueTokens()
      auth.setTokens(session)
      const before = auth.tokens
      mock.injectFault(fault)

      const error = await auth.refresh().catch((caught: unknown) => caught)

      expect(error).toBeInstanceOf(InvalidTokenResponseError)
      expect(error).toMatchObject({
        name: 'InvalidTokenResponseError',
        code: 'invalid_token_response',
      })
      expect(events.error).toHaveLength(1)
      expect(events.error[0]).toMatchObject({ code: 'invalid_token_response' })
      expect(events.expired).toHaveLength(0)
      expect(auth.tokens).toEqual(before)
      expect(mock.counters.token).toBe(1)
      // The working access token is still the one sent.
      const response = await auth.fetch(`${API_ORIGIN}/me`)
      expect(response.status).toBe(200)
      expect(mock.log.api).toMatchObject([{ token: 'active', family: 'family-1' }])
      expect(mock.counters.token).toBe(1)
      const faultBody = 'body' in fault ? JSON.stringify(fault.body) : undefined
      const badToken = faultBody?.match(/at_[a-z_]+/)?.[0]
      expectNoSecrets(
        [error, ...events.error],
        [session.access_token, session.refresh_token, badToken],
      )
    },
  )

  it('rejects an HTML 502 page with token_endpoint_unavailable after retries, keeping the session', async () => {
    vi.useFakeTimers()
    const { auth, events } = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    const before = auth.tokens
    mock.injectFault({ type: 'html', status: 502, times: Number.POSITIVE_INFINITY })

    const error = await rejection(auth.refresh())

    expect(error).toBeInstanceOf(TokenEndpointUnavailableError)
    expect(error).toMatchObject({ code: 'token_endpoint_unavailable', status: 502 })
    // The first request and two retries in place.
    expect(mock.counters).toMatchObject({ token: 3, faults: 3 })
    expect(auth.tokens).toEqual(before)
    expect(events.error).toHaveLength(1)
    expect(events.expired).toHaveLength(0)
    expectNoSecrets([error, ...events.error], [session.access_token, session.refresh_token])
  })
})

describe('tokens that could not be sent back (RFC 6749 Appendix A.12, A.17)', () => {
  it('rejects an empty refresh_token, and the next renewal presents the previous one', async () => {
    vi.useFakeTimers()
    const { auth, events } = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    mock.injectFault({
      type: 'body',
      body: { access_token: 'at_fine', token_type: 'Bearer', refresh_token: '' },
    })
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'invalid_token_response' })
    expect(auth.tokens?.refreshToken).toBe(session.refresh_token)

    // After the pause, the server accepts the refresh token it issued: the session goes on.
    await vi.advanceTimersByTimeAsync(1_000)
    const renewed = await auth.refresh()
    expect(mock.log.token.map(({ status, error }) => [status, error])).toEqual([
      [200, null],
      [200, null],
    ])
    expect(renewed.refreshToken).not.toBe(session.refresh_token)
    expect(events.expired).toHaveLength(0)
  })

  it.each([
    ['an empty access_token', { access_token: '' }],
    ['an access_token with a control character', { access_token: 'at_bell\u0007' }],
    ['a non-ASCII access_token', { access_token: 'at_café' }],
    ['an access_token with a leading space', { access_token: ' at_leading' }],
    ['an empty refresh_token', { refresh_token: '' }],
    ['a refresh_token with a line break', { refresh_token: 'rt\nX' }],
  ])('refuses %s handed to setTokens, keeping the session', async (_, members) => {
    const { auth } = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    const before = auth.tokens

    expect(() => auth.setTokens({ ...mock.issueTokens(), ...members })).toThrow(
      InvalidTokenResponseError,
    )
    expect(() => auth.setTokens({ ...mock.issueTokens(), ...members })).toThrow(
      /must be non-empty visible ASCII/,
    )
    expect(auth.tokens).toBe(before)
    // Every call still works with the session that was working, and never throws a TypeError.
    const response = await auth.fetch(`${API_ORIGIN}/me`)
    expect(response.status).toBe(200)
  })
})

describe('an unavailable token server', () => {
  it('never ends the session, pauses after every failed request, and recovers', async () => {
    vi.useFakeTimers()
    // No jitter: each pause is its full length (1, 2, 4, 8 s …).
    vi.spyOn(Math, 'random').mockReturnValue(0)
    const { auth, events } = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    const before = auth.tokens
    mock.injectFault({ type: 'network-error', times: Number.POSITIVE_INFINITY })
    const start = Date.now()

    // One renewal: a request, and two more in place after pauses of 1 s and 2 s.
    const first = await rejection(auth.refresh())
    expect(first).toBeInstanceOf(TokenEndpointUnavailableError)
    expect(first).toMatchObject({ code: 'token_endpoint_unavailable', status: undefined })
    expect(mock.log.token.map(({ at }) => at - start)).toEqual([0, 1_000, 3_000])

    // Inside the pause that followed (4 s) no request is made.
    const paused = await rejection(auth.refresh())
    expect(paused).toMatchObject({ code: 'token_endpoint_unavailable' })
    expect(mock.counters.token).toBe(3)

    await vi.advanceTimersByTimeAsync(start + 7_000 - Date.now())
    const second = await rejection(auth.refresh())
    expect(second).toMatchObject({ code: 'token_endpoint_unavailable' })
    // The next pause (8 s) is too long to wait in place: one request, and the caller is told.
    expect(mock.log.token.map(({ at }) => at - start)).toEqual([0, 1_000, 3_000, 7_000])

    await vi.advanceTimersByTimeAsync(start + 7_000 + 8_000 - 1 - Date.now())
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'token_endpoint_unavailable' })
    expect(mock.counters.token).toBe(4)

    expect(auth.tokens).toEqual(before)
    expect(events.expired).toHaveLength(0)
    expect(events.error).toHaveLength(2)
    // Meanwhile the still-valid access token keeps working.
    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)

    mock.clearFaults()
    await vi.advanceTimersByTimeAsync(1)
    const renewed = await auth.refresh()
    expect(renewed.accessToken).not.toBe(session.access_token)
    expect(mock.counters).toMatchObject({ token: 5, tokenSuccess: 1 })
    expectNoSecrets(
      [first, paused, second, ...events.error],
      [session.access_token, session.refresh_token],
    )
  })
})

describe('without a session', () => {
  it('rejects getAccessToken, refresh and API calls with no_session, making no request', async () => {
    const { auth } = createClient()

    const errors = [
      await auth.getAccessToken().catch((caught: unknown) => caught),
      await auth.refresh().catch((caught: unknown) => caught),
      await auth.fetch(`${API_ORIGIN}/me`).catch((caught: unknown) => caught),
      await auth.ky.get(`${API_ORIGIN}/me`).catch((caught: unknown) => caught),
    ]

    for (const error of errors) {
      expect(error).toBeInstanceOf(NoSessionError)
      expect(error).toMatchObject({ name: 'NoSessionError', code: 'no_session' })
    }
    expect(mock.counters).toMatchObject({ token: 0, api: 0, preflight: 0 })
  })

  it('still passes requests for other origins through', async () => {
    const { auth } = createClient()
    const seen: (string | null)[] = []
    server.use(
      http.all('https://cdn.example.com/app.js', ({ request }) => {
        const cors = { 'Access-Control-Allow-Origin': APP_ORIGIN }
        // happy-dom preflights every cross-origin request.
        if (request.method === 'OPTIONS')
          return new HttpResponse(null, { status: 204, headers: cors })
        seen.push(request.headers.get('Authorization'))
        return HttpResponse.text('export {}', { headers: cors })
      }),
    )

    const response = await auth.fetch('https://cdn.example.com/app.js')

    expect(await response.text()).toBe('export {}')
    expect(seen).toEqual([null])
  })

  it('rejects with no_session after logout', async () => {
    const { auth, events } = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    await auth.logout()

    const error = await auth.fetch(`${API_ORIGIN}/me`).catch((caught: unknown) => caught)

    expect(error).toMatchObject({ code: 'no_session' })
    expect(mock.counters).toMatchObject({ token: 0, api: 0 })
    expect(events.expired).toHaveLength(0)
    expectNoSecrets([error], [session.access_token, session.refresh_token])
  })
})

describe('secrecy', () => {
  it('keeps tokens out of an error whose server response quotes them', async () => {
    const { auth, events } = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    // Some servers echo the offending input back in error_description.
    mock.injectFault({
      type: 'oauth-error',
      error: 'invalid_request',
      description: `refresh_token ${session.refresh_token} is not valid for bearer ${session.access_token}`,
    })

    const error = await auth.refresh().catch((caught: unknown) => caught)

    expect(error).toMatchObject({ code: 'token_endpoint_error', error: 'invalid_request' })
    expectNoSecrets([error, ...events.error], [session.access_token, session.refresh_token])
  })

  // Tokens with every character an encoding treats specially (all within %x20-7E).
  const access = 'at+/=%2B"\\<&>\' x'
  const refresh = 'rt/+ =%"\\~!*()\'&#'
  /** Every form in which a server may quote a token back. */
  const echoes: [string, (token: string) => string][] = [
    ['raw', (token) => token],
    [
      'form-encoded as sent (+ for a space)',
      (token) => new URLSearchParams({ t: token }).toString().slice(2),
    ],
    ['percent-encoded (%20 for a space)', (token) => encodeURIComponent(token)],
    [
      'percent-encoded in lower case',
      (token) => encodeURIComponent(token).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    ],
    [
      'form-encoded in lower case',
      (token) =>
        new URLSearchParams({ t: token })
          .toString()
          .slice(2)
          .replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    ],
    ['JSON-escaped', (token) => JSON.stringify(token).slice(1, -1)],
    ['JSON-escaped with \\/', (token) => JSON.stringify(token).slice(1, -1).replaceAll('/', '\\/')],
    ['HTML-escaped', (token) => htmlEscaped(token, '&#39;')],
    ["HTML-escaped as Python's html.escape does", (token) => htmlEscaped(token, '&#x27;')],
    [
      'HTML-escaped with decimal references only',
      (token) => token.replace(/[&<>"'/+ ]/g, (c) => `&#${c.charCodeAt(0)};`),
    ],
  ]

  it.each(echoes)(
    'keeps both tokens out of an error whose server quotes them %s',
    async (_, echo) => {
      const { auth, events } = createClient()
      auth.setTokens({ access_token: access, refresh_token: refresh, token_type: 'Bearer' })
      mock.injectFault({
        type: 'oauth-error',
        error: `invalid_request: ${echo(refresh)}`,
        description: `grant_type=refresh_token&refresh_token=${echo(refresh)}&client_id=spa (bearer ${echo(access)})`,
      })

      const error = await auth.refresh().catch((caught: unknown) => caught)

      expect(error).toMatchObject({ code: 'token_endpoint_error', status: 400 })
      expect(error).toMatchObject({ errorDescription: expect.stringContaining('[redacted]') })
      expectNoSecrets(
        [error, ...events.error],
        echoes.flatMap(([, form]) => [form(access), form(refresh)]),
      )
    },
  )

  it('keeps tokens out of an InvalidTokenResponseError about a response that carries them', async () => {
    const { auth, events } = createClient()
    const session = mock.issueTokens()
    auth.setTokens(session)
    mock.injectFault({
      type: 'body',
      body: {
        access_token: session.access_token,
        refresh_token: session.refresh_token,
        token_type: 'Bearer',
        expires_in: `in ${session.refresh_token}`,
      },
    })

    const error = await auth.refresh().catch((caught: unknown) => caught)

    expect(error).toMatchObject({ code: 'invalid_token_response' })
    expectNoSecrets([error, ...events.error], [session.access_token, session.refresh_token])
  })
})
