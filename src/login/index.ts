// The chunk loaded on demand by the first sign-in call (`login`, `loginPopup`, a `handleRedirect`
// that meets an authorization response, `logout({ endSession: true })`): apps that never sign in
// through freshtoken never load it. It imports only public error classes from the main bundle;
// what else it needs comes in its LoginContext.
import { authorizationRequest } from './authorization-request.js'
import type { LoginContext, LoginOptions } from './context.js'

export { completeRedirect } from './authorization-response.js'
export { endSession } from './end-session.js'
export { signInWithPopup } from './popup.js'

/**
 * Starts the authorization-code flow with PKCE by navigating this page to the authorization
 * endpoint (RFC 6749 §4.1.1, RFC 7636 §4.3).
 */
export async function signInWithRedirect(
  context: LoginContext,
  options: LoginOptions | undefined,
): Promise<void> {
  const { url } = await authorizationRequest(context, options, true)
  globalThis.location.assign(url)
}
