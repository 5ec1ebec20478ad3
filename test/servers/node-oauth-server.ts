/**
 * A small but real OAuth 2.0 authorization server and protected API for interoperability tests,
 * built on `@node-oauth/oauth2-server` over `node:http`: opaque tokens, refresh-token rotation with
 * reuse detection, RFC 7009 revocation, RFC 8414 metadata and CORS like a production API.
 * Server-side controls (expire or revoke tokens, fail token requests like a gateway) let tests
 * reach every state without waiting, and counters let them bound what the client sent.
 *
 * Everything is in memory and listens on 127.0.0.1 with a random port.
 */
import { randomUUID } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { extname, resolve, sep } from 'node:path'
import OAuth2Server from '@node-oauth/oauth2-server'
import {
  answerPreflight,
  applyCors,
  type CorsPolicy,
  closeServer,
  hasMediaType,
  listenOnLoopback,
  parseForm,
  postForm,
  readBody,
  sendEmpty,
  sendJson,
} from './http-utils.js'
import {
  type RefreshTokenState,
  readTokenResponse,
  type TokenResponseBody,
} from './token-response.js'

/** Options of {@link startNodeOAuthServer}. */
export interface NodeOAuthServerOptions {
  /**
   * The public client's id. The client has no secret and may use the `password` grant (the fixture's
   * stand-in for a login) and the `refresh_token` grant.
   * @default 'spa'
   */
  clientId?: string
  /**
   * Page origins allowed by CORS, for example `http://localhost:5173`. Requests from other origins
   * get no `Access-Control-Allow-Origin`, as from a real API.
   * @default []
   */
  allowedOrigins?: readonly string[]
  /**
   * Lifetime of issued access tokens in seconds. The library reports `expires_in` as the whole
   * seconds left when the response is built, so 3600 usually arrives as 3599.
   * @default 3600
   */
  accessTokenLifetime?: number
  /**
   * Lifetime of issued refresh tokens in seconds.
   * @default 1_209_600 (14 days)
   */
  refreshTokenLifetime?: number
  /**
   * Path of the issuer identifier, for example `/tenant1`. The RFC 8414 metadata is then served at
   * `/.well-known/oauth-authorization-server/tenant1` and the endpoints live under `/tenant1/`.
   * @default ''
   */
  issuerPath?: string
  /**
   * Members merged over the RFC 8414 metadata document, for example a wrong `issuer` to test the
   * §3.3 mix-up check.
   * @default {}
   */
  metadataOverrides?: Record<string, unknown>
  /**
   * Directory served for `GET` requests that match no other route (a test page, its scripts).
   * @default undefined (no static files)
   */
  staticDir?: string
}

/** Live request counters of a {@link NodeOAuthServer}. */
export interface NodeOAuthCounters {
  /** Every `POST` to the token endpoint, whatever its outcome. */
  tokenRequests: number
  /** Token requests with `grant_type=password` (logins). */
  passwordGrants: number
  /** Token requests with `grant_type=refresh_token`. */
  refreshGrants: number
  /** Refresh grants that succeeded and rotated the refresh token. */
  rotations: number
  /** Already-rotated refresh tokens presented again; each revoked a whole token family. */
  reuseDetections: number
  /** Token endpoint answers with `error=invalid_grant`. */
  invalidGrants: number
  /** Requests to the RFC 7009 revocation endpoint. */
  revocationRequests: number
  /** Token families revoked (by revocation, reuse detection or {@link NodeOAuthServer.revokeAllSessions}). */
  revokedFamilies: number
  /** Requests for the RFC 8414 metadata document. */
  metadataRequests: number
  /** CORS preflights (`OPTIONS`) on any path. */
  preflights: number
  /** Requests to the protected API (`/api/...`), preflights excluded. */
  apiRequests: number
  /** Protected API answers with status 401. */
  api401s: number
}

/** One RFC 7009 revocation request as the server saw it, without the token value. */
export interface RevocationRecord {
  tokenTypeHint: string | undefined
  clientId: string | undefined
  /** What the presented token was just before this request: a refresh token's state, or not. */
  tokenState: RefreshTokenState | 'access_token'
}

/** Options of {@link NodeOAuthServer.failTokenRequests}. */
export interface TokenFaultOptions {
  /** HTTP status of the failed answers. @default 503 */
  status?: number
  /**
   * Process the grant for real (rotating the refresh token) and only then answer the failure, as
   * when a gateway loses the upstream response. Otherwise the request fails before processing.
   * @default false
   */
  afterProcessing?: boolean
}

/** Options of {@link NodeOAuthServer.login}. */
export interface NodeOAuthLoginOptions {
  /** @default 'alice' */
  username?: string
  /** Space-separated scope to request. @default 'api' */
  scope?: string
  /**
   * Lifetime in seconds of this login's access token only; tokens issued by later refreshes use the
   * server's lifetime. A lifetime shorter than the SDK's `refreshLeeway` makes the very first token
   * due for renewal without waiting.
   */
  accessTokenLifetime?: number
}

/** A running {@link startNodeOAuthServer} fixture. */
export interface NodeOAuthServer {
  /** Origin of the server, `http://127.0.0.1:<port>`. */
  readonly url: string
  /** Issuer identifier (`url` + `issuerPath`). */
  readonly issuer: string
  /** RFC 8414 metadata URL (the well-known segment inserted before the issuer's path). */
  readonly metadataUrl: string
  readonly tokenEndpoint: string
  readonly revocationEndpoint: string
  /** Base URL of the protected API: `GET {apiUrl}/me`, `POST {apiUrl}/echo`. */
  readonly apiUrl: string
  readonly clientId: string
  /** Live counters; reset with {@link NodeOAuthServer.resetCounters}. */
  readonly counters: Readonly<NodeOAuthCounters>
  /** Every revocation request, in order; cleared by {@link NodeOAuthServer.resetCounters}. */
  readonly revocationLog: readonly RevocationRecord[]
  /**
   * Logs a user in as the app's login would: a `password` grant for the public client over HTTP,
   * answered by the library with an RFC 6749 §5.1 token response (`expires_in`, `refresh_token`).
   */
  login(options?: NodeOAuthLoginOptions): Promise<TokenResponseBody>
  /** Changes the lifetime (seconds) of access tokens issued from now on. */
  setAccessTokenLifetime(seconds: number): void
  /**
   * Makes the next `count` token requests fail with an HTML error page, like a proxy in front of
   * the server: before processing (a retry is safe) or after it (the refresh token was rotated,
   * so a retry presents a rotated token).
   */
  failTokenRequests(count: number, options?: TokenFaultOptions): void
  /**
   * Holds the answer to the next token request: the grant is processed at once (a refresh token
   * rotated, the counters updated) and the answer sent only when the returned function is called,
   * as a server whose answer is still on its way when the client goes away.
   */
  holdNextTokenAnswer(): () => void
  /** Makes every access token issued so far expired on the server: the API answers 401. */
  expireAccessTokens(): void
  /** Revokes every token family, as an administrator ending all sessions would. */
  revokeAllSessions(): void
  /** Where a refresh token stands, read without presenting it (presenting a rotated one revokes). */
  refreshTokenState(refreshToken: string): RefreshTokenState
  /** Sets every counter back to 0. */
  resetCounters(): void
  /** Stops listening and drops open connections. */
  close(): Promise<void>
}

/** The tokens descending from one login; revoking the family revokes all of them. */
interface Family {
  revoked: boolean
}

interface StoredUser {
  id: string
  familyId: string
}

/** What `getUser` hands to `saveToken` for a fresh login. */
interface LoginUser {
  id: string
  familyId?: undefined
  accessTokenLifetime: number | undefined
}

interface StoredAccessToken {
  accessToken: string
  accessTokenExpiresAt: Date
  scope?: string[]
  client: OAuth2Server.Client
  user: StoredUser
  revoked: boolean
}

interface StoredRefreshToken {
  refreshToken: string
  refreshTokenExpiresAt?: Date
  scope?: string[]
  client: OAuth2Server.Client
  user: StoredUser
  rotated: boolean
}

interface PendingLogin {
  username: string
  accessTokenLifetime: number | undefined
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html;charset=UTF-8',
  '.js': 'text/javascript;charset=UTF-8',
  '.mjs': 'text/javascript;charset=UTF-8',
  '.css': 'text/css;charset=UTF-8',
  '.json': 'application/json;charset=UTF-8',
  '.map': 'application/json;charset=UTF-8',
  '.txt': 'text/plain;charset=UTF-8',
}

function newCounters(): NodeOAuthCounters {
  return {
    tokenRequests: 0,
    passwordGrants: 0,
    refreshGrants: 0,
    rotations: 0,
    reuseDetections: 0,
    invalidGrants: 0,
    revocationRequests: 0,
    revokedFamilies: 0,
    metadataRequests: 0,
    preflights: 0,
    apiRequests: 0,
    api401s: 0,
  }
}

/**
 * Starts the `@node-oauth/oauth2-server` fixture on 127.0.0.1 with a random free port.
 *
 * Routes (with `issuerPath` = P):
 * - `GET /.well-known/oauth-authorization-server{P}`: RFC 8414 metadata.
 * - `POST {P}/token`: `password` and `refresh_token` grants for the public client (body
 *   `client_id`, no secret). Refresh tokens rotate; presenting a rotated one revokes its family.
 * - `POST {P}/revoke`: RFC 7009; revoking a refresh token revokes its family; unknown tokens: 200.
 * - `GET /api/me`, `POST /api/echo` (answers `{ sub, method, contentType, json, text }`):
 *   protected by the library's `authenticate`; 401 with
 *   `WWW-Authenticate: Bearer realm="Service",error="invalid_token"` when the token is not valid.
 * - `OPTIONS *`: CORS preflight; other `GET`s: files from `staticDir`.
 *
 * @example
 * const server = await startNodeOAuthServer({ accessTokenLifetime: 60 })
 * const tokens = await server.login()
 * await server.close()
 */
export async function startNodeOAuthServer(
  options: NodeOAuthServerOptions = {},
): Promise<NodeOAuthServer> {
  const clientId = options.clientId ?? 'spa'
  const issuerPath = (options.issuerPath ?? '').replace(/\/$/, '')
  const cors: CorsPolicy = { allowedOrigins: options.allowedOrigins ?? [] }
  const staticDir = options.staticDir === undefined ? undefined : resolve(options.staticDir)
  let accessTokenLifetime = options.accessTokenLifetime ?? 3600
  const counters = newCounters()
  const revocationLog: RevocationRecord[] = []
  let faults = { remaining: 0, status: 503, afterProcessing: false }
  /** The hold for the next token request's answer (holdNextTokenAnswer). */
  let hold: Promise<void> | undefined

  const families = new Map<string, Family>()
  const accessTokens = new Map<string, StoredAccessToken>()
  const refreshTokens = new Map<string, StoredRefreshToken>()
  const pendingLogins = new Map<string, PendingLogin>()

  function revokeFamily(familyId: string): void {
    const family = families.get(familyId)
    if (family === undefined || family.revoked) return
    family.revoked = true
    counters.revokedFamilies++
  }

  function isFamilyRevoked(familyId: string): boolean {
    return families.get(familyId)?.revoked ?? true
  }

  function refreshTokenState(refreshToken: string): RefreshTokenState {
    const record = refreshTokens.get(refreshToken)
    if (record === undefined) return 'unknown'
    if (isFamilyRevoked(record.user.familyId)) return 'revoked'
    return record.rotated ? 'rotated' : 'active'
  }

  function detectReuse(record: StoredRefreshToken): void {
    counters.reuseDetections++
    revokeFamily(record.user.familyId)
  }

  // The library's model contract; every method is async because the library awaits them.
  const model = {
    async getClient(id: string, secret: string | undefined) {
      // A public client has no secret; one that sends a secret is not this client.
      if (id !== clientId || secret) return null
      return { id, grants: ['password', 'refresh_token'], accessTokenLifetime }
    },

    async getUser(username: string, password: string) {
      // The password is a one-time login ticket issued by login().
      const pending = pendingLogins.get(password)
      if (pending === undefined || pending.username !== username) return null
      pendingLogins.delete(password)
      const user: LoginUser = { id: username, accessTokenLifetime: pending.accessTokenLifetime }
      return user
    },

    async validateScope(_user: unknown, _client: unknown, scope: string[] | undefined) {
      return scope !== undefined && scope.length > 0 ? scope : ['api']
    },

    async saveToken(
      token: OAuth2Server.Token,
      client: OAuth2Server.Client,
      user: StoredUser | LoginUser,
    ) {
      const familyId = user.familyId ?? randomUUID()
      if (!families.has(familyId)) families.set(familyId, { revoked: false })
      if ('accessTokenLifetime' in user && user.accessTokenLifetime !== undefined) {
        token.accessTokenExpiresAt = new Date(Date.now() + user.accessTokenLifetime * 1000)
      }
      const storedUser: StoredUser = { id: user.id, familyId }
      const accessTokenExpiresAt = token.accessTokenExpiresAt ?? new Date(Date.now() + 3_600_000)
      const scope = token.scope === undefined ? {} : { scope: token.scope }
      accessTokens.set(token.accessToken, {
        accessToken: token.accessToken,
        accessTokenExpiresAt,
        ...scope,
        client,
        user: storedUser,
        revoked: false,
      })
      if (token.refreshToken !== undefined) {
        refreshTokens.set(token.refreshToken, {
          refreshToken: token.refreshToken,
          ...(token.refreshTokenExpiresAt && {
            refreshTokenExpiresAt: token.refreshTokenExpiresAt,
          }),
          ...scope,
          client,
          user: storedUser,
          rotated: false,
        })
      }
      return { ...token, accessTokenExpiresAt, client, user: storedUser }
    },

    async getAccessToken(accessToken: string) {
      const record = accessTokens.get(accessToken)
      if (record === undefined || record.revoked || isFamilyRevoked(record.user.familyId)) {
        return null
      }
      return { ...record }
    },

    async getRefreshToken(refreshToken: string) {
      const record = refreshTokens.get(refreshToken)
      if (record === undefined || isFamilyRevoked(record.user.familyId)) return null
      if (record.rotated) {
        // RFC 9700 §4.14.2: a rotated refresh token came back, so either the client or an attacker
        // holds a stolen copy. Revoke the whole family; the library answers invalid_grant.
        detectReuse(record)
        return null
      }
      return { ...record }
    },

    async revokeToken(token: OAuth2Server.RefreshToken) {
      const record = refreshTokens.get(token.refreshToken)
      if (record === undefined) return false
      if (record.rotated || isFamilyRevoked(record.user.familyId)) {
        // Two requests raced with the same refresh token: the loser is a reuse too.
        detectReuse(record)
        return false
      }
      record.rotated = true
      return true
    },
  }

  const oauth = new OAuth2Server({
    model,
    accessTokenLifetime,
    refreshTokenLifetime: options.refreshTokenLifetime ?? 1_209_600,
    requireClientAuthentication: { password: false, refresh_token: false },
    alwaysIssueNewRefreshToken: true,
  })

  let origin = ''
  const issuer = () => `${origin}${issuerPath}`

  function metadata(): Record<string, unknown> {
    return {
      issuer: issuer(),
      token_endpoint: `${issuer()}/token`,
      revocation_endpoint: `${issuer()}/revoke`,
      grant_types_supported: ['password', 'refresh_token'],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      scopes_supported: ['api'],
      ...options.metadataOverrides,
    }
  }

  function libraryRequest(req: IncomingMessage, url: URL, body: Record<string, string>) {
    return new OAuth2Server.Request({
      headers: req.headers as Record<string, string>,
      method: req.method ?? 'GET',
      query: Object.fromEntries(url.searchParams),
      body,
    })
  }

  async function handleToken(req: IncomingMessage, res: ServerResponse, url: URL) {
    counters.tokenRequests++
    const text = await readBody(req)
    const body = hasMediaType(req, 'application/x-www-form-urlencoded') ? parseForm(text) : {}
    if (body.grant_type === 'password') counters.passwordGrants++
    if (body.grant_type === 'refresh_token') counters.refreshGrants++
    const fault = faults.remaining > 0 ? { ...faults } : undefined
    if (fault !== undefined) faults.remaining--
    const held = hold
    hold = undefined
    const failWithPage = () => {
      const page = `<html><body><h1>${fault?.status} Service error</h1></body></html>`
      res.writeHead(fault?.status ?? 503, {
        'Content-Type': 'text/html',
        'Cache-Control': 'no-store',
      })
      res.end(page)
    }
    if (fault !== undefined && !fault.afterProcessing) return failWithPage()
    const response = new OAuth2Server.Response()
    try {
      await oauth.token(libraryRequest(req, url, body), response)
      if (body.grant_type === 'refresh_token') counters.rotations++
    } catch (error) {
      const { name, code, message } = error as OAuth2Server.OAuthError
      if (name === 'invalid_grant') counters.invalidGrants++
      // The library throws its method and content-type checks before it fills in the response.
      response.status = code ?? 500
      response.body = { error: name, error_description: message }
    }
    await held
    if (fault !== undefined) return failWithPage()
    sendJson(res, response.status ?? 200, response.body, response.headers)
  }

  // RFC 7009 is not part of the library; this is what a deployment adds beside it.
  async function handleRevoke(req: IncomingMessage, res: ServerResponse) {
    counters.revocationRequests++
    const text = await readBody(req)
    if (!hasMediaType(req, 'application/x-www-form-urlencoded')) {
      return sendJson(res, 400, {
        error: 'invalid_request',
        error_description: 'form body required',
      })
    }
    const form = parseForm(text)
    if (!form.token) {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'missing token' })
    }
    if (form.client_id !== clientId) {
      return sendJson(res, 400, { error: 'invalid_client', error_description: 'unknown client' })
    }
    const refresh = refreshTokens.get(form.token)
    const access = accessTokens.get(form.token)
    const owner = refresh?.client.id ?? access?.client.id
    if (owner !== undefined && owner !== form.client_id) {
      return sendJson(res, 400, { error: 'unauthorized_client' })
    }
    revocationLog.push({
      tokenTypeHint: form.token_type_hint,
      clientId: form.client_id,
      tokenState: access !== undefined ? 'access_token' : refreshTokenState(form.token),
    })
    // §2.1: revoking a refresh token SHOULD revoke its access tokens; ours revokes the family.
    if (refresh !== undefined) revokeFamily(refresh.user.familyId)
    else if (access !== undefined) access.revoked = true
    // §2.2: 200 also for tokens the server does not know.
    sendEmpty(res, 200)
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL) {
    counters.apiRequests++
    const text = await readBody(req)
    const response = new OAuth2Server.Response()
    let token: OAuth2Server.Token
    try {
      // An empty body: the bearer token must come from the Authorization header (RFC 6750 §2.1).
      token = await oauth.authenticate(libraryRequest(req, url, {}), response)
    } catch (error) {
      const status = (error as { code?: number }).code ?? 500
      if (status === 401) counters.api401s++
      const name = (error as { name?: string }).name ?? 'server_error'
      return sendJson(res, status, { error: name }, response.headers)
    }
    const user = token.user as StoredUser
    if (req.method === 'GET' && url.pathname === '/api/me') {
      return sendJson(res, 200, { sub: user.id, client_id: token.client.id, scope: token.scope })
    }
    if (req.method === 'POST' && url.pathname === '/api/echo') {
      let json: unknown = null
      if (hasMediaType(req, 'application/json')) {
        try {
          json = JSON.parse(text)
        } catch {
          return sendJson(res, 400, { error: 'invalid_json' })
        }
      }
      return sendJson(res, 200, {
        sub: user.id,
        method: req.method,
        contentType: req.headers['content-type'] ?? null,
        json,
        text,
      })
    }
    sendJson(res, 404, { error: 'not_found' })
  }

  async function handleStatic(res: ServerResponse, url: URL, head: boolean) {
    if (staticDir === undefined) return sendEmpty(res, 404)
    const path = resolve(staticDir, `.${decodeURIComponent(url.pathname)}`)
    const file = path === staticDir || path.endsWith(sep) ? resolve(path, 'index.html') : path
    if (!file.startsWith(staticDir + sep)) return sendEmpty(res, 404)
    const info = await stat(file).catch(() => undefined)
    if (info === undefined || !info.isFile()) return sendEmpty(res, 404)
    const content = await readFile(file)
    res.writeHead(200, {
      'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': String(content.byteLength),
      'Cache-Control': 'no-store',
    })
    res.end(head ? undefined : content)
  }

  async function route(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', origin)
    const method = req.method ?? 'GET'
    if (method === 'OPTIONS') {
      counters.preflights++
      return answerPreflight(req, res, cors)
    }
    applyCors(req, res, cors)
    const path = url.pathname
    if (path === `/.well-known/oauth-authorization-server${issuerPath}` && method === 'GET') {
      counters.metadataRequests++
      return sendJson(res, 200, metadata())
    }
    if (path === `${issuerPath}/token`) {
      if (method !== 'POST') return sendEmpty(res, 405, { Allow: 'POST' })
      return handleToken(req, res, url)
    }
    if (path === `${issuerPath}/revoke`) {
      if (method !== 'POST') return sendEmpty(res, 405, { Allow: 'POST' })
      return handleRevoke(req, res)
    }
    if (path === '/api' || path.startsWith('/api/')) return handleApi(req, res, url)
    if (method === 'GET' || method === 'HEAD') return handleStatic(res, url, method === 'HEAD')
    sendEmpty(res, 404)
  }

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' })
      else res.destroy(error as Error)
    })
  })
  origin = await listenOnLoopback(server)

  const tokenEndpoint = `${issuer()}/token`
  return {
    url: origin,
    issuer: issuer(),
    metadataUrl: `${origin}/.well-known/oauth-authorization-server${issuerPath}`,
    tokenEndpoint,
    revocationEndpoint: `${issuer()}/revoke`,
    apiUrl: `${origin}/api`,
    clientId,
    counters,
    revocationLog,

    async login(login = {}) {
      const username = login.username ?? 'alice'
      const ticket = randomUUID()
      pendingLogins.set(ticket, { username, accessTokenLifetime: login.accessTokenLifetime })
      const response = await postForm(tokenEndpoint, {
        grant_type: 'password',
        client_id: clientId,
        username,
        password: ticket,
        scope: login.scope ?? 'api',
      })
      return readTokenResponse(response)
    },

    setAccessTokenLifetime(seconds) {
      accessTokenLifetime = seconds
    },

    failTokenRequests(count, fault = {}) {
      faults = {
        remaining: count,
        status: fault.status ?? 503,
        afterProcessing: fault.afterProcessing ?? false,
      }
    },

    holdNextTokenAnswer() {
      let release!: () => void
      hold = new Promise<void>((resolve) => {
        release = resolve
      })
      return release
    },

    expireAccessTokens() {
      const past = new Date(Date.now() - 1000)
      for (const record of accessTokens.values()) record.accessTokenExpiresAt = past
    },

    revokeAllSessions() {
      for (const familyId of families.keys()) revokeFamily(familyId)
    },

    refreshTokenState,

    resetCounters() {
      Object.assign(counters, newCounters())
      revocationLog.length = 0
    },

    close: () => closeServer(server),
  }
}
