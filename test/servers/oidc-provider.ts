/**
 * A real OpenID Provider for the sign-in interop tests: `oidc-provider` 9 (a certified OP, in
 * memory) configured as a production deployment serving one single-page app, on 127.0.0.1 with a
 * random port. Authorization code flow with PKCE, refresh-token rotation with reuse detection,
 * RFC 7009 revocation, RP-initiated logout, CORS for the app's origin, and the library's built-in
 * login and consent pages (`devInteractions`) so that a test, or a real browser, can sign in by
 * filling a form.
 *
 * What oidc-provider 9.13 does, read in its source and observed by
 * test/interop/oidc-provider-server.test.ts:
 * - Issuer: any web URI is accepted, `http://127.0.0.1:<port>` included; no https is demanded and
 *   no `proxy` setting is needed (cookies get `Secure` only when the request itself is https).
 *   The port must be known before the Provider is built, so the HTTP server listens first.
 * - Redirect URIs: a client with `application_type: 'web'` may register `http:` redirect URIs
 *   (only the implicit flow insists on https); they are compared exactly, port included.
 * - PKCE: `code_challenge_methods_supported` is always `["S256"]` (`plain` is not implemented).
 *   An authorization request without `code_challenge` gets
 *   `error=invalid_request&error_description=Authorization Server policy requires PKCE to be used for this request`
 *   redirected to the client (with `iss`), not an error page.
 * - `iss`: every authorization response of response type `code` carries `iss` (RFC 9207), errors
 *   included; discovery has `authorization_response_iss_parameter_supported: true`.
 * - `offline_access`: dropped from every authorization request whose `prompt` does not include
 *   `consent` (no `prompt` at all included, as OpenID Connect Core §11 allows), and then no
 *   refresh token is issued. With `prompt=consent` the consent page is shown every time, even
 *   when the user already granted everything (a signed-in browser skips only the login page).
 *   Refresh tokens are only issued when `offline_access` was granted (`issueRefreshToken`).
 * - Rotation: every refresh grant consumes the refresh token and issues a new one. A consumed
 *   refresh token presented again gets `invalid_grant` (`error_description` "grant request is
 *   invalid", the detail "refresh token already used" only in the `grant.error` event) and revokes
 *   the whole grant: the newest refresh token and the access tokens fail too.
 * - A rotated refresh token inherits the time left on the one it replaces (the library's default
 *   for public web clients, kept here): the refresh-token lifetime bounds the whole session, it
 *   does not slide.
 * - Revocation (RFC 7009) of a refresh token revokes its whole grant (`grant.revoked`); it answers
 *   200 with an empty body, also for unknown tokens.
 * - CORS: a preflight (`OPTIONS`) is answered 204 with `Access-Control-Allow-Origin` echoing *any*
 *   origin; the client's origin check (`clientBasedCORS`) runs on the actual `POST`, which from an
 *   origin not allowed is answered 400 `invalid_request` without `Access-Control-Allow-Origin`.
 * - RP-initiated logout with a session shows a confirmation page; confirming ends the session but
 *   does *not* revoke a grant that holds `offline_access`: its refresh token keeps working. An app
 *   must revoke its refresh token itself when the user signs out.
 * - The devInteractions pages accept any login and password; the login becomes the `sub`. They
 *   `@import` a Google font: a browser test without internet should block that request.
 * - Storage is the library's in-memory adapter: one LRU of 1000 entries per process, shared by
 *   every provider started in it (each session, interaction, grant, code and token is an entry,
 *   consumed refresh tokens included); a test file that signs in or refreshes hundreds of times
 *   could see its oldest entries evicted.
 * - The library writes a few `oidc-provider WARNING/NOTICE` lines to the console (devInteractions
 *   enabled, default pages used); they are expected.
 *
 * DPoP (RFC 9449) and resource indicators (RFC 8707), observed by
 * test/interop/oidc-provider-dpop.test.ts with hand-made ES256 proofs:
 * - DPoP is on by default for every client: a token request with a valid proof gets
 *   `token_type: "DPoP"` and tokens bound to its key even for a client not registered with
 *   `dpop_bound_access_tokens`; without a proof, Bearer. Discovery lists
 *   `dpop_signing_alg_values_supported: ["ES256", "Ed25519", "EdDSA"]`.
 * - A client registered with `dpop_bound_access_tokens: true` (option `dpop`): a code exchange or
 *   refresh without a `DPoP` header is 400 `invalid_grant` ("grant request is invalid"; the detail
 *   "DPoP proof JWT not provided" only in the event) and consumes nothing.
 * - The proof is checked before the code or refresh token is looked at, so a refused proof
 *   consumes nothing. 400 `invalid_dpop_proof` with `error_description` "DPoP proof htu mismatch"
 *   (query and fragment of `htu` are ignored), "DPoP proof htm mismatch", "invalid DPoP key
 *   binding" (bad `typ` or signature), "DPoP proof must have a jti string property". The same
 *   proof twice (same `jti`) is 400 `invalid_grant` (detail "DPoP proof JWT Replay detected").
 * - `iat` more than 300 s off, either way: 400 `invalid_dpop_proof` "DPoP proof iat is not recent
 *   enough" without a nonce secret; with one, 400 `use_dpop_nonce` "DPoP proof iat is not recent
 *   enough, use a DPoP nonce instead" and a `DPoP-Nonce`. A proof carrying a valid nonce is
 *   accepted whatever its `iat`: the nonce retry cures a skewed clock.
 * - Nonces (`nonceSecret`): with `requireNonce`, a proof without `nonce` is 400
 *   `{"error":"use_dpop_nonce","error_description":"nonce is required in the DPoP proof"}` with a
 *   `DPoP-Nonce` header (43 base64url characters) and no `WWW-Authenticate`; nothing is consumed,
 *   the same request with the nonce succeeds. An answer to a proof whose nonce is not the current
 *   one (none included, when nonces are not required) carries a fresh `DPoP-Nonce`; with the
 *   current one, none (so a success may carry one when the minute turned since the challenge). A nonce changes every 60 s and is accepted for about two minutes either
 *   side (read in lib/helpers/challenge.js). Without a nonce secret (the default): never a `DPoP-Nonce`, and a proof carrying a
 *   `nonce` is 400 `invalid_dpop_proof` "DPoP nonces are not supported".
 * - CORS at the token endpoint: `Access-Control-Expose-Headers: DPoP-Nonce,WWW-Authenticate` with a
 *   nonce secret, `WWW-Authenticate` without; the preflight echoes `Access-Control-Request-Headers`,
 *   so `dpop` is allowed.
 * - `dpop_jkt` on the authorization request: a code exchange with another key's proof is 400
 *   `invalid_grant` (detail "DPoP proof key thumbprint does not match dpop_jkt") *after* the code
 *   was consumed: the same code with the right key is then "authorization code already consumed"
 *   and revokes the grant.
 * - A public client's refresh token is bound to the key of its access token. Refreshing it without
 *   a proof, or with another key's, is 400 `invalid_grant` (detail "DPoP proof JWT not provided"
 *   without a proof for a DPoP client, "failed jkt verification" with another key's proof or for
 *   other clients, as the Chromium DPoP test saw) and does not consume it; with the
 *   right key it rotates as a Bearer one does, reuse detection included.
 * - Userinfo (`/me`): a bound token as `Bearer` is 401 `WWW-Authenticate: DPoP realm="<issuer>",
 *   error="invalid_token", error_description="invalid token provided", algs="ES256 Ed25519 EdDSA"`
 *   (another key's proof too); with nonces required, a proof without one is 401 with
 *   `error="use_dpop_nonce", error_description="nonce is required in the DPoP proof"` and a
 *   `DPoP-Nonce`.
 * - Revocation ignores the `DPoP` header (a valid proof, garbage or none: 200, the grant revoked):
 *   whoever holds a bound refresh token can revoke it. It exposes `WWW-Authenticate` only and
 *   sends no `DPoP-Nonce`. A JWT access token cannot be revoked: 400 `unsupported_token_type`.
 * - Resource indicators: the authorization request may repeat `resource`; an unknown one is
 *   redirected as `error=invalid_target`. Without `resource`, scopes other than OIDC's (`api`) are
 *   dropped from the request (read in lib/shared/check_resource.js).
 * - A code exchange or refresh without `resource` when `openid` was granted gets an opaque
 *   userinfo token (scope `openid offline_access`, no resource scope), useless at an API. With
 *   `resource=R` (R named in the authorization request) it gets a JWT for R: `aud` R, `scope` the
 *   requested scopes among R's (`api`; `""` and no claim when none was asked for), `cnf.jkt`,
 *   `client_id`, `iss`, `sub`, signed RS256 with the key of `jwksUri`; an ID token still comes
 *   along. One refresh token so mints tokens for each resource in turn, each refresh rotating it.
 * - Without `openid`, a request without `resource` gets the one requested resource, or, when
 *   several were requested, 400 `invalid_target` "only a single resource indicator value must be
 *   requested/resolved during Access Token Request".
 * - A `resource` that the authorization request did not name (known to the provider or not) is 400
 *   `invalid_target` "resource indicator is missing, or unknown" *after* the code was consumed, or
 *   after the refresh token was rotated: the new one is never delivered, and presenting the old one
 *   again is a reuse that revokes the grant. A client must only ask for resources it named.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http'
// @ts-expect-error: oidc-provider ships no type declarations (and @types/oidc-provider is not a
// dependency); the few members used here are typed below.
import Provider, { errors as providerErrors } from 'oidc-provider'
import { closeServer, listenOnLoopback, readBody, sendEmpty } from './http-utils.js'

/** Options of {@link startOidcProvider}. */
export interface OidcProviderOptions {
  /** The public client's id. @default 'spa' */
  clientId?: string
  /** The client's registered `redirect_uris`, for example `http://127.0.0.1:5173/callback`. */
  redirectUris: readonly string[]
  /** The client's registered `post_logout_redirect_uris`. @default [] */
  postLogoutRedirectUris?: readonly string[]
  /**
   * Page origins allowed by CORS on the token, revocation and userinfo endpoints (the library's
   * `clientBasedCORS`). Discovery and JWKS are open to every origin.
   * @default []
   */
  allowedOrigins?: readonly string[]
  /** Lifetime of access tokens in seconds (`expires_in`). @default 60 */
  accessTokenTtl?: number
  /**
   * Lifetime in seconds of the first refresh token of a grant; rotated ones inherit its time left.
   * The grant and the session live as long.
   * @default 86_400 (one day)
   */
  refreshTokenTtl?: number
  /** Lifetime of ID tokens in seconds. @default 3600 */
  idTokenTtl?: number
  /**
   * Makes the client a DPoP client (RFC 9449): it is registered with `dpop_bound_access_tokens:
   * true`, so every token request needs a DPoP proof and every token it gets is bound to the
   * proof's key. Without this option the library still accepts proofs (`features.dPoP` is on by
   * default) but does not demand them, and issues no nonces.
   * @default undefined (a Bearer client)
   */
  dpop?: OidcProviderDPoPOptions
  /**
   * Resource indicators (RFC 8707): each URI (for example `http://127.0.0.1:<port>/` of a
   * resource server) is a valid `resource` whose access tokens are JWTs with that URI as `aud`,
   * signed with the provider's key (see `jwksUri`), carrying `cnf.jkt` when DPoP-bound and the
   * requested scopes that are among `resourceScope`. Any other `resource` is `invalid_target`.
   * @default [] (`features.resourceIndicators` stays on, as by default, but knows no resource)
   */
  resources?: readonly string[]
  /**
   * The scopes (space-separated) every resource server of `resources` accepts: an authorization
   * request naming resources should ask for them, or its resource tokens carry no scope.
   * @default 'api'
   */
  resourceScope?: string
}

/** DPoP settings of {@link OidcProviderOptions.dpop}. */
export interface OidcProviderDPoPOptions {
  /**
   * Whether the provider issues `DPoP-Nonce`s (`features.dPoP.nonceSecret`, a random 32-byte
   * secret): a proof may then carry a nonce, and one with an `iat` too far off is answered
   * `use_dpop_nonce` instead of `invalid_dpop_proof`.
   * @default true
   */
  nonces?: boolean
  /**
   * Whether every proof must carry a nonce (`features.dPoP.requireNonce`): a proof without one is
   * answered 400 `use_dpop_nonce` with a fresh `DPoP-Nonce`. Needs `nonces`.
   * @default false
   */
  requireNonce?: boolean
}

/** Request and event counters of an {@link OidcProvider}. */
export interface OidcProviderCounters {
  /** `GET` authorization requests (resumptions after a login or consent form excluded). */
  authorizationRequests: number
  /** Authorization responses that carried a code (`authorization.success`). */
  authorizationCodes: number
  /** Authorization error responses by `error` code (`authorization.error`). */
  authorizationErrors: Record<string, number>
  /** `POST`s to the token endpoint by `grant_type`, whatever their outcome. */
  tokenRequests: Record<string, number>
  /** Token endpoint error answers by `error` code (`grant.error`). */
  tokenErrors: Record<string, number>
  /**
   * Token endpoint error answers by `error` and the library's internal detail, which the answer
   * does not carry (`invalid_grant: failed jkt verification`); errors without a detail by
   * `error` alone.
   */
  tokenErrorDetails: Record<string, number>
  /** Consumed (rotated) refresh tokens presented again; each revoked its grant. */
  refreshTokenReuses: number
  /**
   * Grants revoked (`grant.revoked`), by the route that revoked them: `token` (a refresh-token
   * reuse), `revocation` (RFC 7009) or `end_session_confirm` (a logout, only for grants without
   * `offline_access`).
   */
  grantsRevoked: Record<string, number>
  /** `POST`s to the revocation endpoint. */
  revocationRequests: number
  /** Requests to the end-session endpoint (RP-initiated logout started). */
  endSessionRequests: number
  /** Logouts confirmed (`end_session.success`). */
  logouts: number
  /** CORS preflights (`OPTIONS`) on any path. */
  preflights: number
  /** Requests refused because their `Origin` is not in `allowedOrigins`. */
  corsRejections: number
  /** Messages of `server_error` events (a bug in the fixture or the library); normally empty. */
  serverErrors: string[]
}

/** A running {@link startOidcProvider} fixture. */
export interface OidcProvider {
  /** Issuer identifier and origin, `http://127.0.0.1:<port>` (no path, no trailing slash). */
  readonly issuer: string
  /** `{issuer}/.well-known/openid-configuration`. */
  readonly discoveryUrl: string
  readonly authorizationEndpoint: string
  readonly tokenEndpoint: string
  readonly revocationEndpoint: string
  readonly endSessionEndpoint: string
  readonly jwksUri: string
  /** The public client's id. */
  readonly clientId: string
  /** The client's registered redirect URIs. */
  readonly redirectUris: readonly string[]
  /** The client's registered post-logout redirect URIs. */
  readonly postLogoutRedirectUris: readonly string[]
  /** `{issuer}/me`, the userinfo endpoint. */
  readonly userinfoEndpoint: string
  /** The DPoP settings, resolved, or `undefined` for a Bearer client. */
  readonly dpop: Required<OidcProviderDPoPOptions> | undefined
  /** The valid resource indicators, those given as `resources` and those added since. */
  readonly resources: readonly string[]
  /**
   * Makes `resource` a valid resource indicator from now on, for a resource server started after
   * the provider (its URL holds its port).
   */
  addResource(resource: string): void
  /** Lifetime in seconds of access tokens issued from now on. */
  readonly accessTokenTtl: number
  /** Changes the lifetime (seconds) of access tokens issued from now on. */
  setAccessTokenTtl(seconds: number): void
  /**
   * Deletes one access token at the provider, leaving its grant and refresh token alone (as a
   * server that retires a token early does); its RFC 7009 revocation would revoke the whole grant.
   * Resolves to whether the token existed.
   */
  forgetAccessToken(token: string): Promise<boolean>
  /** A copy of the counters as they are now. */
  counters(): OidcProviderCounters
  /** Sets every counter back to zero. */
  resetCounters(): void
  /** Stops listening and drops open connections. */
  close(): Promise<void>
}

/** The login used by {@link loginWithForm} when none is given. */
export const DEFAULT_LOGIN = 'alice'

/**
 * Names and selectors of the devInteractions pages (oidc-provider's lib/views/login.js,
 * interaction.js, layout.js and the default `logoutSource`), for a browser driven by Playwright.
 * The login and consent pages are both served at `/interaction/<uid>` and both titled by an `h1`
 * ("Sign-in", "Authorize"); each holds one form whose hidden `prompt` input says which it is.
 */
export const DEV_INTERACTIONS = {
  /** Path prefix of the login and consent pages. */
  interactionPath: '/interaction/',
  /** Text of the `h1` of the login page. */
  loginTitle: 'Sign-in',
  /** Text of the `h1` of the consent page. */
  consentTitle: 'Authorize',
  /** Form field names of the login form (any values are accepted; `login` becomes the `sub`). */
  fields: { prompt: 'prompt', login: 'login', password: 'password' },
  selectors: {
    /** The login form. */
    loginForm: 'form:has(input[name="prompt"][value="login"])',
    loginInput: 'input[name="login"]',
    passwordInput: 'input[name="password"]',
    /** "Sign-in" button of the login form. */
    loginSubmit: 'form:has(input[name="prompt"][value="login"]) button[type="submit"]',
    /** The consent form. */
    consentForm: 'form:has(input[name="prompt"][value="consent"])',
    /** "Continue" button of the consent form: grants what the client asked for. */
    consentSubmit: 'form:has(input[name="prompt"][value="consent"]) button[type="submit"]',
    /** "[ Cancel ]" link of both pages: the client then gets `error=access_denied`. */
    cancelLink: '.login-help a[href*="/abort"]',
    /** "Yes, sign me out" button of the RP-initiated logout page. */
    logoutConfirm: 'button[form="op.logoutForm"][name="logout"]',
    /** "No, stay signed in" button of the RP-initiated logout page. */
    logoutDecline: 'button[form="op.logoutForm"]:not([name])',
  },
} as const

/** The members of oidc-provider's `Provider` (a Koa application) that this file uses. */
interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void
  use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void
  on(event: string, listener: (ctx: KoaContext, ...args: unknown[]) => void): void
  readonly AccessToken: { find(value: string): Promise<{ destroy(): Promise<void> } | undefined> }
}
type ProviderConstructor = new (issuer: string, configuration: object) => ProviderInstance

/** What this file reads of a Koa context. */
interface KoaContext {
  method: string
  oidc?: {
    route?: string
    params?: Record<string, unknown>
    body?: Record<string, unknown>
  }
}

/** A refresh token, the argument of the library's ttl and `issueRefreshToken` callbacks. */
interface TokenLike {
  scopes: Set<string>
  remainingTTL: number
}

/** The client, as the library's callbacks receive it. */
interface ClientLike {
  grantTypeAllowed(type: string): boolean
}

const OidcProviderClass = Provider as ProviderConstructor
/** The library's `invalid_target` error (RFC 8707 §2). */
const InvalidTarget = (providerErrors as { InvalidTarget: new (description?: string) => Error })
  .InvalidTarget

/** Fixed keys signing the provider's cookies (a fixture: no secret to keep). */
const COOKIE_KEYS = ['freshtoken-interop-cookie-key-1']

function newCounters(): OidcProviderCounters {
  return {
    authorizationRequests: 0,
    authorizationCodes: 0,
    authorizationErrors: {},
    tokenRequests: {},
    tokenErrors: {},
    tokenErrorDetails: {},
    refreshTokenReuses: 0,
    grantsRevoked: {},
    revocationRequests: 0,
    endSessionRequests: 0,
    logouts: 0,
    preflights: 0,
    corsRejections: 0,
    serverErrors: [],
  }
}

function increment(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1
}

/** The `error` code of an error the library threw (its `message` is the code). */
function errorCode(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** A fresh RS256 signing key as a private JWK (the client's ID tokens default to RS256). */
function signingKey(): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' }
}

/** Fills in the defaults of the DPoP options and checks that they agree. */
function resolveDPoP(
  options: OidcProviderDPoPOptions | undefined,
): Required<OidcProviderDPoPOptions> | undefined {
  if (options === undefined) return undefined
  const resolved = { nonces: options.nonces ?? true, requireNonce: options.requireNonce ?? false }
  if (resolved.requireNonce && !resolved.nonces) {
    throw new TypeError('"dpop.requireNonce" needs "dpop.nonces"')
  }
  return resolved
}

/**
 * Starts oidc-provider on 127.0.0.1 with a random free port, its issuer `http://127.0.0.1:<port>`.
 *
 * Configuration: one public client (`token_endpoint_auth_method: 'none'`, `application_type:
 * 'web'`, grant types `authorization_code` and `refresh_token`, response type `code`); PKCE
 * required (S256); scopes `openid` and `offline_access`, a refresh token issued only when
 * `offline_access` was granted; every refresh rotates the refresh token; revocation, RP-initiated
 * logout and devInteractions enabled; a fresh RS256 key; any login id is an account whose `sub` is
 * that id. Endpoints are the library's defaults (`/auth`, `/token`, `/token/revocation`,
 * `/session/end`, `/jwks`, `/me`). With `dpop`, the client must prove possession of a key on every
 * token request; with `resources`, each is an audience of JWT access tokens (see the facts above).
 *
 * @example With DPoP nonces and an API (test/servers/dpop-resource-server.ts):
 * const op = await startOidcProvider({ redirectUris, dpop: { requireNonce: true } })
 * const api = await startResourceServer({ issuer: op.issuer })
 * op.addResource(api.audience)
 *
 * @example
 * const op = await startOidcProvider({ redirectUris: ['http://127.0.0.1:5173/callback'] })
 * const redirect = await loginWithForm(authorizationUrl) // authorizationUrl built with PKCE
 * await op.close()
 */
export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcProvider> {
  const clientId = options.clientId ?? 'spa'
  const redirectUris = [...options.redirectUris]
  const postLogoutRedirectUris = [...(options.postLogoutRedirectUris ?? [])]
  const allowedOrigins = [...(options.allowedOrigins ?? [])]
  const refreshTokenTtl = options.refreshTokenTtl ?? 86_400
  const idTokenTtl = options.idTokenTtl ?? 3600
  let accessTokenTtl = options.accessTokenTtl ?? 60
  let counters = newCounters()
  const dpop = resolveDPoP(options.dpop)
  const resources = [...(options.resources ?? [])]
  const resourceScope = options.resourceScope ?? 'api'

  // The issuer holds the port, so the server listens before the Provider exists.
  let handle = (_req: IncomingMessage, res: ServerResponse) => sendEmpty(res, 503)
  const server = createServer((req, res) => handle(req, res))
  const issuer = await listenOnLoopback(server)

  const provider = new OidcProviderClass(issuer, {
    clients: [
      {
        client_id: clientId,
        token_endpoint_auth_method: 'none',
        application_type: 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: redirectUris,
        post_logout_redirect_uris: postLogoutRedirectUris,
        ...(dpop === undefined ? {} : { dpop_bound_access_tokens: true }),
      },
    ],
    clientBasedCORS(_ctx: unknown, origin: string) {
      const allowed = allowedOrigins.includes(origin)
      if (!allowed) counters.corsRejections++
      return allowed
    },
    cookies: { keys: COOKIE_KEYS },
    jwks: { keys: [signingKey()] },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      // On by default in oidc-provider 9: proofs are accepted from any client, demanded only from
      // one registered with `dpop_bound_access_tokens`; nonces only with a `nonceSecret`.
      dPoP: {
        enabled: true,
        ...(dpop?.nonces ? { nonceSecret: randomBytes(32) } : {}),
        requireNonce: () => dpop?.requireNonce ?? false,
      },
      resourceIndicators: {
        enabled: true,
        // The library's defaults, spelled out: a token request without `resource` gets a token
        // for the userinfo endpoint when `openid` was granted, else the one resource of the
        // grant (several: `invalid_target`); a granted resource is never used implicitly.
        defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string[]) => oneOf,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx: unknown, resource: string) => {
          if (!resources.includes(resource)) throw new InvalidTarget()
          return { scope: resourceScope, audience: resource, accessTokenFormat: 'jwt' }
        },
      },
    },
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access'],
    issueRefreshToken: async (_ctx: unknown, client: ClientLike, code: TokenLike) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    rotateRefreshToken: true,
    findAccount: async (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: async () => ({ sub }),
    }),
    ttl: {
      AccessToken: () => accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: idTokenTtl,
      Interaction: 600,
      Grant: refreshTokenTtl,
      Session: refreshTokenTtl,
      // A rotated refresh token keeps the expiry of the one it replaces (the library's default
      // for public web clients): the lifetime bounds the session from its login.
      RefreshToken: (ctx: { oidc?: { entities?: { RotatedRefreshToken?: TokenLike } } }) =>
        ctx?.oidc?.entities?.RotatedRefreshToken?.remainingTTL ?? refreshTokenTtl,
    },
  })

  // Runs around the library's router: counts requests by route once they were answered.
  provider.use(async (ctx, next) => {
    try {
      await next()
    } finally {
      if (ctx.method === 'OPTIONS') counters.preflights++
      const route = ctx.oidc?.route
      if (route === 'authorization') counters.authorizationRequests++
      else if (route === 'token') {
        const grantType = ctx.oidc?.params?.grant_type ?? ctx.oidc?.body?.grant_type
        increment(counters.tokenRequests, typeof grantType === 'string' ? grantType : '(none)')
      } else if (route === 'revocation') counters.revocationRequests++
      else if (route === 'end_session') counters.endSessionRequests++
    }
  })
  provider.on('authorization.success', () => {
    counters.authorizationCodes++
  })
  provider.on('authorization.error', (_ctx, error) => {
    increment(counters.authorizationErrors, errorCode(error))
  })
  provider.on('grant.error', (_ctx, error) => {
    increment(counters.tokenErrors, errorCode(error))
    const detail = (error as { error_detail?: unknown }).error_detail
    increment(
      counters.tokenErrorDetails,
      typeof detail === 'string' ? `${errorCode(error)}: ${detail}` : errorCode(error),
    )
    if (detail === 'refresh token already used') {
      counters.refreshTokenReuses++
    }
  })
  provider.on('grant.revoked', (ctx) => {
    increment(counters.grantsRevoked, ctx.oidc?.route ?? '(unknown)')
  })
  provider.on('end_session.success', () => {
    counters.logouts++
  })
  provider.on('server_error', (_ctx, error) => {
    counters.serverErrors.push(
      error instanceof Error ? (error.stack ?? error.message) : String(error),
    )
  })
  handle = provider.callback()

  return {
    issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    authorizationEndpoint: `${issuer}/auth`,
    tokenEndpoint: `${issuer}/token`,
    revocationEndpoint: `${issuer}/token/revocation`,
    endSessionEndpoint: `${issuer}/session/end`,
    jwksUri: `${issuer}/jwks`,
    clientId,
    redirectUris,
    postLogoutRedirectUris,
    userinfoEndpoint: `${issuer}/me`,
    dpop,
    resources,
    addResource(resource) {
      if (!resources.includes(resource)) resources.push(resource)
    },
    get accessTokenTtl() {
      return accessTokenTtl
    },
    setAccessTokenTtl(seconds) {
      accessTokenTtl = seconds
    },
    async forgetAccessToken(token) {
      const found = await provider.AccessToken.find(token)
      await found?.destroy()
      return found !== undefined
    },
    counters: () => structuredClone(counters),
    resetCounters() {
      counters = newCounters()
    },
    close: () => closeServer(server),
  }
}

/**
 * Cookies of one user agent for the provider's origin, kept by name and path as a browser would
 * (RFC 6265 §5.1.4 path matching; deleted when a `Set-Cookie` expires them). Shared between
 * {@link loginWithForm} and {@link logoutWithForm} calls, it is the browser's session at the OP.
 */
export class CookieJar {
  readonly #cookies = new Map<string, { name: string; value: string; path: string }>()

  /** Stores the cookies of a response to a request for `url`. */
  store(url: URL, setCookies: readonly string[]): void {
    for (const header of setCookies) {
      const [pair = '', ...attributes] = header.split(';')
      const separator = pair.indexOf('=')
      if (separator < 1) continue
      const name = pair.slice(0, separator).trim()
      const value = pair.slice(separator + 1).trim()
      let path = url.pathname.slice(0, url.pathname.lastIndexOf('/')) || '/'
      let expired = false
      for (const attribute of attributes) {
        const [key = '', ...rest] = attribute.split('=')
        const attributeValue = rest.join('=').trim()
        switch (key.trim().toLowerCase()) {
          case 'path':
            if (attributeValue.startsWith('/')) path = attributeValue
            break
          case 'max-age':
            if (Number(attributeValue) <= 0) expired = true
            break
          case 'expires':
            if (Date.parse(attributeValue) <= Date.now()) expired = true
            break
        }
      }
      const key = `${name};${path}`
      if (expired) this.#cookies.delete(key)
      else this.#cookies.set(key, { name, value, path })
    }
  }

  /** The `Cookie` header for a request to `url`, or `undefined` when no cookie applies. */
  header(url: URL): string | undefined {
    const matching = [...this.#cookies.values()].filter(({ path }) => {
      const requestPath = url.pathname
      if (requestPath === path) return true
      if (!requestPath.startsWith(path)) return false
      return path.endsWith('/') || requestPath.charAt(path.length) === '/'
    })
    // Longer paths first (RFC 6265 §5.4).
    matching.sort((a, b) => b.path.length - a.path.length)
    return matching.length === 0
      ? undefined
      : matching.map(({ name, value }) => `${name}=${value}`).join('; ')
  }
}

/** An answer read by {@link send}. */
interface Answer {
  status: number
  location: string | undefined
  body: string
}

/** How long one request to the provider may take. */
const REQUEST_TIMEOUT = 10_000

/**
 * One request with `node:http`, cookies from and to `jar`, redirects not followed. Not
 * `globalThis.fetch`: under happy-dom that is the simulated page's fetch (CORS, opaque redirects).
 */
function send(jar: CookieJar, url: URL, form?: Record<string, string>): Promise<Answer> {
  const body = form === undefined ? undefined : new URLSearchParams(form).toString()
  const headers: Record<string, string> = { Accept: 'text/html' }
  const cookie = jar.header(url)
  if (cookie !== undefined) headers.Cookie = cookie
  if (body !== undefined) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded'
    headers['Content-Length'] = String(Buffer.byteLength(body))
  }
  return new Promise((resolve, reject) => {
    const req = request(url, { method: body === undefined ? 'GET' : 'POST', headers }, (res) => {
      jar.store(url, res.headers['set-cookie'] ?? [])
      readBody(res).then(
        (text) =>
          resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: text }),
        reject,
      )
    })
    req.on('error', reject)
    req.setTimeout(REQUEST_TIMEOUT, () =>
      req.destroy(new Error(`${url.href}: no answer in ${REQUEST_TIMEOUT} ms`)),
    )
    req.end(body)
  })
}

/** Undoes the HTML escaping of the library's templates in an attribute value. */
function unescapeHtml(text: string): string {
  return text
    .replace(/&#(x?)([0-9a-f]+);/gi, (_, hex: string, code: string) =>
      String.fromCodePoint(Number.parseInt(code, hex ? 16 : 10)),
    )
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
}

/** The first `<form>` of a page: its action and its hidden inputs. */
function readForm(html: string, pageUrl: URL): { action: URL; hidden: Record<string, string> } {
  const form = /<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html)
  if (form === null) throw new Error(`no form on ${pageUrl.href}`)
  const hidden: Record<string, string> = {}
  for (const input of (form[2] ?? '').matchAll(/<input\b[^>]*>/gi)) {
    const tag = input[0]
    if (!/\btype="hidden"/i.test(tag)) continue
    const name = /\bname="([^"]*)"/i.exec(tag)?.[1]
    const value = /\bvalue="([^"]*)"/i.exec(tag)?.[1] ?? ''
    if (name !== undefined) hidden[unescapeHtml(name)] = unescapeHtml(value)
  }
  return { action: new URL(unescapeHtml(form[1] ?? ''), pageUrl), hidden }
}

/** The library's HTML error page, as text for an exception. */
function describePage(answer: Answer, url: URL): string {
  const text = answer.body
    .replace(/<style[\s\S]*?<\/style>/gi, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  return `${url.href}: HTTP ${answer.status}: ${text.slice(0, 500)}`
}

/** Options of {@link loginWithForm}. */
export interface FormLoginOptions {
  /** What to type in the login field; it becomes the `sub`. @default DEFAULT_LOGIN */
  login?: string
  /** What to type in the password field (any value is accepted). @default 'password' */
  password?: string
  /**
   * What to do on the consent page, when it is shown: `true` presses "Continue", `false` follows
   * "[ Cancel ]" (the client then gets `error=access_denied`).
   * @default true
   */
  consent?: boolean
  /** The user agent's cookies at the OP; a jar from an earlier login is a signed-in session. */
  jar?: CookieJar
}

/** What {@link loginWithForm} saw. */
export interface FormLoginResult {
  /**
   * The redirect to the client's `redirect_uri`, with `code`, `state` and `iss` (or `error`,
   * `error_description`, `state` and `iss`).
   */
  redirectUrl: URL
  /** The pages shown, in order (none when the session and an earlier consent sufficed). */
  prompts: ('login' | 'consent')[]
  /** The cookies after the login, to reuse as the same browser. */
  jar: CookieJar
}

/** At most this many requests per login or logout: more is a loop. */
const MAX_STEPS = 20

/**
 * Drives an authorization request through the devInteractions pages as a user would, without a
 * browser: follows the OP's redirects with a cookie jar, fills the login form, answers the consent
 * form, and stops at the first redirect that leaves the OP's origin, the client's `redirect_uri`.
 *
 * @param authorizationUrl a complete authorization request (`client_id`, `redirect_uri`,
 *   `response_type=code`, `code_challenge`, `state`, ...)
 * @throws when the OP answers with an error page (for example an unregistered `redirect_uri`) or
 *   the flow does not reach the client within {@link MAX_STEPS} requests
 */
export async function loginWithForm(
  authorizationUrl: string | URL,
  options: FormLoginOptions = {},
): Promise<FormLoginResult> {
  const jar = options.jar ?? new CookieJar()
  const prompts: ('login' | 'consent')[] = []
  let url = new URL(authorizationUrl)
  const opOrigin = url.origin
  let form: Record<string, string> | undefined
  for (let step = 0; step < MAX_STEPS; step++) {
    const answer = await send(jar, url, form)
    form = undefined
    if (answer.status >= 300 && answer.status < 400 && answer.location !== undefined) {
      url = new URL(answer.location, url)
      if (url.origin !== opOrigin) return { redirectUrl: url, prompts, jar }
      continue
    }
    if (answer.status !== 200 || !url.pathname.startsWith(DEV_INTERACTIONS.interactionPath)) {
      throw new Error(describePage(answer, url))
    }
    const page = readForm(answer.body, url)
    if (page.hidden.prompt === 'login') {
      prompts.push('login')
      form = {
        ...page.hidden,
        login: options.login ?? DEFAULT_LOGIN,
        password: options.password ?? 'password',
      }
      url = page.action
    } else if (page.hidden.prompt === 'consent') {
      prompts.push('consent')
      if (options.consent ?? true) {
        form = page.hidden
        url = page.action
      } else {
        url = new URL(`${url.pathname.replace(/\/$/, '')}/abort`, url)
      }
    } else {
      throw new Error(`unknown interaction page at ${url.href}`)
    }
  }
  throw new Error(`login did not reach the client within ${MAX_STEPS} requests`)
}

/** Options of {@link logoutWithForm}. */
export interface FormLogoutOptions {
  /** The browser's cookies at the OP, as {@link loginWithForm} left them. */
  jar: CookieJar
  /**
   * What to answer on the confirmation page: `true` presses "Yes, sign me out" (the session
   * ends), `false` "No, stay signed in" (only this client's authorization is dropped).
   * @default true
   */
  confirm?: boolean
}

/**
 * Drives an RP-initiated logout request (`{endSessionEndpoint}?id_token_hint=...&
 * post_logout_redirect_uri=...&state=...`) through the OP's confirmation page (or, without a
 * session, its self-submitting form) and returns where the OP sends the browser at the end: the
 * first redirect that leaves the OP (the `post_logout_redirect_uri` with `state`), or the OP's
 * own "Sign-out Success" page.
 * @throws when the OP answers with an error page
 */
export async function logoutWithForm(
  endSessionUrl: string | URL,
  options: FormLogoutOptions,
): Promise<URL> {
  const { jar } = options
  const confirm = options.confirm ?? true
  let url = new URL(endSessionUrl)
  const opOrigin = url.origin
  let form: Record<string, string> | undefined
  for (let step = 0; step < MAX_STEPS; step++) {
    const answer = await send(jar, url, form)
    form = undefined
    if (answer.status >= 300 && answer.status < 400 && answer.location !== undefined) {
      url = new URL(answer.location, url)
      if (url.origin !== opOrigin) return url
      continue
    }
    if (answer.status !== 200) throw new Error(describePage(answer, url))
    // The "Sign-out Success" page has no form.
    if (!/<form\b/i.test(answer.body)) return url
    // The confirmation page's form holds `xsrf`; its buttons add `logout=yes` or nothing. The
    // self-submitting form shown without a session already holds `logout=yes`.
    const page = readForm(answer.body, url)
    form = { ...page.hidden }
    if (confirm) form.logout = 'yes'
    else delete form.logout
    url = page.action
  }
  throw new Error(`logout did not end within ${MAX_STEPS} requests`)
}
