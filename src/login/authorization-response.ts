import { LoginError, SessionExpiredError, TokenEndpointError } from '../errors.js'
import type { StoredSession } from '../storage.js'
import { failureFromResponse } from '../token-failure.js'
import { readJson } from '../transport.js'
import { type Attempt, createAttempts } from './attempts.js'
import { type LoginContext, type LoginResult, POPUP_MESSAGE } from './context.js'
import { validateIdToken } from './id-token.js'

/** The parameters of an authorization response, removed from the address bar once read. */
const RESPONSE_PARAMS = [
  'code',
  'state',
  'iss',
  'error',
  'error_description',
  'error_uri',
  'session_state',
]

/**
 * Completes a sign-in from its authorization response: checks `iss` (RFC 9207 §2.4), passes on
 * the provider's `error` (RFC 6749 §4.1.2.1), redeems the code with the PKCE verifier
 * (§4.1.3, RFC 7636 §4.5), checks the ID token, and starts the session, which the sibling tabs
 * then share. The code is redeemed once: the attempt was taken out before this runs.
 *
 * @throws {LoginError} the provider's verdict or freshtoken's (see its codes)
 * @throws {TokenEndpointUnavailableError} when the token endpoint cannot be reached
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export async function completeSignIn(
  { options, endpoint, session, parse }: LoginContext,
  url: URL,
  attempt: Attempt,
): Promise<LoginResult> {
  const conversation = await endpoint.conversation()
  const { issParameter } = await conversation.endpoints()
  const read = (name: string) => url.searchParams.get(name) ?? undefined
  const iss = read('iss')
  // RFC 9207 §2.4: an `iss` must be the issuer; where the provider promised one, it must be there.
  if (options.issuer !== undefined && (iss !== undefined ? iss !== options.issuer : issParameter)) {
    throw new LoginError('iss_mismatch', 'the response does not come from the configured issuer')
  }
  const error = read('error')
  if (error !== undefined) throw new LoginError(error, read('error_description'))
  const code = read('code')
  if (code === undefined) throw new LoginError('missing_code', 'the response carries no code')
  // RFC 8707 §2.2: when every API has a resource of its own, the code buys the first one's token
  // (the session's own token is then that one); otherwise the server's default, for the APIs
  // without a resource, and the others' come with their first call.
  const resource =
    options.resources.length === options.apiOrigins.size ? options.resources[0] : undefined
  const form: Record<string, string> = {
    code,
    redirect_uri: attempt.redirectUri,
    client_id: options.clientId,
    code_verifier: attempt.verifier,
  }
  if (resource !== undefined) form.resource = resource
  const exchange = await conversation.exchangeCode(form, attempt.jkt)
  if (!exchange.response.ok) {
    // What the server might quote back and must not reach the app: the code and the verifier.
    const failure = failureFromResponse(exchange, {
      accessToken: code,
      refreshToken: attempt.verifier,
      tokenType: 'Bearer',
    })
    if (failure instanceof SessionExpiredError) {
      throw new LoginError('invalid_grant', 'the token endpoint refused the code')
    }
    if (failure instanceof TokenEndpointError) {
      throw new LoginError(failure.error, failure.errorDescription)
    }
    throw failure
  }
  const parsed = parse(readJson(exchange, 'token endpoint'), Date.now(), undefined, options.dpop)
  // The first resource's entry: the session's access token, without what only the session holds.
  const { refreshToken, refreshExpiresAt, idToken, ...access } = parsed.tokens
  const stored: StoredSession = {
    ...parsed,
    ...(attempt.jkt !== undefined && { jkt: attempt.jkt }),
    ...(resource !== undefined && {
      resources: { [resource]: { tokens: access, lifetime: parsed.lifetime } },
    }),
  }
  if (attempt.nonce !== undefined) {
    validateIdToken(stored.tokens.idToken, {
      issuer: options.issuer,
      clientId: options.clientId,
      nonce: attempt.nonce,
      now: Date.now(),
    })
  }
  session.replace(stored)
  return { tokens: stored.tokens, state: attempt.appState }
}

/** The opener of this window, when it is a page of this origin (a popup opened by the app). */
function sameOriginOpener(): Window | undefined {
  try {
    const opener = globalThis.opener as Window | null | undefined
    if (
      opener &&
      opener !== (globalThis as unknown) &&
      opener.location.origin === globalThis.location.origin
    ) {
      return opener
    }
  } catch {
    // A cross-origin opener: reading its location throws.
  }
  return undefined
}

/**
 * Handles the authorization response at `redirectUri` (the caller checked it is one). Removes
 * the response from the address bar first, errors included. In a popup opened by `loginPopup`
 * (this tab has no attempt of that state, and its opener is of this origin) the response goes to
 * the opener, which redeems the code, and the popup closes.
 *
 * @returns the tokens and the app's state, or `null` in a popup
 * @throws {LoginError} `state_mismatch` for a response of no attempt of this tab (replayed,
 *   foreign, tampered with, expired), and every error of {@link completeSignIn}
 */
export async function completeRedirect(
  context: LoginContext,
  url: URL,
): Promise<LoginResult | null> {
  const { location, history } = globalThis
  if (location?.href === url.href) {
    const clean = new URL(url)
    for (const name of RESPONSE_PARAMS) clean.searchParams.delete(name)
    history?.replaceState(history.state, '', clean.href)
  }
  const attempt = createAttempts(context.options.clientId).take(url.searchParams.get('state'))
  if (attempt === undefined) {
    const opener = sameOriginOpener()
    if (opener) {
      opener.postMessage({ type: POPUP_MESSAGE, url: url.href }, location.origin)
      globalThis.close()
      return null
    }
    throw new LoginError('state_mismatch', 'the response belongs to no sign-in of this tab')
  }
  return completeSignIn(context, url, attempt)
}
