/**
 * A resource server (an API) for the DPoP and resource-indicator tests: it accepts the JWT access
 * tokens of one issuer (test/servers/oidc-provider.ts) for one audience and checks them as a real
 * API that follows RFC 9449 would, on 127.0.0.1 with a random port.
 *
 * For `Authorization: DPoP <token>` with a `DPoP: <proof>` header (RFC 9449 §7.1), in this order:
 * - the access token: signature with the issuer's JWKS (found through its discovery document, read
 *   again once when a `kid` is unknown), `iss`, `exp`; then `aud` equal to this server's audience
 *   (RFC 8707 §2); then a `cnf.jkt` (a DPoP-bound token);
 * - the proof (§4.3): exactly one `DPoP` header; `typ: dpop+jwt`; `alg` one of
 *   {@link DPOP_ALGORITHMS}; a public `jwk` in the header whose key verifies the signature; `jti`,
 *   `htm` equal to the method, `htu` equal to this server's URL of the path (query and fragment
 *   ignored), `iat` within {@link PROOF_MAX_AGE} seconds of now; the JWK thumbprint (RFC 7638) equal
 *   to the token's `cnf.jkt`; `ath` equal to BASE64URL(SHA-256(token));
 * - with `requireNonce`, the proof's `nonce` one this server issued (the current or the previous
 *   one), else 401 `WWW-Authenticate: DPoP error="use_dpop_nonce"` with a fresh `DPoP-Nonce`
 *   (§9); a `DPoP-Nonce` header also goes with any answer to a proof whose nonce is not the
 *   current one;
 * - the proof's `jti` never seen before (a replay is refused, §11.1).
 * A refusal is 401 with `WWW-Authenticate: DPoP error="invalid_token"` (the token, its audience or
 * its binding) or `error="invalid_dpop_proof"` (the proof), an `error_description` and `algs`.
 * `Authorization: Bearer <token>` is accepted only for a token that is not DPoP-bound (§7.2).
 *
 * CORS as a real API: preflights from an allowed origin may send `Authorization`, `Content-Type`
 * and `DPoP`; answers expose `DPoP-Nonce` and `WWW-Authenticate`.
 *
 * Its clock is the real one (`Date.now()`): a test with fake timers must not fake `Date` while
 * it talks to this server.
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http'
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  decodeProtectedHeader,
  EmbeddedJWK,
  type JSONWebKeySet,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
} from 'jose'
import { closeServer, listenOnLoopback, readBody, sendEmpty, sendJson } from './http-utils.js'

/** Proof signing algorithms accepted: oidc-provider 9's `dPoPSigningAlgValues` default. */
export const DPOP_ALGORITHMS = ['ES256', 'Ed25519', 'EdDSA'] as const

/** How far (seconds) a proof's `iat` may be from now, either way (RFC 9449 §11.1). */
export const PROOF_MAX_AGE = 60

/** Why a request was refused, as counted in {@link ResourceServerCounters.rejected}. */
export type ResourceServerRejection =
  /** No `Authorization` header, or a scheme other than `DPoP` and `Bearer`. */
  | 'missing'
  /** The access token is not a JWT of the issuer (signature, `iss`, malformed). */
  | 'token'
  /** The access token's `exp` has passed. */
  | 'expired'
  /** The access token's `aud` is not this server's audience. */
  | 'audience'
  /**
   * The token's binding does not match how it was presented: a DPoP-bound token as `Bearer`, an
   * unbound one as `DPoP`, or a proof whose key thumbprint is not the token's `cnf.jkt`.
   */
  | 'binding'
  /** No proof, several, or a malformed one (`typ`, `alg`, `jwk`, `jti`, `htm`, `htu`, `iat`). */
  | 'proof'
  /** The proof's signature does not verify with its embedded `jwk`. */
  | 'signature'
  /** The proof's `ath` is missing or not the hash of the presented token. */
  | 'ath'
  /** A nonce is required and the proof has none, or one this server did not issue lately. */
  | 'nonce'
  /** The proof's `jti` was seen before. */
  | 'replay'

/** Request counters of a {@link ResourceServer}. */
export interface ResourceServerCounters {
  /** Requests to `/me` and `/echo`, preflights excluded. */
  requests: number
  /** Requests answered 200. */
  accepted: number
  /** Requests answered 401, by reason. */
  rejected: Partial<Record<ResourceServerRejection, number>>
  /** 401 `use_dpop_nonce` challenges sent (also counted as rejected `nonce`). */
  nonceChallenges: number
  /** CORS preflights (`OPTIONS`). */
  preflights: number
  /** Accepted requests by scheme. */
  schemes: { DPoP: number; Bearer: number }
}

/** Options of {@link startResourceServer}. */
export interface ResourceServerOptions {
  /** The issuer of the access tokens; its `/.well-known/openid-configuration` gives `jwks_uri`. */
  issuer: string
  /**
   * The `aud` an access token must have: the resource indicator the client asks for.
   * @default this server's URL with a trailing slash, `http://127.0.0.1:<port>/`
   */
  audience?: string
  /** Whether every proof must carry a nonce issued by this server (RFC 9449 §9). @default false */
  requireNonce?: boolean
  /** Page origins allowed by CORS. @default [] */
  allowedOrigins?: readonly string[]
}

/** A running {@link startResourceServer} fixture. */
export interface ResourceServer {
  /** Its origin, `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string
  /** The `aud` it accepts. */
  readonly audience: string
  /**
   * Issues a new nonce; the one before it stays valid (as a server that rotates nonces does),
   * older ones get a `use_dpop_nonce` challenge.
   */
  rotateNonce(): void
  /** Turns the nonce requirement on or off from now on. */
  setRequireNonce(required: boolean): void
  /** A copy of the counters as they are now. */
  counters(): ResourceServerCounters
  /** Sets every counter back to zero (seen `jti`s and nonces are kept). */
  resetCounters(): void
  /** Stops listening and drops open connections. */
  close(): Promise<void>
}

/** A refusal, thrown inside a request's checks. */
class Refusal extends Error {
  constructor(
    readonly reason: ResourceServerRejection,
    readonly error: 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce' | undefined,
    description: string,
  ) {
    super(description)
  }
}

/** The access token claims this server reads. */
interface AccessTokenClaims extends JWTPayload {
  cnf?: { jkt?: unknown }
  scope?: unknown
}

/** How long one request to the issuer may take. */
const ISSUER_TIMEOUT = 5_000

/** GETs JSON with `node:http` (not `globalThis.fetch`, which happy-dom replaces). */
function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Accept: 'application/json' } }, (res) => {
      readBody(res).then((text) => {
        if (res.statusCode !== 200) reject(new Error(`${url}: HTTP ${res.statusCode}`))
        else resolve(JSON.parse(text))
      }, reject)
    })
    req.on('error', reject)
    req.setTimeout(ISSUER_TIMEOUT, () => req.destroy(new Error(`${url}: no answer`)))
    req.end()
  })
}

/** The issuer's JWKS, read through discovery, read again when asked to. */
function createKeys(issuer: string) {
  let keys: Promise<ReturnType<typeof createLocalJWKSet>> | undefined
  const load = async () => {
    const metadata = (await getJson(`${issuer}/.well-known/openid-configuration`)) as {
      jwks_uri?: unknown
    }
    if (typeof metadata.jwks_uri !== 'string') throw new Error(`${issuer}: no jwks_uri`)
    return createLocalJWKSet((await getJson(metadata.jwks_uri)) as JSONWebKeySet)
  }
  return {
    get(reload: boolean) {
      if (keys === undefined || reload) {
        keys = load()
        // A failed load is retried by the next request.
        keys.catch(() => {
          keys = undefined
        })
      }
      return keys
    },
  }
}

function newCounters(): ResourceServerCounters {
  return {
    requests: 0,
    accepted: 0,
    rejected: {},
    nonceChallenges: 0,
    preflights: 0,
    schemes: { DPoP: 0, Bearer: 0 },
  }
}

/** A quoted-string auth-param value (RFC 9110 §11.2): `"` and `\` escaped. */
function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`
}

/**
 * Starts a resource server on 127.0.0.1 with a random free port. Endpoints: `GET /me` answers
 * `{ sub, aud, scope, jkt }` of the token (`jkt` `null` for a Bearer token); `POST /echo` answers
 * `{ sub, contentType, body }` with the request body as text. Other paths are 404 (before any
 * token check), other methods 405.
 *
 * @example
 * const op = await startOidcProvider({ redirectUris, dpop: {} })
 * const api = await startResourceServer({ issuer: op.issuer, allowedOrigins: [APP_ORIGIN] })
 * op.addResource(api.audience)
 */
export async function startResourceServer(options: ResourceServerOptions): Promise<ResourceServer> {
  const allowedOrigins = [...(options.allowedOrigins ?? [])]
  let requireNonce = options.requireNonce ?? false
  let counters = newCounters()
  const keys = createKeys(options.issuer.replace(/\/$/, ''))
  const seenJtis = new Set<string>()
  let nonce = randomBytes(16).toString('base64url')
  let previousNonce: string | undefined

  let handle = (_req: IncomingMessage, res: ServerResponse) => sendEmpty(res, 503)
  const server: Server = createServer((req, res) => handle(req, res))
  const url = await listenOnLoopback(server)
  const audience = options.audience ?? `${url}/`

  function applyCors(req: IncomingMessage, res: ServerResponse): boolean {
    res.setHeader('Vary', 'Origin')
    const origin = req.headers.origin
    if (origin === undefined || !allowedOrigins.includes(origin)) return false
    res.setHeader('Access-Control-Allow-Origin', origin)
    res.setHeader('Access-Control-Expose-Headers', 'DPoP-Nonce, WWW-Authenticate')
    return true
  }

  async function verifyAccessToken(token: string): Promise<AccessTokenClaims> {
    const verify = async (reload: boolean) =>
      jwtVerify<AccessTokenClaims>(token, await keys.get(reload), { issuer: options.issuer })
    try {
      let payload: AccessTokenClaims
      try {
        ;({ payload } = await verify(false))
      } catch (error) {
        // A provider restarted with a new key: read its JWKS once more.
        if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error
        ;({ payload } = await verify(true))
      }
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud]
      if (!aud.includes(audience)) {
        throw new Refusal('audience', 'invalid_token', `the token's aud is not ${audience}`)
      }
      return payload
    } catch (error) {
      if (error instanceof Refusal) throw error
      if (error instanceof joseErrors.JWTExpired) {
        throw new Refusal('expired', 'invalid_token', 'the access token expired')
      }
      throw new Refusal('token', 'invalid_token', 'the access token is not valid')
    }
  }

  /** RFC 9449 §4.3 checks of the proof, binding to `jkt`, `ath`, nonce and replay last. */
  async function verifyProof(req: IncomingMessage, token: string, jkt: string): Promise<string> {
    const header = req.headers.dpop
    if (typeof header !== 'string' || header === '' || header.includes(',')) {
      throw new Refusal('proof', 'invalid_dpop_proof', 'exactly one DPoP header is required')
    }
    let protectedHeader: ReturnType<typeof decodeProtectedHeader>
    try {
      protectedHeader = decodeProtectedHeader(header)
    } catch {
      throw new Refusal('proof', 'invalid_dpop_proof', 'the DPoP proof is not a JWS')
    }
    if (protectedHeader.typ !== 'dpop+jwt') {
      throw new Refusal('proof', 'invalid_dpop_proof', 'the DPoP proof typ must be dpop+jwt')
    }
    if (!(DPOP_ALGORITHMS as readonly unknown[]).includes(protectedHeader.alg)) {
      throw new Refusal('proof', 'invalid_dpop_proof', 'the DPoP proof alg is not supported')
    }
    const jwk = protectedHeader.jwk
    if (jwk === undefined || 'd' in jwk) {
      throw new Refusal('proof', 'invalid_dpop_proof', 'the DPoP proof needs a public jwk')
    }
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(header, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: [...DPOP_ALGORITHMS],
      }))
    } catch {
      throw new Refusal('signature', 'invalid_dpop_proof', 'the DPoP proof signature is invalid')
    }
    if (typeof payload.jti !== 'string' || payload.jti === '') {
      throw new Refusal('proof', 'invalid_dpop_proof', 'the DPoP proof needs a jti')
    }
    if (payload.htm !== req.method) {
      throw new Refusal('proof', 'invalid_dpop_proof', 'the DPoP proof htm does not match')
    }
    const htu = typeof payload.htu === 'string' ? URL.parse(payload.htu) : null
    if (htu !== null) {
      htu.search = ''
      htu.hash = ''
    }
    const path = new URL(req.url ?? '/', url).pathname
    if (htu?.href !== new URL(path, url).href) {
      throw new Refusal('proof', 'invalid_dpop_proof', 'the DPoP proof htu does not match')
    }
    const now = Math.floor(Date.now() / 1000)
    if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > PROOF_MAX_AGE) {
      throw new Refusal('proof', 'invalid_dpop_proof', 'the DPoP proof iat is not recent')
    }
    if ((await calculateJwkThumbprint(jwk, 'sha256')) !== jkt) {
      throw new Refusal('binding', 'invalid_token', 'the DPoP proof key is not the token key')
    }
    if (payload.ath !== createHash('sha256').update(token).digest('base64url')) {
      throw new Refusal('ath', 'invalid_dpop_proof', 'the DPoP proof ath does not match')
    }
    const proofNonce = typeof payload.nonce === 'string' ? payload.nonce : undefined
    if (
      requireNonce &&
      (proofNonce === undefined || (proofNonce !== nonce && proofNonce !== previousNonce))
    ) {
      throw new Refusal('nonce', 'use_dpop_nonce', 'a DPoP nonce issued here is required')
    }
    if (seenJtis.has(payload.jti)) {
      throw new Refusal('replay', 'invalid_dpop_proof', 'the DPoP proof was used before')
    }
    seenJtis.add(payload.jti)
    return proofNonce ?? ''
  }

  /** The token's claims, or a {@link Refusal}. */
  async function authenticate(req: IncomingMessage) {
    const authorization = req.headers.authorization ?? ''
    const match = /^(DPoP|Bearer) +([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization)
    if (match === null) throw new Refusal('missing', undefined, 'no access token')
    const scheme: 'DPoP' | 'Bearer' = match[1]?.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer'
    const token = match[2] ?? ''
    const claims = await verifyAccessToken(token)
    const jkt = typeof claims.cnf?.jkt === 'string' ? claims.cnf.jkt : undefined
    if (scheme === 'Bearer') {
      if (jkt !== undefined) {
        throw new Refusal('binding', 'invalid_token', 'a DPoP-bound token needs the DPoP scheme')
      }
      return { scheme, claims, jkt, proofNonce: undefined }
    }
    if (jkt === undefined) {
      throw new Refusal('binding', 'invalid_token', 'the token is not DPoP-bound')
    }
    const proofNonce = await verifyProof(req, token, jkt)
    return { scheme, claims, jkt, proofNonce }
  }

  function refuse(res: ServerResponse, refusal: Refusal): void {
    counters.rejected[refusal.reason] = (counters.rejected[refusal.reason] ?? 0) + 1
    const params = [`algs=${quote(DPOP_ALGORITHMS.join(' '))}`]
    if (refusal.error !== undefined) {
      params.unshift(`error=${quote(refusal.error)}`, `error_description=${quote(refusal.message)}`)
    }
    const headers: Record<string, string> = { 'WWW-Authenticate': `DPoP ${params.join(', ')}` }
    if (refusal.error === 'use_dpop_nonce') {
      counters.nonceChallenges++
      headers['DPoP-Nonce'] = nonce
    }
    sendJson(res, 401, { error: refusal.error ?? 'invalid_token' }, headers)
  }

  async function respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cors = applyCors(req, res)
    const path = new URL(req.url ?? '/', url).pathname
    if (req.method === 'OPTIONS') {
      counters.preflights++
      if (cors) {
        res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS')
        res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, DPoP')
        res.setHeader('Access-Control-Max-Age', '600')
      }
      sendEmpty(res, 204)
      return
    }
    const method = { '/me': 'GET', '/echo': 'POST' }[path]
    if (method === undefined) return sendJson(res, 404, { error: 'not_found' })
    if (req.method !== method) return sendEmpty(res, 405, { Allow: method })
    counters.requests++
    const body = await readBody(req)
    let auth: Awaited<ReturnType<typeof authenticate>>
    try {
      auth = await authenticate(req)
    } catch (error) {
      if (!(error instanceof Refusal)) throw error
      return refuse(res, error)
    }
    counters.accepted++
    counters.schemes[auth.scheme]++
    const headers: Record<string, string> = {}
    // §9: a fresh nonce goes with any answer to a proof that did not use the current one.
    if (requireNonce && auth.scheme === 'DPoP' && auth.proofNonce !== nonce) {
      headers['DPoP-Nonce'] = nonce
    }
    const { sub, aud, scope } = auth.claims
    if (path === '/me') {
      return sendJson(res, 200, { sub, aud, scope, jkt: auth.jkt ?? null }, headers)
    }
    sendJson(res, 200, { sub, contentType: req.headers['content-type'] ?? null, body }, headers)
  }

  handle = (req, res) => {
    respond(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', detail: String(error) })
      else res.destroy()
    })
  }

  return {
    url,
    audience,
    rotateNonce() {
      previousNonce = nonce
      nonce = randomBytes(16).toString('base64url')
    },
    setRequireNonce(required) {
      requireNonce = required
    },
    counters: () => structuredClone(counters),
    resetCounters() {
      counters = newCounters()
    },
    close: () => closeServer(server),
  }
}
