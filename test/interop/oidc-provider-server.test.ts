// @vitest-environment node
/**
 * Self-tests of the oidc-provider fixture (test/servers/oidc-provider.ts) with plain `fetch` and
 * its form-driving login, no SDK and no browser: the configuration the sign-in interop tests rely
 * on (PKCE required, `iss` in authorization responses, refresh-token rotation with reuse
 * detection, revocation, logout, CORS) is what the server really does.
 */
import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  DEFAULT_LOGIN,
  type FormLoginOptions,
  loginWithForm,
  logoutWithForm,
  type OidcProvider,
  startOidcProvider,
} from '../servers/oidc-provider.js'

/** The app's origin: the redirect URIs live there, and CORS allows it. */
const APP_ORIGIN = 'http://127.0.0.1:5173'
const REDIRECT_URI = `${APP_ORIGIN}/callback`
const POST_LOGOUT_REDIRECT_URI = `${APP_ORIGIN}/signed-out`
/** Bounds every test: each is a handful of loopback requests. */
const TEST_TIMEOUT = 10_000

interface TokenAnswer {
  access_token?: string
  id_token?: string
  refresh_token?: string
  expires_in?: number
  token_type?: string
  scope?: string
  error?: string
  error_description?: string
}

/** A PKCE pair (RFC 7636 §4.1-4.2, S256). */
function newPkce() {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

/** Options of {@link authorizationUrl}. */
interface AuthorizationRequest {
  scope?: string
  /** `undefined`: no `prompt` parameter. */
  prompt?: string
  /** `null`: no `code_challenge` at all. */
  codeChallenge?: string | null
  redirectUri?: string
  state?: string
}

function authorizationUrl(op: OidcProvider, request: AuthorizationRequest = {}) {
  const url = new URL(op.authorizationEndpoint)
  url.searchParams.set('client_id', op.clientId)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('redirect_uri', request.redirectUri ?? REDIRECT_URI)
  url.searchParams.set('scope', request.scope ?? 'openid offline_access')
  url.searchParams.set('state', request.state ?? randomBytes(8).toString('hex'))
  if (request.prompt !== undefined) url.searchParams.set('prompt', request.prompt)
  if (request.codeChallenge !== null) {
    url.searchParams.set('code_challenge', request.codeChallenge ?? newPkce().challenge)
    url.searchParams.set('code_challenge_method', 'S256')
  }
  return url
}

function postForm(url: string, form: Record<string, string>, headers: HeadersInit = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  })
}

async function tokenRequest(op: OidcProvider, form: Record<string, string>) {
  const response = await postForm(op.tokenEndpoint, { client_id: op.clientId, ...form })
  return { status: response.status, body: (await response.json()) as TokenAnswer }
}

function refresh(op: OidcProvider, refreshToken: string) {
  return tokenRequest(op, { grant_type: 'refresh_token', refresh_token: refreshToken })
}

/** Signs in through the login (and consent) pages and redeems the code, as the app would. */
async function signIn(
  op: OidcProvider,
  request: Omit<AuthorizationRequest, 'codeChallenge'> = { prompt: 'consent' },
  login: FormLoginOptions = {},
) {
  const pkce = newPkce()
  const state = randomBytes(8).toString('hex')
  const url = authorizationUrl(op, { ...request, state, codeChallenge: pkce.challenge })
  const { redirectUrl, prompts, jar } = await loginWithForm(url, login)
  expect(redirectUrl.origin + redirectUrl.pathname).toBe(REDIRECT_URI)
  expect(redirectUrl.searchParams.get('state')).toBe(state)
  expect(redirectUrl.searchParams.get('iss')).toBe(op.issuer)
  const code = redirectUrl.searchParams.get('code')
  expect(code).toEqual(expect.any(String))
  const tokens = await tokenRequest(op, {
    grant_type: 'authorization_code',
    code: code ?? '',
    redirect_uri: request.redirectUri ?? REDIRECT_URI,
    code_verifier: pkce.verifier,
  })
  expect(tokens.status).toBe(200)
  return { tokens: tokens.body, prompts, jar, redirectUrl }
}

/** The claims of a JWT, read without verifying it. */
function jwtClaims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'))
}

function userinfo(op: OidcProvider, accessToken: string) {
  return fetch(`${op.issuer}/me`, { headers: { Authorization: `Bearer ${accessToken}` } })
}

describe('oidc-provider fixture', { timeout: TEST_TIMEOUT }, () => {
  let op: OidcProvider

  beforeAll(async () => {
    op = await startOidcProvider({
      redirectUris: [REDIRECT_URI],
      postLogoutRedirectUris: [POST_LOGOUT_REDIRECT_URI],
      allowedOrigins: [APP_ORIGIN],
    })
  })

  afterAll(async () => {
    await op?.close()
  })

  beforeEach(() => {
    op.resetCounters()
  })

  it('listens on loopback with an http issuer and lists its endpoints in discovery', async () => {
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const response = await fetch(op.discoveryUrl)
    expect(response.status).toBe(200)
    const metadata = await response.json()
    expect(metadata).toMatchObject({
      issuer: op.issuer,
      authorization_endpoint: op.authorizationEndpoint,
      token_endpoint: op.tokenEndpoint,
      revocation_endpoint: op.revocationEndpoint,
      end_session_endpoint: op.endSessionEndpoint,
      jwks_uri: op.jwksUri,
      authorization_response_iss_parameter_supported: true,
      code_challenge_methods_supported: ['S256'],
    })
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'offline_access']))
    expect(metadata.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'refresh_token']),
    )
    const jwks = await (await fetch(op.jwksUri)).json()
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig' })])
    expect(jwks.keys[0]).not.toHaveProperty('d')
  })

  it('refuses an authorization request without code_challenge, redirecting with iss', async () => {
    const state = 'no-pkce'
    const url = authorizationUrl(op, { codeChallenge: null, state })
    const response = await fetch(url, { redirect: 'manual' })
    expect(response.status).toBe(303)
    const location = new URL(response.headers.get('location') ?? '')
    expect(location.origin + location.pathname).toBe(REDIRECT_URI)
    expect(Object.fromEntries(location.searchParams)).toEqual({
      error: 'invalid_request',
      error_description: 'Authorization Server policy requires PKCE to be used for this request',
      state,
      iss: op.issuer,
    })
    expect(op.counters()).toMatchObject({
      authorizationRequests: 1,
      authorizationCodes: 0,
      authorizationErrors: { invalid_request: 1 },
    })
  })

  it('signs in with PKCE and prompt=consent: access, ID and refresh tokens', async () => {
    const { tokens, prompts } = await signIn(op, { prompt: 'consent' })
    expect(prompts).toEqual(['login', 'consent'])
    expect(tokens).toMatchObject({
      token_type: 'Bearer',
      expires_in: 60,
      scope: 'openid offline_access',
      access_token: expect.any(String),
      id_token: expect.any(String),
      refresh_token: expect.any(String),
    })
    expect(jwtClaims(tokens.id_token ?? '')).toMatchObject({
      iss: op.issuer,
      aud: op.clientId,
      sub: DEFAULT_LOGIN,
    })
    const me = await userinfo(op, tokens.access_token ?? '')
    expect(me.status).toBe(200)
    expect(await me.json()).toEqual({ sub: DEFAULT_LOGIN })
    expect(op.counters()).toMatchObject({
      authorizationRequests: 1,
      authorizationCodes: 1,
      tokenRequests: { authorization_code: 1 },
      tokenErrors: {},
      serverErrors: [],
    })
  })

  it('refuses a code redeemed without its code_verifier', async () => {
    const url = authorizationUrl(op, { prompt: 'consent' })
    const { redirectUrl } = await loginWithForm(url)
    const answer = await tokenRequest(op, {
      grant_type: 'authorization_code',
      code: redirectUrl.searchParams.get('code') ?? '',
      redirect_uri: REDIRECT_URI,
    })
    expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
  })

  it('rotates the refresh token on every refresh', async () => {
    const { tokens } = await signIn(op)
    const first = await refresh(op, tokens.refresh_token ?? '')
    expect(first.status).toBe(200)
    expect(first.body).toMatchObject({
      access_token: expect.any(String),
      id_token: expect.any(String),
      refresh_token: expect.any(String),
      expires_in: 60,
      scope: 'openid offline_access',
    })
    expect(first.body.refresh_token).not.toBe(tokens.refresh_token)
    expect(first.body.access_token).not.toBe(tokens.access_token)
    const second = await refresh(op, first.body.refresh_token ?? '')
    expect(second.status).toBe(200)
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token)
    expect(op.counters()).toMatchObject({
      tokenRequests: { authorization_code: 1, refresh_token: 2 },
      refreshTokenReuses: 0,
      grantsRevoked: {},
    })
  })

  it('answers a reused refresh token with invalid_grant and revokes the whole grant', async () => {
    const { tokens } = await signIn(op)
    const rotated = await refresh(op, tokens.refresh_token ?? '')
    expect(rotated.status).toBe(200)

    const reuse = await refresh(op, tokens.refresh_token ?? '')
    expect(reuse).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'grant request is invalid' },
    })
    // The grant is gone: the newest refresh token and access token fail too.
    const newest = await refresh(op, rotated.body.refresh_token ?? '')
    expect(newest).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
    expect((await userinfo(op, rotated.body.access_token ?? '')).status).toBe(401)
    expect(op.counters()).toMatchObject({
      tokenRequests: { authorization_code: 1, refresh_token: 3 },
      tokenErrors: { invalid_grant: 2 },
      refreshTokenReuses: 1,
      grantsRevoked: { token: 1 },
    })
  })

  it('revokes a refresh token with RFC 7009, and the grant with it', async () => {
    const { tokens } = await signIn(op)
    const response = await postForm(op.revocationEndpoint, {
      client_id: op.clientId,
      token: tokens.refresh_token ?? '',
      token_type_hint: 'refresh_token',
    })
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('')
    expect(await refresh(op, tokens.refresh_token ?? '')).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    })
    expect((await userinfo(op, tokens.access_token ?? '')).status).toBe(401)
    const unknown = await postForm(op.revocationEndpoint, {
      client_id: op.clientId,
      token: 'not-a-token',
    })
    expect(unknown.status).toBe(200)
    expect(op.counters()).toMatchObject({ revocationRequests: 2, grantsRevoked: { revocation: 1 } })
  })

  it('answers a CORS preflight to the token endpoint from the app origin', async () => {
    const response = await fetch(op.tokenEndpoint, {
      method: 'OPTIONS',
      headers: {
        Origin: APP_ORIGIN,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type',
      },
    })
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN)
    expect(response.headers.get('access-control-allow-methods')).toBe('POST')
    expect(response.headers.get('access-control-allow-headers')).toBe('content-type')
    expect(op.counters().preflights).toBe(1)
  })

  it('checks the origin on the token request itself, not on the preflight', async () => {
    const other = 'http://evil.example'
    const preflight = await fetch(op.tokenEndpoint, {
      method: 'OPTIONS',
      headers: { Origin: other, 'Access-Control-Request-Method': 'POST' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe(other)

    const form = { client_id: op.clientId, grant_type: 'refresh_token', refresh_token: 'x' }
    const refused = await postForm(op.tokenEndpoint, form, { Origin: other })
    expect(refused.status).toBe(400)
    expect(refused.headers.get('access-control-allow-origin')).toBeNull()
    expect(await refused.json()).toMatchObject({ error: 'invalid_request' })

    const allowed = await postForm(op.tokenEndpoint, form, { Origin: APP_ORIGIN })
    expect(allowed.status).toBe(400)
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN)
    expect(await allowed.json()).toMatchObject({ error: 'invalid_grant' })
    expect(op.counters()).toMatchObject({ preflights: 1, corsRejections: 1 })
  })

  it('drops offline_access unless prompt includes consent: no refresh token', async () => {
    for (const prompt of [undefined, 'login']) {
      const { tokens, prompts } = await signIn(op, prompt === undefined ? {} : { prompt })
      expect(prompts).toEqual(['login', 'consent'])
      expect(tokens.scope).toBe('openid')
      expect(tokens.refresh_token).toBeUndefined()
    }
    expect(op.counters().authorizationCodes).toBe(2)
  })

  it('skips the login page in a signed-in browser; prompt=consent still asks', async () => {
    const first = await signIn(op)
    expect(first.prompts).toEqual(['login', 'consent'])
    const again = await signIn(op, { prompt: 'consent' }, { jar: first.jar })
    expect(again.prompts).toEqual(['consent'])
    expect(again.tokens.refresh_token).toEqual(expect.any(String))
    // Without prompt: no page at all, and offline_access dropped.
    const silent = await signIn(op, {}, { jar: first.jar })
    expect(silent.prompts).toEqual([])
    expect(silent.tokens.scope).toBe('openid')
    expect(silent.tokens.refresh_token).toBeUndefined()
  })

  it('sends error=access_denied with iss when the user cancels consent', async () => {
    const state = 'cancelled'
    const url = authorizationUrl(op, { prompt: 'consent', state })
    const { redirectUrl, prompts } = await loginWithForm(url, { consent: false })
    expect(prompts).toEqual(['login', 'consent'])
    expect(Object.fromEntries(redirectUrl.searchParams)).toMatchObject({
      error: 'access_denied',
      state,
      iss: op.issuer,
    })
  })

  it('shows an error page, not a redirect, for an unregistered redirect_uri', async () => {
    const url = authorizationUrl(op, { redirectUri: `${APP_ORIGIN}/elsewhere` })
    await expect(loginWithForm(url)).rejects.toThrow(/redirect_uri/)
    expect(op.counters().authorizationErrors).toEqual({ invalid_redirect_uri: 1 })
  })

  it('logs out with RP-initiated logout; an offline_access grant survives it', async () => {
    const { tokens, jar } = await signIn(op)
    const url = new URL(op.endSessionEndpoint)
    url.searchParams.set('id_token_hint', tokens.id_token ?? '')
    url.searchParams.set('post_logout_redirect_uri', POST_LOGOUT_REDIRECT_URI)
    url.searchParams.set('state', 'bye')
    const landing = await logoutWithForm(url, { jar })
    expect(landing.href).toBe(`${POST_LOGOUT_REDIRECT_URI}?state=bye`)
    expect(op.counters()).toMatchObject({ endSessionRequests: 1, logouts: 1, grantsRevoked: {} })
    // The refresh token outlives the session: the app has to revoke it itself.
    expect((await refresh(op, tokens.refresh_token ?? '')).status).toBe(200)
    // The session is gone: the next authorization request asks to log in again.
    const again = await signIn(op, { prompt: 'consent' }, { jar })
    expect(again.prompts).toEqual(['login', 'consent'])
  })

  it('revokes a grant without offline_access when its session logs out', async () => {
    const { tokens, jar } = await signIn(op, { scope: 'openid' })
    expect(tokens.refresh_token).toBeUndefined()
    const url = new URL(op.endSessionEndpoint)
    url.searchParams.set('id_token_hint', tokens.id_token ?? '')
    const landing = await logoutWithForm(url, { jar })
    expect(landing.href).toBe(`${op.endSessionEndpoint}/success`)
    expect((await userinfo(op, tokens.access_token ?? '')).status).toBe(401)
    expect(op.counters()).toMatchObject({ logouts: 1, grantsRevoked: { end_session_confirm: 1 } })
  })

  it('issues access tokens with the lifetime set at run time', async () => {
    op.setAccessTokenTtl(5)
    try {
      const { tokens } = await signIn(op)
      expect(tokens.expires_in).toBe(5)
    } finally {
      op.setAccessTokenTtl(60)
    }
  })
})
