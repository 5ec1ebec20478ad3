/**
 * `oauth2-mock-server` (signed JWT access tokens, OpenID discovery) on 127.0.0.1 with a random port,
 * extended only through its own hooks (`Events.*`) and `addRoute()` into something a browser app
 * can be tested against:
 *
 * - the issuer is the address the server really listens on (the library would say `localhost`);
 * - refresh tokens rotate with reuse detection, and the original `sub` and `scope` survive a
 *   refresh (the library alone accepts any refresh token and answers `sub: johndoe`, `scope: dummy`);
 * - `POST /revoke` really revokes (the built-in one only answers 200) and is advertised in the
 *   discovery document;
 * - a protected API (`GET /api/me`, `POST /api/echo`) verifies the JWT with the server's JWKS using
 *   `node:crypto` and answers 401 with an RFC 6750 §3 challenge;
 * - access-token lifetime, `expires_in` omission and the server's clock are adjustable.
 *
 * The library's own CORS (`Access-Control-Allow-Origin: *`, preflights answered 204 on every path)
 * is kept: it is what a browser app meets with this server.
 */
import { createPublicKey, randomUUID, verify } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import {
  type AugmentedRequest,
  Events,
  type MutableResponse,
  type MutableToken,
  OAuth2Server,
  type TokenRequestIncomingMessage,
} from 'oauth2-mock-server'
import { postForm } from './http-utils.js'
import {
  type RefreshTokenState,
  readTokenResponse,
  type TokenResponseBody,
} from './token-response.js'

/** Options of {@link startJWTMockServer}. */
export interface JWTMockServerOptions {
  /**
   * The client id the fixture's login uses. The library itself accepts any `client_id` (and none).
   * @default 'spa'
   */
  clientId?: string
  /**
   * Lifetime of access tokens in seconds: both the JWT's `exp − iat` and `expires_in`.
   * @default 3600
   */
  accessTokenLifetime?: number
  /**
   * Leave `expires_in` out of token responses, so that a client must read `exp − iat` from the JWT.
   * @default false
   */
  omitExpiresIn?: boolean
  /**
   * Seconds added to the server's clock, for `iat`/`exp`/`nbf` and for the API's own expiry check:
   * a server whose clock disagrees with the browser's.
   * @default 0
   */
  clockSkew?: number
}

/** Live request counters of a {@link JWTMockServer}. */
export interface JWTMockCounters {
  /**
   * Token requests that reached the library's response hook. Malformed ones are answered
   * `400 application/problem+json` by the library before any hook runs and are not counted.
   */
  tokenRequests: number
  passwordGrants: number
  refreshGrants: number
  /** Refresh grants that succeeded and rotated the refresh token. */
  rotations: number
  /** Already-rotated refresh tokens presented again; each revoked a whole token family. */
  reuseDetections: number
  /** Token endpoint answers with `error=invalid_grant`. */
  invalidGrants: number
  revocationRequests: number
  revokedFamilies: number
  /** Requests for `/.well-known/openid-configuration`. */
  discoveryRequests: number
  /** Requests to the protected API, preflights excluded. */
  apiRequests: number
  /** Protected API answers with status 401. */
  api401s: number
}

/** One token request as the server saw it, without any token value. */
export interface TokenRequestRecord {
  grantType: string
  /** The `client_id` body member, or `undefined` when absent. */
  clientId: string | undefined
  /** The request's `Content-Type` header. */
  contentType: string | undefined
}

/** Options of {@link JWTMockServer.login}. */
export interface JWTMockLoginOptions {
  /** Becomes the JWT's `sub`. @default 'alice' */
  username?: string
  /** @default 'openid api' */
  scope?: string
}

/** A running {@link startJWTMockServer} fixture. */
export interface JWTMockServer {
  /** Origin and issuer identifier: `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string
  readonly issuer: string
  /** `{issuer}/.well-known/openid-configuration`. */
  readonly discoveryUrl: string
  readonly tokenEndpoint: string
  readonly revocationEndpoint: string
  readonly jwksUri: string
  /** Base URL of the protected API: `GET {apiUrl}/me`, `POST {apiUrl}/echo`. */
  readonly apiUrl: string
  readonly clientId: string
  readonly counters: Readonly<JWTMockCounters>
  /** Every token request seen, in order (grant type, `client_id`, content type). */
  readonly tokenRequestLog: readonly TokenRequestRecord[]
  /** The underlying `oauth2-mock-server` instance, for per-test `service.once(Events.…)` hooks. */
  readonly server: OAuth2Server
  /**
   * Logs in as the app's login would: a `password` grant answered by the library with an
   * RFC 6749 §5.1 response that carries `refresh_token` and an OpenID `id_token`.
   */
  login(options?: JWTMockLoginOptions): Promise<TokenResponseBody>
  /** Lifetime (seconds) of access tokens issued from now on. */
  setAccessTokenLifetime(seconds: number): void
  /** Whether token responses issued from now on leave `expires_in` out. */
  setOmitExpiresIn(omit: boolean): void
  /** Makes every access token issued so far rejected by the API as expired. */
  expireAccessTokens(): void
  /** Revokes every token family. */
  revokeAllSessions(): void
  /** Where a refresh token stands, read without presenting it. */
  refreshTokenState(refreshToken: string): RefreshTokenState
  resetCounters(): void
  close(): Promise<void>
}

interface Family {
  revoked: boolean
  sub: string
  scope: string | undefined
}

interface RefreshRecord {
  familyId: string
  rotated: boolean
}

interface AccessRecord {
  familyId: string
  expired: boolean
  revoked: boolean
}

interface JWTPayload {
  iss?: unknown
  exp?: unknown
  nbf?: unknown
  jti?: unknown
  sub?: unknown
  scope?: unknown
}

function newCounters(): JWTMockCounters {
  return {
    tokenRequests: 0,
    passwordGrants: 0,
    refreshGrants: 0,
    rotations: 0,
    reuseDetections: 0,
    invalidGrants: 0,
    revocationRequests: 0,
    revokedFamilies: 0,
    discoveryRequests: 0,
    apiRequests: 0,
    api401s: 0,
  }
}

function decodeSegment(segment: string | undefined): unknown {
  if (segment === undefined) return undefined
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
}

function stringMember(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const value = (body as Record<string, unknown>)[name]
  return typeof value === 'string' ? value : undefined
}

function sendApiJson(res: ServerResponse, status: number, body: unknown, challenge?: string) {
  const text = JSON.stringify(body)
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Cache-Control', 'no-store')
  // The library's CORS exposes no headers; a browser app needs the RFC 6750 §3 challenge.
  res.setHeader('Access-Control-Expose-Headers', 'WWW-Authenticate')
  if (challenge !== undefined) res.setHeader('WWW-Authenticate', challenge)
  res.end(text)
}

/**
 * Starts `oauth2-mock-server` with one RS256 key on 127.0.0.1 and a random free port.
 *
 * @example
 * const server = await startJWTMockServer({ accessTokenLifetime: 120 })
 * const tokens = await server.login()
 * await server.close()
 */
export async function startJWTMockServer(
  options: JWTMockServerOptions = {},
): Promise<JWTMockServer> {
  const clientId = options.clientId ?? 'spa'
  const clockSkew = options.clockSkew ?? 0
  let accessTokenLifetime = options.accessTokenLifetime ?? 3600
  let omitExpiresIn = options.omitExpiresIn ?? false
  const counters = newCounters()
  const tokenRequestLog: TokenRequestRecord[] = []

  const families = new Map<string, Family>()
  const refreshTokens = new Map<string, RefreshRecord>()
  const accessTokens = new Map<string, AccessRecord>()

  const serverNow = () => Math.floor(Date.now() / 1000) + clockSkew

  // The built-in revocation route only answers 200; it moves aside for one that revokes.
  const server = new OAuth2Server(undefined, undefined, {
    endpoints: { revoke: '/mock-revoke' },
  })
  await server.issuer.keys.generate('RS256')
  const service = server.service

  function revokeFamily(familyId: string): void {
    const family = families.get(familyId)
    if (family === undefined || family.revoked) return
    family.revoked = true
    counters.revokedFamilies++
  }

  /** The family a refresh request continues, or `undefined` when the token is not usable. */
  function presentedFamily(req: TokenRequestIncomingMessage): Family | undefined {
    const record = refreshTokens.get(stringMember(req.body, 'refresh_token') ?? '')
    return record === undefined ? undefined : families.get(record.familyId)
  }

  service.on(Events.BeforeWellKnownOpenIdConfiguration, (response: MutableResponse) => {
    counters.discoveryRequests++
    if (response.body !== '') response.body.revocation_endpoint = `${server.issuer.url}/revoke`
  })

  service.on(Events.BeforeTokenSigning, (token: MutableToken, req: TokenRequestIncomingMessage) => {
    const iat = serverNow()
    token.payload.iat = iat
    token.payload.nbf = iat - 10
    token.payload.exp = iat + accessTokenLifetime
    token.payload.jti = randomUUID()
    if (req.body.grant_type === 'refresh_token') {
      const family = presentedFamily(req)
      if (family !== undefined) {
        token.payload.sub = family.sub
        if (req.body.scope === undefined && family.scope !== undefined) {
          token.payload.scope = family.scope
        }
      }
    }
  })

  service.on(
    Events.BeforeResponse,
    (response: MutableResponse, req: TokenRequestIncomingMessage) => {
      counters.tokenRequests++
      const grantType = req.body.grant_type
      tokenRequestLog.push({
        grantType,
        clientId: stringMember(req.body, 'client_id'),
        contentType: req.headers['content-type'],
      })
      if (response.body === '' || response.statusCode !== 200) return
      const body = response.body
      const rejectGrant = (description: string) => {
        counters.invalidGrants++
        response.statusCode = 400
        response.body = { error: 'invalid_grant', error_description: description }
      }

      let familyId: string
      if (grantType === 'password') {
        counters.passwordGrants++
        familyId = randomUUID()
        families.set(familyId, {
          revoked: false,
          sub: stringMember(req.body, 'username') ?? 'johndoe',
          scope: req.body.scope,
        })
      } else if (grantType === 'refresh_token') {
        counters.refreshGrants++
        const record = refreshTokens.get(stringMember(req.body, 'refresh_token') ?? '')
        if (record === undefined || families.get(record.familyId)?.revoked !== false) {
          return rejectGrant('refresh token is invalid')
        }
        if (record.rotated) {
          // RFC 9700 §4.14.2: a rotated refresh token came back; end the whole family.
          counters.reuseDetections++
          revokeFamily(record.familyId)
          return rejectGrant('refresh token was already used')
        }
        record.rotated = true
        counters.rotations++
        familyId = record.familyId
        const family = families.get(familyId)
        if (req.body.scope === undefined && family?.scope !== undefined) body.scope = family.scope
      } else {
        return
      }

      const jti = stringMember(decodeSegment(String(body.access_token).split('.')[1]), 'jti')
      if (jti !== undefined) accessTokens.set(jti, { familyId, expired: false, revoked: false })
      const refreshToken = stringMember(body, 'refresh_token')
      if (refreshToken !== undefined) refreshTokens.set(refreshToken, { familyId, rotated: false })
      body.expires_in = accessTokenLifetime
      if (omitExpiresIn) delete body.expires_in
    },
  )

  service.addRoute('POST', '/revoke', (req: AugmentedRequest, res: ServerResponse) => {
    counters.revocationRequests++
    const token = stringMember(req.body, 'token') ?? ''
    const refresh = refreshTokens.get(token)
    if (refresh !== undefined) revokeFamily(refresh.familyId)
    const jti = stringMember(decodeSegment(token.split('.')[1]), 'jti')
    const access = jti === undefined ? undefined : accessTokens.get(jti)
    if (access !== undefined) access.revoked = true
    // RFC 7009 §2.2: 200 whether or not the token was known.
    res.statusCode = 200
    res.setHeader('Cache-Control', 'no-store')
    res.end()
  })

  /** Verifies a bearer JWT: RS256 signature against the JWKS, issuer, expiry, and our records. */
  function verifyAccessToken(token: string): { payload: JWTPayload } | { error: string } {
    const [headerPart, payloadPart, signaturePart] = token.split('.')
    const header = decodeSegment(headerPart)
    const payload = decodeSegment(payloadPart) as JWTPayload | undefined
    if (payload === undefined || signaturePart === undefined || typeof header !== 'object') {
      return { error: 'malformed token' }
    }
    const kid = stringMember(header, 'kid')
    const jwk = server.issuer.keys.toJSON().find((key) => key.kid === kid)
    if (jwk === undefined || stringMember(header, 'alg') !== 'RS256')
      return { error: 'unknown key' }
    const publicKey = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
    const signed = Buffer.from(`${headerPart}.${payloadPart}`)
    if (!verify('sha256', signed, publicKey, Buffer.from(signaturePart, 'base64url'))) {
      return { error: 'bad signature' }
    }
    if (payload.iss !== server.issuer.url) return { error: 'wrong issuer' }
    const now = serverNow()
    if (typeof payload.exp !== 'number' || payload.exp <= now) return { error: 'token expired' }
    if (typeof payload.nbf === 'number' && payload.nbf > now)
      return { error: 'token not yet valid' }
    const record = typeof payload.jti === 'string' ? accessTokens.get(payload.jti) : undefined
    if (record === undefined) return { error: 'not an access token of this server' }
    if (record.expired) return { error: 'token expired' }
    if (record.revoked || families.get(record.familyId)?.revoked !== false) {
      return { error: 'token revoked' }
    }
    return { payload }
  }

  function protect(handler: (req: AugmentedRequest, res: ServerResponse, p: JWTPayload) => void) {
    return (req: AugmentedRequest, res: ServerResponse) => {
      counters.apiRequests++
      const match = /^Bearer ([\w\-.~+/]+=*)$/i.exec(req.headers.authorization ?? '')
      const result = match?.[1] === undefined ? undefined : verifyAccessToken(match[1])
      if (result === undefined || 'error' in result) {
        counters.api401s++
        const challenge =
          result === undefined
            ? 'Bearer realm="api"'
            : `Bearer realm="api", error="invalid_token", error_description="${result.error}"`
        return sendApiJson(res, 401, { error: 'invalid_token' }, challenge)
      }
      handler(req, res, result.payload)
    }
  }

  service.addRoute(
    'GET',
    '/api/me',
    protect((_req, res, payload) => {
      sendApiJson(res, 200, { sub: payload.sub, scope: payload.scope })
    }),
  )
  service.addRoute(
    'POST',
    '/api/echo',
    protect((req, res, payload) => {
      // addRoute() hands over the parsed body (JSON or form); echo it as JSON.
      sendApiJson(res, 200, {
        sub: payload.sub,
        method: req.method,
        contentType: req.headers['content-type'] ?? null,
        json: req.body ?? null,
      })
    }),
  )

  await server.start(0, '127.0.0.1')
  // The library names a 127.x listener `http://localhost:<port>`; the issuer must be the address
  // clients really use, or RFC 8414 §3.3 issuer matching fails.
  const url = `http://127.0.0.1:${server.address().port}`
  server.issuer.url = url

  return {
    url,
    issuer: url,
    discoveryUrl: `${url}/.well-known/openid-configuration`,
    tokenEndpoint: `${url}/token`,
    revocationEndpoint: `${url}/revoke`,
    jwksUri: `${url}/jwks`,
    apiUrl: `${url}/api`,
    clientId,
    counters,
    tokenRequestLog,
    server,

    async login(login = {}) {
      const response = await postForm(`${url}/token`, {
        grant_type: 'password',
        client_id: clientId,
        username: login.username ?? 'alice',
        password: 'secret',
        scope: login.scope ?? 'openid api',
      })
      return readTokenResponse(response)
    },

    setAccessTokenLifetime(seconds) {
      accessTokenLifetime = seconds
    },

    setOmitExpiresIn(omit) {
      omitExpiresIn = omit
    },

    expireAccessTokens() {
      for (const record of accessTokens.values()) record.expired = true
    },

    revokeAllSessions() {
      for (const familyId of families.keys()) revokeFamily(familyId)
    },

    refreshTokenState(refreshToken) {
      const record = refreshTokens.get(refreshToken)
      if (record === undefined) return 'unknown'
      if (families.get(record.familyId)?.revoked !== false) return 'revoked'
      return record.rotated ? 'rotated' : 'active'
    },

    resetCounters() {
      Object.assign(counters, newCounters())
      tokenRequestLog.length = 0
    },

    async close() {
      if (server.listening) await server.stop()
    },
  }
}
