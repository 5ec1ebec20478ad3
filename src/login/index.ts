// The chunk loaded on demand by the first sign-in call (`login`, `loginPopup`, `handleRedirect`,
// `logout({ endSession: true })`): apps that never sign in
// through freshtoken never load it. It imports only public error classes from the main bundle;
// what else it needs comes in its LoginContext.
import { authorizationRequest } from './authorization-request.js'
import { completeRedirect } from './authorization-response.js'
import type { LoginContext, LoginOptions, LoginResult } from './context.js'

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

/**
 * Completes a sign-in on the page at `redirectUri`: `null` when `url` is no authorization
 * response for this client (its origin and path are not `redirectUri`'s, or it has none of
 * `code`, `error`, `state`), or inside the popup; see {@link completeRedirect}.
 *
 * @throws {TypeError} without `redirectUri`
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export function handleRedirect(
  context: LoginContext,
  url: string = globalThis.location.href,
): Promise<LoginResult | null> {
  if (context.handled?.url !== url) context.handled = { url, result: handle(context, url) }
  return context.handled.result
}

async function handle(context: LoginContext, url: string): Promise<LoginResult | null> {
  const { redirectUri } = context.options
  if (redirectUri === undefined) throw new TypeError('"redirectUri" must be given to sign in')
  const response = new URL(url, globalThis.location?.href)
  const expected = new URL(redirectUri)
  const { searchParams } = response
  if (
    response.origin !== expected.origin ||
    response.pathname !== expected.pathname ||
    !['code', 'error', 'state'].some((name) => searchParams.has(name))
  ) {
    return null
  }
  return completeRedirect(context, response)
}
