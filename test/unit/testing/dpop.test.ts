import { jwtDecode } from 'jwt-decode'
import { getResponse } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  createMockTokenServer,
  type MockTokenServer,
  type MockTokenServerOptions,
} from '../../../src/testing/index.js'

const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => {
  server.resetHandlers()
  vi.useRealTimers()
})
afterAll(() => server.close())

const T0 = Date.UTC(2030, 0, 1)
const API = 'https://api.example.com'
const REDIRECT_URI = 'https://app.example.com/callback'
const VERIFIER = 'verifier-of-forty-three-characters-or-more-0123'

function serve(options: MockTokenServerOptions = {}): MockTokenServer {
  const mock = createMockTokenServer({ tokenFormat: 'jwt', ...options })
  server.use(...mock.handlers)
  return mock
}

// --- A DPoP client made by hand with WebCrypto (RFC 9449 §4.2) -------------------------------

const b64url = (bytes: ArrayBuffer | Uint8Array | string) =>
  Buffer.from(typeof bytes === 'string' ? bytes : new Uint8Array(bytes)).toString('base64url')

async function sha256(text: string): Promise<string> {
  return b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))
}

interface ProofKey {
  readonly privateKey: CryptoKey
  readonly jwk: { kty: string; crv: string; x: string; y: string }
  /** RFC 7638 thumbprint. */
  readonly jkt: string
}

async function createKey(): Promise<ProofKey> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey)
  const jwk = { kty: kty as string, crv: crv as string, x: x as string, y: y as string }
  const jkt = await sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
  return { privateKey: pair.privateKey, jwk, jkt }
}

interface ProofInit {
  readonly htm?: string
  readonly htu: string
  readonly iat?: number
  readonly jti?: string
  readonly nonce?: string
  /** The access token to hash into `ath`. */
  readonly accessToken?: string
  /** Members replacing or adding to the header (`undefined` drops one). */
  readonly header?: Record<string, unknown>
  /** Members replacing or adding to the claims (`undefined` drops one). */
  readonly claims?: Record<string, unknown>
  /** Sign with this key instead (the header still names `key`'s public key). */
  readonly signWith?: CryptoKey
}

let jtiCount = 0

async function createProof(key: ProofKey, init: ProofInit): Promise<string> {
  jtiCount += 1
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk, ...init.header }
  const claims = {
    jti: init.jti ?? `jti-${jtiCount}`,
    htm: init.htm ?? 'POST',
    htu: init.htu,
    iat: init.iat ?? Math.floor(Date.now() / 1000),
    ...(init.nonce === undefined ? {} : { nonce: init.nonce }),
    ...(init.accessToken === undefined ? {} : { ath: await sha256(init.accessToken) }),
    ...init.claims,
  }
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
  const signature = await crypto.subtle.sign(
    { name: 'ECDSA', hash: 'SHA-256' },
    init.signWith ?? key.privateKey,
    new TextEncoder().encode(input),
  )
  return `${input}.${b64url(signature)}`
}

function post(url: string, form: Record<string, string>, proof?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: proof === undefined ? {} : { DPoP: proof },
    body: new URLSearchParams(form),
  })
}

function refresh(mock: MockTokenServer, refreshToken: string, proof?: string) {
  const form = { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'spa' }
  return post(mock.endpoints.token, form, proof)
}

async function refreshWithKey(
  mock: MockTokenServer,
  key: ProofKey,
  refreshToken: string,
  init: Partial<ProofInit> = {},
) {
  return refresh(mock, refreshToken, await createProof(key, { htu: mock.endpoints.token, ...init }))
}

interface TokenBody {
  access_token: string
  token_type: string
  refresh_token?: string
}

async function expectError(response: Response, status: number, error: string) {
  expect({
    status: response.status,
    error: ((await response.json()) as { error: string }).error,
  }).toEqual({ status, error })
}

/** Runs the authorization request and returns the code from the redirect. */
async function authorize(mock: MockTokenServer, extra: Record<string, string> = {}) {
  const url = new URL(mock.endpoints.authorization)
  const params = {
    response_type: 'code',
    client_id: 'spa',
    redirect_uri: REDIRECT_URI,
    code_challenge: await sha256(VERIFIER),
    code_challenge_method: 'S256',
    state: 'xyz',
    ...extra,
  }
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value)
  const redirect = new URL(mock.authorize(url.href))
  return redirect.searchParams
}

function exchange(mock: MockTokenServer, code: string, proof?: string) {
  const form = {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: VERIFIER,
    client_id: 'spa',
  }
  return post(mock.endpoints.token, form, proof)
}

async function callApi(
  url: string,
  scheme: 'Bearer' | 'DPoP',
  token: string,
  proof?: string,
): Promise<Response> {
  const headers: Record<string, string> = { Authorization: `${scheme} ${token}` }
  if (proof !== undefined) headers.DPoP = proof
  return fetch(url, { headers })
}

// --- Token endpoint --------------------------------------------------------------------------

describe('token endpoint with DPoP (RFC 9449 §5)', () => {
  it('binds the tokens of a code exchange to the proof key', async () => {
    const mock = serve({ dpop: true })
    const key = await createKey()
    const code = (await authorize(mock)).get('code') ?? ''
    const response = await exchange(
      mock,
      code,
      await createProof(key, { htu: mock.endpoints.token }),
    )
    expect(response.status).toBe(200)
    const body = (await response.json()) as TokenBody
    expect(body.token_type).toBe('DPoP')
    expect(jwtDecode<{ cnf?: { jkt: string } }>(body.access_token).cnf).toEqual({ jkt: key.jkt })
    expect(mock.introspect(body.access_token)).toMatchObject({ active: true, jkt: key.jkt })
    expect(mock.introspect(body.refresh_token ?? '')).toMatchObject({ jkt: key.jkt })
    expect(mock.counters).toMatchObject({ dpopProofs: 1, dpopInvalid: 0, tokenSuccess: 1 })
    expect(mock.log.token[0]?.dpopJkt).toBe(key.jkt)
  })

  it('issues bearer tokens to a request without a proof unless proofs are required', async () => {
    const lenient = serve({ dpop: true })
    const session = lenient.issueTokens()
    const response = await refresh(lenient, session.refresh_token ?? '')
    const body = (await response.json()) as TokenBody
    expect(body.token_type).toBe('Bearer')
    expect(jwtDecode<{ cnf?: unknown }>(body.access_token).cnf).toBeUndefined()
    expect(lenient.introspect(body.access_token).jkt).toBeNull()

    const strict = serve({ dpop: { required: true } })
    const strictSession = strict.issueTokens()
    await expectError(
      await refresh(strict, strictSession.refresh_token ?? ''),
      400,
      'invalid_dpop_proof',
    )
    expect(strict.counters.dpopInvalid).toBe(1)
    expect(strict.introspect(strictSession.refresh_token ?? '').state).toBe('active')
  })

  it('ignores DPoP headers and issues bearer tokens without the dpop option', async () => {
    const mock = serve()
    const key = await createKey()
    const session = mock.issueTokens()
    const response = await refreshWithKey(mock, key, session.refresh_token ?? '')
    expect(((await response.json()) as TokenBody).token_type).toBe('Bearer')
    expect(mock.counters.dpopProofs).toBe(0)
    const metadata = await (await fetch(mock.endpoints.oauthMetadata)).json()
    expect(metadata).not.toHaveProperty('dpop_signing_alg_values_supported')
    expect(() => mock.rotateDPoPNonce()).toThrow(TypeError)
  })

  it('advertises ES256 as the only proof algorithm (RFC 9449 §5.1)', async () => {
    const mock = serve({ dpop: true })
    const metadata = await (await fetch(mock.endpoints.oauthMetadata)).json()
    expect(metadata).toMatchObject({ dpop_signing_alg_values_supported: ['ES256'] })
  })

  const token = 'https://auth.example.com/oauth/token'
  it.each<[string, (key: ProofKey, other: ProofKey) => Partial<ProofInit>]>([
    ['a signature by another key', (_key, other) => ({ signWith: other.privateKey })],
    ['typ JWT', () => ({ header: { typ: 'JWT' } })],
    ['alg RS256', () => ({ header: { alg: 'RS256' } })],
    ['alg none', () => ({ header: { alg: 'none' } })],
    ['no jwk', () => ({ header: { jwk: undefined } })],
    ['a private key in jwk', (key) => ({ header: { jwk: { ...key.jwk, d: 'c2VjcmV0' } } })],
    ['an RSA jwk', (key) => ({ header: { jwk: { ...key.jwk, kty: 'RSA' } } })],
    ['htm GET', () => ({ htm: 'GET' })],
    ['htm post (case matters)', () => ({ htm: 'post' })],
    ['htu of the revocation endpoint', () => ({ htu: 'https://auth.example.com/oauth/revoke' })],
    ['htu with a query', () => ({ htu: `${token}?x=1` })],
    ['htu with a fragment', () => ({ htu: `${token}#x` })],
    ['htu of another host', () => ({ htu: 'https://evil.example.com/oauth/token' })],
    ['no jti', () => ({ claims: { jti: undefined } })],
    ['an empty jti', () => ({ claims: { jti: '' } })],
    ['no iat', () => ({ claims: { iat: undefined } })],
    ['a string iat', () => ({ claims: { iat: String(T0 / 1000) } })],
    ['iat 61 s ago', () => ({ iat: T0 / 1000 - 61 })],
    ['iat 61 s ahead', () => ({ iat: T0 / 1000 + 61 })],
  ])('refuses a proof with %s as invalid_dpop_proof and keeps the session', async (_, change) => {
    vi.useFakeTimers({ now: T0 })
    const mock = serve({ dpop: true })
    const key = await createKey()
    const other = await createKey()
    const session = mock.issueTokens({ jkt: key.jkt })
    const response = await refreshWithKey(
      mock,
      key,
      session.refresh_token ?? '',
      change(key, other),
    )
    await expectError(response, 400, 'invalid_dpop_proof')
    expect(mock.counters).toMatchObject({ dpopInvalid: 1, dpopProofs: 0, tokenError: 1 })
    // The same request with a good proof still works: nothing was spent.
    const retry = await refreshWithKey(mock, key, session.refresh_token ?? '')
    expect(retry.status).toBe(200)
  })

  it('refuses a proof whose signature bytes were altered', async () => {
    const mock = serve({ dpop: true })
    const key = await createKey()
    const session = mock.issueTokens({ jkt: key.jkt })
    const proof = await createProof(key, { htu: mock.endpoints.token })
    const [head, body, signature = ''] = proof.split('.')
    const flipped = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`
    await expectError(
      await refresh(mock, session.refresh_token ?? '', `${head}.${body}.${flipped}`),
      400,
      'invalid_dpop_proof',
    )
    await expectError(
      await refresh(mock, session.refresh_token ?? '', `${proof}, ${proof}`),
      400,
      'invalid_dpop_proof',
    )
  })

  it('accepts an iat exactly at either edge of the 60 s window, and a custom window', async () => {
    vi.useFakeTimers({ now: T0 })
    const mock = serve({ dpop: true })
    const key = await createKey()
    let { refresh_token: current = '' } = mock.issueTokens({ jkt: key.jkt })
    for (const iat of [T0 / 1000 - 60, T0 / 1000 + 60]) {
      const response = await refreshWithKey(mock, key, current, { iat })
      expect(response.status).toBe(200)
      current = ((await response.json()) as TokenBody).refresh_token ?? ''
    }
    const narrow = serve({ dpop: { iatWindow: 5_000 } })
    const narrowSession = narrow.issueTokens({ jkt: key.jkt })
    const late = await refreshWithKey(narrow, key, narrowSession.refresh_token ?? '', {
      iat: T0 / 1000 - 6,
    })
    await expectError(late, 400, 'invalid_dpop_proof')
  })

  it("checks iat against the server's skewed clock", async () => {
    vi.useFakeTimers({ now: T0 })
    const mock = serve({ dpop: true, clockSkew: 120_000 })
    const key = await createKey()
    const session = mock.issueTokens({ jkt: key.jkt })
    await expectError(
      await refreshWithKey(mock, key, session.refresh_token ?? ''),
      400,
      'invalid_dpop_proof',
    )
    const onServerTime = await refreshWithKey(mock, key, session.refresh_token ?? '', {
      iat: T0 / 1000 + 120,
    })
    expect(onServerTime.status).toBe(200)
  })

  it('refuses a replayed proof (same jti) and counts it', async () => {
    vi.useFakeTimers({ now: T0 })
    const mock = serve({ dpop: true })
    const key = await createKey()
    const session = mock.issueTokens({ jkt: key.jkt })
    const proof = await createProof(key, { htu: mock.endpoints.token })
    const first = await refresh(mock, session.refresh_token ?? '', proof)
    expect(first.status).toBe(200)
    const rotated = ((await first.json()) as TokenBody).refresh_token ?? ''
    await expectError(await refresh(mock, rotated, proof), 400, 'invalid_dpop_proof')
    // Another proof with the same jti, fresh signature and later iat, is a replay too.
    vi.advanceTimersByTime(10_000)
    const sameJti = await createProof(key, { htu: mock.endpoints.token, jti: 'jti-twice' })
    expect((await refresh(mock, rotated, sameJti)).status).toBe(200)
    const again = await createProof(key, { htu: mock.endpoints.token, jti: 'jti-twice' })
    expect((await refresh(mock, rotated, again)).status).toBe(400)
    expect(mock.counters).toMatchObject({ dpopReplays: 2, dpopInvalid: 2, dpopProofs: 2 })
  })

  it('demands the server nonce, then accepts a proof carrying it', async () => {
    const mock = serve({ dpop: { nonce: true } })
    const key = await createKey()
    const session = mock.issueTokens({ jkt: key.jkt })
    const first = await refreshWithKey(mock, key, session.refresh_token ?? '')
    const nonce = first.headers.get('DPoP-Nonce')
    expect(nonce).toMatch(/^[\x21\x23-\x5B\x5D-\x7E]+$/)
    await expectError(first, 400, 'use_dpop_nonce')
    expect(mock.introspect(session.refresh_token ?? '').state).toBe('active')

    const wrong = await refreshWithKey(mock, key, session.refresh_token ?? '', { nonce: 'stale' })
    await expectError(wrong, 400, 'use_dpop_nonce')

    const second = await refreshWithKey(mock, key, session.refresh_token ?? '', {
      nonce: nonce ?? '',
    })
    expect(second.status).toBe(200)
    expect(second.headers.get('DPoP-Nonce')).toBe(nonce)
    expect(mock.counters).toMatchObject({ dpopNonceErrors: 2, dpopProofs: 1, dpopInvalid: 0 })
  })

  it('sends the current nonce on every token endpoint answer, errors included', async () => {
    const mock = serve({ dpop: { nonce: true } })
    const unknown = await refresh(mock, 'rt_unknown')
    const nonce = unknown.headers.get('DPoP-Nonce')
    expect(nonce).not.toBeNull()
    await expectError(unknown, 400, 'invalid_grant')
    const revocation = await post(mock.endpoints.revocation, { token: 'x', client_id: 'spa' })
    expect(revocation.headers.get('DPoP-Nonce')).toBe(nonce)
    mock.injectFault({ type: 'status', status: 503 })
    const faulted = await refresh(mock, 'rt_unknown')
    expect(faulted.headers.get('DPoP-Nonce')).toBeNull()
  })

  it('makes the next proof stale when a test rotates the nonce', async () => {
    const mock = serve({ dpop: { nonce: true } })
    const key = await createKey()
    const session = mock.issueTokens({ jkt: key.jkt })
    const nonce = (await refresh(mock, 'rt_unknown')).headers.get('DPoP-Nonce') ?? ''
    const ok = await refreshWithKey(mock, key, session.refresh_token ?? '', { nonce })
    expect(ok.status).toBe(200)
    const rotated = ((await ok.json()) as TokenBody).refresh_token ?? ''

    mock.rotateDPoPNonce(mock.endpoints.token)
    const stale = await refreshWithKey(mock, key, rotated, { nonce })
    await expectError(stale, 400, 'use_dpop_nonce')
    const fresh = stale.headers.get('DPoP-Nonce') ?? ''
    expect(fresh).not.toBe(nonce)
    expect((await refreshWithKey(mock, key, rotated, { nonce: fresh })).status).toBe(200)
    expect(() => mock.rotateDPoPNonce('https://nowhere.example.com/')).toThrow(TypeError)
  })

  it('answers a bound refresh token without a proof, or with another key, invalid_grant', async () => {
    const mock = serve({ dpop: true })
    const key = await createKey()
    const other = await createKey()
    const session = mock.issueTokens({ jkt: key.jkt })
    expect(session.token_type).toBe('DPoP')
    const current = session.refresh_token ?? ''
    await expectError(await refresh(mock, current), 400, 'invalid_grant')
    await expectError(await refreshWithKey(mock, other, current), 400, 'invalid_grant')
    const ok = await refreshWithKey(mock, key, current)
    expect(ok.status).toBe(200)
    // Replaying the rotated-away token without the key does not end the session (no reuse alarm).
    await expectError(await refresh(mock, current), 400, 'invalid_grant')
    const next = ((await ok.json()) as TokenBody).refresh_token ?? ''
    expect(mock.introspect(next)).toMatchObject({ active: true, jkt: key.jkt })
    expect(mock.counters.reuseDetected).toBe(0)
  })

  it('redeems a code requested with dpop_jkt only with a proof of that key (RFC 9449 §10)', async () => {
    const mock = serve({ dpop: true })
    const key = await createKey()
    const other = await createKey()
    const code = (await authorize(mock, { dpop_jkt: key.jkt })).get('code') ?? ''
    expect(mock.log.authorization[0]?.dpopJkt).toBe(key.jkt)
    const proofOf = (k: ProofKey) => createProof(k, { htu: mock.endpoints.token })
    await expectError(await exchange(mock, code, await proofOf(other)), 400, 'invalid_grant')
    await expectError(await exchange(mock, code), 400, 'invalid_grant')
    const ok = await exchange(mock, code, await proofOf(key))
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as TokenBody).token_type).toBe('DPoP')

    const malformed = await authorize(mock, { dpop_jkt: 'not-a-thumbprint' })
    expect(malformed.get('error')).toBe('invalid_request')
  })

  it('verifies a proof sent to the revocation endpoint but does not require one', async () => {
    const mock = serve({ dpop: true })
    const key = await createKey()
    const session = mock.issueTokens({ jkt: key.jkt })
    const form = { token: session.refresh_token ?? '', client_id: 'spa' }
    const wrongHtu = await createProof(key, { htu: mock.endpoints.token })
    await expectError(
      await post(mock.endpoints.revocation, form, wrongHtu),
      400,
      'invalid_dpop_proof',
    )
    expect(mock.introspect(session.refresh_token ?? '').state).toBe('active')
    const good = await createProof(key, { htu: mock.endpoints.revocation })
    expect((await post(mock.endpoints.revocation, form, good)).status).toBe(200)
    expect(mock.introspect(session.refresh_token ?? '').state).toBe('revoked')
    const second = mock.issueTokens({ jkt: key.jkt })
    const bare = { token: second.refresh_token ?? '', client_id: 'spa' }
    expect((await post(mock.endpoints.revocation, bare)).status).toBe(200)
  })

  it('keeps the binding in shared state, so a second mock over it refuses a proofless refresh', async () => {
    const shared = new Map<string, string>()
    const stateStorage = {
      getItem: (k: string) => shared.get(k) ?? null,
      setItem: (k: string, v: string) => void shared.set(k, v),
    }
    const key = await createKey()
    const first = createMockTokenServer({ dpop: true, stateStorage })
    const session = first.issueTokens({ jkt: key.jkt })
    const second = serve({ dpop: true, stateStorage })
    expect(second.introspect(session.access_token).jkt).toBe(key.jkt)
    await expectError(await refresh(second, session.refresh_token ?? ''), 400, 'invalid_grant')
    expect((await refreshWithKey(second, key, session.refresh_token ?? '')).status).toBe(200)
  })

  it('refuses issueTokens({ jkt }) without the dpop option or with a malformed thumbprint', () => {
    expect(() => createMockTokenServer().issueTokens({ jkt: 'A'.repeat(43) })).toThrow(/"jkt"/)
    expect(() => createMockTokenServer({ dpop: true }).issueTokens({ jkt: 'short' })).toThrow(
      /"jkt"/,
    )
    expect(() => createMockTokenServer({ dpop: { iatWindow: -1 } })).toThrow(/"dpop.iatWindow"/)
  })
})

// --- Protected resource ----------------------------------------------------------------------

describe('API with DPoP (RFC 9449 §7)', () => {
  async function boundSession(options: MockTokenServerOptions = { dpop: true }) {
    const mock = serve(options)
    const key = await createKey()
    const session = mock.issueTokens({ jkt: key.jkt })
    const proofFor = (url: string, init: Partial<ProofInit> = {}) =>
      createProof(key, { htm: 'GET', htu: url, accessToken: session.access_token, ...init })
    return { mock, key, token: session.access_token, proofFor }
  }

  it('accepts a bound token with the DPoP scheme and a valid proof', async () => {
    const { mock, key, token, proofFor } = await boundSession()
    const response = await callApi(`${API}/me?x=1`, 'DPoP', token, await proofFor(`${API}/me`))
    expect(response.status).toBe(200)
    expect(mock.counters).toMatchObject({ dpopProofs: 1, api401: 0 })
    expect(mock.log.api[0]).toMatchObject({ status: 200, token: 'active', dpopJkt: key.jkt })
  })

  it.each<[string, (url: string) => Partial<ProofInit>]>([
    ['an ath of another token', () => ({ accessToken: 'at_other' })],
    ['no ath', () => ({ claims: { ath: undefined } })],
    ['htm POST on a GET', () => ({ htm: 'POST' })],
    ['htu of another path', () => ({ htu: `${API}/echo` })],
    ['htu with the query', (url) => ({ htu: `${url}?x=1` })],
  ])('refuses a proof with %s: 401 DPoP error="invalid_dpop_proof"', async (_, change) => {
    const { mock, token, proofFor } = await boundSession()
    const url = `${API}/me`
    const response = await callApi(`${url}?x=1`, 'DPoP', token, await proofFor(url, change(url)))
    expect(response.status).toBe(401)
    const challenge = response.headers.get('WWW-Authenticate') ?? ''
    expect(challenge).toMatch(/^DPoP /)
    expect(challenge).toContain('error="invalid_dpop_proof"')
    expect(challenge).toContain('algs="ES256"')
    expect(mock.counters).toMatchObject({ dpopInvalid: 1, api401: 1 })
  })

  it('refuses a replayed proof at the API', async () => {
    const { mock, token, proofFor } = await boundSession()
    const proof = await proofFor(`${API}/me`)
    expect((await callApi(`${API}/me`, 'DPoP', token, proof)).status).toBe(200)
    const replay = await callApi(`${API}/me`, 'DPoP', token, proof)
    expect(replay.status).toBe(401)
    expect(replay.headers.get('WWW-Authenticate')).toContain('error="invalid_dpop_proof"')
    expect(mock.counters.dpopReplays).toBe(1)
  })

  it('refuses a DPoP request without a proof', async () => {
    const { token } = await boundSession()
    const response = await callApi(`${API}/me`, 'DPoP', token)
    expect(response.status).toBe(401)
    expect(response.headers.get('WWW-Authenticate')).toContain('error="invalid_dpop_proof"')
  })

  it('refuses a bound token sent as Bearer, and a proof of another key, as invalid_token', async () => {
    const { mock, token } = await boundSession()
    const asBearer = await callApi(`${API}/me`, 'Bearer', token)
    expect(asBearer.status).toBe(401)
    expect(asBearer.headers.get('WWW-Authenticate')).toMatch(/^DPoP .*error="invalid_token"/)

    const other = await createKey()
    const foreign = await createProof(other, {
      htm: 'GET',
      htu: `${API}/me`,
      accessToken: token,
    })
    const response = await callApi(`${API}/me`, 'DPoP', token, foreign)
    expect(response.status).toBe(401)
    expect(response.headers.get('WWW-Authenticate')).toMatch(/^DPoP .*error="invalid_token"/)
    expect(mock.counters.api401).toBe(2)
  })

  it('keeps bearer tokens working as bearer tokens only', async () => {
    const mock = serve({ dpop: true })
    const key = await createKey()
    const { access_token: token } = mock.issueTokens()
    expect((await callApi(`${API}/me`, 'Bearer', token)).status).toBe(200)
    const proof = await createProof(key, { htm: 'GET', htu: `${API}/me`, accessToken: token })
    const asDPoP = await callApi(`${API}/me`, 'DPoP', token, proof)
    expect(asDPoP.status).toBe(401)
    expect(asDPoP.headers.get('WWW-Authenticate')).toMatch(/^DPoP .*error="invalid_token"/)
  })

  it('offers both schemes when no token is sent', async () => {
    serve({ dpop: true })
    const response = await fetch(`${API}/me`)
    expect(response.status).toBe(401)
    expect(response.headers.get('WWW-Authenticate')).toBe(
      'Bearer realm="api", DPoP realm="api", algs="ES256"',
    )
  })

  it('demands its own nonce with use_dpop_nonce when apiNonce is on (RFC 9449 §9)', async () => {
    const { mock, token, proofFor } = await boundSession({ dpop: { apiNonce: true } })
    const first = await callApi(`${API}/me`, 'DPoP', token, await proofFor(`${API}/me`))
    expect(first.status).toBe(401)
    expect(first.headers.get('WWW-Authenticate')).toMatch(/^DPoP .*error="use_dpop_nonce"/)
    const nonce = first.headers.get('DPoP-Nonce') ?? ''
    expect(nonce).not.toBe('')
    const second = await callApi(`${API}/me`, 'DPoP', token, await proofFor(`${API}/me`, { nonce }))
    expect(second.status).toBe(200)
    expect(second.headers.get('DPoP-Nonce')).toBe(nonce)
    expect(mock.counters).toMatchObject({ dpopNonceErrors: 1, dpopProofs: 1 })
    // The authorization server demands no nonce of its own here.
    const tokenAnswer = await refresh(mock, 'rt_unknown')
    expect(tokenAnswer.headers.get('DPoP-Nonce')).toBeNull()

    mock.rotateDPoPNonce(`${API}/me`)
    const stale = await callApi(`${API}/me`, 'DPoP', token, await proofFor(`${API}/me`, { nonce }))
    expect(stale.status).toBe(401)
    expect(stale.headers.get('DPoP-Nonce')).not.toBe(nonce)
  })
})

// --- CORS ------------------------------------------------------------------------------------

describe('CORS for DPoP', () => {
  it('lets the DPoP header through the preflight and exposes DPoP-Nonce', async () => {
    const mock = serve({ dpop: { nonce: true, apiNonce: true } })
    const key = await createKey()
    const session = mock.issueTokens({ jkt: key.jkt })
    // happy-dom preflights these cross-origin requests and blocks them unless DPoP is allowed.
    const tokenAnswer = await refreshWithKey(mock, key, session.refresh_token ?? '')
    const apiAnswer = await callApi(
      `${API}/me`,
      'DPoP',
      session.access_token,
      await createProof(key, { htm: 'GET', htu: `${API}/me`, accessToken: session.access_token }),
    )
    expect(mock.counters.preflight).toBe(2)
    for (const answer of [tokenAnswer, apiAnswer]) {
      const exposed = answer.headers.get('Access-Control-Expose-Headers') ?? ''
      expect(exposed.split(', ')).toEqual(
        expect.arrayContaining(['DPoP-Nonce', 'WWW-Authenticate']),
      )
      expect(answer.headers.get('DPoP-Nonce')).not.toBeNull()
    }
  })

  it('names DPoP and Authorization in Access-Control-Allow-Headers', async () => {
    const mock = serve({ dpop: true })
    for (const url of [mock.endpoints.token, mock.endpoints.revocation, `${API}/me`]) {
      // Straight to the handlers: happy-dom refuses to send a preflight of its own making.
      const request = new Request(url, { method: 'OPTIONS' })
      const response = await getResponse(mock.handlers, request)
      expect(response?.status).toBe(204)
      const allowed = (response?.headers.get('Access-Control-Allow-Headers') ?? '').split(', ')
      expect(allowed).toEqual(expect.arrayContaining(['DPoP', 'Authorization']))
    }
  })
})
