/**
 * Configured with `issuer` instead of `tokenEndpoint`: RFC 8414 metadata first, OpenID Connect
 * Discovery as the fallback, the §3.3 issuer check, path insertion, caching, and retry after a
 * failure.
 */
import { HttpResponse, http } from 'msw'
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { onRequest } from '../mocks/requests.js'
import { API_ORIGIN, APP_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { stepUntilSettled, T0 } from '../mocks/time.js'

const { mock, server, serve } = useMockEnvironment()

const RFC8414 = `${ISSUER}/.well-known/oauth-authorization-server`
const OPENID = `${ISSUER}/.well-known/openid-configuration`

const { create: createClient, onCleanup } = useClients(
  { clientId: CLIENT_ID, issuer: ISSUER, apiOrigins: [API_ORIGIN] },
  { fakeTimers: T0 },
)

/** Records `METHOD url` of every request msw receives (preflights excluded). */
function recordRequests(): string[] {
  const seen: string[] = []
  onCleanup(onRequest(server, (request) => seen.push(`${request.method} ${request.url}`)))
  return seen
}

/** Advances fake time in 10 ms steps until `promise` settles (at most `limit` ms). */
const advanceUntil = stepUntilSettled(10)

describe('finding the endpoints', () => {
  it('reads RFC 8414 metadata, then refreshes at its token_endpoint', async () => {
    const seen = recordRequests()
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)

    const tokens = await auth.refresh()
    expect(seen).toEqual([`GET ${RFC8414}`, `POST ${ISSUER}/oauth/token`])
    expect(mock.counters).toMatchObject({ discovery: 1, token: 1, tokenSuccess: 1 })
    expect(tokens.accessToken).not.toBe(login.access_token)
  })

  it('falls back to OpenID Connect Discovery when there is no RFC 8414 document', async () => {
    const openid = serve({ discovery: 'openid' })
    const seen = recordRequests()
    const auth = createClient()
    auth.setTokens(openid.issueTokens())

    await auth.refresh()
    expect(seen).toEqual([`GET ${RFC8414}`, `GET ${OPENID}`, `POST ${ISSUER}/oauth/token`])
    expect(openid.counters).toMatchObject({ discovery: 2, token: 1, tokenSuccess: 1 })
  })

  it.each([
    ['a number', 5],
    ['null', null],
  ])(
    'falls back to OpenID when the RFC 8414 URL answers JSON that is not an object: %s',
    async (_, body) => {
      mock.injectFault({ type: 'body', body, target: 'discovery' })
      const auth = createClient()
      auth.setTokens(mock.issueTokens())

      await auth.refresh()

      expect(mock.counters).toMatchObject({ discovery: 2, token: 1, tokenSuccess: 1 })
    },
  )

  it('falls back to OpenID when the RFC 8414 URL answers without CORS headers (a browser network error)', async () => {
    // Many servers publish only OpenID metadata with CORS; their RFC 8414 URL is a plain 404
    // page without CORS headers, which a browser reports to the page as a network error
    // (happy-dom does not block simple requests, so the network error is served directly).
    const openid = serve({ discovery: 'openid' })
    server.use(http.get(RFC8414, () => HttpResponse.error()))
    const seen = recordRequests()
    const auth = createClient()
    auth.setTokens(openid.issueTokens())

    const tokens = await advanceUntil(auth.refresh())
    expect(seen.filter((request) => request === `GET ${OPENID}`)).toHaveLength(1)
    expect(seen.at(-1)).toBe(`POST ${ISSUER}/oauth/token`)
    expect(openid.counters).toMatchObject({ token: 1, tokenSuccess: 1 })
    expect(auth.tokens).toBe(tokens)
  })

  it('uses the token_endpoint the metadata names, wherever it is', async () => {
    // The metadata of ISSUER names a token endpoint on another host.
    const elsewhere = serve({ issuer: 'https://login.example.com' })
    const directory = serve({ metadata: { token_endpoint: elsewhere.endpoints.token } })
    const seen = recordRequests()
    const auth = createClient()
    auth.setTokens(elsewhere.issueTokens())

    await auth.refresh()
    expect(seen).toEqual([`GET ${RFC8414}`, 'POST https://login.example.com/oauth/token'])
    expect(directory.counters).toMatchObject({ discovery: 1, token: 0 })
    expect(elsewhere.counters).toMatchObject({ discovery: 0, token: 1, tokenSuccess: 1 })
  })

  it('revokes at the discovered revocation_endpoint on logout', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)

    await auth.logout()
    expect(mock.counters).toMatchObject({ discovery: 1, revocation: 1, token: 0 })
    expect(mock.log.revocation).toMatchObject([{ tokenType: 'refresh_token', status: 200 }])
    expect(mock.introspect(login.refresh_token ?? '').state).toBe('revoked')
  })

  it('prefers an explicit revocationEndpoint option over the discovered one', async () => {
    const seen = recordRequests()
    const explicit = 'https://revoke.example.com/oauth/revoke'
    server.use(
      http.options(
        explicit,
        () =>
          new HttpResponse(null, {
            status: 204,
            headers: {
              'Access-Control-Allow-Origin': APP_ORIGIN,
              'Access-Control-Allow-Methods': 'POST',
              'Access-Control-Allow-Headers': 'Content-Type',
            },
          }),
      ),
      http.post(
        explicit,
        () =>
          new HttpResponse(null, {
            status: 200,
            headers: { 'Access-Control-Allow-Origin': APP_ORIGIN },
          }),
      ),
    )
    const auth = createClient({ revocationEndpoint: explicit })
    auth.setTokens(mock.issueTokens())
    await auth.logout()
    expect(seen).toEqual([`GET ${RFC8414}`, `POST ${explicit}`])
    expect(mock.counters.revocation).toBe(0)
  })
})

describe('caching', () => {
  it('reads the metadata once for many refreshes', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    for (let i = 0; i < 5; i++) await auth.refresh()
    await auth.logout()
    expect(mock.counters).toMatchObject({ discovery: 1, token: 5, tokenSuccess: 5, revocation: 1 })
  })

  it('reads the metadata once for concurrent first calls', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    vi.setSystemTime(T0 + 61_000)
    await Promise.all(Array.from({ length: 20 }, () => auth.fetch(`${API_ORIGIN}/me`)))
    expect(mock.counters).toMatchObject({ discovery: 1, token: 1 })
  })

  it('caches the OpenID fallback too: two discovery requests for many refreshes', async () => {
    const openid = serve({ discovery: 'openid' })
    const auth = createClient()
    auth.setTokens(openid.issueTokens())
    for (let i = 0; i < 4; i++) await auth.refresh()
    expect(openid.counters).toMatchObject({ discovery: 2, token: 4 })
  })
})

describe('the issuer check (RFC 8414 §3.3)', () => {
  it('rejects metadata whose issuer differs, with discovery_failed and no token request', async () => {
    const evil = serve({ metadata: { issuer: 'https://evil.example.com' } })
    const auth = createClient()
    const login = evil.issueTokens()
    const tokens = auth.setTokens(login)

    await expect(auth.refresh()).rejects.toMatchObject({
      name: 'DiscoveryError',
      code: 'discovery_failed',
      message: `metadata at ${ISSUER}/.well-known/oauth-authorization-server: "issuer" does not match the configured issuer`,
    })
    expect(evil.counters.token).toBe(0)
    // The session is kept: the app can still use its current access token.
    expect(auth.tokens).toBe(tokens)
  })

  it('does not revoke at an endpoint named by mismatched metadata on logout', async () => {
    const evil = serve({ metadata: { issuer: 'https://evil.example.com' } })
    const auth = createClient()
    auth.setTokens(evil.issueTokens())
    await advanceUntil(auth.logout())
    expect(evil.counters.revocation).toBe(0)
    expect(auth.tokens).toBeNull()
  })

  it('rejects an issuer that differs only by a trailing slash', async () => {
    const slashed = serve({ metadata: { issuer: `${ISSUER}/` } })
    const auth = createClient()
    auth.setTokens(slashed.issueTokens())
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'discovery_failed' })
    expect(slashed.counters.token).toBe(0)
  })

  it('rejects metadata whose token_endpoint is not https', async () => {
    const insecure = serve({ metadata: { token_endpoint: 'http://auth.example.com/oauth/token' } })
    const auth = createClient()
    auth.setTokens(insecure.issueTokens())
    await expect(auth.refresh()).rejects.toMatchObject({
      code: 'discovery_failed',
      message: expect.stringMatching(
        /^metadata at https:\/\/auth\.example\.com\/\.well-known\/oauth-authorization-server: .*token_endpoint/,
      ),
    })
    expect(insecure.counters.token).toBe(0)
  })
})

describe('an issuer with a path', () => {
  const TENANT = `${ISSUER}/tenant1`

  it('inserts the RFC 8414 well-known path between the host and the issuer path', async () => {
    const tenant = serve({ issuer: TENANT })
    const seen = recordRequests()
    const auth = createClient({ issuer: TENANT })
    auth.setTokens(tenant.issueTokens())

    await auth.refresh()
    expect(seen).toEqual([
      `GET ${ISSUER}/.well-known/oauth-authorization-server/tenant1`,
      `POST ${TENANT}/oauth/token`,
    ])
    expect(tenant.counters).toMatchObject({ discovery: 1, tokenSuccess: 1 })
  })

  it('appends the OpenID well-known path to the issuer path for the fallback', async () => {
    const tenant = serve({ issuer: TENANT, discovery: 'openid' })
    const seen = recordRequests()
    const auth = createClient({ issuer: TENANT })
    auth.setTokens(tenant.issueTokens())

    await auth.refresh()
    expect(seen).toEqual([
      `GET ${ISSUER}/.well-known/oauth-authorization-server/tenant1`,
      `GET ${TENANT}/.well-known/openid-configuration`,
      `POST ${TENANT}/oauth/token`,
    ])
    expect(tenant.counters).toMatchObject({ discovery: 2, tokenSuccess: 1 })
  })

  it('builds the same URLs from an issuer with a trailing slash', async () => {
    const tenant = serve({ issuer: `${TENANT}/` })
    const seen = recordRequests()
    const auth = createClient({ issuer: `${TENANT}/` })
    auth.setTokens(tenant.issueTokens())

    await auth.refresh()
    expect(seen).toEqual([
      `GET ${ISSUER}/.well-known/oauth-authorization-server/tenant1`,
      `POST ${TENANT}/oauth/token`,
    ])
  })
})

describe('after a failure', () => {
  it('fails with discovery_failed when neither document exists, and tries again on a later call', async () => {
    const auth = createClient()
    const login = mock.issueTokens()
    auth.setTokens(login)
    const errors: unknown[] = []
    auth.on('error', (error) => errors.push(error))
    mock.injectFault({ type: 'status', status: 404, target: 'discovery', times: 2 })

    await expect(auth.refresh()).rejects.toMatchObject({
      code: 'discovery_failed',
      message: `no metadata for issuer ${ISSUER}: the last document answered HTTP 404 without a JSON object`,
    })
    expect(mock.counters).toMatchObject({ discovery: 2, token: 0 })
    expect(errors).toEqual([expect.objectContaining({ code: 'discovery_failed' })])

    // After the pause that follows any failed renewal, the next call discovers again.
    await vi.advanceTimersByTimeAsync(1_000)
    const tokens = await auth.refresh()
    expect(mock.counters).toMatchObject({ discovery: 3, token: 1, tokenSuccess: 1 })
    expect(tokens.accessToken).not.toBe(login.access_token)
  })

  it('logout forgets the session at once and completes in bounded time when the metadata never answers', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    const logouts: unknown[] = []
    auth.on('logout', (payload) => logouts.push(payload))
    mock.injectFault({
      type: 'latency',
      ms: 10 * 60_000,
      target: 'discovery',
      times: Number.POSITIVE_INFINITY,
    })

    const loggingOut = auth.logout()
    await vi.advanceTimersByTimeAsync(0)
    expect(auth.tokens).toBeNull()
    expect(logouts).toHaveLength(1)
    await advanceUntil(loggingOut, 120_000)
    // Each metadata URL has the token requests' 30 s budget; nothing is revoked without metadata.
    expect(Date.now() - T0).toBeLessThanOrEqual(2 * 30_000 + 1_000)
    expect(mock.counters.revocation).toBe(0)
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'no_session' })
  })

  it('reads each unreachable metadata document once and fails with discovery_failed, not a token error', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    mock.injectFault({
      type: 'network-error',
      target: 'discovery',
      times: Number.POSITIVE_INFINITY,
    })

    await expect(advanceUntil(auth.refresh())).rejects.toMatchObject({
      name: 'DiscoveryError',
      code: 'discovery_failed',
      message: expect.stringMatching(
        /^no metadata for issuer https:\/\/auth\.example\.com: the last document could not be read \(.+\)$/,
      ),
    })
    expect(mock.counters.token).toBe(0)
    // One request to the RFC 8414 URL, then one to the OpenID URL: retries are the refresher's,
    // after a pause, like any failed token request.
    expect(mock.counters.discovery).toBe(2)

    mock.clearFaults()
    await vi.advanceTimersByTimeAsync(1_000)
    await auth.refresh()
    expect(mock.counters.tokenSuccess).toBe(1)
  })
})
