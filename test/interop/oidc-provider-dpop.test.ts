// @vitest-environment node
/**
 * What oidc-provider 9.13 does with DPoP (RFC 9449) and resource indicators (RFC 8707), driven
 * with hand-made proofs (Node WebCrypto, ES256) and the form-driving login, no SDK and no
 * browser; and what test/servers/dpop-resource-server.ts, the API of the 0.4 tests, accepts. Each
 * fact the SDK relies on is one assertion; the header comment of test/servers/oidc-provider.ts
 * lists them.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type ResourceServer, startResourceServer } from '../servers/dpop-resource-server.js'
import {
  DEFAULT_LOGIN,
  loginWithForm,
  type OidcProvider,
  type OidcProviderOptions,
  startOidcProvider,
} from '../servers/oidc-provider.js'

/** The app's origin: the redirect URI lives there, and CORS allows it. */
const APP_ORIGIN = 'http://127.0.0.1:5173'
const REDIRECT_URI = `${APP_ORIGIN}/callback`
/** Bounds every test: each is a few dozen loopback requests. */
const TEST_TIMEOUT = 15_000

// --- DPoP proofs (RFC 9449 §4.2) with WebCrypto ---------------------------------------------

/** An ES256 key pair as a DPoP client holds it: the private key is not extractable. */
interface DPoPKey {
  privateKey: CryptoKey
  jwk: { kty: string; crv: string; x: string; y: string }
  /** RFC 7638 thumbprint, what `dpop_jkt` and `cnf.jkt` carry. */
  thumbprint: string
}

async function newDPoPKey(): Promise<DPoPKey> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ])) as CryptoKeyPair
  const {
    kty = '',
    crv = '',
    x = '',
    y = '',
  } = await crypto.subtle.exportKey('jwk', pair.publicKey)
  const jwk = { kty, crv, x, y }
  // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
  const canonical = JSON.stringify({ crv, kty, x, y })
  const thumbprint = createHash('sha256').update(canonical).digest('base64url')
  return { privateKey: pair.privateKey, jwk, thumbprint }
}

const base64url = (value: string | Uint8Array) => Buffer.from(value).toString('base64url')

/** What goes into one proof; `htm` and `htu` are required, the rest optional. */
interface ProofClaims {
  htm: string
  htu: string
  /** The access token the proof goes with: `ath` is its hash. */
  accessToken?: string
  nonce?: string
  /** Seconds since the epoch. @default now */
  iat?: number
  jti?: string
  /** Replaces the header's `typ`. */
  typ?: string
}

async function proof(key: DPoPKey, claims: ProofClaims): Promise<string> {
  const header = { typ: claims.typ ?? 'dpop+jwt', alg: 'ES256', jwk: key.jwk }
  const payload = {
    jti: claims.jti ?? randomUUID(),
    htm: claims.htm,
    htu: claims.htu,
    iat: claims.iat ?? Math.floor(Date.now() / 1000),
    ...(claims.accessToken === undefined ? {} : { ath: sha256(claims.accessToken) }),
    ...(claims.nonce === undefined ? {} : { nonce: claims.nonce }),
  }
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`
  // WebCrypto's ECDSA signature is r || s, the JWS form (RFC 7518 §3.4).
  const signature = await crypto.subtle.sign(
    { name: 'ECDSA', hash: 'SHA-256' },
    key.privateKey,
    new TextEncoder().encode(input),
  )
  return `${input}.${base64url(new Uint8Array(signature))}`
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url')
}

// --- The conversation with the provider --------------------------------------------------

interface TokenAnswer {
  access_token?: string
  refresh_token?: string
  id_token?: string
  token_type?: string
  expires_in?: number
  scope?: string
  error?: string
  error_description?: string
}

interface Answer<T> {
  status: number
  headers: Headers
  body: T
}

/** A PKCE pair (RFC 7636 §4.1-4.2, S256). */
function newPkce() {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: sha256(verifier) }
}

/** How a token request proves possession: a key (a fresh proof each time) and a nonce. */
interface Possession {
  key: DPoPKey
  nonce?: string
  /** Overrides of the proof's claims. */
  claims?: Partial<ProofClaims>
}

/** A form POST; `form` values that are arrays repeat the parameter (`resource`). */
async function post<T>(
  url: string,
  form: Record<string, string | readonly string[]>,
  headers: Record<string, string> = {},
): Promise<Answer<T>> {
  const body = new URLSearchParams()
  for (const [name, value] of Object.entries(form)) {
    for (const item of typeof value === 'string' ? [value] : value) body.append(name, item)
  }
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body,
  })
  const text = await response.text()
  return {
    status: response.status,
    headers: response.headers,
    body: (text === '' ? {} : JSON.parse(text)) as T,
  }
}

async function tokenRequest(
  op: OidcProvider,
  form: Record<string, string | readonly string[]>,
  possession?: Possession,
  headers: Record<string, string> = {},
) {
  const all = { ...headers }
  if (possession !== undefined) {
    all.DPoP = await proof(possession.key, {
      htm: 'POST',
      htu: op.tokenEndpoint,
      ...(possession.nonce === undefined ? {} : { nonce: possession.nonce }),
      ...possession.claims,
    })
  }
  return post<TokenAnswer>(op.tokenEndpoint, { client_id: op.clientId, ...form }, all)
}

/** A token request that answers one `use_dpop_nonce` as a client does: retry with the nonce. */
async function tokenRequestWithNonce(
  op: OidcProvider,
  form: Record<string, string | readonly string[]>,
  possession: Possession,
) {
  const first = await tokenRequest(op, form, possession)
  if (first.status !== 400 || first.body.error !== 'use_dpop_nonce') return first
  const nonce = first.headers.get('dpop-nonce') ?? ''
  possession.nonce = nonce
  return tokenRequest(op, form, possession)
}

function refresh(
  op: OidcProvider,
  refreshToken: string,
  possession?: Possession,
  extra: Record<string, string> = {},
) {
  const form = { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }
  return possession === undefined
    ? tokenRequest(op, form)
    : tokenRequestWithNonce(op, form, possession)
}

/** What an authorization request asks for beyond the client's basics. */
interface AuthorizationRequest {
  scope?: string
  resources?: readonly string[]
  dpopJkt?: string
}

/** Logs in through the forms (with consent) and returns the code and its PKCE verifier. */
async function authorize(op: OidcProvider, request: AuthorizationRequest = {}) {
  const pkce = newPkce()
  const url = new URL(op.authorizationEndpoint)
  url.searchParams.set('client_id', op.clientId)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('redirect_uri', REDIRECT_URI)
  url.searchParams.set('scope', request.scope ?? 'openid offline_access')
  url.searchParams.set('prompt', 'consent')
  url.searchParams.set('state', randomBytes(8).toString('hex'))
  url.searchParams.set('code_challenge', pkce.challenge)
  url.searchParams.set('code_challenge_method', 'S256')
  for (const resource of request.resources ?? []) url.searchParams.append('resource', resource)
  if (request.dpopJkt !== undefined) url.searchParams.set('dpop_jkt', request.dpopJkt)
  const { redirectUrl } = await loginWithForm(url)
  const code = redirectUrl.searchParams.get('code')
  if (code === null) throw new Error(`no code: ${redirectUrl.search}`)
  return { code, verifier: pkce.verifier }
}

function codeForm(code: string, verifier: string, resource?: string) {
  return {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    ...(resource === undefined ? {} : { resource }),
  }
}

/** Signs in and redeems the code with `possession`, answering a nonce challenge. */
async function signIn(
  op: OidcProvider,
  possession: Possession | undefined,
  request: AuthorizationRequest = {},
  resource?: string,
) {
  const { code, verifier } = await authorize(op, request)
  const form = codeForm(code, verifier, resource)
  const answer =
    possession === undefined
      ? await tokenRequest(op, form)
      : await tokenRequestWithNonce(op, form, possession)
  expect(answer.status, JSON.stringify(answer.body)).toBe(200)
  return answer.body
}

/** The claims of a JWT, read without verifying it. */
function jwtClaims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'))
}

const isJwt = (token: string | undefined) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token ?? '')

/** A request with `Authorization: <scheme> <token>` and, for DPoP, a proof for it. */
async function callWithToken(
  url: string,
  token: string,
  options: {
    scheme?: 'DPoP' | 'Bearer'
    key?: DPoPKey
    method?: string
    body?: string
    proof?: Partial<ProofClaims>
    /** A ready-made proof instead of a fresh one. */
    dpop?: string
  } = {},
) {
  const method = options.method ?? 'GET'
  const headers: Record<string, string> = {
    Authorization: `${options.scheme ?? 'DPoP'} ${token}`,
  }
  if (options.dpop !== undefined) headers.DPoP = options.dpop
  else if (options.key !== undefined) {
    const htu = new URL(url)
    htu.search = ''
    headers.DPoP = await proof(options.key, {
      htm: method,
      htu: htu.href,
      accessToken: token,
      ...options.proof,
    })
  }
  if (options.body !== undefined) headers['Content-Type'] = 'text/plain'
  const response = await fetch(url, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: options.body }),
  })
  const text = await response.text()
  return {
    status: response.status,
    headers: response.headers,
    body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
  }
}

/** The `error` auth-param of a `WWW-Authenticate: DPoP ...` challenge. */
function dpopChallengeError(headers: Headers): string | undefined {
  const header = headers.get('www-authenticate') ?? ''
  if (!/^DPoP\b/.test(header)) return undefined
  return /\berror="([^"]*)"/.exec(header)?.[1]
}

function startProvider(options: Partial<OidcProviderOptions> = {}) {
  return startOidcProvider({
    redirectUris: [REDIRECT_URI],
    allowedOrigins: [APP_ORIGIN],
    ...options,
  })
}

// --- Facts --------------------------------------------------------------------------------

describe('oidc-provider requiring DPoP nonces', { timeout: TEST_TIMEOUT }, () => {
  let op: OidcProvider
  let key: DPoPKey
  let otherKey: DPoPKey

  beforeAll(async () => {
    op = await startProvider({ dpop: { requireNonce: true } })
    key = await newDPoPKey()
    otherKey = await newDPoPKey()
  })

  afterAll(async () => {
    await op?.close()
  })

  beforeEach(() => {
    op.resetCounters()
  })

  it('advertises its DPoP algorithms in discovery', async () => {
    const metadata = await (await fetch(op.discoveryUrl)).json()
    expect(metadata.dpop_signing_alg_values_supported).toEqual(['ES256', 'Ed25519', 'EdDSA'])
  })

  it('lets a preflight from the app send the DPoP header to the token endpoint', async () => {
    const response = await fetch(op.tokenEndpoint, {
      method: 'OPTIONS',
      headers: {
        Origin: APP_ORIGIN,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,dpop',
      },
    })
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-headers')).toBe('content-type,dpop')
  })

  it('answers a proof without nonce with 400 use_dpop_nonce and an exposed DPoP-Nonce', async () => {
    const { code, verifier } = await authorize(op)
    const challenge = await tokenRequest(
      op,
      codeForm(code, verifier),
      { key },
      { Origin: APP_ORIGIN },
    )
    expect(challenge.status).toBe(400)
    expect(challenge.body).toEqual({
      error: 'use_dpop_nonce',
      error_description: 'nonce is required in the DPoP proof',
    })
    const nonce = challenge.headers.get('dpop-nonce')
    expect(nonce).toMatch(/^[\w-]{43}$/)
    expect(challenge.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN)
    expect(challenge.headers.get('access-control-expose-headers')).toBe(
      'DPoP-Nonce,WWW-Authenticate',
    )
    // The token endpoint sends no challenge header of its own.
    expect(challenge.headers.get('www-authenticate')).toBeNull()

    // The challenge did not consume the code: the retry with the nonce gets the tokens.
    const tokens = await tokenRequest(
      op,
      codeForm(code, verifier),
      { key, nonce: nonce ?? '' },
      { Origin: APP_ORIGIN },
    )
    expect(tokens.status).toBe(200)
    expect(tokens.body).toMatchObject({
      token_type: 'DPoP',
      expires_in: 60,
      scope: 'openid offline_access',
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      id_token: expect.any(String),
    })
    // A success never echoes the nonce it used: it sends none while that nonce is the current
    // one, a fresh one when the minute turned in between.
    expect(tokens.headers.get('dpop-nonce')).not.toBe(nonce)
    expect(op.counters().tokenErrors).toEqual({ use_dpop_nonce: 1 })
  })

  it('accepts a proof with a valid nonce whatever its iat (a skewed clock)', async () => {
    const { refresh_token } = await signIn(op, { key })
    const iat = Math.floor(Date.now() / 1000) - 3600
    const stale = await tokenRequest(
      op,
      { grant_type: 'refresh_token', refresh_token: refresh_token ?? '' },
      { key, claims: { iat } },
    )
    expect(stale.body.error).toBe('use_dpop_nonce')
    const nonce = stale.headers.get('dpop-nonce') ?? ''
    const answer = await refresh(op, refresh_token ?? '', { key, nonce, claims: { iat } })
    expect(answer.status).toBe(200)
  })

  it('refuses a token request without any proof from a DPoP client: invalid_grant', async () => {
    const { code, verifier } = await authorize(op)
    const answer = await tokenRequest(op, codeForm(code, verifier))
    expect(answer).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'grant request is invalid' },
    })
    expect(answer.headers.get('dpop-nonce')).toBeNull()
    // Nothing was consumed: the same code redeems with a proof.
    const tokens = await tokenRequestWithNonce(op, codeForm(code, verifier), { key })
    expect(tokens.status).toBe(200)
    expect(op.counters().tokenErrorDetails).toEqual({
      'invalid_grant: DPoP proof JWT not provided': 1,
      use_dpop_nonce: 1,
    })
  })

  it('refuses a proof for another URL, method or key: invalid_dpop_proof', async () => {
    let { refresh_token = '' } = await signIn(op, { key })
    const possession: Possession = { key, claims: {} }
    for (const [claims, description] of [
      [{ htu: `${op.issuer}/elsewhere` }, 'DPoP proof htu mismatch'],
      [{ htu: `${op.tokenEndpoint}?x=1#y` }, undefined],
      [{ htm: 'GET' }, 'DPoP proof htm mismatch'],
      [{ typ: 'JWT' }, 'invalid DPoP key binding'],
      [{ jti: '' }, 'DPoP proof must have a jti string property'],
    ] as const) {
      possession.claims = claims
      const answer = await refresh(op, refresh_token, possession)
      if (description === undefined) {
        // htu is compared without its query and fragment.
        expect(answer.status).toBe(200)
        refresh_token = answer.body.refresh_token ?? ''
        continue
      }
      expect(answer.status).toBe(400)
      expect(answer.body).toEqual({ error: 'invalid_dpop_proof', error_description: description })
    }
    // A signature of another key: the same answer as a bad typ.
    const good = await proof(key, {
      htm: 'POST',
      htu: op.tokenEndpoint,
      nonce: possession.nonce ?? '',
    })
    const foreign = await proof(await newDPoPKey(), { htm: 'POST', htu: op.tokenEndpoint })
    const forged = `${good.split('.').slice(0, 2).join('.')}.${foreign.split('.')[2]}`
    const answer = await tokenRequest(
      op,
      { grant_type: 'refresh_token', refresh_token },
      undefined,
      { DPoP: forged },
    )
    expect(answer.body).toEqual({
      error: 'invalid_dpop_proof',
      error_description: 'invalid DPoP key binding',
    })
    // The refresh token was never consumed.
    possession.claims = {}
    expect((await refresh(op, refresh_token, possession)).status).toBe(200)
  })

  it('binds the refresh token: no proof or another key is invalid_grant, and consumes nothing', async () => {
    const possession = { key }
    const { refresh_token = '' } = await signIn(op, possession)
    const withoutProof = await refresh(op, refresh_token)
    expect(withoutProof).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
    const otherPossession = { key: otherKey }
    const withOtherKey = await refresh(op, refresh_token, otherPossession)
    expect(withOtherKey).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'grant request is invalid' },
    })
    expect(op.counters().tokenErrorDetails).toMatchObject({
      'invalid_grant: DPoP proof JWT not provided': 1,
      'invalid_grant: failed jkt verification': 1,
    })
    // The right key still refreshes, and rotates.
    const rotated = await refresh(op, refresh_token, possession)
    expect(rotated.status).toBe(200)
    expect(rotated.body.token_type).toBe('DPoP')
    expect(rotated.body.refresh_token).toEqual(expect.any(String))
    expect(rotated.body.refresh_token).not.toBe(refresh_token)
    expect((await refresh(op, rotated.body.refresh_token ?? '', possession)).status).toBe(200)
    // The rotated one presented again is a reuse.
    expect((await refresh(op, refresh_token, possession)).body.error).toBe('invalid_grant')
    expect(op.counters().refreshTokenReuses).toBe(1)
  })

  it('replays of one proof at the token endpoint are invalid_grant', async () => {
    const possession = { key }
    const { refresh_token = '' } = await signIn(op, possession)
    const fixed = { ...possession, claims: { jti: randomUUID() } }
    const first = await refresh(op, refresh_token, fixed)
    expect(first.status).toBe(200)
    const again = await refresh(op, first.body.refresh_token ?? '', fixed)
    expect(again).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
    expect(op.counters().tokenErrorDetails).toMatchObject({
      'invalid_grant: DPoP proof JWT Replay detected': 1,
    })
    // A replayed proof does not consume the refresh token.
    expect((await refresh(op, first.body.refresh_token ?? '', possession)).status).toBe(200)
  })

  it('binds the code to dpop_jkt: another key is invalid_grant and consumes the code', async () => {
    const { code, verifier } = await authorize(op, { dpopJkt: key.thumbprint })
    const wrong = await tokenRequestWithNonce(op, codeForm(code, verifier), { key: otherKey })
    expect(wrong).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'grant request is invalid' },
    })
    // The failed exchange consumed the code: the right key is too late.
    const late = await tokenRequestWithNonce(op, codeForm(code, verifier), { key })
    expect(late).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
    expect(op.counters()).toMatchObject({
      tokenErrorDetails: {
        'invalid_grant: DPoP proof key thumbprint does not match dpop_jkt': 1,
        'invalid_grant: authorization code already consumed': 1,
      },
      grantsRevoked: { token: 1 },
    })

    const fresh = await authorize(op, { dpopJkt: key.thumbprint })
    const right = await tokenRequestWithNonce(op, codeForm(fresh.code, fresh.verifier), { key })
    expect(right.status).toBe(200)
    expect(right.body.token_type).toBe('DPoP')
  })

  it('serves userinfo to a bound token only with the DPoP scheme and a proof of its key', async () => {
    const { access_token = '' } = await signIn(op, { key })
    expect(isJwt(access_token)).toBe(false)
    const asBearer = await callWithToken(op.userinfoEndpoint, access_token, { scheme: 'Bearer' })
    expect(asBearer.status).toBe(401)
    expect(asBearer.headers.get('www-authenticate')).toBe(
      `DPoP realm="${op.issuer}", error="invalid_token", error_description="invalid token provided", algs="ES256 Ed25519 EdDSA"`,
    )
    const noNonce = await callWithToken(op.userinfoEndpoint, access_token, { key })
    expect(noNonce.status).toBe(401)
    expect(noNonce.headers.get('www-authenticate')).toBe(
      `DPoP realm="${op.issuer}", error="use_dpop_nonce", error_description="nonce is required in the DPoP proof", algs="ES256 Ed25519 EdDSA"`,
    )
    const nonce = noNonce.headers.get('dpop-nonce') ?? ''
    expect(nonce).not.toBe('')
    const other = await callWithToken(op.userinfoEndpoint, access_token, {
      key: otherKey,
      proof: { nonce },
    })
    expect(other.status).toBe(401)
    expect(dpopChallengeError(other.headers)).toBe('invalid_token')
    const ok = await callWithToken(op.userinfoEndpoint, access_token, { key, proof: { nonce } })
    expect(ok.status).toBe(200)
    expect(ok.body).toEqual({ sub: DEFAULT_LOGIN })
  })

  it('revokes a bound refresh token with or without a DPoP header', async () => {
    for (const dpop of [undefined, 'valid', 'garbage'] as const) {
      const { refresh_token = '' } = await signIn(op, { key })
      const headers: Record<string, string> = { Origin: APP_ORIGIN }
      if (dpop === 'valid') {
        headers.DPoP = await proof(key, { htm: 'POST', htu: op.revocationEndpoint })
      } else if (dpop === 'garbage') headers.DPoP = 'not-a-proof'
      const revoked = await post(
        op.revocationEndpoint,
        { client_id: op.clientId, token: refresh_token, token_type_hint: 'refresh_token' },
        headers,
      )
      expect(revoked.status).toBe(200)
      // The revocation endpoint exposes no DPoP-Nonce and sends none.
      expect(revoked.headers.get('access-control-expose-headers')).toBe('WWW-Authenticate')
      expect(revoked.headers.get('dpop-nonce')).toBeNull()
      expect((await refresh(op, refresh_token, { key })).body.error).toBe('invalid_grant')
    }
    expect(op.counters().grantsRevoked).toEqual({ revocation: 3 })
  })
})

describe('oidc-provider with DPoP nonces not required', { timeout: TEST_TIMEOUT }, () => {
  let op: OidcProvider
  let key: DPoPKey

  beforeAll(async () => {
    op = await startProvider({ dpop: {} })
    key = await newDPoPKey()
  })

  afterAll(async () => {
    await op?.close()
  })

  it('accepts a proof without nonce and offers a nonce with the answer', async () => {
    const { code, verifier } = await authorize(op)
    const answer = await tokenRequest(op, codeForm(code, verifier), { key })
    expect(answer.status).toBe(200)
    expect(answer.body.token_type).toBe('DPoP')
    expect(answer.headers.get('dpop-nonce')).toMatch(/^[\w-]{43}$/)
  })

  it('answers a proof whose iat is over 5 minutes off with use_dpop_nonce', async () => {
    const { refresh_token = '' } = await signIn(op, { key })
    const iat = Math.floor(Date.now() / 1000) - 600
    const stale = await tokenRequest(
      op,
      { grant_type: 'refresh_token', refresh_token },
      { key, claims: { iat } },
    )
    expect(stale.status).toBe(400)
    expect(stale.body).toEqual({
      error: 'use_dpop_nonce',
      error_description: 'DPoP proof iat is not recent enough, use a DPoP nonce instead',
    })
    const nonce = stale.headers.get('dpop-nonce') ?? ''
    const retried = await refresh(op, refresh_token, { key, nonce, claims: { iat } })
    expect(retried.status).toBe(200)
  })
})

describe('oidc-provider without a DPoP nonce secret (its default)', {
  timeout: TEST_TIMEOUT,
}, () => {
  let op: OidcProvider
  let key: DPoPKey

  beforeAll(async () => {
    op = await startProvider()
    key = await newDPoPKey()
  })

  afterAll(async () => {
    await op?.close()
  })

  beforeEach(() => {
    op.resetCounters()
  })

  it('binds tokens to a proof even for a client not registered for DPoP', async () => {
    const bound = await signIn(op, { key })
    expect(bound.token_type).toBe('DPoP')
    const bearer = await signIn(op, undefined)
    expect(bearer.token_type).toBe('Bearer')
    // A bound refresh token of a public client needs a proof of the same key.
    expect(await refresh(op, bound.refresh_token ?? '')).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    })
    expect(op.counters().tokenErrorDetails).toEqual({
      'invalid_grant: failed jkt verification': 1,
    })
    expect((await refresh(op, bound.refresh_token ?? '', { key })).body.token_type).toBe('DPoP')
  })

  it('sends no DPoP-Nonce and does not expose one', async () => {
    const { code, verifier } = await authorize(op)
    const answer = await tokenRequest(op, codeForm(code, verifier), { key }, { Origin: APP_ORIGIN })
    expect(answer.status).toBe(200)
    expect(answer.headers.get('dpop-nonce')).toBeNull()
    expect(answer.headers.get('access-control-expose-headers')).toBe('WWW-Authenticate')
  })

  it('refuses a proof that carries a nonce: invalid_dpop_proof', async () => {
    const { refresh_token = '' } = await signIn(op, { key })
    const answer = await tokenRequest(
      op,
      { grant_type: 'refresh_token', refresh_token },
      { key, nonce: 'made-up' },
    )
    expect(answer).toMatchObject({
      status: 400,
      body: { error: 'invalid_dpop_proof', error_description: 'DPoP nonces are not supported' },
    })
    expect(answer.headers.get('dpop-nonce')).toBeNull()
  })

  it('refuses a proof whose iat is over 5 minutes off: invalid_dpop_proof', async () => {
    const { refresh_token = '' } = await signIn(op, { key })
    const answer = await tokenRequest(
      op,
      { grant_type: 'refresh_token', refresh_token },
      { key, claims: { iat: Math.floor(Date.now() / 1000) + 600 } },
    )
    expect(answer).toMatchObject({
      status: 400,
      body: {
        error: 'invalid_dpop_proof',
        error_description: 'DPoP proof iat is not recent enough',
      },
    })
  })
})

describe('oidc-provider with resource indicators and a DPoP API', { timeout: TEST_TIMEOUT }, () => {
  let op: OidcProvider
  let api: ResourceServer
  let nonceApi: ResourceServer
  /** Known to the provider, never in an authorization request below. */
  let otherApi: ResourceServer
  let key: DPoPKey
  let otherKey: DPoPKey

  beforeAll(async () => {
    op = await startProvider({ dpop: {} })
    api = await startResourceServer({ issuer: op.issuer, allowedOrigins: [APP_ORIGIN] })
    nonceApi = await startResourceServer({ issuer: op.issuer, requireNonce: true })
    otherApi = await startResourceServer({ issuer: op.issuer })
    for (const server of [api, nonceApi, otherApi]) op.addResource(server.audience)
    key = await newDPoPKey()
    otherKey = await newDPoPKey()
  })

  afterAll(async () => {
    await Promise.all([op?.close(), api?.close(), nonceApi?.close(), otherApi?.close()])
  })

  beforeEach(() => {
    op.resetCounters()
    for (const server of [api, nonceApi, otherApi]) server.resetCounters()
  })

  /** A sign-in naming both APIs, scope `api` included. */
  const signInForApis = (possession: Possession | undefined, resource?: string) =>
    signIn(
      op,
      possession,
      { scope: 'openid offline_access api', resources: [api.audience, nonceApi.audience] },
      resource,
    )

  it('redeems the code without resource for a userinfo token, not a JWT', async () => {
    const tokens = await signInForApis({ key })
    expect(tokens.scope).toBe('openid offline_access')
    expect(isJwt(tokens.access_token)).toBe(false)
    const me = await callWithToken(op.userinfoEndpoint, tokens.access_token ?? '', { key })
    expect(me.status).toBe(200)
    // Such a token is no use at an API.
    const atApi = await callWithToken(`${api.url}/me`, tokens.access_token ?? '', { key })
    expect(atApi.status).toBe(401)
    expect(api.counters().rejected).toEqual({ token: 1 })
  })

  it('mints a bound JWT per resource from one refresh token, rotating it each time', async () => {
    const possession = { key }
    const first = await signInForApis(possession)
    const forApi = await refresh(op, first.refresh_token ?? '', possession, {
      resource: api.audience,
    })
    expect(forApi.status).toBe(200)
    expect(forApi.body).toMatchObject({ token_type: 'DPoP', scope: 'api', expires_in: 60 })
    expect(forApi.body.refresh_token).not.toBe(first.refresh_token)
    // The grant has openid: an ID token comes with a resource token too.
    expect(forApi.body.id_token).toEqual(expect.any(String))
    expect(jwtClaims(forApi.body.access_token ?? '')).toMatchObject({
      iss: op.issuer,
      sub: DEFAULT_LOGIN,
      aud: api.audience,
      client_id: op.clientId,
      scope: 'api',
      cnf: { jkt: key.thumbprint },
    })

    const forNonceApi = await refresh(op, forApi.body.refresh_token ?? '', possession, {
      resource: nonceApi.audience,
    })
    expect(forNonceApi.status).toBe(200)
    expect(jwtClaims(forNonceApi.body.access_token ?? '').aud).toBe(nonceApi.audience)
    expect(forNonceApi.body.refresh_token).not.toBe(forApi.body.refresh_token)

    // Without resource, the same refresh token gives a userinfo token again, with an ID token.
    const plain = await refresh(op, forNonceApi.body.refresh_token ?? '', possession)
    expect(plain.body).toMatchObject({
      scope: 'openid offline_access',
      id_token: expect.any(String),
    })
    expect(isJwt(plain.body.access_token)).toBe(false)

    // The first refresh token is long consumed: a reuse revokes everything.
    expect((await refresh(op, first.refresh_token ?? '', possession)).body.error).toBe(
      'invalid_grant',
    )
    expect(op.counters().refreshTokenReuses).toBe(1)
  })

  it('redeems the code with resource for a JWT of that resource', async () => {
    const tokens = await signInForApis({ key }, api.audience)
    expect(tokens).toMatchObject({ token_type: 'DPoP', scope: 'api' })
    expect(tokens.id_token).toEqual(expect.any(String))
    expect(jwtClaims(tokens.access_token ?? '')).toMatchObject({ aud: api.audience })
  })

  it('gives resource tokens no scope when the request did not ask for the resource scope', async () => {
    const tokens = await signIn(op, { key }, { resources: [api.audience] }, api.audience)
    expect(tokens.scope).toBe('')
    expect(jwtClaims(tokens.access_token ?? '').scope).toBeUndefined()
  })

  it('answers invalid_target for a resource the code was not for, after consuming it', async () => {
    const { code, verifier } = await authorize(op, {
      scope: 'openid offline_access api',
      resources: [api.audience],
    })
    const unknown = await tokenRequestWithNonce(
      op,
      codeForm(code, verifier, 'https://unknown.example/'),
      { key },
    )
    expect(unknown).toMatchObject({
      status: 400,
      body: {
        error: 'invalid_target',
        error_description: 'resource indicator is missing, or unknown',
      },
    })
    const again = await tokenRequestWithNonce(op, codeForm(code, verifier), { key })
    expect(again.body.error).toBe('invalid_grant')
    expect(op.counters().tokenErrorDetails).toMatchObject({
      'invalid_grant: authorization code already consumed': 1,
    })
  })

  it('answers invalid_target for a resource missing from the authorization request, after rotating', async () => {
    const possession = { key }
    const first = await signInForApis(possession)
    const refused = await refresh(op, first.refresh_token ?? '', possession, {
      resource: otherApi.audience,
    })
    expect(refused).toMatchObject({
      status: 400,
      body: {
        error: 'invalid_target',
        error_description: 'resource indicator is missing, or unknown',
      },
    })
    // The refused refresh already consumed the refresh token: presenting it again is a reuse.
    const after = await refresh(op, first.refresh_token ?? '', possession)
    expect(after.body.error).toBe('invalid_grant')
    expect(op.counters().refreshTokenReuses).toBe(1)
  })

  it('refuses an authorization request naming an unknown resource', async () => {
    await expect(authorize(op, { resources: ['https://unknown.example/'] })).rejects.toThrow(
      /no code: .*error=invalid_target/,
    )
  })

  it('without openid, redeems without resource only when one resource was requested', async () => {
    const one = await signIn(
      op,
      { key },
      { scope: 'offline_access api', resources: [api.audience] },
    )
    expect(jwtClaims(one.access_token ?? '').aud).toBe(api.audience)
    const { code, verifier } = await authorize(op, {
      scope: 'offline_access api',
      resources: [api.audience, nonceApi.audience],
    })
    const two = await tokenRequestWithNonce(op, codeForm(code, verifier), { key })
    expect(two).toMatchObject({
      status: 400,
      body: {
        error: 'invalid_target',
        error_description:
          'only a single resource indicator value must be requested/resolved during Access Token Request',
      },
    })
    // That refusal came after the code was consumed.
    expect(
      (await tokenRequestWithNonce(op, codeForm(code, verifier, api.audience), { key })).body.error,
    ).toBe('invalid_grant')
  })

  it('the API accepts its bound token with a proof of the key, once per proof', async () => {
    const { access_token = '' } = await signInForApis({ key }, api.audience)
    const me = await callWithToken(`${api.url}/me`, access_token, { key })
    expect(me.status).toBe(200)
    expect(me.body).toEqual({
      sub: DEFAULT_LOGIN,
      aud: api.audience,
      scope: 'api',
      jkt: key.thumbprint,
    })
    const echo = await callWithToken(`${api.url}/echo?x=1`, access_token, {
      key,
      method: 'POST',
      body: 'hello',
    })
    expect(echo).toMatchObject({
      status: 200,
      body: { sub: DEFAULT_LOGIN, body: 'hello', contentType: 'text/plain' },
    })
    const dpop = await proof(key, { htm: 'GET', htu: `${api.url}/me`, accessToken: access_token })
    expect((await callWithToken(`${api.url}/me`, access_token, { dpop })).status).toBe(200)
    const replay = await callWithToken(`${api.url}/me`, access_token, { dpop })
    expect(replay.status).toBe(401)
    expect(dpopChallengeError(replay.headers)).toBe('invalid_dpop_proof')
    expect(api.counters()).toMatchObject({
      requests: 4,
      accepted: 3,
      rejected: { replay: 1 },
      schemes: { DPoP: 3, Bearer: 0 },
    })
  })

  it('the API refuses a copied token: as Bearer, with another key, elsewhere', async () => {
    const { access_token = '' } = await signInForApis({ key }, api.audience)
    const url = `${api.url}/me`
    const bearer = await callWithToken(url, access_token, { scheme: 'Bearer' })
    expect(bearer.status).toBe(401)
    expect(dpopChallengeError(bearer.headers)).toBe('invalid_token')
    const other = await callWithToken(url, access_token, { key: otherKey })
    expect(dpopChallengeError(other.headers)).toBe('invalid_token')
    const noProof = await callWithToken(url, access_token)
    expect(dpopChallengeError(noProof.headers)).toBe('invalid_dpop_proof')
    const wrongAth = await callWithToken(url, access_token, {
      key,
      proof: { accessToken: 'another token' },
    })
    expect(dpopChallengeError(wrongAth.headers)).toBe('invalid_dpop_proof')
    const wrongHtu = await callWithToken(url, access_token, { key, proof: { htu: `${api.url}/x` } })
    expect(dpopChallengeError(wrongHtu.headers)).toBe('invalid_dpop_proof')
    const old = await callWithToken(url, access_token, {
      key,
      proof: { iat: Math.floor(Date.now() / 1000) - 120 },
    })
    expect(dpopChallengeError(old.headers)).toBe('invalid_dpop_proof')
    const elsewhere = await callWithToken(`${otherApi.url}/me`, access_token, { key })
    expect(dpopChallengeError(elsewhere.headers)).toBe('invalid_token')
    expect(api.counters()).toMatchObject({
      accepted: 0,
      rejected: { binding: 2, proof: 3, ath: 1 },
    })
    expect(otherApi.counters().rejected).toEqual({ audience: 1 })
  })

  it('the API with nonces challenges once, then accepts the proof with its nonce', async () => {
    const { access_token = '' } = await signInForApis({ key }, nonceApi.audience)
    const url = `${nonceApi.url}/me`
    const challenge = await callWithToken(url, access_token, { key })
    expect(challenge.status).toBe(401)
    expect(dpopChallengeError(challenge.headers)).toBe('use_dpop_nonce')
    const nonce = challenge.headers.get('dpop-nonce') ?? ''
    expect(nonce).not.toBe('')
    const ok = await callWithToken(url, access_token, { key, proof: { nonce } })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('dpop-nonce')).toBeNull()
    nonceApi.rotateNonce()
    const previous = await callWithToken(url, access_token, { key, proof: { nonce } })
    expect(previous.status).toBe(200)
    expect(previous.headers.get('dpop-nonce')).not.toBe(nonce)
    nonceApi.rotateNonce()
    const stale = await callWithToken(url, access_token, { key, proof: { nonce } })
    expect(dpopChallengeError(stale.headers)).toBe('use_dpop_nonce')
    expect(nonceApi.counters()).toMatchObject({
      accepted: 2,
      nonceChallenges: 2,
      rejected: { nonce: 2 },
    })
  })

  it('the API answers CORS preflights for DPoP and exposes its challenge headers', async () => {
    const preflight = await fetch(`${api.url}/me`, {
      method: 'OPTIONS',
      headers: {
        Origin: APP_ORIGIN,
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'authorization,dpop',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN)
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/\bDPoP\b/)
    const refused = await fetch(`${api.url}/me`, { headers: { Origin: APP_ORIGIN } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('access-control-expose-headers')).toBe(
      'DPoP-Nonce, WWW-Authenticate',
    )
    expect(refused.headers.get('www-authenticate')).toMatch(/^DPoP algs="ES256 /)
  })

  it('refuses to revoke a JWT access token: unsupported_token_type', async () => {
    const { access_token = '' } = await signInForApis({ key }, api.audience)
    const answer = await post<TokenAnswer>(op.revocationEndpoint, {
      client_id: op.clientId,
      token: access_token,
    })
    expect(answer).toMatchObject({ status: 400, body: { error: 'unsupported_token_type' } })
  })
})
