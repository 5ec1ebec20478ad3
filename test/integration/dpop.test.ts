/**
 * DPoP (RFC 9449) through the public API against the mock authorization server, which verifies
 * every proof: sign-in binds a new key (`dpop_jkt`), the code exchange, refreshes and API calls
 * carry proofs, the servers' nonces are learned and a `use_dpop_nonce` is retried once, and a
 * bound token without the key is refused.
 */
import { createTokenClient, type TokenClient } from 'freshtoken'
import { http } from 'msw'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { API_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { T0 } from '../mocks/time.js'

const { mock, server } = useMockEnvironment({
  dpop: { required: true, nonce: true, apiNonce: true },
  accessTokenLifetime: 600_000,
})
const { create } = useClients(
  {
    clientId: CLIENT_ID,
    issuer: ISSUER,
    redirectUri: '/callback',
    scope: 'openid offline_access',
    apiOrigins: [API_ORIGIN],
    dpop: true,
  },
  { fakeTimers: T0 },
)

/** Records the Authorization and DPoP headers of every non-preflight request to the API's `path`. */
function recordAttempts(path: string) {
  const attempts: { authorization: string | null; dpop: string | null }[] = []
  server.use(
    http.all(`${API_ORIGIN}${path}`, ({ request }) => {
      if (request.method === 'OPTIONS') return
      attempts.push({
        authorization: request.headers.get('authorization'),
        dpop: request.headers.get('dpop'),
      })
    }),
  )
  return attempts
}

let navigations: string[] = []
beforeEach(() => {
  navigations = []
  vi.spyOn(window.location, 'assign').mockImplementation((url: string | URL) => {
    navigations.push(String(url))
  })
  sessionStorage.clear()
})
afterEach(() => {
  vi.restoreAllMocks()
  sessionStorage.clear()
})

/** Signs in by redirect through the mock; returns the authorization request. */
async function signIn(auth: TokenClient): Promise<URL> {
  await auth.login()
  const request = new URL(navigations.at(-1) as string)
  await auth.handleRedirect(mock.authorize(request.href))
  return request
}

/** The claims of a compact JWS, decoded without checks. */
function claimsOf(jwt: string | null): Record<string, unknown> {
  const [, payload = ''] = (jwt ?? '').split('.')
  return JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')))
}

describe('DPoP', () => {
  it('signs in with dpop_jkt and gets DPoP-bound tokens after the nonce retry', async () => {
    const auth = create()
    const request = await signIn(auth)

    expect(request.searchParams.get('dpop_jkt')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(auth.tokens?.tokenType).toBe('DPoP')
    expect(mock.log.token.at(-1)).toMatchObject({
      status: 200,
      dpopJkt: request.searchParams.get('dpop_jkt'),
    })
    // The first proof had no nonce: one use_dpop_nonce, then the retry.
    expect(mock.counters.dpopNonceErrors).toBe(1)
  })

  it('calls the API with Authorization: DPoP and a proof bound to the token', async () => {
    const auth = create()
    await signIn(auth)
    const attempts = recordAttempts('/me')

    const response = await auth.fetch(`${API_ORIGIN}/me?x=1#f`)

    expect(response.status).toBe(200)
    const accessToken = auth.tokens?.accessToken as string
    // The API's own nonce: the first call meets use_dpop_nonce and is sent again once.
    expect(attempts.map((attempt) => attempt.authorization)).toEqual([
      `DPoP ${accessToken}`,
      `DPoP ${accessToken}`,
    ])
    expect(mock.counters.api401).toBe(1)
    expect(mock.counters.token).toBe(2)
    const proof = claimsOf(attempts[1]?.dpop ?? null)
    expect(proof).toMatchObject({ htm: 'GET', htu: `${API_ORIGIN}/me` })
    expect(proof.ath).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(proof.nonce).toEqual(expect.any(String))
  })

  it('refreshes with a proof of the same key, and the renewed token works', async () => {
    const auth = create()
    await signIn(auth)
    const first = auth.tokens
    const renewed = await auth.refresh()

    expect(renewed.tokenType).toBe('DPoP')
    expect(renewed.refreshToken).not.toBe(first?.refreshToken)
    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
  })

  it('sees a copied access token refused without the key', async () => {
    const auth = create()
    await signIn(auth)
    const stolen = auth.tokens?.accessToken as string

    const response = await fetch(`${API_ORIGIN}/me`, {
      headers: { authorization: `Bearer ${stolen}` },
    })

    expect(response.status).toBe(401)
  })

  it('refuses a DPoP token type without the dpop option', () => {
    const auth = createTokenClient({
      clientId: CLIENT_ID,
      issuer: ISSUER,
      apiOrigins: [API_ORIGIN],
    })
    expect(() => auth.setTokens({ access_token: 'a', token_type: 'DPoP' })).toThrow(
      expect.objectContaining({ code: 'invalid_token_response' }),
    )
    auth.dispose()
  })
})
