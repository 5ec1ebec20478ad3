import type { MockContext } from './context.js'
import { mintIdToken } from './id-token.js'
import { type CodeOutcome, scopeTokens } from './token-store.js'
import { sha256Base64url } from './token-values.js'

/** RFC 7636 §4.1: `code-verifier = 43*128unreserved`. */
const CODE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/

/** The outcome of a code exchange: the store's decision, or a malformed request. */
export type CodeExchangeOutcome =
  | CodeOutcome
  | {
      readonly ok: false
      readonly error: 'invalid_request'
      readonly description: string
      readonly family: null
      readonly reuseDetected: false
    }

/**
 * The authorization code grant at the token endpoint (RFC 6749 §4.1.3) for a request whose client
 * was already checked: the code must be known, unused, unexpired, bound to the same `redirect_uri`,
 * and the `code_verifier`'s S256 transform must equal its challenge (RFC 7636 §4.6), else
 * `invalid_grant`. A code presented a second time also revokes the session issued from it. The
 * session gets a refresh token when `refreshTokenWithoutOfflineAccess` is set or the scope has
 * `offline_access`, and an ID token when the scope has `openid`.
 *
 * A code whose authorization request carried `dpop_jkt` is redeemed only with a proof of that key
 * (RFC 9449 §10), and a `resource` must be one the authorization request named, when it named any
 * (RFC 8707 §2.2, `invalid_target`). With a proof, the session's tokens are bound to its key.
 *
 * @param context - the mock's shared state
 * @param form - the token request's parameters
 * @param binding - the thumbprint of the request's valid DPoP proof and its `resource`, if any
 * @returns the outcome; on success its body is the token response to send
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.6
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-10
 */
export async function exchangeCode(
  context: MockContext,
  form: URLSearchParams,
  binding: { readonly jkt: string | null; readonly resource: string | null } = {
    jkt: null,
    resource: null,
  },
): Promise<CodeExchangeOutcome> {
  const code = form.get('code')
  const redirectUri = form.get('redirect_uri')
  const invalid = (description: string): CodeExchangeOutcome => ({
    ok: false,
    error: 'invalid_request',
    description,
    family: null,
    reuseDetected: false,
  })
  if (!code) return invalid('"code" is required')
  // Required: the mock requires redirect_uri on every authorization request (RFC 6749 §4.1.3).
  if (!redirectUri) return invalid('"redirect_uri" is required')
  const verifier = form.get('code_verifier') ?? ''
  // A missing or malformed verifier is a failed PKCE check like a wrong one (invalid_grant), and
  // reaches the store so that a reused code is still detected.
  const verifierChallenge = CODE_VERIFIER.test(verifier) ? await sha256Base64url(verifier) : null
  const outcome = context.store.redeemCode({ code, redirectUri, verifierChallenge, ...binding })
  if (!outcome.ok || !scopeTokens(outcome.grant.scope).includes('openid')) return outcome
  const idToken = await mintIdToken(context.options, outcome.grant, Date.now())
  return { ...outcome, body: { ...outcome.body, id_token: idToken } }
}
