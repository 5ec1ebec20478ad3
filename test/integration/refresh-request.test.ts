/**
 * The refresh request on the wire (RFC 6749 §6), refresh token rotation, and lost responses. The
 * pause after failed requests is in backoff.test.ts.
 */
import type { TokenClient, TokenClientEvents, TokenSet } from 'freshtoken'
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { recordRequestBodies } from '../mocks/requests.js'
import { API_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { stepUntilSettled, T0 } from '../mocks/time.js'

const { mock, server, serve } = useMockEnvironment()

const TOKEN_ENDPOINT = `${ISSUER}/oauth/token`

const { create: createClient, onCleanup } = useClients(
  { clientId: CLIENT_ID, tokenEndpoint: TOKEN_ENDPOINT, apiOrigins: [API_ORIGIN] },
  { fakeTimers: T0 },
)

/** Collects the events `event` fires, with the fake time each fired at. */
function collect<E extends keyof TokenClientEvents>(
  auth: TokenClient,
  event: E,
): { payload: TokenClientEvents[E]; at: number }[] {
  const seen: { payload: TokenClientEvents[E]; at: number }[] = []
  auth.on(event, (payload) => seen.push({ payload, at: Date.now() }))
  return seen
}

/** Advances fake time in 10 ms steps until `promise` settles (at most `limit` ms). */
const advanceUntil = stepUntilSettled(10)

/** A token endpoint request as msw received it. */
interface SeenRequest {
  method: string
  contentType: string | null
  accept: string | null
  authorization: string | null
  form: Record<string, string>
}

/** Records every non-preflight request to the token endpoint; the result reads them, bodies included. */
function recordTokenRequests(): () => Promise<SeenRequest[]> {
  const recorder = recordRequestBodies(
    server,
    (request) => request.url.startsWith(TOKEN_ENDPOINT),
    (request, body): SeenRequest => ({
      method: request.method,
      contentType: request.headers.get('content-type'),
      accept: request.headers.get('accept'),
      authorization: request.headers.get('authorization'),
      form: Object.fromEntries(new URLSearchParams(body)),
    }),
  )
  onCleanup(recorder.stop)
  return recorder.read
}

describe('the request (RFC 6749 §6)', () => {
  it('POSTs grant_type, refresh_token and client_id as a form, and nothing else', async () => {
    const requests = recordTokenRequests()
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)

    await auth.refresh()
    expect(await requests()).toEqual([
      {
        method: 'POST',
        contentType: expect.stringMatching(/^application\/x-www-form-urlencoded(;|$)/),
        accept: 'application/json',
        authorization: null,
        form: { grant_type: 'refresh_token', refresh_token: login.refresh_token, client_id: 'spa' },
      },
    ])
    expect(mock.log.token).toEqual([
      {
        at: T0,
        method: 'POST',
        grantType: 'refresh_token',
        clientId: 'spa',
        scope: null,
        family: 'family-1',
        status: 200,
        error: null,
        fault: null,
      },
    ])
  })

  it('asks the fetch it is given for no caching and a bounded wait, with nothing in the URL', async () => {
    const seen: { url: string; init: RequestInit | undefined }[] = []
    const auth = createClient({
      fetch: (input, init) => {
        seen.push({ url: String(input), init })
        return globalThis.fetch(input, init)
      },
    })
    auth.setTokens(mock.issueTokens())

    await auth.refresh()

    expect(seen).toHaveLength(1)
    expect(seen[0]?.url).toBe(TOKEN_ENDPOINT)
    // A refresh token must never be served from or written to an HTTP cache.
    expect(seen[0]?.init).toMatchObject({ method: 'POST', cache: 'no-store' })
    expect(seen[0]?.init?.signal).toBeInstanceOf(AbortSignal)
  })

  it('uses the global fetch of the moment of the call, so a polyfill or mock installed later is seen', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const original = globalThis.fetch
    const calls: string[] = []
    vi.stubGlobal('fetch', (input: RequestInfo | URL, init?: RequestInit) => {
      calls.push(input instanceof Request ? input.url : String(input))
      return original(input, init)
    })
    onCleanup(() => vi.unstubAllGlobals())

    await auth.refresh()
    await auth.fetch(`${API_ORIGIN}/me`)

    expect(calls).toEqual([TOKEN_ENDPOINT, `${API_ORIGIN}/me`])
  })

  it('adds the scope option to every refresh, and the narrowed scope is granted', async () => {
    const requests = recordTokenRequests()
    const auth = createClient({ scope: 'openid' })
    const login = mock.issueTokens({ scope: 'openid profile' })
    auth.setTokens(login)

    const first = await auth.refresh()
    const second = await auth.refresh()
    expect((await requests()).map(({ form }) => form)).toEqual([
      {
        grant_type: 'refresh_token',
        refresh_token: login.refresh_token,
        client_id: 'spa',
        scope: 'openid',
      },
      {
        grant_type: 'refresh_token',
        refresh_token: first.refreshToken,
        client_id: 'spa',
        scope: 'openid',
      },
    ])
    expect(mock.log.token.map(({ scope }) => scope)).toEqual(['openid', 'openid'])
    expect(second.scope).toBe('openid')
    expect(mock.introspect(second.accessToken).scope).toBe('openid')
  })
})

describe('rotation', () => {
  it('replaces the refresh token with the rotated one and retires the old one', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)

    const first = await auth.refresh()
    expect(first.refreshToken).not.toBe(login.refresh_token)
    expect(mock.introspect(login.refresh_token ?? '').state).toBe('rotated')
    expect(mock.introspect(first.refreshToken ?? '').state).toBe('active')

    const second = await auth.refresh()
    expect(mock.introspect(first.refreshToken ?? '').state).toBe('rotated')
    expect(mock.introspect(second.refreshToken ?? '').state).toBe('active')
    expect(mock.counters.reuseDetected).toBe(0)
    expect(mock.log.token.map(({ family, status }) => [family, status])).toEqual([
      ['family-1', 200],
      ['family-1', 200],
    ])
  })

  it('keeps the refresh token when the response has none (rotation off), and it keeps working', async () => {
    const fixed = serve({ rotation: false })
    const auth = createClient()
    const login = fixed.issueTokens()
    auth.setTokens(login)

    const first = await auth.refresh()
    const second = await auth.refresh()
    expect(first.refreshToken).toBe(login.refresh_token)
    expect(second.refreshToken).toBe(login.refresh_token)
    expect(second.accessToken).not.toBe(first.accessToken)
    expect(fixed.counters.tokenSuccess).toBe(2)
    expect(fixed.introspect(login.refresh_token ?? '').state).toBe('active')
  })
})

describe('the ID token (OpenID Connect Core §12.2)', () => {
  it('keeps the previous ID token when a refresh response omits it', async () => {
    const auth = createClient()
    auth.setTokens({ ...mock.issueTokens(), id_token: 'eyJ.login-id-token.sig' })

    // The mock, like many servers, sends no id_token on refresh.
    const renewed = await auth.refresh()

    expect(renewed.idToken).toBe('eyJ.login-id-token.sig')
    expect(auth.tokens?.idToken).toBe('eyJ.login-id-token.sig')
  })

  it('takes a new ID token when a refresh response carries one', async () => {
    const auth = createClient()
    auth.setTokens({ ...mock.issueTokens(), id_token: 'eyJ.login-id-token.sig' })
    mock.injectFault({
      type: 'body',
      body: {
        access_token: 'at_from_refresh',
        token_type: 'Bearer',
        expires_in: 60,
        id_token: 'eyJ.refreshed-id-token.sig',
      },
    })

    const renewed = await auth.refresh()

    expect(renewed.idToken).toBe('eyJ.refreshed-id-token.sig')
  })
})

describe('a lost response', () => {
  it('ends the session once, cleanly, when the retry presents the token the lost answer rotated', async () => {
    // The server rotates, then its answer is lost (502). The SDK cannot know a rotation happened:
    // its retry presents the old refresh token, which the server treats as reuse (RFC 9700).
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    const expired = collect(auth, 'expired')
    const errors = collect(auth, 'error')
    mock.injectFault({ type: 'status', status: 502, afterProcessing: true })

    await expect(advanceUntil(auth.refresh())).rejects.toMatchObject({
      name: 'SessionExpiredError',
      code: 'session_expired',
    })
    expect(mock.log.token.map(({ status, error, fault }) => [status, error, fault])).toEqual([
      [502, null, 'status'],
      [400, 'invalid_grant', null],
    ])
    expect(mock.counters.reuseDetected).toBe(1)
    expect(expired).toHaveLength(1)
    expect(expired[0]?.payload).toMatchObject({ code: 'session_expired' })
    expect(errors).toHaveLength(0)
    expect(auth.tokens).toBeNull()

    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'session_expired' })
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'session_expired' })
    await vi.advanceTimersByTimeAsync(5 * 60_000)
    expect(mock.counters.token).toBe(2)
    expect(expired).toHaveLength(1)
  })

  it('ends the session once when an answer slower than the 10 s request timeout is retried', async () => {
    // Same situation as a lost answer: the server rotated at once, but the SDK gave up waiting
    // after 10 s and its retry presents the rotated refresh token.
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const expired = collect(auth, 'expired')
    mock.injectFault({ type: 'latency', ms: 12_000, afterProcessing: true })

    await expect(advanceUntil(auth.refresh())).rejects.toMatchObject({ code: 'session_expired' })
    expect(Date.now() - T0).toBeGreaterThanOrEqual(10_000)
    expect(Date.now() - T0).toBeLessThan(12_000)
    expect(mock.counters.token).toBe(2)
    expect(mock.counters.reuseDetected).toBe(1)
    expect(expired).toHaveLength(1)
    expect(auth.tokens).toBeNull()
  })

  it('survives a lost response when the server has a reuse grace window', async () => {
    const lenient = serve({ reuseInterval: 2_000 })
    const auth = createClient()
    const login = lenient.issueTokens()
    auth.setTokens(login)
    lenient.injectFault({ type: 'status', status: 502, afterProcessing: true })

    const tokens: TokenSet = await advanceUntil(auth.refresh())
    expect(lenient.log.token.map(({ status }) => status)).toEqual([502, 200])
    expect(lenient.counters.reuseDetected).toBe(0)
    expect(lenient.introspect(tokens.refreshToken ?? '').state).toBe('active')
    expect(auth.tokens).toBe(tokens)
  })
})
