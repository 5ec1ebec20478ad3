/**
 * Sign-in through the public API against the mock authorization server: the authorization-code
 * flow with PKCE by redirect and by popup, the checks on the response (state, iss, error, code),
 * the ID token, the session it starts, and RP-initiated logout. Navigation is stubbed: the test
 * plays the browser, taking the URL the SDK navigates to and handing the mock's redirect back.
 */
import { createTokenClient, isAuthError, type LoginError, type TokenClient } from 'freshtoken'
import { HttpResponse, http } from 'msw'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { collect, useClients } from '../mocks/harness.js'
import { APP_ORIGIN, CLIENT_ID, ISSUER, useMockEnvironment } from '../mocks/setup.js'
import { T0 } from '../mocks/time.js'

const { mock, serve, server } = useMockEnvironment()
const CALLBACK = `${APP_ORIGIN}/callback`

const DEFAULTS = {
  clientId: CLIENT_ID,
  issuer: ISSUER,
  redirectUri: '/callback',
  scope: 'openid offline_access',
  apiOrigins: ['https://api.example.com'],
}
const { create, track } = useClients(DEFAULTS, { fakeTimers: T0 })

/** Where the SDK sent the page (location.assign), in order. */
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

/** Starts a sign-in by redirect and returns the authorization request URL it navigated to. */
async function startLogin(auth: TokenClient, options?: Parameters<TokenClient['login']>[0]) {
  await auth.login(options)
  const url = navigations.at(-1)
  if (!url) throw new Error('login() did not navigate')
  return new URL(url)
}

/** The LoginError a promise rejects with. */
async function loginError(promise: Promise<unknown>): Promise<LoginError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(isAuthError(error)).toBe(true)
  expect(error).toMatchObject({ name: 'LoginError', code: 'login_failed' })
  return error as LoginError
}

describe('sign-in by redirect', () => {
  it('sends an S256 PKCE authorization request with a fresh state and nonce', async () => {
    const auth = create()
    const first = await startLogin(auth, { loginHint: 'alice', params: { ui_locales: 'fr' } })
    const second = await startLogin(auth)
    const query = Object.fromEntries(first.searchParams)
    expect(`${first.origin}${first.pathname}`).toBe(`${ISSUER}/oauth/authorize`)
    expect(query).toMatchObject({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: CALLBACK,
      scope: 'openid offline_access',
      code_challenge_method: 'S256',
      login_hint: 'alice',
      ui_locales: 'fr',
    })
    expect(query.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/)
    for (const name of ['state', 'nonce', 'code_challenge']) {
      expect(query[name]).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(second.searchParams.get(name)).not.toBe(query[name])
    }
    // The verifier never leaves the tab before the code exchange.
    expect(first.href).not.toMatch(/verifier/)
    expect(mock.counters.token).toBe(0)
  })

  it('completes the response: one code exchange, the session shared, the app state returned', async () => {
    const auth = create()
    const tokensSeen = collect(auth, 'tokens')
    const callback = mock.authorize(
      (await startLogin(auth, { state: { returnTo: '/orders' } })).href,
    )
    const result = await auth.handleRedirect(callback)
    expect(result?.state).toEqual({ returnTo: '/orders' })
    expect(result?.tokens).toBe(auth.tokens)
    expect(auth.tokens).toMatchObject({ tokenType: 'Bearer', scope: 'openid offline_access' })
    expect(auth.tokens?.refreshToken).toBeDefined()
    expect(auth.idTokenClaims).toMatchObject({ iss: ISSUER, aud: CLIENT_ID })
    expect(tokensSeen).toHaveLength(1)
    expect(mock.counters.codeExchanges).toBe(1)
    // The session works like any other: the API takes its token.
    expect((await auth.fetch('https://api.example.com/me')).status).toBe(200)
  })

  it('sends no nonce and checks no ID token without the openid scope', async () => {
    const auth = create({ scope: 'offline_access' })
    const request = await startLogin(auth)
    expect(request.searchParams.has('nonce')).toBe(false)
    expect(
      (await auth.handleRedirect(mock.authorize(request.href)))?.tokens.accessToken,
    ).toBeDefined()
  })

  it('removes the response from the address bar, on success and on errors', async () => {
    const auth = create()
    const callback = mock.authorize((await startLogin(auth)).href)
    history.replaceState(null, '', `${callback}#section`)
    await auth.handleRedirect()
    expect(window.location.href).toBe(`${CALLBACK}#section`)
    history.replaceState(
      null,
      '',
      `${CALLBACK}?error=access_denied&error_description=no&error_uri=x&session_state=s&state=forged&keep=1`,
    )
    await loginError(create().handleRedirect())
    expect(window.location.href).toBe(`${CALLBACK}?keep=1`)
  })

  it('leaves the address bar alone when it completes another URL than the page', async () => {
    const auth = create()
    history.replaceState(null, '', `${APP_ORIGIN}/elsewhere?code=mine`)
    await auth.handleRedirect(mock.authorize((await startLogin(auth)).href))
    expect(window.location.href).toBe(`${APP_ORIGIN}/elsewhere?code=mine`)
  })

  it('answers null for a URL that is no authorization response for this client', async () => {
    const auth = create()
    expect(await auth.handleRedirect(`${APP_ORIGIN}/callback`)).toBeNull()
    expect(await auth.handleRedirect(`${APP_ORIGIN}/other?code=x&state=y`)).toBeNull()
    expect(await auth.handleRedirect(`https://evil.example.com/callback?code=x&state=y`)).toBeNull()
    expect(await auth.handleRedirect(`${APP_ORIGIN}/callback?page=2`)).toBeNull()
  })

  it('refuses a replayed response (reload, back button) without a second code exchange', async () => {
    const auth = create()
    const callback = mock.authorize((await startLogin(auth)).href)
    const result = await auth.handleRedirect(callback)
    // A second call for the same URL in this page (React StrictMode) gets the same result.
    expect(await auth.handleRedirect(callback)).toBe(result)
    const reloaded = create()
    const error = await loginError(reloaded.handleRedirect(callback))
    expect(error.error).toBe('state_mismatch')
    expect(mock.counters.codeExchanges).toBe(1)
    expect(`${error.message} ${error.errorDescription}`).not.toContain(
      new URL(callback).searchParams.get('code'),
    )
  })

  it('refuses a tampered state, a foreign client and an attempt older than 10 minutes', async () => {
    const auth = create()
    const callback = new URL(mock.authorize((await startLogin(auth)).href))
    callback.searchParams.set('state', 'tampered')
    expect((await loginError(auth.handleRedirect(callback.href))).error).toBe('state_mismatch')
    const other = create({ clientId: 'other' })
    const otherCallback = mock.authorize((await startLogin(auth)).href)
    expect((await loginError(other.handleRedirect(otherCallback))).error).toBe('state_mismatch')
    const late = mock.authorize((await startLogin(auth)).href)
    await vi.advanceTimersByTimeAsync(600_000)
    expect((await loginError(auth.handleRedirect(late))).error).toBe('state_mismatch')
    expect(mock.counters.codeExchanges).toBe(0)
  })

  it('refuses a wrong iss always, and a missing one where the provider promised it (RFC 9207)', async () => {
    const auth = create()
    const wrong = new URL(mock.authorize((await startLogin(auth)).href))
    wrong.searchParams.set('iss', 'https://evil.example.com')
    expect((await loginError(auth.handleRedirect(wrong.href))).error).toBe('iss_mismatch')
    const missing = new URL(mock.authorize((await startLogin(auth)).href))
    missing.searchParams.delete('iss')
    expect((await loginError(auth.handleRedirect(missing.href))).error).toBe('iss_mismatch')
    expect(mock.counters.codeExchanges).toBe(0)
  })

  it('accepts a response without iss from a provider that never promised one', async () => {
    const provider = serve({ issParameter: false })
    const auth = create()
    const callback = new URL(provider.authorize((await startLogin(auth)).href))
    expect(callback.searchParams.has('iss')).toBe(false)
    expect((await auth.handleRedirect(callback.href))?.tokens).toBeDefined()
  })

  it.each(['access_denied', 'login_required', 'consent_required', 'interaction_required'] as const)(
    'passes the provider error %s on as sent, with its description',
    async (verdict) => {
      const auth = create()
      const callback = mock.authorize((await startLogin(auth, { prompt: 'none' })).href, verdict)
      const error = await loginError(auth.handleRedirect(callback))
      expect(error.error).toBe(verdict)
      expect(typeof error.errorDescription).toBe('string')
      expect(auth.tokens).toBeNull()
    },
  )

  it('refuses a response without code, and a code the token endpoint refuses', async () => {
    const auth = create()
    const noCode = new URL(mock.authorize((await startLogin(auth)).href))
    noCode.searchParams.delete('code')
    expect((await loginError(auth.handleRedirect(noCode.href))).error).toBe('missing_code')
    const expired = mock.authorize((await startLogin(auth)).href)
    await vi.advanceTimersByTimeAsync(61_000)
    expect((await loginError(auth.handleRedirect(expired))).error).toBe('invalid_grant')
    expect(auth.tokens).toBeNull()
  })

  it('never passes on the code, verifier or state a token endpoint quotes back in its error', async () => {
    const auth = create()
    const request = await startLogin(auth)
    const callback = new URL(mock.authorize(request.href))
    const code = callback.searchParams.get('code') as string
    const state = callback.searchParams.get('state') as string
    server.use(
      http.post(`${ISSUER}/oauth/token`, async ({ request: exchange }) => {
        const form = new URLSearchParams(await exchange.text())
        const quoted = `code ${form.get('code')} verifier ${form.get('code_verifier')}`
        return HttpResponse.json(
          { error: 'invalid_request', error_description: quoted },
          { status: 400, headers: { 'Access-Control-Allow-Origin': APP_ORIGIN } },
        )
      }),
    )
    const error = await loginError(auth.handleRedirect(callback.href))
    expect(error.error).toBe('invalid_request')
    const seen = `${error.message} ${error.errorDescription} ${JSON.stringify(error)} ${error.stack}`
    expect(seen).not.toContain(code)
    expect(seen).not.toContain(state)
    expect(seen).not.toMatch(/verifier [A-Za-z0-9_-]{43}/)
  })

  it('refuses an ID token with another nonce, without starting the session', async () => {
    const auth = create()
    const callback = mock.authorize((await startLogin(auth)).href)
    // The provider's answer, with the ID token of another sign-in (its nonce is not this one's).
    const forged = (claims: Record<string, unknown>) =>
      `e30.${btoa(JSON.stringify(claims)).replace(/=+$/, '')}.c2ln`
    const now = Math.floor(Date.now() / 1000)
    server.use(
      http.post(`${ISSUER}/oauth/token`, () =>
        HttpResponse.json(
          {
            access_token: 'at-forged',
            token_type: 'Bearer',
            expires_in: 60,
            id_token: forged({
              iss: ISSUER,
              sub: 'u',
              aud: CLIENT_ID,
              exp: now + 60,
              iat: now,
              nonce: 'not-this-one',
            }),
          },
          { headers: { 'Access-Control-Allow-Origin': APP_ORIGIN } },
        ),
      ),
    )
    const error = await loginError(auth.handleRedirect(callback))
    expect(error.error).toBe('invalid_id_token')
    expect(auth.tokens).toBeNull()
  })

  it('fails with token_endpoint_unavailable, not a LoginError, when the code cannot be redeemed now', async () => {
    const auth = create()
    const callback = mock.authorize((await startLogin(auth)).href)
    server.use(
      http.post(
        `${ISSUER}/oauth/token`,
        () =>
          new HttpResponse('busy', {
            status: 503,
            headers: { 'Access-Control-Allow-Origin': APP_ORIGIN },
          }),
      ),
    )
    await expect(auth.handleRedirect(callback)).rejects.toMatchObject({
      name: 'TokenEndpointUnavailableError',
      code: 'token_endpoint_unavailable',
    })
  })

  it('checks no iss when the client was given endpoints instead of an issuer', async () => {
    const { issuer: _, ...withoutIssuer } = DEFAULTS
    const auth = track(
      createTokenClient({
        ...withoutIssuer,
        tokenEndpoint: `${ISSUER}/oauth/token`,
        authorizationEndpoint: `${ISSUER}/oauth/authorize`,
      }),
    )
    const callback = new URL(mock.authorize((await startLogin(auth)).href))
    callback.searchParams.set('iss', 'https://some.other.example.com')
    expect((await auth.handleRedirect(callback.href))?.tokens).toBeDefined()
  })

  it('keeps the working session when a sign-in fails', async () => {
    const auth = create()
    await auth.handleRedirect(mock.authorize((await startLogin(auth)).href))
    const session = auth.tokens
    const denied = mock.authorize((await startLogin(auth)).href, 'access_denied')
    await loginError(auth.handleRedirect(denied))
    expect(auth.tokens).toBe(session)
  })

  it('shares the new session with the sibling tabs', async () => {
    const auth = create()
    const sibling = create()
    await auth.handleRedirect(mock.authorize((await startLogin(auth)).href))
    await vi.advanceTimersByTimeAsync(10)
    expect(sibling.tokens?.accessToken).toBe(auth.tokens?.accessToken)
  })

  it('refuses params that would change what freshtoken sets, and a client without redirectUri', async () => {
    const auth = create()
    for (const name of ['state', 'code_challenge', 'redirect_uri', 'nonce', 'client_id']) {
      await expect(auth.login({ params: { [name]: 'x' } })).rejects.toThrow(TypeError)
    }
    const { redirectUri: _, ...withoutRedirect } = DEFAULTS
    const noRedirect = track(createTokenClient(withoutRedirect))
    await expect(noRedirect.login()).rejects.toThrow(/redirectUri/)
    await expect(noRedirect.handleRedirect(CALLBACK)).rejects.toThrow(/redirectUri/)
    expect(navigations).toEqual([])
  })
})

describe('sign-in with a popup', () => {
  /** A stand-in for the popup window: where it was sent, and whether it is closed. */
  function stubPopup(popup: { closed: boolean } | null = { closed: false }) {
    const opened = Object.assign(popup ?? { closed: false }, {
      location: { href: '' },
      close: vi.fn(() => {
        if (popup) popup.closed = true
      }),
    })
    vi.spyOn(window, 'open').mockImplementation(() =>
      popup ? (opened as unknown as Window) : null,
    )
    return opened
  }

  /** The popup's page at redirectUri posting the response to its opener. */
  function answerFrom(source: unknown, url: string, origin = APP_ORIGIN) {
    window.dispatchEvent(
      new MessageEvent('message', {
        data: { type: 'freshtoken:authorization-response', url },
        origin,
        source: source as Window,
      }),
    )
  }

  /** Lets queued work run, without moving fake time, until the SDK has sent the popup away. */
  async function untilSent(popup: { location: { href: string } }) {
    for (let turn = 0; popup.location.href === ''; turn++) {
      if (turn > 100_000) throw new Error('the popup was never sent to the provider')
      await vi.advanceTimersByTimeAsync(0)
    }
    return popup.location.href
  }

  it('opens the popup in the same turn, takes the response only from it, and redeems the code here', async () => {
    const auth = create()
    const popup = stubPopup()
    const signingIn = auth.loginPopup()
    expect(window.open).toHaveBeenCalledTimes(1)
    const callback = mock.authorize(await untilSent(popup))
    answerFrom({}, callback) // another window
    answerFrom(popup, callback, 'https://evil.example.com') // another origin
    answerFrom(popup, `${CALLBACK}?code=x&state=another-attempt`)
    await vi.advanceTimersByTimeAsync(0)
    expect(mock.counters.codeExchanges).toBe(0)
    answerFrom(popup, callback)
    const tokens = await signingIn
    expect(tokens).toBe(auth.tokens)
    expect(popup.close).toHaveBeenCalled()
    expect(mock.counters.codeExchanges).toBe(1)
    // The poll and the time limit stopped with it: the popup is not closed again later.
    await vi.advanceTimersByTimeAsync(600_000)
    expect(popup.close).toHaveBeenCalledTimes(1)
  })

  it('rejects popup_blocked when the browser opened no window', async () => {
    const auth = create()
    stubPopup(null)
    expect((await loginError(auth.loginPopup())).error).toBe('popup_blocked')
  })

  it('rejects popup_closed within a second when the user closes it', async () => {
    const auth = create()
    const popup = stubPopup()
    const signingIn = loginError(auth.loginPopup())
    await untilSent(popup)
    popup.closed = true
    await vi.advanceTimersByTimeAsync(1_000)
    expect((await signingIn).error).toBe('popup_closed')
  })

  it('rejects popup_timeout and closes the popup when it never comes back', async () => {
    const auth = create()
    const popup = stubPopup()
    const signingIn = loginError(auth.loginPopup())
    await untilSent(popup)
    await vi.advanceTimersByTimeAsync(600_000)
    expect((await signingIn).error).toBe('popup_timeout')
    expect(popup.close).toHaveBeenCalled()
  })

  it.each([
    [
      'a cross-origin opener',
      {
        get location(): never {
          throw new Error('cross-origin')
        },
      },
    ],
    ['an opener of another origin', { location: { origin: 'https://evil.example.com' } }],
    ['no opener', null],
  ])('hands nothing to %s: the response is refused as state_mismatch', async (_, opener) => {
    const postMessage = vi.fn()
    if (opener) Object.assign(opener, { postMessage })
    vi.spyOn(window, 'opener', 'get').mockReturnValue(opener)
    const close = vi.spyOn(window, 'close').mockImplementation(() => undefined)
    const auth = create()
    const response = `${CALLBACK}?code=c&state=s&iss=${encodeURIComponent(ISSUER)}`
    expect((await loginError(auth.handleRedirect(response))).error).toBe('state_mismatch')
    expect(postMessage).not.toHaveBeenCalled()
    expect(close).not.toHaveBeenCalled()
  })

  it('hands nothing to itself (a window that is its own opener)', async () => {
    vi.spyOn(window, 'opener', 'get').mockReturnValue(window)
    const post = vi.spyOn(window, 'postMessage')
    const auth = create()
    const response = `${CALLBACK}?code=c&state=s&iss=${encodeURIComponent(ISSUER)}`
    expect((await loginError(auth.handleRedirect(response))).error).toBe('state_mismatch')
    expect(post).not.toHaveBeenCalled()
  })

  it('hands the response to a same-origin opener from inside the popup, and closes it', async () => {
    const opener = { postMessage: vi.fn(), location: { origin: APP_ORIGIN } }
    vi.spyOn(window, 'opener', 'get').mockReturnValue(opener)
    const close = vi.spyOn(window, 'close').mockImplementation(() => undefined)
    const auth = create()
    const response = `${CALLBACK}?code=c&state=s&iss=${encodeURIComponent(ISSUER)}`
    expect(await auth.handleRedirect(response)).toBeNull()
    expect(opener.postMessage).toHaveBeenCalledWith(
      { type: 'freshtoken:authorization-response', url: response },
      APP_ORIGIN,
    )
    expect(close).toHaveBeenCalled()
    expect(mock.counters.codeExchanges).toBe(0)
  })
})

describe('logout with endSession', () => {
  it('revokes, ends the session in every tab, then goes to the end-session endpoint', async () => {
    const auth = create()
    const sibling = create()
    await auth.handleRedirect(mock.authorize((await startLogin(auth)).href))
    const idToken = auth.tokens?.idToken as string
    await vi.advanceTimersByTimeAsync(10)
    const logouts = collect(sibling, 'logout')
    await auth.logout({ endSession: true, postLogoutRedirectUri: `${APP_ORIGIN}/` })
    await vi.advanceTimersByTimeAsync(10)
    expect(logouts).toHaveLength(1)
    expect(mock.counters.revocation).toBe(1)
    const end = new URL(navigations.at(-1) as string)
    expect(`${end.origin}${end.pathname}`).toBe(`${ISSUER}/oauth/logout`)
    expect(Object.fromEntries(end.searchParams)).toEqual({
      id_token_hint: idToken,
      client_id: CLIENT_ID,
      post_logout_redirect_uri: `${APP_ORIGIN}/`,
    })
  })

  it('fails with a TypeError when no end-session endpoint is known, after logging out', async () => {
    const { issuer: _, ...withoutIssuer } = DEFAULTS
    const auth = track(
      createTokenClient({ ...withoutIssuer, tokenEndpoint: `${ISSUER}/oauth/token` }),
    )
    auth.setTokens(mock.issueTokens())
    await expect(auth.logout({ endSession: true })).rejects.toThrow(/endSessionEndpoint/)
    expect(auth.tokens).toBeNull()
  })
})
