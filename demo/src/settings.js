/**
 * What the demo talks to: the mock token server running in this page (the default), or a real
 * token server configured in the URL query.
 *
 * @typedef {object} MockSettings
 * @property {'mock'} mode
 * @property {number} accessTokenLifetime - access token lifetime of the mock, in milliseconds
 *
 * @typedef {object} RealServerSettings
 * @property {'real'} mode
 * @property {string} tokenEndpoint - RFC 6749 §3.2 token endpoint
 * @property {string | undefined} revocationEndpoint - RFC 7009 revocation endpoint, if any
 * @property {string} clientId - the public client's id
 * @property {string} api - the URL "Call the API" requests
 *
 * @typedef {object} SignInSettings
 * @property {'sign-in'} mode - sign in at the demo's authorization server (demo/auth-server.mjs)
 *
 * @typedef {MockSettings | RealServerSettings | SignInSettings} DemoSettings
 */

/** The path of the sign-in page (demo/serve.mjs): the client's redirect URI. */
export const SIGN_IN_PATH = '/sign-in'

/** The mock's access token lifetime unless the URL says otherwise: renewals every few seconds. */
export const DEFAULT_ACCESS_TOKEN_LIFETIME = 10_000

/**
 * Reads the settings from the page's URL: at {@link SIGN_IN_PATH} the page signs in at the demo's
 * authorization server; elsewhere the query decides. `tokenEndpoint` switches to a real server (with `clientId`
 * and `api`, optionally `revocationEndpoint`); otherwise `accessTokenLifetime` (milliseconds) tunes
 * the mock.
 *
 * @param {string} search - `location.search`
 * @param {string} [pathname] - `location.pathname`
 * @returns {DemoSettings} the settings
 * @throws {TypeError} naming the query parameter that is missing or invalid
 */
export function readSettings(search, pathname = '/') {
  if (pathname === SIGN_IN_PATH) return { mode: 'sign-in' }
  const query = new URLSearchParams(search)
  const tokenEndpoint = query.get('tokenEndpoint')
  if (tokenEndpoint) {
    const clientId = query.get('clientId')
    const api = query.get('api')
    if (!clientId) throw new TypeError('"clientId" is required with "tokenEndpoint"')
    if (!api || !URL.canParse(api)) throw new TypeError('"api" must be an absolute URL')
    return {
      mode: 'real',
      tokenEndpoint,
      revocationEndpoint: query.get('revocationEndpoint') || undefined,
      clientId,
      api,
    }
  }
  const lifetime = Number(query.get('accessTokenLifetime') ?? DEFAULT_ACCESS_TOKEN_LIFETIME)
  if (!Number.isFinite(lifetime) || lifetime < 1_000) {
    throw new TypeError('"accessTokenLifetime" must be at least 1000 milliseconds')
  }
  return { mode: 'mock', accessTokenLifetime: lifetime }
}
