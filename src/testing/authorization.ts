import { type HttpHandler, HttpResponse, http } from 'msw'
import type { MockContext } from './context.js'
import { preflightResponse, withCors } from './cors.js'
import { isThumbprint } from './dpop-proof.js'
import { checkVerdict, type ResolvedMockOptions } from './options.js'
import { readResourceParameters } from './resources.js'

/**
 * What the user does at the mock authorization endpoint: `'approve'` issues a code; every other
 * verdict sends the browser back with that error (RFC 6749 §4.1.2.1 `access_denied`; OpenID
 * Connect Core §3.1.2.6 `login_required`, `consent_required`, `interaction_required`).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
 * @see https://openid.net/specs/openid-connect-core-1_0.html#AuthError
 */
export type AuthorizeVerdict =
  | 'approve'
  | 'access_denied'
  | 'login_required'
  | 'consent_required'
  | 'interaction_required'

/**
 * Why an authorization request could not be answered with a redirect (RFC 6749 §4.1.2.1: with a
 * missing, invalid or mismatching redirect URI or client identifier the server must not redirect):
 *
 * - `invalid_endpoint`: the URL is not one of the mock's authorization endpoint.
 * - `invalid_client`: `client_id` is missing, repeated or not the registered client.
 * - `invalid_redirect_uri`: `redirect_uri` is missing, repeated or not registered (exact match,
 *   RFC 6749 §3.1.2.3).
 */
export type MockAuthorizationErrorCode =
  | 'invalid_endpoint'
  | 'invalid_client'
  | 'invalid_redirect_uri'

/**
 * Thrown by {@link MockTokenServer.authorize} for a request a real server answers with an error
 * page instead of a redirect; the `GET` handler answers it with a 400 HTML page.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
 */
export class MockAuthorizationError extends Error {
  override name = 'MockAuthorizationError' as const
  /** Which check failed. */
  readonly code: MockAuthorizationErrorCode

  /**
   * @param code - which check failed
   * @param message - names the parameter and the rule
   */
  constructor(code: MockAuthorizationErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

/** An S256 code challenge: BASE64URL of a SHA-256 hash, 43 characters (RFC 7636 §4.2). */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/

const VERDICT_DESCRIPTIONS: Readonly<Record<Exclude<AuthorizeVerdict, 'approve'>, string>> = {
  access_denied: 'The user denied the request',
  login_required: 'The user is not signed in at the authorization server',
  consent_required: 'The user has not consented to the requested scope',
  interaction_required: 'The authorization server needs to interact with the user',
}

/** An authorization request whose client and redirect URI were checked, so it can be answered. */
interface RedirectableRequest {
  readonly query: URLSearchParams
  readonly redirectUri: string
  readonly clientId: string
}

/** What the server answers on the redirect URI: a code, or an error. */
type AuthorizationResponse =
  | { readonly code: string }
  | { readonly error: string; readonly error_description: string }

function repeatedParameters(query: URLSearchParams): string[] {
  // RFC 8707 §2: resource is the one parameter that may be repeated.
  const names = [...query.keys()].filter((name) => name !== 'resource')
  return [...new Set(names.filter((name, index) => names.indexOf(name) !== index))]
}

/**
 * The checks after which the server may redirect: the right endpoint, the registered client, a
 * registered redirect URI.
 *
 * @throws {MockAuthorizationError} when one fails
 */
function readRedirectableRequest(context: MockContext, url: URL | null): RedirectableRequest {
  const { options } = context
  if (url === null || `${url.origin}${url.pathname}` !== options.endpoints.authorization) {
    throw new MockAuthorizationError(
      'invalid_endpoint',
      `The URL is not the authorization endpoint ${options.endpoints.authorization}`,
    )
  }
  const { searchParams: query } = url
  const single = (name: string) => (query.getAll(name).length === 1 ? query.get(name) : null)
  const clientId = single('client_id')
  if (clientId !== options.clientId) {
    throw new MockAuthorizationError(
      'invalid_client',
      '"client_id" must be given once and name the registered client',
    )
  }
  const redirectUri = single('redirect_uri')
  // RFC 6749 §3.1.2.3: simple string comparison; no prefix, pattern or normalisation.
  if (redirectUri === null || !options.redirectUris.includes(redirectUri)) {
    throw new MockAuthorizationError(
      'invalid_redirect_uri',
      '"redirect_uri" must be given once and be a registered redirect URI, character for character',
    )
  }
  return { query, redirectUri, clientId }
}

/**
 * The RFC 6749 §4.1.2.1 `invalid_request`-class errors, RFC 8707 §2 `invalid_target` for a
 * `resource` the server does not know, or `null` for a well-formed request.
 */
function requestError(
  options: ResolvedMockOptions,
  query: URLSearchParams,
): AuthorizationResponse | null {
  const invalid = (description: string) => ({
    error: 'invalid_request',
    error_description: description,
  })
  const [repeated] = repeatedParameters(query)
  if (repeated !== undefined) return invalid(`"${repeated}" must not be repeated`)
  const responseType = query.get('response_type')
  if (!responseType) return invalid('"response_type" is required')
  if (responseType !== 'code') {
    return {
      error: 'unsupported_response_type',
      error_description: `"response_type" ${responseType} is not supported; use code`,
    }
  }
  const responseMode = query.get('response_mode')
  if (responseMode !== null && responseMode !== 'query') {
    return invalid('"response_mode" must be query')
  }
  // RFC 7636 §4.4.1: a server that requires PKCE answers a request without it invalid_request.
  const challenge = query.get('code_challenge')
  if (!challenge) return invalid('"code_challenge" is required (PKCE, RFC 7636)')
  if (query.get('code_challenge_method') !== 'S256') {
    // A missing method means plain (RFC 7636 §4.3), which this server does not support.
    return invalid('"code_challenge_method" must be S256')
  }
  if (!S256_CHALLENGE.test(challenge)) {
    return invalid('"code_challenge" must be the base64url SHA-256 of the code verifier')
  }
  const prompt = (query.get('prompt') ?? '').split(' ').filter(Boolean)
  if (prompt.includes('none') && prompt.length > 1) {
    return invalid('"prompt" none must not be combined with other values')
  }
  const resources = readResourceParameters(query.getAll('resource'), options.resources)
  if (!resources.ok) return { error: resources.error, error_description: resources.description }
  // RFC 9449 §10: dpop_jkt is the JWK SHA-256 thumbprint (RFC 7638) of the client's DPoP key.
  const dpopJkt = query.get('dpop_jkt')
  if (options.dpop !== null && dpopJkt !== null && !isThumbprint(dpopJkt)) {
    return invalid('"dpop_jkt" must be a base64url SHA-256 JWK thumbprint')
  }
  return null
}

/** The user's part: approve and get a code, or the verdict's error. */
function decide(
  context: MockContext,
  request: RedirectableRequest,
  verdict: AuthorizeVerdict,
): AuthorizationResponse {
  const { query } = request
  const silent = query.get('prompt') === 'none'
  // OpenID Connect Core §3.1.2.1: prompt=none must not show a login page.
  const outcome = silent && !context.provider.signedIn ? 'login_required' : verdict
  if (outcome !== 'approve') {
    return { error: outcome, error_description: VERDICT_DESCRIPTIONS[outcome] }
  }
  if (!silent) context.provider.signedIn = true
  const code = context.store.createCode({
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    codeChallenge: query.get('code_challenge') as string,
    scope: query.get('scope') || context.options.scope,
    // The mock signs in whoever the client hints at (OpenID Connect Core §3.1.2.1 login_hint).
    subject: query.get('login_hint') || context.options.subject,
    nonce: query.get('nonce'),
    authTime: Date.now(),
    resources: [...new Set(query.getAll('resource'))],
    // A server without DPoP support ignores dpop_jkt, as any unknown parameter.
    dpopJkt: context.options.dpop === null ? null : query.get('dpop_jkt'),
  })
  return { code }
}

function redirectTo(context: MockContext, request: RedirectableRequest, response: object): string {
  // RFC 6749 §3.1.2: the redirect URI's own query is kept and the response added to it.
  const url = new URL(request.redirectUri)
  for (const [name, value] of Object.entries(response)) url.searchParams.append(name, value)
  const state = request.query.get('state')
  if (state !== null) url.searchParams.append('state', state)
  // RFC 9207 §2: the issuer identifier on every response, success and error alike.
  if (context.options.issParameter) url.searchParams.append('iss', context.options.issuer)
  return url.href
}

/**
 * Answers an authorization request as a compliant server would, and tells where the browser goes.
 *
 * @param context - the mock's shared state
 * @param href - the authorization request URL
 * @param verdict - what the user does
 * @returns the redirect URI with the response in its query
 * @throws {MockAuthorizationError} when the request must not be redirected
 * @throws {TypeError} when `verdict` is not a verdict
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1
 */
export function authorizeRequest(
  context: MockContext,
  href: string,
  verdict: AuthorizeVerdict = context.options.authorizeVerdict,
): string {
  checkVerdict('verdict', verdict)
  const { recorder } = context
  recorder.counters.authorizations += 1
  const url = URL.canParse(href) ? new URL(href) : null
  const query = url?.searchParams ?? new URLSearchParams()
  const resources = query.getAll('resource')
  const dpopJkt = query.get('dpop_jkt')
  const log = (error: string | null, redirected: boolean) =>
    recorder.log.authorization.push({
      at: Date.now(),
      clientId: query.get('client_id'),
      redirectUri: query.get('redirect_uri'),
      scope: query.get('scope'),
      prompt: query.get('prompt'),
      codeChallengeMethod: query.get('code_challenge_method'),
      state: query.has('state'),
      nonce: query.has('nonce'),
      error,
      redirected,
      ...(resources.length === 0 ? {} : { resources }),
      ...(dpopJkt === null ? {} : { dpopJkt }),
    })
  let request: RedirectableRequest
  try {
    request = readRedirectableRequest(context, url)
  } catch (error) {
    log((error as MockAuthorizationError).code, false)
    throw error
  }
  const response = requestError(context.options, query) ?? decide(context, request, verdict)
  log('error' in response ? response.error : null, true)
  return redirectTo(context, request, response)
}

function escapeHTML(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)
}

/**
 * The authorization endpoint, `GET ${issuer}/oauth/authorize`: answers `302` with `Location` set to
 * the redirect {@link authorizeRequest} computes with the default verdict, or `400` with an HTML
 * error page for a request that must not be redirected. For apps that fetch the URL, and for
 * popups under `msw/browser` (msw does not intercept navigations, so a page usually calls
 * {@link MockTokenServer.authorize} instead). CORS as on every endpoint, because happy-dom
 * preflights even a simple cross-origin `GET`.
 *
 * @param context - the mock's shared state
 * @returns the msw handler
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export function authorizationEndpointHandler(context: MockContext): HttpHandler {
  const { cors, recorder } = context
  return http.all(context.options.endpoints.authorization, ({ request }) => {
    if (request.method === 'OPTIONS') {
      recorder.counters.preflight += 1
      return preflightResponse(request, cors, ['GET'])
    }
    return withCors(authorizationPage(context, request), request, cors)
  })
}

function authorizationPage(context: MockContext, request: Request): Response {
  if (request.method !== 'GET') {
    return new HttpResponse(null, { status: 405, headers: { Allow: 'GET, OPTIONS' } })
  }
  try {
    const location = authorizeRequest(context, request.url)
    return new HttpResponse(null, {
      status: 302,
      headers: { Location: location, 'Cache-Control': 'no-store' },
    })
  } catch (error) {
    if (!(error instanceof MockAuthorizationError)) throw error
    const message = escapeHTML(error.message)
    return HttpResponse.html(
      `<!doctype html><html><head><title>Sign-in error</title></head><body><h1>Sign-in error</h1><p>${message}</p></body></html>`,
      { status: 400, headers: { 'Cache-Control': 'no-store' } },
    )
  }
}
