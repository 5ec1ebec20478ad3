import { type Attempt, createAttempts } from './attempts.js'
import type { LoginContext, LoginOptions } from './context.js'
import { endpointUrl } from './endpoint-url.js'
import { challengeOf, randomValue } from './pkce.js'

/** The parameters freshtoken sets itself: `params` cannot change them. */
const OWN = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'code_challenge',
  'code_challenge_method',
  'nonce',
  'prompt',
  'login_hint',
  'dpop_jkt',
  'resource',
]

/**
 * Starts a sign-in attempt: a fresh `state`, PKCE verifier (S256) and, for an `openid` scope, a
 * `nonce`, and the authorization request URL that carries them. A redirect attempt is kept in
 * this tab's sessionStorage (single use, 10 minutes); a popup's stays in the opener's memory.
 *
 * @returns the URL to open and the attempt
 * @throws {TypeError} when `redirectUri` or the authorization endpoint is missing, or `params`
 *   tries to set a parameter freshtoken sets itself
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.3
 */
export async function authorizationRequest(
  { options, endpoint, dpop }: LoginContext,
  login: LoginOptions = {},
  keep: boolean,
): Promise<{ readonly url: string; readonly attempt: Attempt }> {
  const { redirectUri, clientId } = options
  if (redirectUri === undefined) throw new TypeError('"redirectUri" must be given to sign in')
  const { params = {}, scope = options.scope, prompt, loginHint } = login
  for (const name of Object.keys(params)) {
    if (OWN.includes(name)) throw new TypeError(`"params.${name}" is set by freshtoken`)
  }
  const { authorizationEndpoint } = await (await endpoint.conversation()).endpoints()
  const verifier = randomValue()
  const attempt: Attempt = {
    state: randomValue(),
    verifier,
    nonce: scope?.split(' ').includes('openid') ? randomValue() : undefined,
    redirectUri,
    appState: login.state,
    createdAt: Date.now(),
    // RFC 9449 §10: every sign-in binds a new key; the code can only be redeemed with it.
    jkt: await (await dpop?.())?.renewKey(),
  }
  // RFC 8707 §2.1: the grant covers every API with a token of its own.
  const url = endpointUrl(authorizationEndpoint, ['authorizationEndpoint', 'to sign in'], {
    ...params,
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope,
    state: attempt.state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: 'S256',
    nonce: attempt.nonce,
    prompt,
    login_hint: loginHint,
    dpop_jkt: attempt.jkt,
    resource: options.resources,
  })
  if (keep) createAttempts(clientId).save(attempt)
  return { url, attempt }
}
