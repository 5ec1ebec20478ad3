// The demo's real authorization server: oidc-provider (a certified OpenID Provider, in memory) on
// 127.0.0.1, serving one public client, the demo page. Same configuration as the tests' fixture
// (test/servers/oidc-provider.ts): authorization code flow with PKCE, refresh-token rotation,
// RFC 7009 revocation, RP-initiated logout, CORS for the demo's origin, and the library's own
// login and consent pages (devInteractions: any login and password is accepted).
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import Provider from 'oidc-provider'

/** The demo's client id at the authorization server. */
export const DEMO_CLIENT_ID = 'demo'

/** Fixed keys signing the provider's cookies (a demo: no secret to keep). */
const COOKIE_KEYS = ['freshtoken-demo-cookie-key-1']

/**
 * @typedef {object} AuthServerOptions
 * @property {string} demoOrigin - the demo page's origin, `http://127.0.0.1:<port>`
 * @property {string} redirectUri - the client's registered redirect URI (and post-logout one)
 * @property {number} [accessTokenTtl] - access token lifetime in seconds (default 30)
 * @property {number} [sessionTtl] - lifetime of the session, the grant and its refresh tokens, in
 *   seconds, counted from the login: rotated refresh tokens keep the time left (default 180)
 * @property {number} [port] - the port, 0 (the default) for one the OS picks
 */

/**
 * Starts oidc-provider on 127.0.0.1; its issuer is `http://127.0.0.1:<port>`.
 *
 * oidc-provider's refresh tokens are opaque and its token responses say nothing of when the
 * session ends, so a middleware adds `refresh_expires_in` (seconds the refresh token has left),
 * as Keycloak does: freshtoken reads it as the session's hard end ('session-ending', then
 * 'expired').
 *
 * @param {AuthServerOptions} options - the client and the lifetimes
 * @returns {Promise<{ issuer: string, close(): Promise<void> }>} the issuer and a way to stop it
 */
export async function startAuthServer(options) {
  const accessTokenTtl = options.accessTokenTtl ?? 30
  const sessionTtl = options.sessionTtl ?? 180

  // The issuer holds the port, so the server listens before the Provider exists.
  /** @type {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void} */
  let handle = (_req, res) => res.writeHead(503).end()
  const server = createServer((req, res) => handle(req, res))
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve(undefined))
  })
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address())
  const issuer = `http://127.0.0.1:${port}`

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: DEMO_CLIENT_ID,
        token_endpoint_auth_method: 'none',
        application_type: 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [options.redirectUri],
        post_logout_redirect_uris: [options.redirectUri],
      },
    ],
    clientBasedCORS: (_ctx, origin) => origin === options.demoOrigin,
    cookies: { keys: COOKIE_KEYS },
    jwks: {
      keys: [
        { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' },
      ],
    },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access'],
    // A refresh token only with offline_access, which oidc-provider grants only with prompt=consent.
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    rotateRefreshToken: true,
    // Any login is an account; the login is its `sub`.
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Grant: sessionTtl,
      Session: sessionTtl,
      // A rotated refresh token keeps the expiry of the one it replaces: the session has a hard end.
      RefreshToken: (ctx) => ctx?.oidc?.entities?.RotatedRefreshToken?.remainingTTL ?? sessionTtl,
    },
  })

  // Around the library's router: adds `refresh_expires_in` to successful token responses.
  provider.use(async (ctx, next) => {
    await next()
    const body = ctx.body
    if (
      ctx.oidc?.route !== 'token' ||
      ctx.status !== 200 ||
      typeof body?.refresh_token !== 'string'
    ) {
      return
    }
    const token = await provider.RefreshToken.find(body.refresh_token, { ignoreExpiration: true })
    if (token !== undefined) body.refresh_expires_in = Math.max(0, token.remainingTTL)
  })
  handle = provider.callback()

  return {
    issuer,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
