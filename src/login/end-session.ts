import type { LoginContext } from './context.js'
import { endpointUrl } from './endpoint-url.js'

/**
 * Sends the browser to the provider's end-session endpoint (OpenID Connect RP-Initiated Logout
 * 1.0 §2) with `id_token_hint`, `client_id` and `post_logout_redirect_uri`. A top-level GET, as
 * the specification's examples do: the provider's own session cookie, usually `SameSite=Lax`,
 * goes only with a top-level GET from another site. The ID token in the URL is no credential for
 * any API.
 *
 * @throws {TypeError} when no end-session endpoint is configured or discovered
 * @see https://openid.net/specs/openid-connect-rpinitiated-1_0.html#RPLogout
 */
export async function endSession(
  { options, endpoint }: LoginContext,
  idToken: string | undefined,
  postLogoutRedirectUri: string | undefined,
): Promise<void> {
  const { endSessionEndpoint } = await (await endpoint.conversation()).endpoints()
  const url = endpointUrl(endSessionEndpoint, ['endSessionEndpoint', 'to end the session'], {
    id_token_hint: idToken,
    client_id: options.clientId,
    post_logout_redirect_uri: postLogoutRedirectUri,
  })
  globalThis.location.assign(url)
}
