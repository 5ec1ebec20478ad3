/**
 * DPoP (RFC 9449) at its edges, through the public API against the mock authorization server,
 * which verifies every proof and demands nonces at its token endpoint and at the API: nonces
 * rotated mid-session, and servers that keep asking for a new one; a fresh proof for every request,
 * retries included, ky's too; a body replayed after a nonce error; a server that answers bearer
 * tokens; logout and the next sign-in's key; and two tabs of one origin signing with one key.
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises'
import { isAuthError, type TokenClient } from 'freshtoken'
import { HttpResponse, http } from 'msw'
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { collect, useClients } from '../mocks/harness.js'
import { onRequest } from '../mocks/requests.js'
import { API_ORIGIN, APP_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { T0 } from '../mocks/time.js'

const { mock, server, serve } = useMockEnvironment({
  dpop: { required: true, nonce: true, apiNonce: true },
  // Ten-minute tokens: no proactive renewal while a test advances fake time a little.
  accessTokenLifetime: 600_000,
})
const { create, onCleanup } = useClients(
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

// The chunks a DPoP client loads at once: loaded before the tests, as a page has them once they
// arrived, so fake time never runs ahead of their real loading.
beforeAll(async () => {
  await Promise.all([
    import('../../src/api-fetch.js'),
    import('../../src/dpop/dpop.js'),
    import('../../src/dpop/key-store.js'),
  ])
})

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

/** Signs in by redirect through `through` (the file's mock by default); returns the `dpop_jkt`. */
async function signIn(auth: TokenClient, through = mock): Promise<string> {
  await auth.login()
  const request = new URL(navigations.at(-1) as string)
  await auth.handleRedirect(through.authorize(request.href))
  return request.searchParams.get('dpop_jkt') as string
}

/** One request as msw received it, with its DPoP proof decoded. */
interface Sent {
  readonly url: string
  readonly method: string
  readonly authorization: string | null
  readonly proof: string | null
}

/** Records every request to a URL that starts with `prefix` from now on. */
function record(prefix: string): Sent[] {
  const sent: Sent[] = []
  const stop = onRequest(server, (request) => {
    if (!request.url.startsWith(prefix)) return
    sent.push({
      url: request.url,
      method: request.method,
      authorization: request.headers.get('authorization'),
      proof: request.headers.get('dpop'),
    })
  })
  onCleanup(stop)
  return sent
}

/** A base64url segment of a compact JWS, decoded as JSON. */
function segment(jwt: string | null, index: number): Record<string, unknown> {
  const part = (jwt ?? '').split('.')[index] ?? ''
  return JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')))
}
const claimsOf = (jwt: string | null) => segment(jwt, 1)

/** The RFC 7638 thumbprint of the key a proof's header carries: the key that signed it. */
async function thumbprintOf(jwt: string | null): Promise<string> {
  const { crv, kty, x, y } = segment(jwt, 0).jwk as Record<string, string>
  const digest = await crypto.subtle.digest(
    'SHA-256',
    new TextEncoder().encode(JSON.stringify({ crv, kty, x, y })),
  )
  return btoa(String.fromCharCode(...new Uint8Array(digest)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
}

/** Lets real I/O and fake time move on, 10 ms at a time, until `condition` holds (at most 10 s). */
async function until(condition: () => boolean): Promise<void> {
  for (let step = 0; step < 1_000 && !condition(); step++) {
    await nextMacrotask()
    await vi.advanceTimersByTimeAsync(10)
  }
  expect(condition()).toBe(true)
}

/** Settles `promise` while stepping fake time 100 ms at a time, letting real work run between. */
async function settleSlowly<T>(promise: Promise<T>): Promise<T> {
  let done = false
  promise.then(
    () => {
      done = true
    },
    () => {
      done = true
    },
  )
  for (let step = 0; step < 300 && !done; step++) {
    // Proofs are signed by real crypto: several turns of the loop before fake time moves on.
    for (let turn = 0; turn < 5 && !done; turn++) await nextMacrotask()
    if (!done) await vi.advanceTimersByTimeAsync(100)
  }
  return promise
}

/** CORS headers a handler of the test's own needs for the app to read its answer. */
const CORS = {
  'Access-Control-Allow-Origin': APP_ORIGIN,
  'Access-Control-Expose-Headers': 'WWW-Authenticate, DPoP-Nonce',
}

describe('a nonce rotated mid-session', () => {
  it('at the token endpoint: the next refresh meets use_dpop_nonce once, retries, and succeeds', async () => {
    const auth = create()
    const jkt = await signIn(auth)
    await auth.refresh()
    const errors = collect(auth, 'error')
    const { token, dpopNonceErrors } = mock.counters
    mock.rotateDPoPNonce(mock.endpoints.token)

    const renewed = await auth.refresh()

    expect(renewed.tokenType).toBe('DPoP')
    expect(mock.counters.token - token).toBe(2)
    expect(mock.counters.dpopNonceErrors - dpopNonceErrors).toBe(1)
    expect(mock.log.token.slice(-2)).toMatchObject([
      { error: 'use_dpop_nonce', status: 400 },
      { error: null, status: 200, dpopJkt: jkt },
    ])
    expect(errors).toEqual([])
    // Not a failure: no pause follows, the next renewal goes at once.
    await expect(auth.refresh()).resolves.toMatchObject({ tokenType: 'DPoP' })
    expect(mock.counters.token - token).toBe(3)
    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    expect(mock.counters.dpopInvalid).toBe(0)
  })

  it('at the API: the call is sent again once with the new nonce, nothing renewed', async () => {
    const auth = create()
    await signIn(auth)
    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    const errors = collect(auth, 'error')
    const { token, api401, dpopNonceErrors } = mock.counters
    const accessToken = auth.tokens?.accessToken
    mock.rotateDPoPNonce(`${API_ORIGIN}/me`)
    const sent = record(API_ORIGIN)

    const response = await auth.fetch(`${API_ORIGIN}/me`)

    expect(response.status).toBe(200)
    expect(sent.map((attempt) => attempt.authorization)).toEqual([
      `DPoP ${accessToken}`,
      `DPoP ${accessToken}`,
    ])
    const [first, second] = sent.map((attempt) => claimsOf(attempt.proof))
    expect(second?.nonce).toEqual(expect.any(String))
    expect(second?.nonce).not.toBe(first?.nonce)
    expect(mock.counters.api401 - api401).toBe(1)
    expect(mock.counters.dpopNonceErrors - dpopNonceErrors).toBe(1)
    expect(mock.counters.token).toBe(token)
    expect(auth.tokens?.accessToken).toBe(accessToken)
    expect(errors).toEqual([])
  })
})

describe('a server that keeps asking for a new nonce', () => {
  it('at the token endpoint: asked twice, then the renewal fails; the session is kept', async () => {
    const auth = create()
    await signIn(auth)
    const session = auth.tokens
    const errors = collect(auth, 'error')
    const expired = collect(auth, 'expired')
    let asked = 0
    server.use(
      http.post(mock.endpoints.token, () => {
        asked++
        return HttpResponse.json(
          { error: 'use_dpop_nonce', error_description: 'Use the nonce of DPoP-Nonce' },
          { status: 400, headers: { ...CORS, 'DPoP-Nonce': `nonce-${asked}` } },
        )
      }),
    )

    const failure = await auth.refresh().then(
      () => undefined,
      (caught: unknown) => caught,
    )

    expect(asked).toBe(2)
    expect(isAuthError(failure)).toBe(true)
    expect(failure).toMatchObject({ code: 'token_endpoint_error' })
    expect(errors).toHaveLength(1)
    expect(expired).toEqual([])
    expect(auth.tokens).toEqual(session)
  })

  it('at the API: sent twice, then the 401 is the answer; no renewal', async () => {
    const auth = create()
    await signIn(auth)
    const errors = collect(auth, 'error')
    const { token } = mock.counters
    const accessToken = auth.tokens?.accessToken
    let asked = 0
    server.use(
      http.all(`${API_ORIGIN}/me`, ({ request }) => {
        if (request.method === 'OPTIONS') return
        asked++
        return HttpResponse.json(
          { error: 'use_dpop_nonce' },
          {
            status: 401,
            headers: {
              ...CORS,
              'WWW-Authenticate': 'DPoP error="use_dpop_nonce", algs="ES256"',
              'DPoP-Nonce': `api-nonce-${asked}`,
            },
          },
        )
      }),
    )

    const response = await auth.fetch(`${API_ORIGIN}/me`)

    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/use_dpop_nonce/)
    // A nonce error is no verdict on the token: nothing to renew, and one retry is all.
    expect(asked).toBe(2)
    expect(mock.counters.token).toBe(token)
    expect(auth.tokens?.accessToken).toBe(accessToken)
    expect(errors).toEqual([])
  })
})

describe('proofs', () => {
  it('are fresh for every request: no jti replayed over many calls, nonce retries and renewals', async () => {
    const auth = create()
    const sent = record('https://')
    await signIn(auth)

    for (let round = 1; round <= 12; round++) {
      if (round % 3 === 0) mock.rotateDPoPNonce(`${API_ORIGIN}/me`)
      if (round % 4 === 0) mock.rotateDPoPNonce(mock.endpoints.token)
      if (round % 4 === 0) await auth.refresh()
      expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    }

    const proofs = sent.filter((request) => request.method !== 'OPTIONS' && request.proof)
    // Every API call and every token request carried a proof.
    expect(proofs).toHaveLength(
      sent.filter(
        (request) =>
          request.method !== 'OPTIONS' &&
          (request.url.startsWith(API_ORIGIN) || request.url === mock.endpoints.token),
      ).length,
    )
    const jtis = proofs.map((request) => claimsOf(request.proof).jti)
    expect(new Set(jtis).size).toBe(jtis.length)
    expect(jtis.length).toBeGreaterThan(20)
    expect(mock.counters.dpopReplays).toBe(0)
    expect(mock.counters.dpopInvalid).toBe(0)
    expect(mock.counters.dpopNonceErrors).toBeGreaterThanOrEqual(1 + 4 + 3)
  })

  it('go with auth.ky calls, a fresh one on each of ky’s retries', async () => {
    const auth = create()
    await signIn(auth)
    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    const accessToken = auth.tokens?.accessToken
    const sent = record(`${API_ORIGIN}/me`)
    // The first attempt meets a 503, which ky retries after its delay.
    mock.injectFault({ type: 'status', status: 503, target: 'api' })

    const me = await settleSlowly(
      auth.ky.get(`${API_ORIGIN}/me`, { retry: { limit: 2 }, timeout: false }).json(),
    )

    expect(me).toMatchObject({ sub: 'user-1' })
    const attempts = sent.filter((request) => request.method === 'GET')
    expect(attempts.map((attempt) => attempt.authorization)).toEqual([
      `DPoP ${accessToken}`,
      `DPoP ${accessToken}`,
    ])
    const [first, second] = attempts.map((attempt) => claimsOf(attempt.proof))
    expect(first).toMatchObject({ htm: 'GET', htu: `${API_ORIGIN}/me` })
    expect(second).toMatchObject({ htm: 'GET', htu: `${API_ORIGIN}/me` })
    expect(second?.jti).not.toBe(first?.jti)
    expect(mock.counters.dpopReplays).toBe(0)
    expect(mock.log.api.slice(-2).map((entry) => entry.status)).toEqual([503, 200])
  })

  it.each([
    [
      'a string body',
      () =>
        [
          `${API_ORIGIN}/echo`,
          { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' },
        ] as const,
      '{"n":1}',
    ],
    [
      'a Request with a body',
      () => [new Request(`${API_ORIGIN}/echo`, { method: 'POST', body: 'a=1&b=2' })] as const,
      'a=1&b=2',
    ],
    [
      'a URLSearchParams body',
      () =>
        [`${API_ORIGIN}/echo`, { method: 'PUT', body: new URLSearchParams({ q: 'x y' }) }] as const,
      'q=x+y',
    ],
  ])(
    'replay %s after use_dpop_nonce with the same bytes and a new proof',
    async (_, args, body) => {
      const auth = create()
      await signIn(auth)
      expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
      mock.rotateDPoPNonce(`${API_ORIGIN}/echo`)
      const bodies: string[] = []
      const stop = onRequest(server, (request) => {
        if (request.url === `${API_ORIGIN}/echo`) {
          void request
            .clone()
            .text()
            .then((text) => bodies.push(text))
        }
      })
      onCleanup(stop)
      const sent = record(`${API_ORIGIN}/echo`)
      const [input, init] = args() as unknown as [RequestInfo, RequestInit?]

      const response = await auth.fetch(input, init)

      expect(response.status).toBe(200)
      expect(await response.json()).toMatchObject({ body })
      expect(bodies).toEqual([body, body])
      const proofs = sent.map((attempt) => claimsOf(attempt.proof))
      expect(proofs).toHaveLength(2)
      expect(proofs[0]?.htm).toBe(proofs[1]?.htm)
      expect(proofs[1]?.jti).not.toBe(proofs[0]?.jti)
      expect(mock.counters.dpopReplays).toBe(0)
    },
  )
})

describe('a server that answers a DPoP client with bearer tokens', () => {
  it('is taken at its word: tokenType Bearer, API calls with Authorization: Bearer and no proof', async () => {
    const plain = serve({ dpop: false })
    const auth = create()
    await signIn(auth, plain)
    expect(auth.tokens?.tokenType).toBe('Bearer')
    const sent = record(API_ORIGIN)

    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    const renewed = await auth.refresh()
    expect(renewed.tokenType).toBe('Bearer')
    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)

    expect(sent.filter((request) => request.method === 'GET')).toEqual([
      expect.objectContaining({ authorization: expect.stringMatching(/^Bearer /), proof: null }),
      expect.objectContaining({ authorization: `Bearer ${renewed.accessToken}`, proof: null }),
    ])
    expect(plain.counters.api401).toBe(0)
  })
})

describe('the key of a session', () => {
  it('revokes the refresh token at logout, never with a proof of another key than the session’s', async () => {
    const auth = create()
    const jkt = await signIn(auth)
    const refreshToken = auth.tokens?.refreshToken as string
    const revocations = record(mock.endpoints.revocation)

    await auth.logout()

    const posted = revocations.filter((request) => request.method === 'POST')
    expect(posted).toHaveLength(1)
    expect(mock.log.revocation.at(-1)).toMatchObject({ status: 200, tokenType: 'refresh_token' })
    expect(mock.introspect(refreshToken).state).toBe('revoked')
    expect(mock.counters.dpopInvalid).toBe(0)
    // RFC 9449 defines no proof for revocation; one that is sent must prove the key the refresh
    // token is bound to: a proof of any other key (a new one, made after the session's was
    // forgotten) proves nothing, and a server that checks it refuses the revocation.
    const proof = posted[0]?.proof ?? null
    if (proof !== null) {
      expect(claimsOf(proof)).toMatchObject({ htm: 'POST', htu: mock.endpoints.revocation })
      expect(await thumbprintOf(proof)).toBe(jkt)
    }
  })

  it('binds a new key at the sign-in after a logout', async () => {
    const auth = create()
    const first = await signIn(auth)
    await auth.logout()
    expect(auth.tokens).toBeNull()

    const second = await signIn(auth)

    expect(second).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(second).not.toBe(first)
    expect(auth.tokens?.tokenType).toBe('DPoP')
    expect(mock.log.token.at(-1)).toMatchObject({ status: 200, dpopJkt: second })
    const sent = record(API_ORIGIN)
    expect((await auth.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    expect(await thumbprintOf(sent.at(-1)?.proof ?? null)).toBe(second)
    expect(mock.log.api.at(-1)).toMatchObject({ status: 200, dpopJkt: second })
  })

  it('is the one both tabs sign with, once the other tab adopted the session', async () => {
    const one = create()
    const two = create()
    const jkt = await signIn(one)
    await until(() => two.tokens !== null)
    expect(two.tokens).toEqual(one.tokens)
    const sent = record(API_ORIGIN)

    expect((await two.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    expect((await one.fetch(`${API_ORIGIN}/me`)).status).toBe(200)

    const proofs = sent.filter((request) => request.method === 'GET' && request.proof)
    expect(proofs.length).toBeGreaterThanOrEqual(2)
    for (const request of proofs) expect(await thumbprintOf(request.proof)).toBe(jkt)
    expect(mock.log.api.filter((entry) => entry.status === 200)).toEqual([
      expect.objectContaining({ dpopJkt: jkt }),
      expect.objectContaining({ dpopJkt: jkt }),
    ])
    expect(mock.counters.dpopInvalid).toBe(0)
  })

  it('is recorded with the session, so a tab signs with it while another sign-in has made a newer key', async () => {
    const one = create({ storage: 'local' })
    onCleanup(() => localStorage.clear())
    const jkt = await signIn(one)
    expect(JSON.parse(localStorage.getItem(`freshtoken:${CLIENT_ID}`) as string).jkt).toBe(jkt)
    // A tab opened later restores the session, then starts a sign-in it does not finish: the
    // newest key is now that attempt's.
    const two = create({ storage: 'local' })
    expect(two.tokens).toEqual(one.tokens)
    await two.login()
    const attempt = new URL(navigations.at(-1) as string).searchParams.get('dpop_jkt')
    expect(attempt).not.toBe(jkt)
    const sent = record(API_ORIGIN)

    expect((await two.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    expect((await one.fetch(`${API_ORIGIN}/me`)).status).toBe(200)
    const renewed = await two.refresh()
    expect(renewed.tokenType).toBe('DPoP')

    const proofs = sent.filter((request) => request.method === 'GET' && request.proof)
    for (const request of proofs) expect(await thumbprintOf(request.proof)).toBe(jkt)
    expect(mock.log.token.at(-1)).toMatchObject({ status: 200, dpopJkt: jkt })
    expect(mock.counters.dpopInvalid).toBe(0)
  })

  it('binds the token one tab renewed, which the other tab then sends with a valid proof', async () => {
    const one = create()
    const two = create()
    const jkt = await signIn(one)
    await until(() => two.tokens !== null)

    const renewed = await one.refresh()
    await until(() => two.tokens?.accessToken === renewed.accessToken)
    const { token } = mock.counters
    const sent = record(API_ORIGIN)

    expect((await two.fetch(`${API_ORIGIN}/me`)).status).toBe(200)

    expect(sent.filter((request) => request.method === 'GET').at(-1)?.authorization).toBe(
      `DPoP ${renewed.accessToken}`,
    )
    expect(await thumbprintOf(sent.at(-1)?.proof ?? null)).toBe(jkt)
    expect(mock.log.api.at(-1)).toMatchObject({ status: 200, dpopJkt: jkt, token: 'active' })
    expect(mock.counters.token).toBe(token)
    expect(mock.counters.dpopInvalid).toBe(0)
  })
})
