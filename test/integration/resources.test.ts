/**
 * One token per API (RFC 8707 resource indicators) through the public API, against the mock
 * authorization server, which issues each resource's token with that resource as its audience and
 * whose APIs accept only their own: two APIs with a resource of their own and one plain origin
 * that takes the session's token. Each resource's token comes from the session's one refresh
 * token, on first need, one token request of the session at a time (each rotates that refresh
 * token); it is renewed before it expires, after a 401 of its own API only, shared with the
 * sibling tabs and kept in storage.
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises'
import { isAuthError, type TokenClient, TokenRejectedError } from 'freshtoken'
import { HttpResponse, http } from 'msw'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { collect, useClients } from '../mocks/harness.js'
import { onRequest, recordRequestBodies } from '../mocks/requests.js'
import { API_ORIGIN, APP_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { stepUntilSettled, T0 } from '../mocks/time.js'

const ORDERS = 'https://orders.example.com'
const ORDERS_RESOURCE = 'https://orders.example.com/'
const BILLING = 'https://billing.example.com'
const BILLING_RESOURCE = 'https://billing.example.com/'
/** The `scope` the orders entry asks for with its token: narrower than the grant. */
const ORDERS_SCOPE = 'profile'
const KEY = `freshtoken:${CLIENT_ID}`

const { mock, server } = useMockEnvironment({
  resources: [ORDERS_RESOURCE, BILLING_RESOURCE],
  apis: [
    { origin: ORDERS, resource: ORDERS_RESOURCE },
    { origin: BILLING, resource: BILLING_RESOURCE },
  ],
})

const { create, onCleanup } = useClients(
  {
    clientId: CLIENT_ID,
    tokenEndpoint: `${ISSUER}/oauth/token`,
    revocationEndpoint: `${ISSUER}/oauth/revoke`,
    apiOrigins: [
      API_ORIGIN,
      { origin: ORDERS, resource: ORDERS_RESOURCE, scope: ORDERS_SCOPE },
      { origin: BILLING, resource: BILLING_RESOURCE },
    ],
  },
  {
    fakeTimers: T0,
    teardown: () => {
      vi.restoreAllMocks()
      localStorage.clear()
      sessionStorage.clear()
    },
  },
)

// The chunks a client with resource indicators loads at once: loaded before the tests, as a page
// has them once they arrived, so fake time never runs ahead of their real loading.
beforeAll(async () => {
  await Promise.all([import('../../src/api-fetch.js'), import('../../src/resource-tokens.js')])
})

/** Advances fake time in 10 ms steps until `promise` settles (at most `limit` ms). */
const advanceUntil = stepUntilSettled(10)

/** Lets fake time and real I/O move on in 10 ms steps until `condition` holds (at most 10 s). */
async function until(condition: () => boolean): Promise<void> {
  for (let step = 0; step < 1_000 && !condition(); step++) {
    await nextMacrotask()
    await vi.advanceTimersByTimeAsync(10)
  }
  expect(condition()).toBe(true)
}

/** One request to an API, as msw received it. */
interface Sent {
  readonly origin: string
  readonly path: string
  readonly authorization: string | null
}

/** Records every API request (any origin but the token server's) from now on. */
function recordApiCalls(): Sent[] {
  const sent: Sent[] = []
  const stop = onRequest(server, (request) => {
    const url = new URL(request.url)
    if (url.origin === ISSUER) return
    sent.push({
      origin: url.origin,
      path: url.pathname,
      authorization: request.headers.get('authorization'),
    })
  })
  onCleanup(stop)
  return sent
}

/** Records the form of every token endpoint request from now on. */
function recordTokenForms() {
  const recorder = recordRequestBodies(
    server,
    (request) => request.url === mock.endpoints.token,
    (_, body) => new URLSearchParams(body),
  )
  onCleanup(recorder.stop)
  return recorder
}

/**
 * Watches the token endpoint: how many of its requests were in flight at once, at most. A request
 * is in flight from its arrival until msw sends its answer.
 */
function watchInFlight(): { readonly max: number } {
  const inFlight = new Set<string>()
  let max = 0
  const isToken = (request: Request) =>
    request.url === mock.endpoints.token && request.method !== 'OPTIONS'
  const started = ({ request, requestId }: { request: Request; requestId: string }) => {
    if (!isToken(request)) return
    inFlight.add(requestId)
    max = Math.max(max, inFlight.size)
  }
  const answered = ({ requestId }: { requestId: string }) => {
    inFlight.delete(requestId)
  }
  server.events.on('request:start', started)
  server.events.on('response:mocked', answered)
  onCleanup(() => {
    server.events.removeListener('request:start', started)
    server.events.removeListener('response:mocked', answered)
  })
  return {
    get max() {
      return max
    },
  }
}

/** The access token of the last request to `origin` among `sent`. */
function lastTokenTo(sent: readonly Sent[], origin: string): string {
  const authorization = sent.filter((call) => call.origin === origin).at(-1)?.authorization
  expect(authorization).toMatch(/^Bearer /)
  return (authorization as string).slice('Bearer '.length)
}

/** A signed-in client whose tokens the mock issued at T0. */
function signedIn(options: Parameters<typeof create>[0] = {}) {
  const auth = create(options)
  const login = auth.setTokens(mock.issueTokens())
  return { auth, login }
}

/** The status of a call to `url` made with `auth`, fake time advancing meanwhile. */
const statusOf = async (auth: TokenClient, url: string) =>
  (await advanceUntil(auth.fetch(url))).status

describe('one token per API', () => {
  it('sends each API the token of its resource, and the plain origin the session’s token', async () => {
    const { auth, login } = signedIn()
    const sent = recordApiCalls()

    const statuses = await advanceUntil(
      Promise.all(
        [`${ORDERS}/me`, `${BILLING}/me`, `${API_ORIGIN}/me`].map((url) =>
          auth.fetch(url).then((response) => response.status),
        ),
      ),
    )

    expect(statuses).toEqual([200, 200, 200])
    const orders = lastTokenTo(sent, ORDERS)
    const billing = lastTokenTo(sent, BILLING)
    expect(lastTokenTo(sent, API_ORIGIN)).toBe(login.accessToken)
    expect(mock.introspect(orders)).toMatchObject({ resource: ORDERS_RESOURCE, state: 'active' })
    expect(mock.introspect(billing)).toMatchObject({ resource: BILLING_RESOURCE, state: 'active' })
    expect(mock.introspect(login.accessToken).resource).toBeNull()
    expect(new Set([orders, billing, login.accessToken]).size).toBe(3)
    // Every API answered the token it was sent: none went to the wrong audience.
    expect(mock.counters.api401).toBe(0)
    expect(mock.counters.tokenByResource).toEqual({ [ORDERS_RESOURCE]: 1, [BILLING_RESOURCE]: 1 })
    expect(mock.counters.token).toBe(2)
  })

  it('gets a resource’s token on first use with one refresh naming it and the entry’s scope', async () => {
    const { auth, login } = signedIn()
    const forms = recordTokenForms()

    const me = await advanceUntil(auth.fetch(`${ORDERS}/me`))

    expect(await me.json()).toMatchObject({ scope: ORDERS_SCOPE })
    expect(mock.counters.token).toBe(1)
    expect(mock.log.token[0]).toMatchObject({
      grantType: 'refresh_token',
      resource: ORDERS_RESOURCE,
      scope: ORDERS_SCOPE,
      status: 200,
    })
    const [form] = await forms.read()
    expect(form?.get('refresh_token')).toBe(login.refreshToken)
    expect(form?.getAll('resource')).toEqual([ORDERS_RESOURCE])
    expect(form?.get('scope')).toBe(ORDERS_SCOPE)
    // The session's own token is not the one renewed.
    expect(auth.tokens?.accessToken).toBe(login.accessToken)

    // A second call to the same API uses the token it has.
    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
    expect(mock.counters.token).toBe(1)

    // An entry without a scope sends none: the server keeps the grant's.
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    expect(mock.log.token[1]).toMatchObject({ resource: BILLING_RESOURCE, scope: null })
    expect((await forms.read())[1]?.has('scope')).toBe(false)
  })

  it('presents the rotated refresh token on the next resource’s request: no reuse', async () => {
    const { auth, login } = signedIn()
    const forms = recordTokenForms()

    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
    const afterOrders = auth.tokens?.refreshToken as string
    expect(afterOrders).not.toBe(login.refreshToken)
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    const afterBilling = auth.tokens?.refreshToken as string
    // And the session's own renewal presents the newest one too.
    const renewed = await advanceUntil(auth.refresh())

    const presented = (await forms.read()).map((form) => form.get('refresh_token'))
    expect(presented).toEqual([login.refreshToken, afterOrders, afterBilling])
    expect(mock.counters.reuseDetected).toBe(0)
    expect(mock.counters.tokenError).toBe(0)
    expect(mock.introspect(renewed.refreshToken as string).state).toBe('active')
    for (const used of [login.refreshToken, afterOrders, afterBilling]) {
      expect(mock.introspect(used as string).state).toBe('rotated')
    }
    // The session's renewal keeps the resources' tokens: no token request for them.
    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    expect(mock.counters.token).toBe(3)
  })

  // With the tabs' lock, and alone, where only the tab's own turns keep requests apart.
  it.each([{ crossTab: true }, { crossTab: false }])(
    'makes the first calls to two APIs at once take turns: one token request in flight, one per resource (crossTab: $crossTab)',
    async ({ crossTab }) => {
      const { auth } = signedIn({ crossTab })
      const inFlight = watchInFlight()
      // Each answer takes 500 ms: requests that did not take turns would overlap.
      mock.injectFault({ type: 'latency', ms: 500, times: 4 })

      const statuses = await advanceUntil(
        Promise.all(
          [ORDERS, BILLING, ORDERS, BILLING, ORDERS].map((origin) =>
            auth.fetch(`${origin}/me`).then((response) => response.status),
          ),
        ),
      )

      expect(statuses).toEqual([200, 200, 200, 200, 200])
      expect(mock.counters.tokenByResource).toEqual({ [ORDERS_RESOURCE]: 1, [BILLING_RESOURCE]: 1 })
      expect(mock.counters.token).toBe(2)
      expect(inFlight.max).toBe(1)
      expect(mock.counters.reuseDetected).toBe(0)
    },
  )

  it.each([{ crossTab: true }, { crossTab: false }])(
    'makes a resource’s renewal and the session’s own take turns (crossTab: $crossTab)',
    async ({ crossTab }) => {
      const { auth } = signedIn({ crossTab })
      const inFlight = watchInFlight()
      mock.injectFault({ type: 'latency', ms: 500, times: 4 })

      const [renewed, orders, billing] = await advanceUntil(
        Promise.all([
          auth.refresh(),
          auth.fetch(`${ORDERS}/me`),
          auth.getAccessToken({ resource: BILLING_RESOURCE }),
        ]),
      )

      expect(orders.status).toBe(200)
      expect(mock.introspect(billing).resource).toBe(BILLING_RESOURCE)
      expect(inFlight.max).toBe(1)
      expect(mock.counters.token).toBe(3)
      expect(mock.counters.reuseDetected).toBe(0)
      expect(mock.introspect(auth.tokens?.refreshToken as string).state).toBe('active')
      expect(auth.tokens?.accessToken).toBe(renewed.accessToken)
    },
  )
})

describe('renewal of a resource’s token', () => {
  it('renews each resource’s token before it expires, with no call: a call never meets an expired one', async () => {
    const { auth } = signedIn()
    const sent = recordApiCalls()
    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    const first = { orders: lastTokenTo(sent, ORDERS), billing: lastTokenTo(sent, BILLING) }
    const expiry = mock.introspect(first.orders).expiresAt as number

    // No call for 45 s: the 60 s tokens are renewed halfway through their lifetime.
    await vi.advanceTimersByTimeAsync(45_000)
    expect(mock.counters.tokenByResource).toEqual({ [ORDERS_RESOURCE]: 2, [BILLING_RESOURCE]: 2 })

    // Past the first tokens' expiry, a call goes at once with a live token.
    await vi.advanceTimersByTimeAsync(expiry + 1_000 - Date.now())
    const requests = mock.counters.token
    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    expect(mock.counters.token).toBe(requests)
    expect(lastTokenTo(sent, ORDERS)).not.toBe(first.orders)
    expect(lastTokenTo(sent, BILLING)).not.toBe(first.billing)

    // Ten minutes without a call, then calls: still no token is met expired.
    await vi.advanceTimersByTimeAsync(600_000)
    const before = mock.counters.token
    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    expect(mock.counters.token).toBe(before)
    expect(mock.log.api.every((entry) => entry.status === 200 && entry.token === 'active')).toBe(
      true,
    )
    // About one renewal per resource and per 30 s, never two at once, never a reused token.
    expect(mock.counters.tokenByResource[ORDERS_RESOURCE]).toBeGreaterThanOrEqual(20)
    expect(mock.counters.tokenByResource[ORDERS_RESOURCE]).toBeLessThanOrEqual(25)
    expect(mock.counters.reuseDetected).toBe(0)
    expect(mock.counters.tokenError).toBe(0)
  })

  it('renews only the token of the API that answered 401: the other keeps its token', async () => {
    const { auth, login } = signedIn()
    const sent = recordApiCalls()
    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    const orders = lastTokenTo(sent, ORDERS)
    const billing = lastTokenTo(sent, BILLING)
    // The next API call is answered a bare 401, as a gateway would.
    mock.injectFault({ type: 'status', status: 401, target: 'api' })

    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)

    expect(mock.counters.tokenByResource).toEqual({ [ORDERS_RESOURCE]: 2, [BILLING_RESOURCE]: 1 })
    expect(lastTokenTo(sent, ORDERS)).not.toBe(orders)
    expect(await advanceUntil(auth.getAccessToken({ resource: BILLING_RESOURCE }))).toBe(billing)
    expect(auth.tokens?.accessToken).toBe(login.accessToken)
    // Calls to the other API are not renewed: they go with the token they had.
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    expect(lastTokenTo(sent, BILLING)).toBe(billing)
    expect(mock.counters.token).toBe(3)
  })

  it('opens the breaker of the API that rejects every token only: the other still renews on its 401', async () => {
    const { auth } = signedIn()
    const reported = collect(auth, 'error')
    server.use(
      http.all(`${ORDERS}/*`, ({ request }) =>
        request.method === 'OPTIONS'
          ? undefined
          : HttpResponse.json(
              { error: 'invalid_token' },
              {
                status: 401,
                headers: {
                  'WWW-Authenticate': 'Bearer error="invalid_token"',
                  'Access-Control-Allow-Origin': APP_ORIGIN,
                  'Access-Control-Expose-Headers': 'WWW-Authenticate',
                },
              },
            ),
      ),
    )

    // The first token, its renewal after the 401, and that one's 401: the breaker opens.
    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(401)
    expect(mock.counters.tokenByResource[ORDERS_RESOURCE]).toBe(2)
    expect(reported).toEqual([expect.any(TokenRejectedError)])
    // While it is open, the orders API's 401s renew nothing.
    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(401)
    expect(mock.counters.tokenByResource[ORDERS_RESOURCE]).toBe(2)

    // The billing API, meanwhile: its token, and after a 401 of its own, one renewal.
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    mock.injectFault({ type: 'status', status: 401, target: 'api' })
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    expect(mock.counters.tokenByResource[BILLING_RESOURCE]).toBe(2)

    // The orders API's breaker was open all along: still no renewal for it.
    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(401)
    expect(mock.counters.tokenByResource[ORDERS_RESOURCE]).toBe(2)
    expect(reported).toHaveLength(1)
    expect(auth.tokens).not.toBeNull()
  })
})

describe('resource tokens and the tabs', () => {
  it('are shared: a sibling tab’s call to the API makes no token request', async () => {
    const one = create()
    const two = create()
    const login = one.setTokens(mock.issueTokens())
    await advanceUntil(two.getAccessToken())
    expect(two.tokens).toEqual(login)
    const sent = recordApiCalls()

    expect(await statusOf(one, `${ORDERS}/me`)).toBe(200)
    const orders = lastTokenTo(sent, ORDERS)
    await until(() => two.tokens?.refreshToken === one.tokens?.refreshToken)

    expect(await statusOf(two, `${ORDERS}/me`)).toBe(200)
    expect(lastTokenTo(sent, ORDERS)).toBe(orders)
    expect(await advanceUntil(two.getAccessToken({ resource: ORDERS_RESOURCE }))).toBe(orders)
    expect(mock.counters.token).toBe(1)

    // The other tab's first call to the other API takes the rotated refresh token: no reuse.
    expect(await statusOf(two, `${BILLING}/me`)).toBe(200)
    await until(() => one.tokens?.refreshToken === two.tokens?.refreshToken)
    expect(await statusOf(one, `${BILLING}/me`)).toBe(200)
    expect(mock.counters.token).toBe(2)
    expect(mock.counters.reuseDetected).toBe(0)
  })
})

describe('getAccessToken({ resource })', () => {
  it('answers the resource’s token, obtained once; TypeError for a resource no entry names', async () => {
    const { auth, login } = signedIn()

    const orders = await advanceUntil(auth.getAccessToken({ resource: ORDERS_RESOURCE }))
    expect(mock.introspect(orders).resource).toBe(ORDERS_RESOURCE)
    expect(await advanceUntil(auth.getAccessToken({ resource: ORDERS_RESOURCE }))).toBe(orders)
    expect(await advanceUntil(auth.getAccessToken())).toBe(login.accessToken)
    expect(mock.counters.token).toBe(1)

    for (const resource of [
      'https://unknown.example.com/',
      // An origin is not its resource: the entry names the resource.
      ORDERS,
      API_ORIGIN,
    ]) {
      const error = await auth.getAccessToken({ resource }).then(
        () => undefined,
        (caught: unknown) => caught,
      )
      expect(error).toBeInstanceOf(TypeError)
      expect(isAuthError(error)).toBe(false)
    }
    expect(mock.counters.token).toBe(1)
  })
})

describe('sign-in with resources', () => {
  it('names every resource in the authorization request, and the grant covers them', async () => {
    const navigations: string[] = []
    vi.spyOn(window.location, 'assign').mockImplementation((url: string | URL) => {
      navigations.push(String(url))
    })
    const auth = create({
      authorizationEndpoint: mock.endpoints.authorization,
      redirectUri: '/callback',
      scope: 'openid profile offline_access',
    })

    await auth.login()
    const request = new URL(navigations.at(-1) as string)
    expect(request.searchParams.getAll('resource')).toEqual([ORDERS_RESOURCE, BILLING_RESOURCE])
    // The code exchange: no timer on its way, and the mock's real crypto must not race fake time.
    await auth.handleRedirect(mock.authorize(request.href))
    expect(mock.log.authorization[0]?.resources).toEqual([ORDERS_RESOURCE, BILLING_RESOURCE])

    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    expect(await statusOf(auth, `${API_ORIGIN}/me`)).toBe(200)
    expect(mock.counters.tokenByResource).toEqual({ [ORDERS_RESOURCE]: 1, [BILLING_RESOURCE]: 1 })
  })

  it('redeems the code for the first API’s token when every API has a resource of its own', async () => {
    const navigations: string[] = []
    vi.spyOn(window.location, 'assign').mockImplementation((url: string | URL) => {
      navigations.push(String(url))
    })
    const auth = create({
      authorizationEndpoint: mock.endpoints.authorization,
      redirectUri: '/callback',
      scope: 'openid profile offline_access',
      apiOrigins: [
        { origin: ORDERS, resource: ORDERS_RESOURCE },
        { origin: BILLING, resource: BILLING_RESOURCE },
      ],
    })
    const forms = recordTokenForms()

    await auth.login()
    await auth.handleRedirect(mock.authorize(navigations.at(-1) as string))
    // RFC 8707 §2.2: the code exchange names the first resource; its token is the session's.
    expect((await forms.read()).map((form) => form.get('resource'))).toEqual([ORDERS_RESOURCE])
    expect(mock.introspect(auth.tokens?.accessToken ?? '').resource).toBe(ORDERS_RESOURCE)

    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
    expect(mock.counters.token).toBe(1)
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)
    expect((await forms.read()).map((form) => form.get('resource'))).toEqual([
      ORDERS_RESOURCE,
      BILLING_RESOURCE,
    ])
  })
})

describe('resource tokens in storage', () => {
  /** The stored session, parsed. */
  const stored = () => JSON.parse(localStorage.getItem(KEY) as string)

  /** A session in localStorage with both resources' tokens; returns them. */
  async function storedWithResources() {
    const { auth } = signedIn({ storage: 'local', crossTab: false })
    const orders = await advanceUntil(auth.getAccessToken({ resource: ORDERS_RESOURCE }))
    const billing = await advanceUntil(auth.getAccessToken({ resource: BILLING_RESOURCE }))
    auth.dispose()
    expect(Object.keys(stored().resources).sort()).toEqual([BILLING_RESOURCE, ORDERS_RESOURCE])
    return { orders, billing, requests: mock.counters.token }
  }

  it('are kept by a session restored from localStorage: no token request, the same tokens sent', async () => {
    const { orders, billing, requests } = await storedWithResources()
    const auth = create({ storage: 'local', crossTab: false })
    const sent = recordApiCalls()

    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
    expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)

    expect(lastTokenTo(sent, ORDERS)).toBe(orders)
    expect(lastTokenTo(sent, BILLING)).toBe(billing)
    expect(mock.counters.token).toBe(requests)
  })

  it.each([
    ['null', null],
    ['a string', 'garbage'],
    ['without tokens', { lifetime: 60_000 }],
    ['a number as the token', { tokens: { accessToken: 42, tokenType: 'Bearer' } }],
    ['a token with a line break', { tokens: { accessToken: 'at\r\nx: y', tokenType: 'Bearer' } }],
    ['an unknown token type', { tokens: { accessToken: 'at_1', tokenType: 'MAC' } }],
    [
      'an expiry that is no number',
      { tokens: { accessToken: 'at_1', tokenType: 'Bearer', expiresAt: 'later' } },
    ],
  ])(
    'does not use a corrupted entry (%s): renews it, and keeps the valid one',
    async (_, corrupt) => {
      const { billing, requests } = await storedWithResources()
      localStorage.setItem(
        KEY,
        JSON.stringify({
          ...stored(),
          resources: { ...stored().resources, [ORDERS_RESOURCE]: corrupt },
        }),
      )
      const auth = create({ storage: 'local', crossTab: false })
      const errors = collect(auth, 'error')
      const sent = recordApiCalls()

      expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
      expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)

      expect(mock.introspect(lastTokenTo(sent, ORDERS)).resource).toBe(ORDERS_RESOURCE)
      expect(lastTokenTo(sent, BILLING)).toBe(billing)
      expect(mock.counters.token).toBe(requests + 1)
      expect(mock.log.token.at(-1)).toMatchObject({ resource: ORDERS_RESOURCE, status: 200 })
      expect(errors).toEqual([])
      // The renewed entry replaced the corrupted one in storage.
      expect(stored().resources[ORDERS_RESOURCE].tokens.accessToken).toBe(lastTokenTo(sent, ORDERS))
    },
  )

  it.each([
    ['null', null],
    ['an array', ['at_1']],
  ])(
    'treats a `resources` member that is %s as none: each API’s token is obtained anew',
    async (_, corrupt) => {
      await storedWithResources()
      localStorage.setItem(KEY, JSON.stringify({ ...stored(), resources: corrupt }))
      const auth = create({ storage: 'local', crossTab: false })
      const errors = collect(auth, 'error')

      expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)
      expect(await statusOf(auth, `${BILLING}/me`)).toBe(200)

      expect(mock.log.token.slice(-2).map((entry) => entry.resource)).toEqual([
        ORDERS_RESOURCE,
        BILLING_RESOURCE,
      ])
      expect(errors).toEqual([])
    },
  )

  it('never renews a stored token of a resource no entry names any more', async () => {
    await storedWithResources()
    const { resources } = stored()
    // An earlier version of the app had a third API; its token, about to expire, is still stored.
    localStorage.setItem(
      KEY,
      JSON.stringify({
        ...stored(),
        resources: {
          ...resources,
          'https://retired.example.com/': {
            ...resources[ORDERS_RESOURCE],
            tokens: { ...resources[ORDERS_RESOURCE].tokens, expiresAt: T0 + 1_000 },
          },
        },
      }),
    )
    const auth = create({ storage: 'local', crossTab: false })
    const errors = collect(auth, 'error')
    const requests = mock.counters.token

    await vi.advanceTimersByTimeAsync(20_000)
    expect(await statusOf(auth, `${ORDERS}/me`)).toBe(200)

    expect(mock.log.token.slice(requests).map((entry) => entry.resource)).not.toContain(
      'https://retired.example.com/',
    )
    expect(mock.counters.token).toBe(requests)
    expect(errors).toEqual([])
  })
})
