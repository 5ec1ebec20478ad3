// @vitest-environment happy-dom
// @vitest-environment-options {"url": "http://localhost:5173/"}
/**
 * The SDK, through its public API, against Django OAuth Toolkit 1.7 (Debian's package) on
 * 127.0.0.1: a real token server and resource server, from a cross-origin page (happy-dom
 * preflights every call with a token and enforces django-cors-headers' answers, as a browser
 * would).
 *
 * DOT rotates refresh tokens and, in the same transaction, deletes the access token issued with
 * the refresh token it rotated: a call still carrying that token meets a 401 the moment a
 * renewal commits, though the token had time left. The last tests hold the SDK to its promise
 * that on such a server no call meets a 401 during proactive renewal, in one tab and in tabs
 * sharing the session (modelled in-process by test/mocks/tabs.ts; test/e2e has real Chromium).
 *
 * Two DOT processes: one with hour-long access tokens, where nothing renews unless a test asks,
 * and one with short tokens for the renewal tests.
 */
import {
  isAuthError,
  SessionExpiredError,
  TokenEndpointError,
  TokenEndpointUnavailableError,
} from 'freshtoken'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  type DjangoOAuthToolkit,
  startDjangoOAuthToolkit,
} from '../servers/django-oauth-toolkit.js'
import { postForm } from '../servers/http-utils.js'
import { nextEvent, postRefreshGrant, useFixtureClients } from './helpers.js'

const PAGE_ORIGIN = 'http://localhost:5173'

/** Access token lifetime of the renewal test's server, s (DOT's ACCESS_TOKEN_EXPIRE_SECONDS). */
const SHORT_LIFETIME_SECONDS = 4
/** Renew 2 s before expiry: room for the renewal to let calls on their way be answered first. */
const LEEWAY_MS = 2_000
/** Proactive renewals the renewal test waits for at DOT: one per token lifetime. */
const RENEWALS = 5
/** The renewal test starts a call this often (cycling), while fewer than MAX_OUTSTANDING run. */
const CALL_INTERVALS_MS = [20, 30, 40, 50]
const MAX_OUTSTANDING = 4

let dot: DjangoOAuthToolkit
let shortDot: DjangoOAuthToolkit
const clients = useFixtureClients(() => dot)
const shortClients = useFixtureClients(() => shortDot)

beforeAll(async () => {
  const [long, short] = await Promise.allSettled([
    startDjangoOAuthToolkit({ allowedOrigins: [PAGE_ORIGIN] }),
    startDjangoOAuthToolkit({
      allowedOrigins: [PAGE_ORIGIN],
      accessTokenLifetime: SHORT_LIFETIME_SECONDS,
    }),
  ])
  // afterAll runs even when this fails, and stops whichever one started.
  if (long.status === 'fulfilled') dot = long.value
  if (short.status === 'fulfilled') shortDot = short.value
  for (const result of [long, short]) if (result.status === 'rejected') throw result.reason
}, 90_000)

afterAll(async () => {
  await Promise.all([dot?.close(), shortDot?.close()])
})

beforeEach(async () => {
  await Promise.all([dot.resetStats(), shortDot.resetStats()])
})

/** A GET of the API with `token`, outside the SDK (the page's own fetch, through CORS). */
async function callApiWith(token: string, server = dot) {
  const response = await fetch(`${server.apiUrl}/me`, {
    headers: { Authorization: `Bearer ${token}` },
  })
  return { status: response.status, challenge: response.headers.get('www-authenticate') }
}

/** Presents a refresh token to DOT outside the SDK; its status and RFC 6749 §5.2 body. */
async function presentRefreshToken(refreshToken: string) {
  const response = await postRefreshGrant(dot.tokenEndpoint, refreshToken)
  return { status: response.status, body: JSON.parse(response.body) as unknown }
}

/** Revokes `token` at DOT's RFC 7009 endpoint outside the SDK, as an administrator would. */
async function revokeAtDOT(token: string, hint: 'refresh_token' | 'access_token') {
  const response = await postForm(dot.revocationEndpoint, {
    token,
    token_type_hint: hint,
    client_id: 'spa',
  })
  expect(response.status).toBe(200)
}

describe('against Django OAuth Toolkit from a cross-origin page', () => {
  it('starts the session from a DOT token response and calls the protected API through CORS', async () => {
    const auth = await clients.signedInClient()
    expect(auth.tokens).toMatchObject({ tokenType: 'Bearer', scope: 'api' })
    expect(auth.tokens?.refreshToken).toEqual(expect.any(String))

    const response = await auth.fetch(`${dot.apiUrl}/me`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ sub: 'alice', client_id: 'spa', scope: 'api' })
    expect(await dot.stats()).toMatchObject({ apiRequests: 1, api401s: 0, refreshGrants: 0 })
    expect((await dot.stats()).preflights).toBeGreaterThan(0)
  })

  it('rotates the refresh token on renewal; DOT then refuses the old one and has deleted the old access token', async () => {
    const auth = await clients.signedInClient()
    const before = auth.tokens
    const renewed = await auth.refresh()
    expect(renewed.refreshToken).toEqual(expect.any(String))
    expect(renewed.refreshToken).not.toBe(before?.refreshToken)
    expect(renewed.accessToken).not.toBe(before?.accessToken)
    expect(renewed.scope).toBe('api')

    // The renewed access token works; the one it replaced, valid for another hour, is gone.
    expect((await auth.fetch(`${dot.apiUrl}/me`)).status).toBe(200)
    expect(await callApiWith(before?.accessToken ?? '')).toEqual({
      status: 401,
      challenge:
        'Bearer realm="api", error="invalid_token", error_description="The access token is invalid."',
    })
    expect(await dot.stats()).toMatchObject({
      refreshGrants: 1,
      rotations: 1,
      api401s: 1,
      api401sDeletedTokens: 1,
    })

    // The rotated refresh token is refused (no grace period)...
    expect(await presentRefreshToken(before?.refreshToken ?? '')).toEqual({
      status: 400,
      body: { error: 'invalid_grant' },
    })
    // ... and, DOT having no reuse detection, that costs the session nothing.
    expect((await auth.fetch(`${dot.apiUrl}/me`)).status).toBe(200)
    expect(auth.tokens).toEqual(renewed)
  })

  it('renews and retries once when DOT answers 401 to an access token it has expired', async () => {
    const login = await shortDot.login()
    // Told the token lives an hour, the SDK does not renew it before DOT expires it.
    const auth = shortClients.createClient()
    auth.setTokens({ ...login, expires_in: 3600 })
    // A wait on DOT, not on the clock: until it rejects the token.
    for (let polls = 0; (await callApiWith(login.access_token, shortDot)).status !== 401; polls++) {
      if (polls > 100) throw new Error('DOT did not expire the access token')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    await shortDot.resetStats()

    const response = await auth.fetch(`${shortDot.apiUrl}/me`)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ sub: 'alice' })
    expect(await shortDot.stats()).toMatchObject({
      apiRequests: 2,
      api401s: 1,
      api401sExpiredTokens: 1,
      refreshGrants: 1,
      rotations: 1,
    })
  })

  it('ends the session once a renewal elsewhere rotated its refresh token and deleted its access token', async () => {
    const auth = await clients.signedInClient()
    const stale = auth.tokens?.accessToken ?? ''
    // A renewal of this session outside the SDK, as by a tab closed mid-renewal whose answer
    // went nowhere: DOT deleted the access token the SDK holds and rotated its refresh token.
    const elsewhere = await presentRefreshToken(auth.tokens?.refreshToken ?? '')
    expect(elsewhere.status).toBe(200)
    const expired = nextEvent(auth, 'expired', 5_000)

    // The 401 leads to one renewal, which DOT refuses: the session is over.
    await expect(auth.fetch(`${dot.apiUrl}/me`)).rejects.toBeInstanceOf(SessionExpiredError)
    await expired
    expect(auth.tokens).toBeNull()
    expect((await callApiWith(stale)).status).toBe(401)
    expect(await dot.stats()).toMatchObject({
      refreshGrants: 2,
      rotations: 1,
      invalidGrants: 1,
      api401sDeletedTokens: 2,
    })
  })

  it('revokes the refresh token at DOT on logout, which also deletes the access token', async () => {
    const auth = await clients.signedInClient()
    const { refreshToken, accessToken } = auth.tokens ?? {}
    const loggedOut = nextEvent(auth, 'logout', 5_000)
    await auth.logout()
    await loggedOut

    expect(auth.tokens).toBeNull()
    expect((await dot.stats()).revocationRequests).toBe(1)
    expect(await presentRefreshToken(refreshToken ?? '')).toEqual({
      status: 400,
      body: { error: 'invalid_grant' },
    })
    expect((await callApiWith(accessToken ?? '')).status).toBe(401)
  })

  it("ends the session with 'expired' and session_expired once DOT refuses a revoked refresh token", async () => {
    const auth = await clients.signedInClient()
    const events: string[] = []
    auth.on('expired', (error) => events.push(`expired:${error.code}`))
    auth.on('error', (error) => events.push(`error:${error.code}`))
    // An administrator revokes the session (RFC 7009): DOT deletes its access token as well.
    await revokeAtDOT(auth.tokens?.refreshToken ?? '', 'refresh_token')

    const outcome = await auth.fetch(`${dot.apiUrl}/me`).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(outcome).toBeInstanceOf(SessionExpiredError)
    expect(isAuthError(outcome) && outcome.code).toBe('session_expired')
    expect(events).toEqual(['expired:session_expired'])
    expect(auth.tokens).toBeNull()
    // DOT's answer was {"error": "invalid_grant"} with HTTP 400, after the API's 401.
    expect(await dot.stats()).toMatchObject({
      apiRequests: 1,
      api401sDeletedTokens: 1,
      refreshGrants: 1,
      invalidGrants: 1,
    })
  })

  it('keeps the session when DOT refuses the client (invalid_client), as token_endpoint_error', async () => {
    const tokens = await dot.login()
    const auth = clients.createClient({ clientId: 'not-registered' })
    auth.setTokens(tokens)
    const failed = nextEvent(auth, 'error', 5_000)

    const error = await auth.refresh().then(
      () => undefined,
      (reason: unknown) => reason,
    )
    expect(error).toBeInstanceOf(TokenEndpointError)
    expect(error).toMatchObject({
      code: 'token_endpoint_error',
      error: 'invalid_client',
      status: 401,
    })
    expect(await failed).toBe(error)
    // The refresh token was never accepted, so the session stands.
    expect(auth.tokens?.refreshToken).toBe(tokens.refresh_token)
    expect(await dot.stats()).toMatchObject({ refreshGrants: 1, rotations: 0, invalidGrants: 0 })
  })

  it('keeps the session when DOT fails with its HTML 500 page, as token_endpoint_unavailable', async () => {
    const auth = await clients.signedInClient()
    // DOT 1.7 cannot renew a refresh token whose access token was revoked on its own: the
    // refresh grant raises AccessToken.DoesNotExist (get_original_scopes) and Django answers
    // its HTML "Server Error (500)" page. Nothing in that says the session is over.
    await revokeAtDOT(auth.tokens?.accessToken ?? '', 'access_token')

    const outcome = await auth.fetch(`${dot.apiUrl}/me`).then(
      (response) => response.status,
      (error: unknown) => error,
    )
    expect(outcome).toBeInstanceOf(TokenEndpointUnavailableError)
    expect(outcome).toMatchObject({ code: 'token_endpoint_unavailable', status: 500 })
    expect(auth.tokens).not.toBeNull()
    const stats = await dot.stats()
    expect(stats).toMatchObject({ rotations: 0, invalidGrants: 0, api401sDeletedTokens: 1 })
    expect(stats.refreshGrants).toBeGreaterThanOrEqual(1)
  }, 30_000)
})

/** One request a client of the renewal tests sent, as its `fetch` saw it. */
interface SentRequest {
  readonly kind: 'api' | 'token'
  readonly sentAt: number
  answeredAt?: number
  status?: number
}

/** Calls `url` through `auth.fetch` continuously; `stop()` waits for the calls and tallies them. */
function callContinuously(send: (url: string) => Promise<Response>, url: string) {
  const outcomes: Record<string, number> = {}
  const outstanding = new Set<Promise<void>>()
  let running = true
  let ticks = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const tally = (outcome: string) => {
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
  }
  const tick = () => {
    if (!running) return
    if (outstanding.size < MAX_OUTSTANDING) {
      const call: Promise<void> = send(url)
        .then(
          async (response) => {
            await response.arrayBuffer()
            tally(String(response.status))
          },
          (error: unknown) => tally(isAuthError(error) ? error.code : String(error)),
        )
        .finally(() => outstanding.delete(call))
      outstanding.add(call)
    }
    timer = setTimeout(tick, CALL_INTERVALS_MS[ticks++ % CALL_INTERVALS_MS.length])
  }
  tick()
  return {
    async stop() {
      running = false
      clearTimeout(timer)
      while (outstanding.size > 0) await Promise.all(outstanding)
      return outcomes
    },
  }
}

/**
 * Where each API request that met a 401 was sent, relative to the token request it ran into:
 * before it (then overtaken by it at DOT), while it was in flight, or after it was answered.
 */
function placeRejections(requests: readonly SentRequest[]): Record<string, number> {
  const renewals = requests.filter((request) => request.kind === 'token')
  const places: Record<string, number> = {}
  for (const request of requests) {
    if (request.kind !== 'api' || request.status !== 401) continue
    const renewal = renewals.find((token) => (token.answeredAt ?? Infinity) >= request.sentAt)
    const place =
      renewal === undefined || (renewal.answeredAt ?? Infinity) < request.sentAt
        ? 'sent after the renewal was answered'
        : request.sentAt < renewal.sentAt
          ? 'sent before the renewal request, which overtook it'
          : 'sent while the renewal was in flight'
    places[place] = (places[place] ?? 0) + 1
  }
  return places
}

/**
 * `tabs` clients of one session (the tabs of one origin, modelled in-process by
 * test/mocks/tabs.ts) call the short-lived DOT's API continuously until DOT has seen
 * {@link RENEWALS} refresh grants commit, then stop; what DOT counted and the calls returned.
 */
async function runBusyTabs(tabs: number) {
  const requests: SentRequest[] = []
  const recordingFetch: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input)
    const request: SentRequest = {
      kind: url === shortDot.tokenEndpoint ? 'token' : 'api',
      sentAt: Date.now(),
    }
    requests.push(request)
    const response = await fetch(input, init)
    request.answeredAt = Date.now()
    request.status = response.status
    if (request.kind === 'token') return response
    // The body is read here, before the SDK sees the response: after a 401 the SDK cancels the
    // body it discards, and happy-dom 21 then closes the stream's controller a second time when
    // the socket ends (DOT closes every connection), an uncaught ERR_INVALID_STATE.
    const body = await response.arrayBuffer()
    return new Response(body, { status: response.status, headers: response.headers })
  }
  const options = { refreshLeeway: LEEWAY_MS, fetch: recordingFetch }
  const first = shortClients.createClient(options)
  first.setTokens(await shortDot.login())
  const clients = [first]
  for (let i = 1; i < tabs; i++) {
    const tab = shortClients.createClient(options)
    // A new tab with memory storage asks its siblings for the session.
    await tab.getAccessToken()
    clients.push(tab)
  }
  let refreshEvents = 0
  for (const auth of clients) {
    auth.on('refresh', () => {
      refreshEvents++
    })
  }

  const calls = clients.map((auth) => callContinuously(auth.fetch, `${shortDot.apiUrl}/me`))
  const outcomes: Record<string, number> = {}
  try {
    // Each renewal comes LEEWAY_MS (plus up to 150 ms of jitter) before its token expires: one
    // per lifetime. Twice that and more is a server or client that stopped renewing.
    await shortDot.waitForStats(
      (stats) => stats.rotations >= RENEWALS,
      RENEWALS * SHORT_LIFETIME_SECONDS * 2_000 + 10_000,
    )
  } finally {
    for (const tally of await Promise.all(calls.map((call) => call.stop()))) {
      for (const [outcome, count] of Object.entries(tally)) {
        outcomes[outcome] = (outcomes[outcome] ?? 0) + count
      }
    }
  }
  const stats = await shortDot.stats()
  const report = JSON.stringify({
    stats,
    outcomes,
    refreshEvents,
    rejectedRequests: placeRejections(requests),
  })
  return { stats, outcomes, report }
}

describe('proactive renewal against DOT, which deletes the previous access token at each refresh', () => {
  it.each([1, 3])(
    `sends no API request that meets a 401 while %i busy tab(s) call through ${RENEWALS} proactive renewals`,
    async (tabs) => {
      const { stats, outcomes, report } = await runBusyTabs(tabs)

      // The renewals were proactive ones, one at a time for all tabs, and all of them committed
      // (a rotated refresh token sent again would have met invalid_grant and ended the session).
      expect(stats.rotations, report).toBeGreaterThanOrEqual(RENEWALS)
      expect(stats.refreshGrants, report).toBe(stats.rotations)
      expect(stats.invalidGrants, report).toBe(0)
      // Calls kept coming through every renewal...
      expect(stats.apiRequests, report).toBeGreaterThan(RENEWALS * 20)
      // ... and none of them met a 401 at DOT, so every call returned 200 at the first attempt.
      expect(stats.api401s, report).toBe(0)
      expect(Object.keys(outcomes), report).toEqual(['200'])
    },
    90_000,
  )
})
