import { type HttpHandler, HttpResponse, http } from 'msw'
import type { MockContext } from './context.js'
import { preflightResponse, withCors } from './cors.js'
import { readForm } from './token-endpoint.js'

/**
 * The client an `id_token_hint` names: its `aud` when the token is one of this issuer's (decoded,
 * not verified: the hint only identifies, RP-Initiated Logout 1.0 §2).
 */
function hintedClient(hint: string | null, issuer: string): string | null {
  const payload = hint?.split('.')[1]
  if (payload === undefined) return null
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'))
    const claims = JSON.parse(json) as { iss?: unknown; aud?: unknown }
    if (claims.iss !== issuer) return null
    if (typeof claims.aud === 'string') return claims.aud
    return Array.isArray(claims.aud) && typeof claims.aud[0] === 'string' ? claims.aud[0] : null
  } catch {
    return null
  }
}

const SIGNED_OUT_PAGE =
  '<!doctype html><html><head><title>Signed out</title></head><body><h1>You are signed out</h1></body></html>'

/**
 * Decides where the browser goes after logout: to `post_logout_redirect_uri` (with `state`) only
 * when it is registered, by exact match, and the request identifies the registered client by
 * `client_id` or `id_token_hint`, agreeing when both are sent; else nowhere (`null`).
 */
function postLogoutRedirect(context: MockContext, params: URLSearchParams): string | null {
  const { options } = context
  const uri = params.get('post_logout_redirect_uri')
  if (uri === null || !options.postLogoutRedirectUris.includes(uri)) return null
  const clientId = params.get('client_id')
  const hinted = hintedClient(params.get('id_token_hint'), options.issuer)
  if (clientId === null && hinted === null) return null
  if ([clientId, hinted].some((client) => client !== null && client !== options.clientId)) {
    return null
  }
  const url = new URL(uri)
  const state = params.get('state')
  if (state !== null) url.searchParams.append('state', state)
  return url.href
}

/**
 * The end-session endpoint, `GET|POST ${issuer}/oauth/logout` (OpenID Connect RP-Initiated Logout
 * 1.0): ends the user's session at the authorization server, so that `prompt=none` is answered
 * `login_required` afterwards, and answers `302` to a valid `post_logout_redirect_uri` or `200`
 * with a "signed out" page. Tokens already issued stay valid: revoking them is the client's job
 * (RFC 7009). Counted in `endSessions`; logged without the `id_token_hint`'s value.
 *
 * @param context - the mock's shared state
 * @returns the msw handler
 * @see https://openid.net/specs/openid-connect-rpinitiated-1_0.html#RPLogout
 */
export function endSessionHandler(context: MockContext): HttpHandler {
  const { cors, recorder } = context
  return http.all(context.options.endpoints.endSession, async ({ request }) => {
    if (request.method === 'OPTIONS') {
      recorder.counters.preflight += 1
      return preflightResponse(request, cors, ['GET', 'POST'])
    }
    if (request.method !== 'GET' && request.method !== 'POST') {
      const headers = { Allow: 'GET, POST, OPTIONS' }
      return withCors(new HttpResponse(null, { status: 405, headers }), request, cors)
    }
    recorder.counters.endSessions += 1
    const at = Date.now()
    const params =
      request.method === 'GET'
        ? new URL(request.url).searchParams
        : ((await readForm(request)) ?? new URLSearchParams())
    context.provider.signedIn = false
    const location = postLogoutRedirect(context, params)
    const response =
      location === null
        ? HttpResponse.html(SIGNED_OUT_PAGE, { headers: { 'Cache-Control': 'no-store' } })
        : new HttpResponse(null, {
            status: 302,
            headers: { Location: location, 'Cache-Control': 'no-store' },
          })
    recorder.log.endSession.push({
      at,
      method: request.method,
      idTokenHint: params.has('id_token_hint'),
      clientId: params.get('client_id'),
      postLogoutRedirectUri: params.get('post_logout_redirect_uri'),
      status: response.status,
    })
    return withCors(response, request, cors)
  })
}
